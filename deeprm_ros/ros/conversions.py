"""Messages <-> arrays: poses (the only place that knows ROS's (x, y, z, w) quaternion order), stamps and
object labels. Images and camera intrinsics are in camera.py.

Each function raises ValueError with a message naming the problem, which the node turns into a
throttled warning.
"""
from __future__ import annotations

import numpy as np

from ..geometry import matrix_to_quat, quat_to_matrix


def stamp_to_sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


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
