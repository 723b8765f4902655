"""Optical-flow ground truth from two poses and the rendered depth, and FlowNet's multi-scale EPE."""
from __future__ import annotations

import torch
import torch.nn.functional as F

# FlowNetS's weights from the finest (stride 4) to the coarsest (stride 32) prediction used here,
# and its division of flow targets by 20 so that the loss is O(1).
FLOW_SCALE_WEIGHTS = {4: 0.005, 8: 0.01, 16: 0.02, 32: 0.08}
FLOW_DIVISOR = 20.0


def flow_from_poses(depth, valid, K_crop, T_rendered, T_observed):
    """Flow (B, 2, h, w) in crop pixels from each rendered pixel to where the same surface point
    appears under the observed pose: back-project with the rendered depth, move the point from
    the rendered to the observed pose, project with the same crop intrinsics.

    depth: (B, h, w) metres of the rendered crop; valid: (B, h, w) bool (rendered object pixels).
    """
    B, h, w = depth.shape
    v, u = torch.meshgrid(torch.arange(h, dtype=depth.dtype, device=depth.device),
                          torch.arange(w, dtype=depth.dtype, device=depth.device), indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(1, -1, 3)  # (1, hw, 3)
    rays = pix @ torch.linalg.inv(K_crop).transpose(-1, -2)  # (B, hw, 3)
    X = rays * depth.reshape(B, -1, 1)
    T_rel = T_observed @ torch.linalg.inv(T_rendered)
    X2 = X @ T_rel[:, :3, :3].transpose(-1, -2) + T_rel[:, None, :3, 3]
    uvw = X2 @ K_crop.transpose(-1, -2)
    uv2 = uvw[..., :2] / uvw[..., 2:3].clamp_min(1e-6)
    flow = (uv2 - pix[..., :2]).reshape(B, h, w, 2).permute(0, 3, 1, 2)
    return flow * valid.unsqueeze(1)


def multiscale_epe(flows_pred, flow_gt, valid):
    """Weighted mean endpoint error over valid pixels at every predicted scale (FlowNet).

    flows_pred: list of (B, 2, h_s, w_s) predictions (in units of FLOW_DIVISOR crop pixels);
    targets are area-averaged over valid pixels, and a coarse cell counts when half of it is valid.
    """
    h, w = flow_gt.shape[-2:]
    target = flow_gt / FLOW_DIVISOR
    m = valid.unsqueeze(1).to(flow_gt.dtype)
    total = flow_gt.new_zeros(())
    for pred in flows_pred:
        stride = round(w / pred.shape[-1])
        weight = FLOW_SCALE_WEIGHTS.get(stride)
        if weight is None:
            raise ValueError(f"no FlowNet weight for a flow at stride {stride}")
        size = pred.shape[-2:]
        m_s = F.adaptive_avg_pool2d(m, size)
        t_s = F.adaptive_avg_pool2d(target * m, size) / m_s.clamp_min(1e-6)
        keep = (m_s > 0.5).squeeze(1)
        epe = (pred - t_s).norm(dim=1)
        total = total + weight * (epe * keep).sum() / keep.sum().clamp_min(1)
    return total
