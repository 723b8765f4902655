"""A synthetic camera for the demo and the tests: publishes data.sequence's synthetic video (the demo objects
moving slowly over a textured background) as Image + CameraInfo (same stamp), its coarse detections with
PoseCNN-like noise at a lower rate, and the exact poses on `ground_truth` for scoring.

Runs in one thread: the timer callbacks and the GL context share the main thread.
"""
from __future__ import annotations

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data

from geometry_msgs.msg import Pose
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose

from ..data.perturbation import ROTATION_STD_DEG, TRANSLATION_STD_M
from ..data.sequence import SyntheticSequence
from . import conversions as conv
from .camera import rgb_to_image
from .resources import default_models_dir


class SyntheticCamera(Node):
    def __init__(self, **kwargs):
        super().__init__("deeprm_synthetic_camera", **kwargs)
        d = self.declare_parameter
        self.rate_hz = float(d("rate_hz", 10.0).value)
        self.detection_rate_hz = float(d("detection_rate_hz", 2.0).value)
        self.width = int(d("width", 640).value)
        self.height = int(d("height", 480).value)
        self.focal = float(d("focal_px", 600.0).value)
        self.frame_id = str(d("frame_id", "camera_color_optical_frame").value)
        self.models_dir = str(d("models_dir", "").value) or str(default_models_dir())
        self.mesh_unit = str(d("mesh_unit", "mm").value)
        self.seed = int(d("seed", 0).value)
        self.noise_rot = float(d("noise_rotation_deg", ROTATION_STD_DEG).value)
        self.noise_trans = list(d("noise_translation_m", list(TRANSLATION_STD_M)).value)
        self.max_frames = int(d("max_frames", 0).value)
        self.time_scale = float(d("time_scale", 1.0).value)
        for name, v in (("rate_hz", self.rate_hz), ("detection_rate_hz", self.detection_rate_hz)):
            if not 0 < v <= 1000:
                raise ValueError(f"parameter '{name}': {v} is not in (0, 1000]")
        from ..meshes import load_object_library
        from ..render import Renderer
        self.models = load_object_library(self.models_dir, unit=self.mesh_unit)
        self.renderer = Renderer(self.models, width=self.width, height=self.height)
        self.sequence = SyntheticSequence(self.models, self.renderer, self.seed, self.rate_hz, self.detection_rate_hz,
                                          self.focal, self.noise_rot, self.noise_trans, self.time_scale)
        self.K = self.sequence.K
        self.pub_image = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.pub_det = self.create_publisher(Detection3DArray, "detections", 10)
        self.pub_gt = self.create_publisher(Detection3DArray, "ground_truth", 10)
        self.frame = 0
        self.timer = self.create_timer(1.0 / self.rate_hz, self._tick)

    def _array(self, header, poses, scores=None) -> Detection3DArray:
        arr = Detection3DArray()
        arr.header = header
        for i, (oid, T) in enumerate(zip(self.sequence.obj_ids, poses)):
            det = Detection3D()
            det.header = header
            det.id = str(i)
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id = str(oid)
            hyp.hypothesis.score = 1.0 if scores is None else float(scores[i])
            hyp.pose.pose = conv.matrix_to_pose(T, Pose)
            det.results.append(hyp)
            arr.detections.append(det)
        return arr

    def _tick(self):
        if (self.max_frames and self.frame >= self.max_frames) or not rclpy.ok():
            return
        frame = self.sequence.frame(self.frame)
        header = self._header()
        info = CameraInfo()
        info.header = header
        info.width, info.height = self.width, self.height
        info.distortion_model = "plumb_bob"
        info.d = [0.0] * 5
        info.k = self.K.reshape(-1).tolist()
        info.r = np.eye(3).reshape(-1).tolist()
        P = np.zeros((3, 4))
        P[:, :3] = self.K
        info.p = P.reshape(-1).tolist()
        self.pub_info.publish(info)
        self.pub_image.publish(rgb_to_image(Image, frame.rgb, header))
        self.pub_gt.publish(self._array(header, frame.poses))
        if frame.detections is not None:
            self.pub_det.publish(self._array(header, frame.detections, scores=frame.scores))
        self.frame += 1

    def _header(self):
        from std_msgs.msg import Header
        h = Header()
        h.stamp = self.get_clock().now().to_msg()
        h.frame_id = self.frame_id
        return h


def main(args=None) -> int:
    from .process import run_node
    return run_node(SyntheticCamera, "deeprm_synthetic_camera", args)


if __name__ == "__main__":
    raise SystemExit(main())
