"""Quaternion (w, x, y, z) and rotation-matrix conversions, batched, for torch tensors.

Numpy arrays are accepted and returned as numpy: one implementation serves both so the
training loop and the ROS glue cannot disagree about conventions.
"""
from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x):
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x, dtype=np.float64)), True


def quat_to_matrix(q):
    """Unit quaternion(s) (..., 4) in (w, x, y, z) order to rotation matrices (..., 3, 3).

    The input is normalized first: the network predicts four unconstrained numbers and only
    their ratios matter (DeepRM section 3.5).
    """
    q, was_numpy = _as_tensor(q)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    m = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(q.shape[:-1] + (3, 3))
    return m.numpy() if was_numpy else m


def matrix_to_quat(R):
    """Rotation matrices (..., 3, 3) to unit quaternions (..., 4), (w, x, y, z) with w >= 0.

    Uses the numerically stable branch per element (largest diagonal term), so it is exact
    also near 180 degrees.
    """
    R, was_numpy = _as_tensor(R)
    m = R.reshape(-1, 3, 3)
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    trace = m00 + m11 + m22
    cands = torch.stack([
        torch.stack([1 + trace, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
        torch.stack([m[:, 2, 1] - m[:, 1, 2], 1 + m00 - m11 - m22, m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
        torch.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 - m00 + m11 - m22, m[:, 1, 2] + m[:, 2, 1]], -1),
        torch.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m00 - m11 + m22], -1),
    ], dim=1)  # (N, 4 candidates, 4)
    pivots = torch.stack([1 + trace, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = pivots.argmax(-1)
    q = cands[torch.arange(m.shape[0]), best]
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    q = torch.where(q[:, :1] < 0, -q, q)
    q = q.reshape(R.shape[:-2] + (4,))
    return q.numpy() if was_numpy else q


def axis_angle_to_matrix(axis_angle):
    """Rotation vectors (..., 3) (axis * angle in radians) to matrices (..., 3, 3) (Rodrigues)."""
    v, was_numpy = _as_tensor(axis_angle)
    angle = v.norm(dim=-1, keepdim=True)
    half = angle / 2
    # sin(half)/angle with its limit 1/2 at zero, so tiny rotations stay exact.
    scale = torch.where(angle > 1e-8, torch.sin(half) / angle.clamp_min(1e-12), 0.5 - angle * angle / 48)
    q = torch.cat([torch.cos(half), v * scale], dim=-1)
    m = quat_to_matrix(q)
    return m.numpy() if was_numpy else m


def rotation_angle_deg(R):
    """Angle (degrees) of rotation matrices (..., 3, 3): the geodesic distance to the identity, so the error
    between R_e and R_g is rotation_angle_deg(R_e @ R_g^T). atan2(sin, cos) instead of arccos(cos): accurate
    for tiny and near-180 degree angles. Numpy in (float64), numpy out."""
    R, was_numpy = _as_tensor(R)
    cos = (R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    skew = torch.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    a = torch.rad2deg(torch.atan2(skew.norm(dim=-1) / 2, cos))
    return a.numpy() if was_numpy else a
