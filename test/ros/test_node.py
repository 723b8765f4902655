"""The refiner node in its own process, fed by real rclpy publishers over loopback: outputs carry the
image's stamp and frame, one track per instance, tracks persist, expire and reset, and bad input is
refused with a warning while the node keeps answering good frames."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from deeprm_ros.geometry import axis_angle_to_matrix

from .node_harness import Feeder, NodeProcess

FRAME = "camera_optical_frame"


def _pose(x, y, z, rv=(0.3, -0.2, 0.4)):
    T = np.eye(4)
    T[:3, :3] = axis_angle_to_matrix(np.asarray(rv, float))
    T[:3, 3] = [x, y, z]
    return T


SCENE = [(1, _pose(-0.12, 0.0, 0.6)), (2, _pose(0.10, 0.03, 0.65, (1.0, 0.2, 0.1))),
         (4, _pose(0.0, -0.08, 0.55, (0.1, 1.2, 0.0))), (4, _pose(0.02, 0.1, 0.6, (1.5, 0.0, 0.3)))]


def _noisy(T, rng, rot_deg=5.0, trans=0.01):
    out = T.copy()
    out[:3, :3] = axis_angle_to_matrix(rng.normal(0, np.deg2rad(rot_deg), 3)) @ T[:3, :3]
    out[:3, 3] += rng.normal(0, trans, 3)
    return out


@pytest.fixture(scope="module")
def running(ros_prefix):
    import rclpy
    import torch  # noqa: F401
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.render import Renderer
    from deeprm_ros.ros.resources import default_models_dir

    models = load_object_library(default_models_dir())
    renderer = Renderer(models, 640, 480)
    proc = NodeProcess(ros_prefix, "iterations:=2", "tracking_iterations:=1", "track_timeout_s:=3.0",
                       "backend:=torch", "max_objects:=8", "object_labels:=['box:1','drill:2','mug:3','can:4']")
    rclpy.init()
    feeder = Feeder(renderer, models)
    feeder.proc = proc
    try:
        feeder.wait_for_node()
        yield proc, feeder
    finally:
        feeder.close()
        rclpy.try_shutdown()
        proc.stop()


CLASS = {1: "box", 2: "drill", 3: "mug", 4: "can"}
_BASE = itertools.count(100, 100)


def _t0() -> float:
    """A fresh stamp range per test: the node pairs images with camera_info by stamp, so stamps never repeat."""
    return float(next(_BASE))


def _good_frame(feeder, t, with_detections=True, seed=0):
    rng = np.random.default_rng(seed)
    rgb = feeder.image(SCENE)
    dets = [(CLASS[o], _noisy(T, rng)) for o, T in SCENE] if with_detections else None
    return feeder.send(t, rgb, dets)


def test_outputs_carry_stamp_frame_and_one_track_per_instance(running):
    proc, feeder = running
    feeder.reset()
    stamp = _good_frame(feeder, _t0())
    arr, status = feeder.wait_result(stamp)
    assert arr.header.frame_id == FRAME and status.header.frame_id == FRAME
    assert len(arr.detections) == 4 and len({d.id for d in arr.detections}) == 4
    assert sorted(d.results[0].hypothesis.class_id for d in arr.detections) == ["box", "can", "can", "drill"]
    assert status.track_count == 4 and len(status.objects) == 4
    assert all(o.iterations == 2 for o in status.objects)
    assert status.total_ms > 0 and status.network_ms > 0
    for d in arr.detections:
        T = d.results[0].pose.pose
        q = np.array([T.orientation.x, T.orientation.y, T.orientation.z, T.orientation.w])
        assert abs(np.linalg.norm(q) - 1) < 1e-6
        assert d.bbox.size.x > 0.03
    feeder.spin_until(lambda: len(feeder.outputs["tf"].get(stamp, [])) == 4, 10, "4 TF frames")
    tfs = feeder.outputs["tf"][stamp]
    ids = {d.id: d.results[0].hypothesis.class_id for d in arr.detections}
    assert {t.child_frame_id for t in tfs} == {f"deeprm_{c}_{i}" for i, c in ids.items()}
    assert all(t.header.frame_id == FRAME for t in tfs)


def test_tracks_persist_without_detections_then_expire(running):
    proc, feeder = running
    feeder.reset()
    t = _t0()
    arr0, _ = feeder.wait_result(_good_frame(feeder, t))
    ids0 = sorted(d.id for d in arr0.detections)
    arr1, st1 = feeder.wait_result(_good_frame(feeder, t + 0.5, with_detections=False))
    assert sorted(d.id for d in arr1.detections) == ids0        # tracked: same ids, no detection needed
    assert all(o.iterations == 1 for o in st1.objects)          # tracking_iterations
    arr2, _ = feeder.wait_result(_good_frame(feeder, t + 1.0, seed=1))
    assert sorted(d.id for d in arr2.detections) == ids0        # re-detected: associated, not duplicated
    arr3, st3 = feeder.wait_result(_good_frame(feeder, t + 4.5, with_detections=False))
    assert len(arr3.detections) == 0 and st3.track_count == 0   # 3.5 s without detections > track_timeout_s


def test_reset_service_clears_tracks(running):
    proc, feeder = running
    t = _t0()
    feeder.wait_result(_good_frame(feeder, t))
    res = feeder.reset()
    assert res.success
    _, st = feeder.wait_result(_good_frame(feeder, t + 0.2, with_detections=False))
    assert st.track_count == 0


NAN = float("nan")
BAD_INPUTS = {
    "encoding": (dict(encoding="16UC1"), "encoding '16UC1' is not supported"),
    "size": (dict(info_size=(320, 240)), "camera_info says 320x240"),
    "unknown_class": (dict(dets=[("spaceship", _pose(0, 0, 0.6))]), "unknown class_id 'spaceship'"),
    "nan_pose": (dict(dets=[("box", (NAN, 0.0, 0.6, 0.0, 0.0, 0.0, 1.0))]), "non-finite"),
    "zero_quaternion": (dict(dets=[("box", (0.0, 0.0, 0.6, 0.0, 0.0, 0.0, 0.0))]), "zero quaternion"),
    "other_frame": (dict(dets=[("box", _pose(0, 0, 0.6))], det_frame="base_link"), "in frame 'base_link' ignored"),
    "millimetres": (dict(dets=[("box", _pose(0, 0, 600.0))]), "mm given as m"),
    "no_camera_info": (dict(info=False), "no camera_info with its stamp"),
    "too_many": (dict(dets=[("box", _pose(0.001 * i, 0, 0.6)) for i in range(500)]), "keeping the 8 best"),
    "stale": (dict(dets=[("box", _pose(0, 0, 0.6))], det_stamp_offset=-10.0), "older than the image ignored"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_node_keeps_running(running, case):
    proc, feeder = running
    kwargs, warning = BAD_INPUTS[case]
    feeder.reset()
    t = _t0()
    arr0, _ = feeder.wait_result(_good_frame(feeder, t))
    ids0 = sorted(d.id for d in arr0.detections)
    start = len(proc.lines)
    rgb = feeder.image(SCENE)
    bad = dict(kwargs)
    dets = bad.pop("dets", None)
    feeder.send(t + 0.3, rgb, dets, **bad)
    proc.wait_for_log(warning, start, retry=feeder.resend)
    # The next good frame (no detections: tracking) is answered, with the earlier tracks intact.
    arr, st = feeder.wait_result(_good_frame(feeder, t + 0.6, with_detections=False))
    assert proc.p.poll() is None
    if case == "too_many":  # 8 new box tracks were made from the 500 (far from the old ones): capped
        assert set(ids0) <= {d.id for d in arr.detections} and st.track_count == 8
    else:
        assert sorted(d.id for d in arr.detections) == ids0 and st.track_count == len(ids0)


def test_empty_detection_array_is_harmless(running):
    proc, feeder = running
    feeder.reset()
    t = _t0()
    feeder.wait_result(_good_frame(feeder, t))
    arr, st = feeder.wait_result(feeder.send(t + 0.2, feeder.image(SCENE), []))
    assert st.track_count == 4 and len(arr.detections) == 4


def test_reset_also_drops_queued_detections(running):
    """Detections received before a reset (for a frame not yet seen) must not bring tracks back."""
    proc, feeder = running
    t = _t0()
    feeder.wait_result(_good_frame(feeder, t))
    feeder.pub_det.publish(feeder.detections(t + 0.5, [("box", _pose(0, 0, 0.6))]))
    feeder.spin_for(0.5)  # reliable, but give it time to arrive before the reset
    feeder.reset()
    _, st = feeder.wait_result(_good_frame(feeder, t + 0.6, with_detections=False))
    assert st.track_count == 0


def test_two_pending_arrays_make_no_duplicate_tracks(running):
    """An array whose own frame was never refined (dropped, lost) is superseded by the next one: only
    the newest array at or before an image makes tracks, so each object gets one."""
    proc, feeder = running
    feeder.reset()
    t = _t0()
    rng = np.random.default_rng(3)
    feeder.pub_det.publish(feeder.detections(t, [(CLASS[o], _noisy(T, rng)) for o, T in SCENE]))
    feeder.spin_for(0.5)
    arr, st = feeder.wait_result(_good_frame(feeder, t + 0.5))
    assert st.track_count == 4 and len(arr.detections) == 4
