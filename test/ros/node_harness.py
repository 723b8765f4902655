"""A real refiner_node process and a real rclpy test node that feeds it and collects its outputs."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np


class NodeProcess:
    """The installed refiner_node executable, with its stderr collected for warnings."""

    def __init__(self, prefix: Path, *params: str, ros_args: tuple = ()):
        exe = prefix / "lib" / "deeprm_ros" / "refiner_node"
        args = [str(exe), "--ros-args", *ros_args]
        for p in params:
            args += ["-p", p]
        env = dict(os.environ, RCUTILS_LOGGING_BUFFERED_STREAM="0")  # warnings reach us when they happen
        self.p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def log_since(self, n: int) -> str:
        return "\n".join(self.lines[n:])

    def wait_for_log(self, text: str, start: int, timeout: float = 30.0, retry=None, retry_every: float = 3.0) -> str:
        """Wait for a log line; `retry()` (e.g. resending a best-effort image) runs every retry_every s."""
        deadline = time.monotonic() + timeout
        next_retry = time.monotonic() + retry_every
        while time.monotonic() < deadline:
            log = self.log_since(start)
            if text in log:
                return log
            if retry is not None and time.monotonic() > next_retry:
                retry()
                next_retry = time.monotonic() + retry_every
            time.sleep(0.05)
        raise AssertionError(f"'{text}' not in the node's log since the bad input; its last lines:\n"
                             f"{self.log_since(max(0, len(self.lines) - 25))[-3000:]}")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()  # our own child
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)


class Feeder:
    proc = None  # the NodeProcess, to show its log when a wait times out
    resends = 0

    """Publishes Image + CameraInfo + Detection3DArray and collects the node's outputs by stamp."""

    def __init__(self, renderer, models):
        import rclpy
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from std_srvs.srv import Trigger
        from tf2_msgs.msg import TFMessage
        from vision_msgs.msg import Detection3DArray

        from deeprm_ros.msg import RefinementStatus
        from deeprm_ros.ros.node import TF_QOS

        self.rclpy = rclpy
        self.node = rclpy.create_node("deeprm_test_feeder")
        self.renderer, self.models = renderer, models
        self.K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])
        self.pub_image = self.node.create_publisher(Image, "image", qos_profile_sensor_data)
        self.pub_info = self.node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.pub_det = self.node.create_publisher(Detection3DArray, "detections", 10)
        self.outputs: dict = {"refined_detections": {}, "refinement_status": {}, "tf": {}}
        for topic, typ, key, qos in (("refined_detections", Detection3DArray, "refined_detections", 10),
                                     ("refinement_status", RefinementStatus, "refinement_status", 10),
                                     ("/tf", TFMessage, "tf", TF_QOS)):
            self.node.create_subscription(typ, topic, self._collector(key), qos)
        self.reset_client = self.node.create_client(Trigger, "/deeprm_refiner/reset")

    def _collector(self, key):
        def cb(msg):
            if key == "tf":
                for t in msg.transforms:
                    self.outputs["tf"].setdefault(self._stamp(t.header.stamp), []).append(t)
            else:
                self.outputs[key][self._stamp(msg.header.stamp)] = msg
        return cb

    @staticmethod
    def _stamp(s):
        return (s.sec, s.nanosec)

    def spin_until(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.rclpy.spin_once(self.node, timeout_sec=0.05)
            if predicate():
                return
        log = self.proc.log_since(max(0, len(self.proc.lines) - 30)) if self.proc else ""
        raise AssertionError(f"timed out waiting for {what}; the node's last log lines:\n{log}")

    def spin_for(self, seconds: float):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.rclpy.spin_once(self.node, timeout_sec=0.02)

    def wait_for_node(self, timeout: float = 120.0):
        self.spin_until(lambda: self.pub_image.get_subscription_count() > 0 and
                        self.pub_det.get_subscription_count() > 0 and
                        self.node.count_publishers("refinement_status") > 0, timeout, "the node's subscriptions")

    def image(self, objects, background=60):
        out = self.renderer.render_scene(self.K, objects)
        bg = np.full_like(out.rgb, background)
        return np.where((out.instance >= 0)[..., None], out.rgb, bg)

    def header(self, t: float, frame="camera_optical_frame"):
        from std_msgs.msg import Header
        h = Header()
        h.stamp.sec, h.stamp.nanosec = int(t), int(round((t - int(t)) * 1e9))
        h.frame_id = frame
        return h

    def detections(self, t, dets, frame="camera_optical_frame"):
        """dets: [(class_id, T or a (px, py, pz, qx, qy, qz, qw) tuple)]."""
        from geometry_msgs.msg import Pose
        from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose

        from deeprm_ros.ros.conversions import matrix_to_pose
        arr = Detection3DArray()
        arr.header = self.header(t, frame)
        for cls, pose in dets:
            d = Detection3D()
            d.header = arr.header
            h = ObjectHypothesisWithPose()
            h.hypothesis.class_id = cls
            h.hypothesis.score = 0.9
            if isinstance(pose, np.ndarray):
                h.pose.pose = matrix_to_pose(pose, Pose)
            else:
                p = Pose()
                (p.position.x, p.position.y, p.position.z, p.orientation.x, p.orientation.y, p.orientation.z,
                 p.orientation.w) = pose
                h.pose.pose = p
            d.results.append(h)
            arr.detections.append(d)
        return arr

    def send(self, t, rgb, dets=None, encoding="rgb8", info=True, info_size=None, frame="camera_optical_frame",
             det_frame=None, det_stamp_offset=0.0, image_msg=None, K=None, P=None, D=()):
        """One frame: detections (if any), camera_info (K = self.K unless given; P and D as given, P zeros by
        default) and the image, all with stamp t. image_msg replaces the rgb8 image (another encoding);
        its header is set here."""
        from sensor_msgs.msg import CameraInfo

        from deeprm_ros.ros.camera import rgb_to_image
        from sensor_msgs.msg import Image
        det_msg = self.detections(t + det_stamp_offset, dets, det_frame or frame) if dets is not None else None
        if det_msg is not None:
            self.pub_det.publish(det_msg)
        h = self.header(t, frame)
        if info:
            ci = CameraInfo()
            ci.header = h
            ci.width, ci.height = info_size or (rgb.shape[1], rgb.shape[0])
            ci.k = np.asarray(self.K if K is None else K, float).reshape(-1).tolist()
            if P is not None:
                ci.p = np.asarray(P, float).reshape(-1).tolist()
            ci.d = [float(v) for v in D]
            self.pub_info.publish(ci)
        msg = rgb_to_image(Image, rgb, h) if image_msg is None else image_msg
        msg.header = h
        if encoding != "rgb8":  # a wrong label on rgb8 data
            msg.encoding = encoding
        # Give the detections and camera_info a head start (separate topics, no ordering between them). The
        # node takes the detections stamped at or before an image when that image arrives, so detections that
        # reach it after their image go to the next frame; on a loaded 2-core machine delivery can lag by
        # more than 50 ms, so a frame carrying detections waits longer.
        self.spin_for(0.3 if det_msg is not None else 0.05)
        self.image_publisher(msg).publish(msg)
        self.last = (msg, ci if info else None, det_msg)
        return (h.stamp.sec, h.stamp.nanosec)

    def resend(self):
        """Images and camera_info use the sensor-data QoS (best effort): a lost one may be sent again.
        Detections are reliable and wait in the node for an image of their stamp, so they are not resent
        (a second copy would be consumed by a later frame and make extra tracks)."""
        msg, ci, det_msg = self.last
        if ci is not None:
            self.pub_info.publish(ci)
        self.rclpy.spin_once(self.node, timeout_sec=0.02)
        self.image_publisher(msg).publish(msg)
        self.resends += 1

    def image_publisher(self, msg):
        """image for sensor_msgs/Image, image/compressed (image_transport's name) for CompressedImage."""
        from sensor_msgs.msg import CompressedImage
        from rclpy.qos import qos_profile_sensor_data

        if not isinstance(msg, CompressedImage):
            return self.pub_image
        if not hasattr(self, "pub_compressed"):
            self.pub_compressed = self.node.create_publisher(CompressedImage, "image/compressed",
                                                             qos_profile_sensor_data)
        return self.pub_compressed

    def wait_result(self, stamp, timeout=60.0, resend_after=5.0):
        done = lambda: stamp in self.outputs["refinement_status"] and stamp in self.outputs["refined_detections"]
        deadline = time.monotonic() + timeout
        while not done():
            try:
                self.spin_until(done, min(resend_after, deadline - time.monotonic()), f"the node's result for stamp {stamp}")
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise
                self.resend()
        return self.outputs["refined_detections"][stamp], self.outputs["refinement_status"][stamp]

    def reset(self):
        from std_srvs.srv import Trigger
        self.spin_until(lambda: self.reset_client.service_is_ready(), 30, "the reset service")
        fut = self.reset_client.call_async(Trigger.Request())
        self.spin_until(lambda: fut.done(), 30, "the reset response")
        return fut.result()

    def close(self):
        self.node.destroy_node()
