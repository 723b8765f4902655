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
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_ARGS = {"config_file", "namespace", "use_sim_time", "log_level", "use_rviz", "image", "camera_info", "detections",
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
    nodes = [{k.arg: k.value for k in n.keywords} for n in _calls(tree, "Node")]
    refiner = [kw for kw in nodes if getattr(kw["package"], "id", None) == "PACKAGE"]
    assert len(refiner) == 1
    kw = refiner[0]
    assert getattr(kw["executable"], "id", None) == "EXECUTABLE"
    assert {"parameters", "remappings", "namespace"} <= kw.keys()
    # The log level is a ROS argument of the node (ros_arguments), not an argument of its program.
    assert "arguments" not in kw
    ros_args = ast.literal_eval(kw["ros_arguments"].elts[0])
    assert ros_args == "--log-level" and getattr(kw["ros_arguments"].elts[1].args[0], "value", None) == "log_level"
    # rviz2 only with use_rviz:=true, in the same namespace, with the installed config and the same remaps.
    rviz = [n for n in nodes if getattr(n["package"], "value", None) == "rviz2"]
    assert len(rviz) == 1
    condition = rviz[0]["condition"]
    assert condition.func.id == "IfCondition" and condition.args[0].args[0].value == "use_rviz"
    assert ast.dump(rviz[0]["namespace"]) == ast.dump(kw["namespace"])
    assert ast.dump(rviz[0]["remappings"]) == ast.dump(kw["remappings"])
    # The launch ends when the refiner exits (it exits 1 when it cannot go on), instead of idling with rviz.
    assert getattr(kw["on_exit"].func, "id", None) == "Shutdown"
    assert "Shutdown" in {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                          and n.module == "launch.actions" for a in n.names}
    assert (ros_prefix / "share" / "deeprm_ros" / "config" / c["RVIZ_CONFIG"]).is_file()

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
               "object_labels": ["mug:1", "can:12"], "device": "cpu", "backend": "onnx", "openvino_precision": "f32",
               "cpu_threads": 3,
               "image_transport": "compressed", "diagnostics_period_s": 2.5, "iterations": 8,
               "tracking_iterations": 3, "refine_from": "detection", "association_gate_m": 0.25,
               "track_timeout_s": 5.5,
               "min_confidence": 0.7, "max_low_confidence_frames": 3, "max_unconverged_frames": 4,
               "reinit_rotation_deg": 30.0, "verify_rotation_deg": 20.0, "convergence_translation_mm": 1.5,
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


def _rviz_topics(ros_prefix) -> dict:
    """{display name: topic} of the installed config/deeprm.rviz."""
    config = yaml.safe_load((ros_prefix / "share" / "deeprm_ros" / "config" / "deeprm.rviz").read_text())
    return {d["Name"]: d["Topic"]["Value"] for d in config["Visualization Manager"]["Displays"] if "Topic" in d}


def test_rviz_topics_resolve_to_the_nodes_topics_under_a_namespace(ros_prefix):
    """rviz2 resolves relative topics in its namespace (refine.launch.py starts it in the node's): with the node
    in /cam1, every display's topic must name one of the node's topics there."""
    import rclpy

    from .node_harness import NodeProcess

    topics = _rviz_topics(ros_prefix)
    assert topics and all(not t.startswith("/") for t in topics.values()), topics
    proc = NodeProcess(ros_prefix, "backend:=torch", ros_args=("-r", "__ns:=/cam1"))
    rclpy.init()
    node = rclpy.create_node("deeprm_topic_probe")
    try:
        wanted = {f"/cam1/{t}" for t in topics.values()}
        deadline = time.monotonic() + 120
        names = set()
        while time.monotonic() < deadline and not wanted <= names:
            rclpy.spin_once(node, timeout_sec=0.2)
            names = {n for n, _ in node.get_topic_names_and_types()}
        assert wanted <= names, f"{sorted(wanted - names)} not among the node's topics {sorted(names)}"
        assert node.count_publishers("/cam1/markers") == 1 and node.count_publishers("/cam1/overlay") == 1
        assert node.count_subscribers("/cam1/image") == 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.stop()


def test_message_comments_name_the_topics_the_node_publishes(ros_prefix):
    """msg/RefinementStatus.msg says where it is published; that must be the topic the node really uses."""
    import re

    text = (ros_prefix / "share" / "deeprm_ros" / "msg" / "RefinementStatus.msg").read_text()
    named = re.findall(r"Published once per refined frame on (\S+)", text)
    node_py = next((ros_prefix / "lib").glob("python3*/site-packages/deeprm_ros/ros/node.py"))
    published = {}
    for call in ast.walk(ast.parse(node_py.read_text())):
        if (isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "create_publisher"
                and isinstance(call.args[1], ast.Constant)):
            published[call.args[1].value] = getattr(call.args[0], "id", None)
    assert named == ["refinement_status"]
    assert published[named[0]] == "RefinementStatus"


# rosdep keys of Python libraries -> the module they provide.
PYTHON_KEYS = {"python3-numpy": "numpy", "python3-scipy": "scipy", "python3-opencv": "cv2", "python3-yaml": "yaml",
               "python3-trimesh": "trimesh", "python3-tqdm": "tqdm", "python3-matplotlib": "matplotlib",
               "python3-pil": "PIL", "python3-pytest": "pytest", "python3-hypothesis": "hypothesis"}
BUILD_TOOLS = {"ament_cmake", "ament_cmake_python", "rosidl_default_generators", "rosidl_default_runtime"}


def _imports(paths) -> set:
    out = set()
    for p in paths:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.add(node.module.split(".")[0])
    return out


def test_package_xml_lists_what_the_package_uses_and_nothing_else():
    """Every run-time dependency in package.xml is imported by deeprm_ros/, used by a message or named by the
    launch file, and every test dependency is imported by a test; every ROS package imported is declared."""
    import re
    import xml.etree.ElementTree as ET

    root = ET.parse(ROOT / "package.xml").getroot()
    runtime = {e.text.strip() for tag in ("depend", "exec_depend") for e in root.findall(tag)}
    testing = {e.text.strip() for e in root.findall("test_depend")}
    code = _imports((ROOT / "deeprm_ros").rglob("*.py"))
    tests = _imports((ROOT / "test").rglob("*.py"))
    msg_types = {m.split("/")[0] for f in (ROOT / "msg").glob("*.msg")
                 for m in re.findall(r"^\s*([a-z_]+/[A-Za-z]+)", f.read_text(), re.M)}
    launch = (ROOT / "launch" / "refine.launch.py").read_text()
    launch_used = _imports([ROOT / "launch" / "refine.launch.py"]) | set(re.findall(r'package="([a-z0-9_]+)"', launch))

    def unused(deps, used):
        out = []
        for dep in sorted(deps - BUILD_TOOLS):
            if dep.startswith("python3-") and dep not in PYTHON_KEYS:
                out.append(f"{dep} (unknown rosdep key: add it to PYTHON_KEYS)")
            elif PYTHON_KEYS.get(dep, dep) not in used:
                out.append(dep)
        return out

    assert not unused(runtime, code | msg_types | launch_used), "run-time dependencies nothing uses"
    assert not unused(testing, tests), "test dependencies no test uses"

    def ros(mods):
        return {m for m in mods if m.endswith(("_msgs", "_srvs", "_interfaces")) or m in ("rclpy", "ament_index_python")}

    assert ros(code) - {"deeprm_ros"} <= runtime, f"imported but not a run-time dependency: {ros(code) - runtime}"
    assert ros(tests) <= runtime | testing, f"imported by tests but not declared: {ros(tests) - runtime - testing}"
