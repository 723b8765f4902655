"""DeepIM's pose update (DeepRM sections 3.4 and 3.5) and its exact inverse.

(vx, vy): shift of the projected object centre in pixels of the crop; vz: ratio z_new / z_old;
dR: rotation applied in the camera frame about the object centre, R_new = dR @ R_old.
"""
from __future__ import annotations

import numpy as np
import torch

from .rotations import matrix_to_quat, quat_to_matrix


def apply_pose_update(T, vxvyvz, quat, K_crop):
    """New poses (B, 4, 4) from (B, 3) translation updates and (B, 4) quaternions (w, x, y, z).

    z_new = vz * z_old; x_new = (vx / fx + x_old / z_old) * z_new, likewise y (CosyPose/DeepIM).
    """
    t = T[:, :3, 3]
    z_old = t[:, 2:3]
    z_new = vxvyvz[:, 2:3] * z_old
    f = torch.stack([K_crop[:, 0, 0], K_crop[:, 1, 1]], dim=-1)
    xy_new = (vxvyvz[:, :2] / f + t[:, :2] / z_old) * z_new
    R_new = quat_to_matrix(quat) @ T[:, :3, :3]
    out = torch.zeros_like(T)
    out[:, :3, :3] = R_new
    out[:, :3, 3] = torch.cat([xy_new, z_new], dim=-1)
    out[:, 3, 3] = 1
    return out


def pose_update_target(T_input, T_target, K_crop):
    """The update ((B, 3), (B, 4)) that takes T_input exactly to T_target: the inverse of apply_pose_update."""
    t_in, t_gt = T_input[:, :3, 3], T_target[:, :3, 3]
    vz = t_gt[:, 2] / t_in[:, 2]
    f = torch.stack([K_crop[:, 0, 0], K_crop[:, 1, 1]], dim=-1)
    vxy = f * (t_gt[:, :2] / t_gt[:, 2:3] - t_in[:, :2] / t_in[:, 2:3])
    dR = T_target[:, :3, :3] @ T_input[:, :3, :3].transpose(-1, -2)
    return torch.cat([vxy, vz[:, None]], dim=-1), matrix_to_quat(dR)


def scale_pose_update(vxvyvz, quat, gain):
    """The fraction `gain` (a number, or one per object) of an update: (vx, vy) * gain, the depth ratio
    vz ** gain, and the rotation's angle * gain about the same axis; gain 1 is the update itself, 0 none. It
    lets a tracker, which runs the network many times a second on each object, damp each step like a filter's
    gain, so that errors in directions the image barely constrains (a turn about a near-symmetry axis) add up
    more slowly (the tracking benchmark's gain strategies; on its videos whole updates tracked best)."""
    if not torch.is_tensor(gain) and np.all(np.asarray(gain) == 1.0):   # nothing to scale (a number or one each)
        return vxvyvz, quat
    gain = torch.as_tensor(gain, dtype=quat.dtype, device=quat.device).reshape(-1, 1).expand(len(quat), 1)
    q = torch.where(quat[:, :1] < 0, -quat, quat)           # the same rotation, angle in [0, pi]
    vec_norm = q[:, 1:].norm(dim=-1, keepdim=True)
    half_angle = torch.atan2(vec_norm, q[:, :1])
    scaled = half_angle * gain
    # sin(gain * a) / sin(a) * (axis * sin(a)) is the scaled vector part; its limit at a -> 0 is gain.
    ratio = torch.where(vec_norm > 1e-9, torch.sin(scaled) / vec_norm.clamp_min(1e-9), gain)
    q_scaled = torch.cat([torch.cos(scaled), q[:, 1:] * ratio], dim=-1)
    t_scaled = torch.cat([vxvyvz[:, :2] * gain, vxvyvz[:, 2:3].clamp_min(1e-6) ** gain], dim=-1)
    return t_scaled, q_scaled
