"""Test-run isolation for everything ROS, set at import time (before anything imports rclpy) so that every
process the tests start inherits it:
- a ROS_DOMAIN_ID of its own (1..100, from the pid), so parallel runs on one machine do not see each other;
- ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST: DDS discovery stays on loopback;
- temporary ROS_HOME and ROS_LOG_DIR;
- PYTHONSAFEPATH=1: child Pythons never put their working directory (e.g. the source tree, whose deeprm_ros/
  has no msg/) on sys.path.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if "DEEPRM_TEST_DOMAIN_ID" in os.environ:  # a fixed id when someone needs one (e.g. to watch with ros2 topic echo)
    os.environ["ROS_DOMAIN_ID"] = os.environ["DEEPRM_TEST_DOMAIN_ID"]
else:
    os.environ["ROS_DOMAIN_ID"] = str(1 + (os.getpid() * 7919) % 100)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)
os.environ.pop("ROS_STATIC_PEERS", None)
_ros_tmp = tempfile.mkdtemp(prefix="deeprm_test_ros_")
os.environ["ROS_HOME"] = os.path.join(_ros_tmp, "home")
os.environ["ROS_LOG_DIR"] = os.path.join(_ros_tmp, "log")
os.environ["PYTHONSAFEPATH"] = "1"
# Fast DDS over shared memory only: no network traffic at all, and whole 640x480 images instead of UDP
# fragments that a busy machine drops (config/fastdds_shm.xml says why).
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(ROOT / "config" / "fastdds_shm.xml")
atexit.register(shutil.rmtree, _ros_tmp, ignore_errors=True)

# The source tree must not shadow the installed package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]


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

