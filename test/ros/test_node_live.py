"""The refiner node as ROS 2 users drive it, in a real process over loopback: parameters changed at run time,
cameras in other encodings, rectified intrinsics, /diagnostics, and callbacks that do not wait for each other.
(Nodes started with another configuration are in test_node_configured.py.)"""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from .node_harness import Feeder, NodeProcess
from .test_camera import BAYER, _bt601, _mosaic
from .test_node import CLASS, SCENE, _noisy

LABELS = "object_labels:=['box:1','drill:2','mug:3','can:4']"
_BASE = itertools.count(100, 100)


def _t0() -> float:
    return float(next(_BASE))


def _start(ros_prefix, *params, ros_args=()):
    import rclpy
    import torch  # noqa: F401
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.render import Renderer
    from deeprm_ros.ros.resources import default_models_dir

    models = load_object_library(default_models_dir())
    proc = NodeProcess(ros_prefix, *params, ros_args=ros_args)
    rclpy.init()
    feeder = Feeder(Renderer(models, 640, 480), models)
    feeder.proc = proc
    return proc, feeder


def _stop(proc, feeder):
    import rclpy

    feeder.close()
    rclpy.try_shutdown()
    proc.stop()


@pytest.fixture(scope="module")
def running(ros_prefix):
    proc, feeder = _start(ros_prefix, "iterations:=2", "tracking_iterations:=1", "backend:=torch", "max_objects:=8",
                          "diagnostics_period_s:=0.5", LABELS)
    try:
        from diagnostic_msgs.msg import DiagnosticArray

        feeder.diagnostics = []
        feeder.node.create_subscription(DiagnosticArray, "/diagnostics", feeder.diagnostics.append, 10)
        feeder.wait_for_node()
        yield proc, feeder
    finally:
        _stop(proc, feeder)


def _frame(feeder, t, with_detections=True, seed=0, rgb=None, **kw):
    """The four-object scene at stamp t, with noisy detections; kw go to Feeder.send."""
    rng = np.random.default_rng(seed)
    dets = [(CLASS[o], _noisy(T, rng)) for o, T in SCENE] if with_detections else None
    return feeder.send(t, feeder.image(SCENE) if rgb is None else rgb, dets, **kw)


def _set(feeder, **values):
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(feeder.node, "/deeprm_refiner")
    feeder.spin_until(lambda: client.services_are_ready(), 30, "the parameter services")
    fut = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    feeder.spin_until(fut.done, 30, "the set_parameters response")
    return fut.result().results


def _translation_errors(arr):
    """Each refined object's distance (m) to the nearest scene instance of its class."""
    from deeprm_ros.ros.conversions import pose_to_matrix

    out = []
    for d in arr.detections:
        T = pose_to_matrix(d.results[0].pose.pose)
        cands = [G for o, G in SCENE if CLASS[o] == d.results[0].hypothesis.class_id]
        out.append(min(np.linalg.norm(G[:3, 3] - T[:3, 3]) for G in cands))
    return np.array(out)


# ---- parameters -------------------------------------------------------------------------------------------

def test_parameters_set_at_run_time_apply_from_the_next_frame(running):
    proc, feeder = running
    try:
        feeder.reset()
        t = _t0()
        _, st = feeder.wait_result(_frame(feeder, t))
        assert [o.iterations for o in st.objects] == [2] * 4

        assert all(r.successful for r in _set(feeder, iterations=5, tracking_iterations=3, tf_prefix="live_"))
        _, st = feeder.wait_result(_frame(feeder, t + 0.3, with_detections=False))
        assert [o.iterations for o in st.objects] == [3] * 4          # tracked objects: tracking_iterations
        feeder.reset()
        stamp = _frame(feeder, t + 0.6)
        arr, st = feeder.wait_result(stamp)
        assert [o.iterations for o in st.objects] == [5] * 4          # new tracks: iterations
        feeder.spin_until(lambda: len(feeder.outputs["tf"].get(stamp, [])) == 4, 10, "4 TF frames")
        assert all(tf.child_frame_id.startswith("live_") for tf in feeder.outputs["tf"][stamp])

        assert _set(feeder, publish_tf=False, score_threshold=0.95)[0].successful
        feeder.reset()
        stamp = _frame(feeder, t + 0.9)                                # the detections score 0.9
        _, st = feeder.wait_result(stamp)
        assert st.track_count == 0
        feeder.spin_for(1.0)
        assert stamp not in feeder.outputs["tf"]

        assert _set(feeder, score_threshold=0.0, max_objects=2)[0].successful
        _, st = feeder.wait_result(_frame(feeder, t + 1.2))
        assert st.track_count == 2                                     # max_objects reached the track policy

        # Read-only parameters refuse a change, naming why, and keep their value.
        res = _set(feeder, backend="onnx")[0]
        assert not res.successful and "read-only" in res.reason
    finally:
        _set(feeder, iterations=2, tracking_iterations=1, tf_prefix="deeprm_", publish_tf=True, score_threshold=0.0,
             max_objects=8)


# ---- cameras ----------------------------------------------------------------------------------------------

def _encoded(rgb, encoding):
    from sensor_msgs.msg import Image

    m = Image()
    m.height, m.width = rgb.shape[:2]
    m.encoding = encoding
    if encoding == "mono8":
        data = np.round(rgb @ [0.299, 0.587, 0.114]).astype(np.uint8)
    elif encoding.startswith("bayer"):
        data = _mosaic(rgb, BAYER[encoding])
    else:  # yuv422 (UYVY)
        y, u, v = _bt601(rgb)
        data = np.zeros((rgb.shape[0], rgb.shape[1] * 2), np.uint8)
        data[:, 1::4], data[:, 3::4] = y[:, 0::2], y[:, 1::2]
        data[:, 0::4], data[:, 2::4] = u[:, 0::2], v[:, 0::2]
    m.step = data.shape[1]
    m.data = data.tobytes()
    return m


@pytest.mark.parametrize("encoding", ["mono8", "bayer_rggb8", "bayer_gbrg8", "yuv422"])
def test_images_in_other_encodings_are_refined(running, encoding):
    proc, feeder = running
    feeder.reset()
    start = len(proc.lines)
    rgb = feeder.image(SCENE)
    arr, st = feeder.wait_result(_frame(feeder, _t0(), rgb=rgb, image_msg=_encoded(rgb, encoding)))
    assert st.track_count == 4 and len(arr.detections) == 4
    assert np.median(_translation_errors(arr)) < 0.05
    assert "image skipped" not in proc.log_since(start)


def test_rectified_intrinsics_come_from_P_and_distortion_is_warned_once(running):
    """K is that of the raw image, here deliberately far off (principal point outside the image): refining
    with it would crop beside the objects. P holds the rectified intrinsics the image was made with."""
    proc, feeder = running
    feeder.reset()
    start = len(proc.lines)
    K_raw = np.array([[450.0, 0, -900.0], [0, 450.0, 1500.0], [0, 0, 1]])
    P = np.hstack([feeder.K, np.zeros((3, 1))])
    D = (-0.25, 0.08, 0.001, -0.002, 0.0)
    t = _t0()
    arr, st = feeder.wait_result(_frame(feeder, t, K=K_raw, P=P, D=D))
    assert st.track_count == 4 and len(arr.detections) == 4
    assert np.median(_translation_errors(arr)) < 0.05
    arr, _ = feeder.wait_result(_frame(feeder, t + 0.3, with_detections=False, K=K_raw, P=P, D=D))
    assert len(arr.detections) == 4
    log = proc.log_since(start)
    assert log.count("camera_info has distortion D") == 1, log


# ---- health -----------------------------------------------------------------------------------------------

def _latest_status(feeder, after: int):
    feeder.spin_until(lambda: len(feeder.diagnostics) > after, 10, "a DiagnosticArray")
    arr = feeder.diagnostics[-1]
    assert len(arr.status) == 1
    return arr.status[0]


def test_diagnostics_report_rate_latency_drops_and_tracks(running):
    from diagnostic_msgs.msg import DiagnosticStatus

    proc, feeder = running
    feeder.reset()
    t = _t0()
    feeder.wait_result(_frame(feeder, t))
    for k in range(1, 4):
        feeder.wait_result(_frame(feeder, t + 0.2 * k, with_detections=False))
    status = _latest_status(feeder, len(feeder.diagnostics))
    values = {kv.key: kv.value for kv in status.values}
    assert status.name == "deeprm_refiner: refinement" and status.hardware_id == "/deeprm_refiner"
    assert status.level == DiagnosticStatus.OK, status.message
    assert status.message.startswith("refining at")
    assert values["tracks"] == "4" and values["objects in last frame"] == "4"
    assert float(values["refined frames per second"]) > 0 and float(values["refine time mean (ms)"]) > 0
    assert "latency stamp to result mean (ms)" in values  # the test's stamps are not wall-clock time
    assert {"dropped images (total)", "images per second (input)", "backend"} <= values.keys()
    assert values["backend"] == "torch on cpu" and values["image topic"] == "/image"

    # No images for longer than the window (5 periods of 0.5 s): a warning that says so.
    feeder.spin_for(3.0)
    status = _latest_status(feeder, len(feeder.diagnostics))
    assert status.level == DiagnosticStatus.WARN and "no images" in status.message


# ---- threads ----------------------------------------------------------------------------------------------

def test_parameter_services_answer_while_reset_waits_for_a_long_frame(running):
    """The reset service waits for the worker to finish its frame. Meanwhile the node's other services and
    inputs must still be served: the parameter request sent after the reset is answered before it."""
    from rcl_interfaces.srv import GetParameters

    proc, feeder = running
    feeder.reset()
    assert _set(feeder, iterations=32)[0].successful
    try:
        stamp = _frame(feeder, _t0())
        feeder.spin_for(1.0)  # the worker is now inside a frame of 4 objects x 32 iterations
        assert stamp not in feeder.outputs["refinement_status"], "the long frame finished too soon for this test"
        from std_srvs.srv import Trigger

        reset = feeder.reset_client.call_async(Trigger.Request())
        get = feeder.node.create_client(GetParameters, "/deeprm_refiner/get_parameters")
        feeder.spin_until(get.service_is_ready, 10, "get_parameters")
        answer = get.call_async(GetParameters.Request(names=["iterations"]))
        order = []
        deadline = time.monotonic() + 60
        while len(order) < 2 and time.monotonic() < deadline:
            feeder.spin_for(0.02)
            order += [name for name, fut in (("get", answer), ("reset", reset)) if fut.done() and name not in order]
        assert order == ["get", "reset"], order
        assert answer.result().values[0].integer_value == 32
    finally:
        _set(feeder, iterations=2)
        feeder.wait_result(stamp, timeout=120)
        feeder.reset()


def test_overlay_is_published_to_a_subscriber(running):
    """The debug overlay (refined outlines drawn on the camera image) is made only while someone listens."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from deeprm_ros.ros.camera import image_to_rgb

    proc, feeder = running
    got = []
    sub = feeder.node.create_subscription(Image, "overlay", got.append, qos_profile_sensor_data)
    try:
        feeder.spin_until(lambda: feeder.node.count_subscribers("overlay") >= 1, 10, "the overlay subscription")
        feeder.reset()
        rgb = feeder.image(SCENE)
        t = _t0()
        for k in range(5):
            feeder.wait_result(_frame(feeder, t + 0.2 * k, with_detections=k == 0, rgb=rgb))
            feeder.spin_for(0.3)
            if got:
                break
        assert got, "no overlay image arrived"
        overlay = image_to_rgb(got[-1])
        assert overlay.shape == rgb.shape
        changed = np.any(overlay != rgb, axis=-1)
        assert 0.001 < changed.mean() < 0.2  # outlines drawn, the rest is the camera image
    finally:
        feeder.node.destroy_subscription(sub)
