"""The node's output messages (deeprm_ros/ros/messages.py) from hand-made tracks, without rclpy: poses against
scipy, the bounding box against the mesh's extent, frame names, status fields and marker scale."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from deeprm_ros.meshes import load_object_library
from deeprm_ros.ros import messages
from deeprm_ros.ros.resources import default_models_dir
from deeprm_ros.tracking.tracks import Track


@pytest.fixture(scope="module")
def models():
    return load_object_library(default_models_dir(), unit="mm", n_points=64)


def _header():
    from std_msgs.msg import Header

    h = Header()
    h.frame_id = "camera_color_optical_frame"
    h.stamp.sec, h.stamp.nanosec = 12, 500
    return h


def _tracks():
    poses = []
    for i, (euler, t) in enumerate([([10, 20, 30], [0.1, 0.0, 0.6]), ([-40, 5, 90], [-0.1, 0.05, 0.8])]):
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = Rotation.from_euler("xyz", euler, degrees=True).as_matrix(), t
        poses.append(T)
    a = Track(3, "mug", 1, poses[0], poses[0].copy(), iterations_run=4, last_translation_mm=1.5,
              last_rotation_deg=0.4, converged=True, confidence=0.93, reinitializations=2)
    b = Track(7, "can", 4, poses[1], poses[1].copy(), iterations_run=2, last_translation_mm=3.0,
              last_rotation_deg=2.0, converged=False, confidence=0.41)
    return [a, b]


def _matrix(pose):
    T = np.eye(4)
    q = pose.orientation
    T[:3, :3] = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    T[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return T


def test_refined_detections_carry_the_track_pose_and_the_posed_mesh_box(models):
    tracks = _tracks()
    arr = messages.refined_detections(_header(), tracks, models)
    assert arr.header.frame_id == "camera_color_optical_frame" and len(arr.detections) == 2
    for d, t in zip(arr.detections, tracks):
        assert d.id == str(t.track_id) and d.header.stamp.sec == 12
        hyp = d.results[0]
        # The score is the refined pose's confidence, not the detector's score.
        assert hyp.hypothesis.class_id == t.class_id and hyp.hypothesis.score == pytest.approx(t.confidence)
        np.testing.assert_allclose(_matrix(hyp.pose.pose), t.pose, atol=1e-9)
        v = models[t.obj_id].vertices.astype(np.float64)
        centre = (v.min(0) + v.max(0)) / 2
        np.testing.assert_allclose(_matrix(d.bbox.center)[:3, 3], t.pose[:3, :3] @ centre + t.pose[:3, 3], atol=1e-6)
        np.testing.assert_allclose([d.bbox.size.x, d.bbox.size.y, d.bbox.size.z], v.max(0) - v.min(0), atol=1e-6)


def test_transforms_name_each_track_and_hold_its_pose():
    tracks = _tracks()
    tfs = messages.track_transforms(_header(), tracks, "deeprm_")
    assert [tf.child_frame_id for tf in tfs.transforms] == ["deeprm_mug_3", "deeprm_can_7"]
    for tf, t in zip(tfs.transforms, tracks):
        assert tf.header.frame_id == "camera_color_optical_frame"
        tr, q = tf.transform.translation, tf.transform.rotation
        np.testing.assert_allclose([tr.x, tr.y, tr.z], t.pose[:3, 3], atol=1e-12)
        np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), t.pose[:3, :3], atol=1e-9)


def test_status_reports_each_track_and_the_frame():
    status = messages.refinement_status(_header(), _tracks(), {"render": 3.5, "network": 12.25, "crop": 1.0},
                                        total_ms=20.0, dropped_frames=2, track_count=5)
    assert [(o.track_id, o.class_id, o.iterations, o.converged) for o in status.objects] == \
        [("3", "mug", 4, True), ("7", "can", 2, False)]
    assert status.objects[1].translation_update_mm == pytest.approx(3.0)
    assert status.objects[1].rotation_update_deg == pytest.approx(2.0)
    assert [(o.confidence, o.reinitializations) for o in status.objects] == [(pytest.approx(0.93), 2),
                                                                             (pytest.approx(0.41), 0)]
    assert (status.render_ms, status.network_ms, status.total_ms) == (3.5, 12.25, 20.0)
    assert (status.dropped_frames, status.track_count) == (2, 5)


@pytest.mark.parametrize("unit, scale", [("mm", 1e-3), ("m", 1.0)])
def test_markers_clear_first_then_one_scaled_mesh_per_track(models, unit, scale):
    from visualization_msgs.msg import Marker

    tracks = _tracks()
    arr = messages.mesh_markers(_header(), tracks, models, unit)
    assert arr.markers[0].action == Marker.DELETEALL and len(arr.markers) == 3
    for m, t in zip(arr.markers[1:], tracks):
        assert m.type == Marker.MESH_RESOURCE and m.id == t.track_id and m.ns == "deeprm"
        assert m.mesh_resource == f"file://{models[t.obj_id].path}"
        assert m.scale.x == m.scale.y == m.scale.z == pytest.approx(scale)
        np.testing.assert_allclose(_matrix(m.pose), t.pose, atol=1e-9)
