"""DeepIM's pose update (DeepRM sections 3.4 and 3.5) and its exact inverse.

(vx, vy): shift of the projected object centre in pixels of the crop; vz: ratio z_new / z_old;
dR: rotation applied in the camera frame about the object centre, R_new = dR @ R_old.
"""
from __future__ import annotations

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
