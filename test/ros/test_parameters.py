"""The parameter schema (deeprm_ros.ros.parameters): specs, validation, and declaration on a real rclpy node."""
from __future__ import annotations

import pytest

from deeprm_ros.ros import parameters as P

EXPECTED_DEFAULTS = {
    "checkpoint": "", "models_dir": "", "mesh_unit": "mm", "object_labels": [], "device": "auto", "backend": "torch", "openvino_precision": "auto", "cpu_threads": 0,
    "image_transport": "raw", "diagnostics_period_s": 1.0,
    "iterations": 4, "tracking_iterations": 2, "refine_from": "track", "association_gate_m": 0.1,
    "track_timeout_s": 2.0,
    "min_confidence": 0.5, "max_low_confidence_frames": 5, "max_unconverged_frames": 0, "reinit_rotation_deg": 45.0,
    "verify_rotation_deg": 10.0,
    "convergence_translation_mm": 2.0,
    "convergence_rotation_deg": 1.0,
    "max_objects": 32, "tf_prefix": "deeprm_", "publish_tf": True, "publish_markers": True, "score_threshold": 0.0,
    "image_queue_slop_s": 0.02,
}


def test_defaults_and_ranges():
    assert P.defaults() == EXPECTED_DEFAULTS
    assert P.SPECS["iterations"].range == (1, 32) and P.SPECS["tracking_iterations"].range == (1, 32)
    assert P.SPECS["association_gate_m"].range == (0.001, 2.0)
    assert P.SPECS["track_timeout_s"].range == (0.1, 60.0)
    assert P.SPECS["max_objects"].range == (1, 256)
    assert P.SPECS["score_threshold"].range == (0.0, 1.0) and P.SPECS["image_queue_slop_s"].range == (0.0, 1.0)
    for spec in P.PARAMETERS:
        assert spec.description
        assert P.validate_value(spec.name, spec.default) == spec.default


@pytest.mark.parametrize("name, value, words", [
    ("iterations", 0, "out of range"), ("iterations", 2.0, "expected an integer"), ("iterations", True, "integer"),
    ("mesh_unit", "cm", "not one of"), ("object_labels", ["mug"], "class_id:obj_id"),
    ("object_labels", ["mug:1", "mug:2"], "twice"), ("score_threshold", 1.5, "out of range"),
    ("publish_tf", "yes", "bool"), ("nope", 1, "unknown parameter"),
])
def test_validate_value_names_the_parameter(name, value, words):
    with pytest.raises(ValueError) as e:
        P.validate_value(name, value)
    assert str(e.value).startswith(f"parameter '{name}': ") and words in str(e.value)


def test_object_labels_accepts_pairs():
    assert P.validate_value("object_labels", ["mug:1", "power drill:15"]) == ["mug:1", "power drill:15"]


@pytest.fixture
def node():
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx, args=["test", "--ros-args", "-p", "iterations:=6", "-p", "object_labels:=['mug:1']"])
    n = rclpy.create_node("deeprm_refiner", context=ctx)
    yield n
    n.destroy_node()
    rclpy.shutdown(context=ctx)


def test_declare_and_validate_on_a_node(node):
    from rcl_interfaces.msg import ParameterType
    from rclpy.parameter import Parameter

    values = P.declare_and_validate(node, argv=["test", "--ros-args", "-p", "iterations:=6",
                                                "-p", "object_labels:=['mug:1']"])
    assert values == {**EXPECTED_DEFAULTS, "iterations": 6, "object_labels": ["mug:1"]}
    d = node.describe_parameter("iterations")
    assert d.type == ParameterType.PARAMETER_INTEGER and "iterations" in d.description.lower()
    assert (d.integer_range[0].from_value, d.integer_range[0].to_value) == (1, 32)
    d = node.describe_parameter("association_gate_m")
    assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == (0.001, 2.0)
    assert node.describe_parameter("object_labels").type == ParameterType.PARAMETER_STRING_ARRAY
    assert "mm" in node.describe_parameter("mesh_unit").description

    # Later changes follow the same rules.
    ok = node.set_parameters([Parameter("iterations", value=8)])[0]
    assert ok.successful and node.get_parameter("iterations").value == 8
    bad = node.set_parameters([Parameter("iterations", value=0)])[0]
    assert not bad.successful and node.get_parameter("iterations").value == 8
    bad = node.set_parameters([Parameter("tf_prefix", value="x")])[0]
    assert bad.successful
    bad = node.set_parameters([Parameter("object_labels", value=["mug:2"])])[0]
    assert not bad.successful and "read-only" in bad.reason  # takes a restart: meshes are loaded at start-up


def test_command_line_parameters():
    argv = ["prog", "x", "--ros-args", "-p", "iterations:=3", "--param", "other_node:max_objects:=4",
            "-p", "deeprm_refiner:tf_prefix:=a_", "-r", "image:=cam", "--", "-p", "iterations:=9",
            "--ros-args", "-p", "iterations:=5"]
    assert P.command_line_parameters(argv, "deeprm_refiner") == {"iterations": "5", "tf_prefix": "a_"}


def test_committed_refiner_yaml_is_the_one_written_from_the_table():
    """config/refiner.yaml is generated (`python -m deeprm_ros.ros.parameters`): the same text, so a new or
    changed parameter cannot leave it stale; and it reads back as the defaults."""
    import yaml
    from pathlib import Path

    committed = (Path(__file__).resolve().parents[2] / "config" / "refiner.yaml").read_text()
    assert committed == P.refiner_yaml(), "regenerate: python -m deeprm_ros.ros.parameters > config/refiner.yaml"
    assert yaml.safe_load(committed)["/**"]["ros__parameters"] == P.defaults()


@pytest.mark.parametrize("key, node, applies", [
    ("/**", "/deeprm_refiner", True), ("/**", "/cam1/deeprm_refiner", True),
    ("deeprm_refiner", "/deeprm_refiner", True), ("deeprm_refiner", "/cam1/deeprm_refiner", False),
    ("/cam1/deeprm_refiner", "/cam1/deeprm_refiner", True), ("/cam2/deeprm_refiner", "/cam1/deeprm_refiner", False),
    ("/*/deeprm_refiner", "/cam1/deeprm_refiner", True), ("/**/deeprm_refiner", "/deeprm_refiner", True),
    ("/*", "/deeprm_refiner", True), ("/*", "/cam1/deeprm_refiner", False), ("deeprm_refinr", "/deeprm_refiner", False),
])
def test_params_file_sections_match_the_node_as_rclpy_does(key, node, applies):
    assert P._section_applies(key, node) is applies


def test_configuration_warnings_name_a_file_for_another_node_and_unknown_names(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("deeprm_refinr:\n  ros__parameters:\n    iterations: 8\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    iterations: 8\n")
    argv = ["refiner_node", "--ros-args", "--params-file", str(other), "--params-file", str(mine), "-p", "iteratons:=3"]
    warnings = P.configuration_warnings("/deeprm_refiner", argv, ["iterations", "iteratons", "use_sim_time",
                                                                  "qos_overrides./image.subscription.depth"])
    assert len(warnings) == 2, warnings
    assert str(other) in warnings[0] and "deeprm_refinr" in warnings[0] and "none of its values" in warnings[0]
    assert "'iteratons'" in warnings[1] and "did you mean 'iterations'" in warnings[1]
    assert P.configuration_warnings("/deeprm_refiner", ["x", "--ros-args", "--params-file", str(mine)],
                                    ["iterations"]) == []
