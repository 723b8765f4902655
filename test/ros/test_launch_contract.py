"""What launch/refine.launch.py depends on, checked against the installed package.

`launch`/`launch_ros` cannot be installed here (not on the package index), so instead of faking them this reads
the launch file's syntax tree for the executable, the parameters file and the launch arguments, checks that they
exist in the install, and starts a real process with `--ros-args --params-file refiner.yaml` that resolves the
refiner's parameters through the same `declare_and_validate` the node uses.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_ARGS = {"config_file", "namespace", "use_sim_time", "image", "camera_info", "detections",
               "refined_detections", "refinement_status", "markers", "overlay"}


def _launch_tree(ros_prefix):
    path = ros_prefix / "share" / "deeprm_ros" / "launch" / "refine.launch.py"
    assert path.is_file(), "refine.launch.py is not installed"
    assert path.read_text() == (ROOT / "launch" / "refine.launch.py").read_text(), "install is stale"
    return ast.parse(path.read_text(), filename=str(path))


def _constants(tree) -> dict:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _run_param_check(ros_prefix, tmp_path, *ros_args):
    exe = ros_prefix / "lib" / "deeprm_ros" / "param_check"
    return subprocess.run([str(exe), "--ros-args", *ros_args], cwd=tmp_path, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_launch_file_names_an_installed_executable_and_config(ros_prefix):
    tree = _launch_tree(ros_prefix)
    c = _constants(tree)
    assert c["PACKAGE"] == "deeprm_ros"
    nodes = _calls(tree, "Node")
    assert len(nodes) == 1
    kw = {k.arg: k.value for k in nodes[0].keywords}
    assert getattr(kw["package"], "id", None) == "PACKAGE" and getattr(kw["executable"], "id", None) == "EXECUTABLE"
    assert {"parameters", "remappings", "namespace"} <= kw.keys()

    exe = ros_prefix / "lib" / "deeprm_ros" / c["EXECUTABLE"]
    assert exe.is_file() and os.access(exe, os.X_OK), exe
    shebang = exe.read_text().splitlines()[0]
    assert shebang.startswith("#!/") and Path(shebang[2:].split()[0]).exists(), shebang
    assert "deeprm_ros.ros.node" in exe.read_text()
    assert (ros_prefix / "share" / "deeprm_ros" / "config" / c["CONFIG"]).is_file()
    for name in ("synthetic_camera", "demo", "param_check"):
        assert os.access(ros_prefix / "lib" / "deeprm_ros" / name, os.X_OK), name

    declared = {ast.literal_eval(call.args[0]) for call in _calls(tree, "DeclareLaunchArgument")
                if call.args and isinstance(call.args[0], ast.Constant)}
    declared |= {t[0] for t in c["TOPICS"]}
    assert LAUNCH_ARGS <= declared, LAUNCH_ARGS - declared


def test_remapped_topics_are_the_nodes_topics(ros_prefix):
    """Every remap in the launch file names a topic that the installed node really uses."""
    node_py = ros_prefix / "lib"
    node_py = next(node_py.glob("python3*/site-packages/deeprm_ros/ros/node.py"), None)
    if node_py is None:
        pytest.skip("deeprm_ros.ros.node is not written yet")
    used = set()
    for call in ast.walk(ast.parse(node_py.read_text())):
        if (isinstance(call, ast.Call) and getattr(call.func, "attr", "") in ("create_publisher", "create_subscription")
                and len(call.args) >= 2 and isinstance(call.args[1], ast.Constant)):
            used.add(call.args[1].value)
    remapped = {t[1] for t in _constants(_launch_tree(ros_prefix))["TOPICS"]}
    assert remapped <= used, f"remapped topics the node does not use: {remapped - used}"


def test_params_file_is_read_completely(ros_prefix, tmp_path):
    from deeprm_ros.ros.parameters import SPECS

    config = ros_prefix / "share" / "deeprm_ros" / "config" / "refiner.yaml"
    values = yaml.safe_load(config.read_text())["/**"]["ros__parameters"]
    assert set(values) == set(SPECS), "config/refiner.yaml must hold every parameter, and only those"

    r = _run_param_check(ros_prefix, tmp_path, "--params-file", str(config))
    assert r.returncode == 0, r.stderr
    resolved = json.loads(r.stdout.strip().splitlines()[-1])
    assert resolved == values

    # Every value different from its default: each must come through from the file.
    changed = {"checkpoint": "/opt/ckpt", "models_dir": "/opt/models", "mesh_unit": "m",
               "object_labels": ["mug:1", "can:12"], "device": "cpu", "backend": "onnx", "cpu_threads": 3, "iterations": 8,
               "tracking_iterations": 3, "association_gate_m": 0.25, "track_timeout_s": 5.5,
               "max_unconverged_frames": 4, "reinit_rotation_deg": 30.0, "convergence_translation_mm": 1.5,
               "convergence_rotation_deg": 0.5,
               "max_objects": 7, "tf_prefix": "refined_", "publish_tf": False, "publish_markers": False,
               "score_threshold": 0.3, "image_queue_slop_s": 0.05}
    assert set(changed) == set(SPECS)
    assert all(changed[k] != values[k] for k in changed)
    f = tmp_path / "changed.yaml"
    f.write_text(yaml.safe_dump({"deeprm_refiner": {"ros__parameters": changed}}))
    r = _run_param_check(ros_prefix, tmp_path, "--params-file", str(f))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == changed

    # -p on the command line wins over the file, as for the node.
    r = _run_param_check(ros_prefix, tmp_path, "--params-file", str(config), "-p", "iterations:=16")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["iterations"] == 16


@pytest.mark.parametrize("arg, name", [
    ("iterations:=0", "iterations"),
    ("tracking_iterations:=33", "tracking_iterations"),
    ("association_gate_m:=5.0", "association_gate_m"),
    ("association_gate_m:=1", "association_gate_m"),       # an integer for a float parameter
    ("mesh_unit:=cm", "mesh_unit"),
    ("device:=tpu", "device"),
    ("object_labels:=['mug']", "object_labels"),
    ("max_objects:=many", "max_objects"),
])
def test_invalid_value_exits_non_zero_naming_the_parameter(ros_prefix, tmp_path, arg, name):
    config = ros_prefix / "share" / "deeprm_ros" / "config" / "refiner.yaml"
    r = _run_param_check(ros_prefix, tmp_path, "--params-file", str(config), "-p", arg)
    assert r.returncode != 0
    assert f"parameter '{name}'" in r.stderr, r.stderr
    assert r.stdout.strip() == ""
