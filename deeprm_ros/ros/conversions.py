"""Messages <-> arrays. The only place that knows ROS's (x, y, z, w) quaternion order and image encodings.

Each function raises ValueError with a message naming the problem, which the node turns into a
throttled warning.
"""
from __future__ import annotations

import numpy as np

from ..geometry import matrix_to_quat, quat_to_matrix

SUPPORTED_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")


def stamp_to_sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8) to (H, W, 3) uint8 RGB, honouring the row step."""
    enc = msg.encoding.lower()
    if enc not in SUPPORTED_ENCODINGS:
        raise ValueError(f"image encoding '{msg.encoding}' is not supported (use one of {', '.join(SUPPORTED_ENCODINGS)})")
    channels = 4 if enc.endswith("a8") else 3
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ValueError("image is empty (width or height 0)")
    if step < w * channels:
        raise ValueError(f"image step {step} is smaller than width*channels = {w * channels}")
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, (bytes, bytearray, memoryview)) else msg.data,
                         dtype=np.uint8)
    if data.size < h * step:
        raise ValueError(f"image data has {data.size} bytes, expected height*step = {h * step}")
    img = data[: h * step].reshape(h, step)[:, : w * channels].reshape(h, w, channels)[..., :3]
    if enc.startswith("bgr"):
        img = img[..., ::-1]
    return np.array(img, order="C")  # a writable copy: the message buffer is read-only


def rgb_to_image(msg_type, rgb: np.ndarray, header):
    msg = msg_type()
    msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = int(rgb.shape[1] * 3)
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def camera_info_K(msg) -> np.ndarray:
    """K from sensor_msgs/CameraInfo (rectified images assumed: K applies to the image as published)."""
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0 or K[2, 2] != 1.0:
        raise ValueError(f"camera_info K is not a valid pinhole matrix: {K.reshape(-1).tolist()}")
    return K


def pose_to_matrix(pose) -> np.ndarray:
    """geometry_msgs/Pose to a 4x4 matrix; rejects NaN/inf and zero quaternions, normalizes the rest."""
    q = np.array([pose.orientation.w, pose.orientation.x, pose.orientation.y, pose.orientation.z], dtype=np.float64)
    t = np.array([pose.position.x, pose.position.y, pose.position.z], dtype=np.float64)
    if not (np.isfinite(q).all() and np.isfinite(t).all()):
        raise ValueError(f"pose has non-finite values (position {t.tolist()}, orientation xyzw {q[[1, 2, 3, 0]].tolist()})")
    m = float(np.abs(q).max())
    u = q / m if m > 0 else q  # scaled first: the norm of components beyond ~1e154 would overflow to inf
    if m * float(np.linalg.norm(u)) < 1e-6:
        raise ValueError("pose orientation is a zero quaternion")
    T = np.eye(4)
    T[:3, :3] = quat_to_matrix(u / np.linalg.norm(u))
    T[:3, 3] = t
    return T


def matrix_to_pose(T: np.ndarray, pose_type):
    """4x4 matrix to geometry_msgs/Pose (quaternion x, y, z, w with w >= 0)."""
    p = pose_type()
    w, x, y, z = matrix_to_quat(np.asarray(T[:3, :3], dtype=np.float64))
    p.position.x, p.position.y, p.position.z = (float(v) for v in T[:3, 3])
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = float(x), float(y), float(z), float(w)
    return p


def parse_object_labels(pairs) -> dict:
    """['mug:1', 'can:4'] -> {'mug': 1, 'can': 4}; numbers alone map to themselves ('4' -> 4)."""
    out = {}
    for item in pairs:
        item = str(item).strip()
        if not item:
            continue
        name, _, oid = item.rpartition(":") if ":" in item else (item, "", item)
        try:
            out[name] = int(oid)
        except ValueError:
            raise ValueError(f"object_labels entry '{item}' is not 'class_id:obj_id' with an integer obj_id") from None
    return out
