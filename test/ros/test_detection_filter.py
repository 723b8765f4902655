"""The node's detection rules (deeprm_ros/ros/detection_filter.py) on real vision_msgs messages, without rclpy:
each rule by a hand-made case, and what it refuses named in a warning."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from deeprm_ros.ros.detection_filter import DetectionRules, select_detections

RULES = DetectionRules(labels={"mug": 1, "can": 4}, max_age_s=2.0, max_objects=3, score_threshold=0.2)


def _array(stamp_s: float, detections, frame_id="camera"):
    from vision_msgs.msg import Detection3DArray

    arr = Detection3DArray()
    arr.header.frame_id = frame_id
    arr.header.stamp.sec, arr.header.stamp.nanosec = int(stamp_s), int(round((stamp_s % 1) * 1e9))
    arr.detections = list(detections)
    return arr


def _detection(class_id, xyz, score=0.9, xyzw=(0.0, 0.0, 0.0, 1.0)):
    from vision_msgs.msg import Detection3D, ObjectHypothesisWithPose

    d = Detection3D()
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = class_id, float(score)
    p = hyp.pose.pose
    p.position.x, p.position.y, p.position.z = (float(v) for v in xyz)
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = (float(v) for v in xyzw)
    d.results.append(hyp)
    return d


def test_accepts_known_classes_with_their_pose_and_obj_id():
    q = Rotation.from_euler("xyz", [10, 20, 30], degrees=True)
    arr = _array(5.0, [_detection("mug", (0.1, -0.05, 0.8), 0.7, q.as_quat()), _detection("can", (0, 0, 1.2), 0.5)])
    result = select_detections([arr], "camera", 5.0, RULES)
    assert [(d.class_id, d.obj_id, d.score) for d in result.detections] == [("mug", 1, pytest.approx(0.7)),
                                                                           ("can", 4, pytest.approx(0.5))]
    np.testing.assert_allclose(result.detections[0].pose[:3, :3], q.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(result.detections[0].pose[:3, 3], [0.1, -0.05, 0.8])
    assert result.warnings == []


def test_only_the_newest_fresh_array_counts_and_stale_ones_are_named():
    old = _array(1.0, [_detection("mug", (0, 0, 0.5))])          # 4 s before the image: stale
    earlier = _array(4.5, [_detection("mug", (0, 0, 0.6))])
    newest = _array(4.9, [_detection("mug", (0, 0, 0.7))])
    result = select_detections([old, newest, earlier], "camera", 5.0, RULES)
    assert [d.pose[2, 3] for d in result.detections] == [pytest.approx(0.7)]
    assert [k for k, _ in result.warnings] == ["stale"] and "1 detection array" in result.warnings[0][1]
    only_stale = select_detections([old], "camera", 5.0, RULES)
    assert only_stale.detections == [] and [k for k, _ in only_stale.warnings] == ["stale"]


def test_refusals_each_named():
    nan_pose = _detection("mug", (0, 0, 0.5), xyzw=(np.nan, 0, 0, 1))
    cases = [
        (_array(5.0, [_detection("drill", (0, 0, 0.5))]), "class:drill", "unknown class_id 'drill'"),
        (_array(5.0, [_detection("mug", (0, 0, 500.0))]), "depth", "mm given as m?"),
        (_array(5.0, [_detection("mug", (0, 0, -0.3))]), "depth", "not in (0, 20]"),
        (_array(5.0, [nan_pose]), None, "detection of 'mug' ignored"),
        (_array(5.0, [_detection("mug", (0, 0, 0.5))], frame_id="world"), "frame", "frame 'world' ignored"),
    ]
    from vision_msgs.msg import Detection3D
    cases.append((_array(5.0, [Detection3D()]), "empty", "without results"))
    for arr, key, text in cases:
        result = select_detections([arr], "camera", 5.0, RULES)
        assert result.detections == [], text
        assert len(result.warnings) == 1 and text in result.warnings[0][1], (text, result.warnings)
        if key is not None:
            assert result.warnings[0][0] == key


def test_low_scores_are_dropped_silently_and_max_objects_keeps_the_best():
    dets = [_detection("mug", (0.1 * i, 0, 0.5), score) for i, score in enumerate([0.3, 0.9, 0.1, 0.6, 0.8])]
    result = select_detections([_array(5.0, dets)], "camera", 5.0, RULES)
    assert sorted(d.score for d in result.detections) == pytest.approx([0.6, 0.8, 0.9])  # best 3 of 5
    assert [k for k, _ in result.warnings] == ["many"]
    below = select_detections([_array(5.0, [_detection("mug", (0, 0, 0.5), 0.1)])], "camera", 5.0, RULES)
    assert below.detections == [] and below.warnings == []
