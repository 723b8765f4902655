"""Test-run isolation for everything ROS, set at import time (before anything imports rclpy) so that every
process the tests start inherits it: the environment the demo and the benchmarks give their ROS processes
(`ros.resources.loopback_ros_environment`: discovery on loopback, temporary ROS_HOME and ROS_LOG_DIR,
PYTHONSAFEPATH=1, Fast DDS over shared memory only), with a ROS_DOMAIN_ID of its own (1..100, from the pid),
so parallel runs on one machine do not see each other.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The source tree must not shadow the installed package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]

from deeprm_ros.ros.resources import loopback_ros_environment  # noqa: E402  (the installed package)

# A fixed id when someone needs one (e.g. to watch with ros2 topic echo); else one from the pid, not the caller's.
_domain = os.environ.get("DEEPRM_TEST_DOMAIN_ID") or str(1 + (os.getpid() * 7919) % 100)
_env, _ros_tmp = loopback_ros_environment("deeprm_test_ros_", domain_id=int(_domain))
os.environ.clear()
os.environ.update(_env)
atexit.register(shutil.rmtree, _ros_tmp, ignore_errors=True)


def installed_prefix() -> Path | None:
    """The colcon install prefix of deeprm_ros (install/deeprm_ros), or None when the package was not built."""
    prefix = Path(os.environ.get("DEEPRM_INSTALL", ROOT / "install" / "deeprm_ros"))
    return prefix if (prefix / "share" / "deeprm_ros" / "package.xml").is_file() else None


@pytest.fixture(scope="session")
def ros_prefix() -> Path:
    """install/deeprm_ros; fails when the package is not installed (run them with scripts/test.sh)."""
    prefix = installed_prefix()
    if prefix is None:
        pytest.fail("deeprm_ros is not installed (install/deeprm_ros): run the tests with `bash scripts/test.sh`")
    return prefix


@pytest.fixture
def ros_env() -> dict:
    """The environment for child processes (already isolated above)."""
    return dict(os.environ)



@pytest.fixture(scope="session")
def demo_models():
    """The bundled demo objects (data/demo/models), loaded once."""
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.ros.resources import default_models_dir
    return load_object_library(default_models_dir())


@pytest.fixture(scope="session")
def demo_renderer(demo_models):
    """A 640x480 renderer of the demo objects; a GL context is bound to its thread, so the tests share this one."""
    from deeprm_ros.render import Renderer
    return Renderer(demo_models, 640, 480)


@pytest.fixture
def assert_same_step():
    """Checks that another runtime's StepOutput (ONNX, OpenVINO) is torch's: translation, quaternion, every state."""
    def check(got, ref, atol=1e-4):
        import numpy as np
        np.testing.assert_allclose(got.translation.numpy(), ref.translation.numpy(), atol=atol)
        np.testing.assert_allclose(got.quaternion.numpy(), ref.quaternion.numpy(), atol=atol)
        assert len(got.state) == len(ref.state)
        for a, b in zip(got.state, ref.state):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=atol)
    return check


@pytest.fixture(scope="session")
def expected_cpu_backend() -> str:
    """What `backend: auto` must pick on this CPU, read from the kernel's CPU flags (not from OpenVINO): openvino
    where the CPU has native bf16 (AMX or AVX512-BF16), onnx elsewhere."""
    flags = next((ln.split(":", 1)[1].split() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("flags")), [])
    return "openvino" if {"amx_bf16", "avx512_bf16"} & set(flags) else "onnx"
