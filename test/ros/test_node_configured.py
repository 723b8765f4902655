"""Refiner nodes started with a non-default configuration, each in its own real process: CompressedImage input
with a best-effort detector (a QoS override), and a worker whose backend cannot be built."""
from __future__ import annotations

import shutil
import time

import numpy as np

from .test_camera import _pil_bytes
from .test_node import SCENE
from .test_node_live import LABELS, _frame, _start, _stop, _t0, _translation_errors


def test_a_worker_that_cannot_build_its_backend_reports_error_and_exits(ros_prefix, tmp_path):
    """The bundled ONNX file is replaced by garbage under a matching digest: the node starts (it loads the
    config and weights), then the first frame with objects cannot build the onnxruntime session."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    from deeprm_ros.ros.resources import default_checkpoint

    ckpt = tmp_path / "checkpoint"
    shutil.copytree(default_checkpoint(), ckpt)
    (ckpt / "model.onnx").write_bytes(b"this is not an onnx model" * 10)
    proc, feeder = _start(ros_prefix, "backend:=onnx", f"checkpoint:={ckpt}", LABELS, "diagnostics_period_s:=0.5")
    try:
        got = []
        feeder.node.create_subscription(DiagnosticArray, "/diagnostics", got.append, 10)
        feeder.wait_for_node()
        start = len(proc.lines)
        _frame(feeder, _t0())
        proc.wait_for_log("refinement worker stopped", start, timeout=60, retry=feeder.resend)
        assert "ERROR" in proc.log_since(start)
        feeder.spin_until(lambda: any(a.status[0].level == DiagnosticStatus.ERROR for a in got), 10,
                          "an ERROR DiagnosticStatus")
        error = next(a.status[0] for a in got if a.status[0].level == DiagnosticStatus.ERROR)
        assert "onnx backend could not be built" in error.message
        deadline = time.monotonic() + 30
        while proc.p.poll() is None and time.monotonic() < deadline:
            feeder.spin_for(0.2)
        assert proc.p.returncode == 1, "the node kept running after its worker stopped"
        assert "[deeprm_refiner] stopped:" in proc.log_since(start)
    finally:
        _stop(proc, feeder)


def test_compressed_images_and_a_best_effort_detector(ros_prefix):
    """image_transport:=compressed reads sensor_msgs/CompressedImage on image/compressed; a qos_overrides
    parameter makes the detections subscription best effort, so a best-effort detector connects."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage
    from vision_msgs.msg import Detection3DArray

    proc, feeder = _start(ros_prefix, "image_transport:=compressed", "iterations:=2", LABELS,
                          "qos_overrides./detections.subscription.reliability:=best_effort")
    try:
        best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        feeder.pub_det = feeder.node.create_publisher(Detection3DArray, "detections", best_effort)
        msg = CompressedImage()
        msg.format = "rgb8; png compressed bgr8"
        feeder.image_publisher(msg)
        feeder.spin_until(lambda: feeder.pub_compressed.get_subscription_count() > 0 and
                          feeder.pub_det.get_subscription_count() > 0, 120, "the node's subscriptions")
        info = feeder.node.get_subscriptions_info_by_topic("/detections")
        assert [i.qos_profile.reliability for i in info] == [ReliabilityPolicy.BEST_EFFORT]
        rgb = feeder.image(SCENE)
        msg.data = _pil_bytes(rgb, "PNG")
        # Best effort may lose a detection array: send each frame's again until the node has tracks.
        t = _t0()
        for k in range(10):
            arr, st = feeder.wait_result(_frame(feeder, t + 0.2 * k, rgb=rgb, image_msg=msg))
            if st.track_count:
                break
        assert st.track_count == 4 and len(arr.detections) == 4
        assert np.median(_translation_errors(arr)) < 0.05
    finally:
        _stop(proc, feeder)
