"""DeepIM-style initial poses: the ground truth perturbed in rotation and translation.

Rotation: a rotation vector with independent normal components of std sigma/sqrt(3) per axis, so the
rotation angle has an RMS of exactly sigma (15 degrees by default, "15 degrees RMS"); it is applied in
the camera frame about the object centre (R' = dR R). Translation: independent normal noise with
sigma (1, 1, 5) cm in x, y, z of the camera frame (DeepIM/CosyPose defaults: depth is the least
observable from a single RGB image).
"""
from __future__ import annotations

import numpy as np

from ..geometry import axis_angle_to_matrix


def perturb_poses(T, rng: np.random.Generator, rot_std_deg: float = 15.0, trans_std_m=(0.01, 0.01, 0.05)) -> np.ndarray:
    """(B, 4, 4) poses -> perturbed copies; deterministic given the generator."""
    T = np.asarray(T, dtype=np.float64)
    B = T.shape[0]
    rotvec = rng.normal(0.0, np.deg2rad(rot_std_deg) / np.sqrt(3.0), size=(B, 3))
    dt = rng.normal(0.0, 1.0, size=(B, 3)) * np.asarray(trans_std_m, dtype=np.float64)
    out = T.copy()
    out[:, :3, :3] = axis_angle_to_matrix(rotvec) @ T[:, :3, :3]
    out[:, :3, 3] = T[:, :3, 3] + dt
    return out
