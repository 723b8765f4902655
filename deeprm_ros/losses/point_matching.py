"""Point-matching losses (DeepRM section 3.6)."""
from __future__ import annotations

import torch


def _posed(R, t, points):
    """(..., 3, 3), (..., 3), (..., N, 3) -> (..., N, 3)."""
    return points @ R.transpose(-1, -2) + t.unsqueeze(-2)


def point_matching_l1(R_est, t_est, R_gt, t_gt, points):
    """Eq. 1: mean over model points of the l1 norm of the difference of the posed points. Shape (...)."""
    diff = _posed(R_gt, t_gt, points) - _posed(R_est, t_est, points)
    return diff.abs().sum(-1).mean(-1)


def disentangled_point_matching(R_est, t_est, R_gt, t_gt, points):
    """Eq. 2: the mean of three point-matching terms that share the predicted rotation:
    all predicted; predicted x, y with true z; true x, y with predicted z. Rotation is not disentangled."""
    t_xy = torch.cat([t_est[..., :2], t_gt[..., 2:]], dim=-1)
    t_z = torch.cat([t_gt[..., :2], t_est[..., 2:]], dim=-1)
    return (point_matching_l1(R_est, t_est, R_gt, t_gt, points)
            + point_matching_l1(R_est, t_xy, R_gt, t_gt, points)
            + point_matching_l1(R_est, t_z, R_gt, t_gt, points)) / 3


def symmetric_pose_loss(T_est, T_gt, points, symmetries, rotation_weight: float = 0.0):
    """Eq. 2 minimized over the symmetric ground-truth poses T_gt @ S (S: (B, S, 4, 4), identity included).

    rotation_weight adds w * PML(R_est, t_gt), a rotation-only term. The paper uses 0; a small CPU
    training run needs it because with l1 and a large translation error the rotation gradient of
    Eq. 2 cancels over the points (a CPU prototype trained without it never learned the rotation).
    Returns the (B,) loss and the (B,) index of the symmetry that achieved it.
    """
    T_sym = T_gt.unsqueeze(1) @ symmetries  # (B, S, 4, 4)
    R_est = T_est[:, None, :3, :3].expand_as(T_sym[..., :3, :3])
    t_est = T_est[:, None, :3, 3].expand_as(T_sym[..., :3, 3])
    pts = points.unsqueeze(1) if points.dim() == 3 else points
    losses = disentangled_point_matching(R_est, t_est, T_sym[..., :3, :3], T_sym[..., :3, 3], pts)
    if rotation_weight:
        losses = losses + rotation_weight * point_matching_l1(R_est, T_sym[..., :3, 3], T_sym[..., :3, :3],
                                                              T_sym[..., :3, 3], pts)
    best, index = losses.min(dim=1)
    return best, index


def closest_symmetric_pose(T_ref, T_gt, points, symmetries):
    """The symmetric ground-truth pose T_gt @ S nearest T_ref by mean point distance (for flow targets)."""
    T_sym = T_gt.unsqueeze(1) @ symmetries
    pts = points.unsqueeze(1) if points.dim() == 3 else points
    d = point_matching_l1(T_ref[:, None, :3, :3], T_ref[:, None, :3, 3], T_sym[..., :3, :3], T_sym[..., :3, 3], pts)
    return T_sym[torch.arange(T_gt.shape[0]), d.argmin(dim=1)]
