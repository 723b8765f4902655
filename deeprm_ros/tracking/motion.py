"""Constant-velocity prediction of a tracked pose into the next frame (tracking.refine_tracks' velocity_smoothing).

Why it was tried: a carried track starts each frame where its object was in the previous frame, and the
network, run tracking_iterations times, has to catch up the motion in between as well as correct the error.
The velocity is measured between consecutive refined poses (rotation about the object's origin, in the camera
frame, and translation of that origin) and smoothed over frames. Measured on the tracking benchmark (1 Hz
detector, 10 Hz camera) it lost 2.8 to 3.6 AUC of ADD(-S): a velocity from two refined poses carries both
poses' errors, and the network already follows the camera's motion in two iterations. So it is off in the
node and kept as a benchmark strategy.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

MAX_PREDICTION_S = 0.5   # a longer gap (dropped frames, a paused bag) predicts nothing: the motion has changed


def pose_velocity(previous: np.ndarray, current: np.ndarray, dt: float) -> np.ndarray:
    """(6,) angular velocity (rotation vector per second, camera frame, about the object's origin) and linear
    velocity (m/s) that take `previous` to `current` in dt seconds."""
    turn = Rotation.from_matrix(current[:3, :3] @ previous[:3, :3].T).as_rotvec()
    return np.concatenate([turn, current[:3, 3] - previous[:3, 3]]) / dt


def predict_pose(pose: np.ndarray, velocity: np.ndarray, dt: float) -> np.ndarray:
    """`pose` moved on by `velocity` (pose_velocity's layout) for dt seconds."""
    out = pose.copy()
    out[:3, :3] = Rotation.from_rotvec(velocity[:3] * dt).as_matrix() @ pose[:3, :3]
    out[:3, 3] = pose[:3, 3] + velocity[3:] * dt
    return out


def smoothed_velocity(old: np.ndarray | None, measured: np.ndarray, smoothing: float) -> np.ndarray:
    """Exponential smoothing: `smoothing` of the old velocity kept, the rest from the new measurement."""
    return measured if old is None else smoothing * old + (1.0 - smoothing) * measured
