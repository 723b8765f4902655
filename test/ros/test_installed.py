"""Tests run against the package as ROS users get it: the colcon install, with the generated messages."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_deeprm_ros_is_imported_from_the_install(ros_prefix):
    import deeprm_ros
    import deeprm_ros.msg as msg

    here = Path(deeprm_ros.__file__).resolve()
    assert here.is_relative_to(ros_prefix.resolve()), f"imported from {here}, not from the install {ros_prefix}"
    assert not here.is_relative_to((ROOT / "deeprm_ros").resolve())
    assert Path(msg.__file__).parent.parent == Path(deeprm_ros.__file__).parent
    assert all(Path(p or ".").resolve() != ROOT for p in sys.path), "the source tree is on sys.path"


def test_messages_have_the_documented_fields(ros_prefix):
    from deeprm_ros.msg import ObjectRefinement, RefinementStatus

    assert ObjectRefinement.get_fields_and_field_types() == {
        "track_id": "string", "class_id": "string", "iterations": "uint32", "translation_update_mm": "float",
        "rotation_update_deg": "float", "converged": "boolean", "confidence": "float", "reinitializations": "uint32"}
    assert RefinementStatus.get_fields_and_field_types() == {
        "header": "std_msgs/Header", "objects": "sequence<deeprm_ros/ObjectRefinement>", "render_ms": "float",
        "network_ms": "float", "total_ms": "float", "dropped_frames": "uint32", "track_count": "uint32"}


def test_share_directory_resolves_to_the_install(ros_prefix):
    from ament_index_python.packages import get_package_share_directory

    share = Path(get_package_share_directory("deeprm_ros"))
    assert share.resolve() == (ros_prefix / "share" / "deeprm_ros").resolve()
    assert (share / "config" / "refiner.yaml").is_file() and (share / "launch" / "refine.launch.py").is_file()
    assert (share / "package.xml").is_file()


def test_ros_environment_is_isolated():
    import os

    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= 100
    assert os.environ["ROS_LOG_DIR"] != "" and os.environ["ROS_HOME"] != ""
