"""The installed refiner_node refuses to start on a corrupt checkpoint, mesh folder or parameters file: the
process exits non-zero within a timeout with one line that names the file (or the parameter) and the problem,
and no traceback. The same node started on pristine copies of the same files comes up, and stops cleanly on
SIGTERM, so the failures are the corruptions' doing."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from .node_harness import NodeProcess

START_TIMEOUT_S = 180  # generous: importing torch on a busy 2-core machine


def _garbage(n: int) -> bytes:
    return np.random.default_rng(1234).bytes(n)


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    from deeprm_ros.ros.resources import default_checkpoint

    return Path(shutil.copytree(default_checkpoint(), tmp_path / "checkpoint"))


@pytest.fixture
def models(tmp_path) -> Path:
    from deeprm_ros.ros.resources import default_models_dir

    return Path(shutil.copytree(default_models_dir(), tmp_path / "models"))


def _run_node(ros_prefix: Path, cwd: Path, *ros_args: str) -> tuple[int, str]:
    """refiner_node --ros-args ... as NodeProcess starts it; (exit status, stdout+stderr)."""
    exe = ros_prefix / "lib" / "deeprm_ros" / "refiner_node"
    env = dict(os.environ, RCUTILS_LOGGING_BUFFERED_STREAM="0")
    try:
        r = subprocess.run([str(exe), "--ros-args", *ros_args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:  # run() has killed it
        out = e.output.decode() if isinstance(e.output, bytes) else (e.output or "")
        pytest.fail(f"refiner_node still running {START_TIMEOUT_S} s after start with a corrupt input; "
                    f"its output:\n{out[-3000:]}")
    return r.returncode, r.stdout


def _assert_refused(rc: int, out: str, *words: str) -> str:
    """Exit status > 0 (not a signal), exactly one start-up failure line holding every word, no traceback."""
    assert rc > 0, f"exit status {rc}; output:\n{out[-3000:]}"
    assert "Traceback" not in out, f"a traceback instead of a clear line:\n{out[-3000:]}"
    lines = [line for line in out.splitlines() if "[deeprm_refiner] start-up failed:" in line]
    assert len(lines) == 1, f"expected one start-up failure line:\n{out[-3000:]}"
    missing = [w for w in words if w not in lines[0]]
    assert not missing, f"{missing} not in the start-up failure line:\n{lines[0]}"
    return lines[0]


# ---- checkpoint ----------------------------------------------------------------------------------------------

def _weights_garbage(ck: Path):
    (ck / "model.safetensors").write_bytes(_garbage(4096))


def _weights_truncated(ck: Path):
    _truncate(ck / "model.safetensors")


def _weights_empty(ck: Path):
    (ck / "model.safetensors").write_bytes(b"")


def _config_invalid_json(ck: Path):
    _truncate(ck / "config.json", 0.6)


def _config_not_the_weights(ck: Path):
    cfg = json.loads((ck / "config.json").read_text())
    cfg["hidden_sizes"] = [h // 2 for h in cfg["hidden_sizes"]]  # a valid config, of another network
    (ck / "config.json").write_text(json.dumps(cfg))


def _config_unknown_backbone(ck: Path):
    cfg = json.loads((ck / "config.json").read_text())
    cfg["backbone"] = "no_such_backbone"
    (ck / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("corrupt, file, words", [
    (_weights_garbage, "model.safetensors", ["not a readable safetensors file"]),
    (_weights_truncated, "model.safetensors", ["not a readable safetensors file"]),
    (_weights_empty, "model.safetensors", ["not a readable safetensors file"]),
    (_config_invalid_json, "config.json", ["invalid model config"]),
    (_config_not_the_weights, "model.safetensors", ["does not match config.json", "size mismatch"]),
    (_config_unknown_backbone, "config.json", ["invalid model config", "no_such_backbone"]),
], ids=lambda v: getattr(v, "__name__", "").lstrip("_") if callable(v) else None)
def test_corrupt_checkpoint_stops_the_node(ros_prefix, tmp_path, checkpoint, corrupt, file, words):
    corrupt(checkpoint)
    rc, out = _run_node(ros_prefix, tmp_path, "-p", f"checkpoint:={checkpoint}")
    _assert_refused(rc, out, str(checkpoint / file), *words)


def test_missing_checkpoint_folder_stops_the_node(ros_prefix, tmp_path):
    rc, out = _run_node(ros_prefix, tmp_path, "-p", f"checkpoint:={tmp_path / 'nowhere'}")
    _assert_refused(rc, out, str(tmp_path / "nowhere" / "config.json"), "missing")


# ---- meshes --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("file, corrupt, words", [
    ("obj_000002.ply", _truncate, ["cannot be read as a mesh"]),
    ("obj_000004.ply", lambda p: p.write_bytes(_garbage(3000)), ["cannot be read as a mesh"]),
    ("obj_000003.png", lambda p: p.write_bytes(_garbage(3000)), ["obj_000003.ply", "texture file", "cannot be read"]),
    ("models_info.json", lambda p: _truncate(p, 0.3), ["cannot read models_info"]),
], ids=["truncated_ply", "garbage_ply", "garbage_texture", "invalid_models_info"])
def test_corrupt_models_dir_stops_the_node(ros_prefix, tmp_path, models, file, corrupt, words):
    corrupt(models / file)
    rc, out = _run_node(ros_prefix, tmp_path, "-p", f"models_dir:={models}")
    _assert_refused(rc, out, str(models / file), *words)


# ---- parameters files ----------------------------------------------------------------------------------------

def test_params_file_that_is_not_yaml_stops_the_node(ros_prefix, tmp_path):
    f = tmp_path / "broken_params.yaml"
    f.write_text("/**:\n  ros__parameters:\n    iterations: [1, 2\n    max_objects: {8\n")
    rc, out = _run_node(ros_prefix, tmp_path, "--params-file", str(f))
    line = _assert_refused(rc, out, str(f), "parse")
    assert "/project/src" not in line  # rcl's C source locations are not the user's business


def test_missing_params_file_stops_the_node(ros_prefix, tmp_path):
    f = tmp_path / "absent.yaml"
    rc, out = _run_node(ros_prefix, tmp_path, "--params-file", str(f))
    _assert_refused(rc, out, str(f), "opening")


@pytest.mark.parametrize("name, value, words", [
    ("iterations", 0, ["out of range", "[1, 32]"]),
    ("track_timeout_s", 0.01, ["range", "[0.1, 60.0]"]),
    ("max_objects", "many", ["wrong type", "integer"]),
    ("device", "tpu", ["not one of"]),
])
def test_params_file_with_an_invalid_value_names_the_parameter(ros_prefix, tmp_path, name, value, words):
    import yaml

    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"iterations": 3, name: value}}}))
    rc, out = _run_node(ros_prefix, tmp_path, "--params-file", str(f))
    _assert_refused(rc, out, f"parameter '{name}'", *words)


# ---- the control: pristine copies start, and the node stops on SIGTERM ---------------------------------------

def test_pristine_copies_start_and_the_node_stops_on_sigterm(ros_prefix, tmp_path, checkpoint, models):
    import rclpy

    proc = NodeProcess(ros_prefix, f"checkpoint:={checkpoint}", f"models_dir:={models}", "iterations:=3")
    ctx = rclpy.Context()
    ctx.init()
    probe = rclpy.create_node("deeprm_startup_probe", context=ctx)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while probe.count_publishers("refinement_status") == 0:
            assert proc.p.poll() is None, f"the node exited ({proc.p.returncode}):\n{proc.log_since(0)[-3000:]}"
            assert time.monotonic() < deadline, f"the node did not come up:\n{proc.log_since(0)[-3000:]}"
            time.sleep(0.1)
        time.sleep(1.0)  # idle in its executor: nothing wakes its wait but the signal
        proc.p.send_signal(signal.SIGTERM)
        try:
            rc = proc.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("the idle node did not stop within 20 s of SIGTERM")
        assert rc == 0, proc.log_since(0)[-3000:]
        log = proc.log_since(0)
        assert "start-up failed" not in log and "Traceback" not in log, log[-3000:]
    finally:
        proc.stop()
        probe.destroy_node()
        ctx.try_shutdown()


@pytest.mark.parametrize("after_s", [0.3, 1.0, 2.5])
def test_ctrl_c_during_start_up_exits_quietly(ros_prefix, tmp_path, after_s):
    """SIGINT while torch and the node's modules load (the first seconds): exit status 0 and no traceback."""
    exe = ros_prefix / "lib" / "deeprm_ros" / "refiner_node"
    proc = subprocess.Popen([str(exe), "--ros-args", "-p", "backend:=onnx"], env=dict(os.environ), cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=START_TIMEOUT_S)
    assert proc.returncode == 0, out[-2000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-2000:]
