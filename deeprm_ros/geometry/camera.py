"""Pinhole projection in the OpenCV convention (x right, y down, z forward, pixel centres at integers)."""
from __future__ import annotations



def transform_points(T, points):
    """Apply poses T (B, 4, 4) to points (B, N, 3) or shared points (N, 3); returns (B, N, 3)."""
    R, t = T[..., :3, :3], T[..., :3, 3]
    if points.dim() == 2:
        points = points.unsqueeze(0).expand(T.shape[0], -1, -1)
    return points @ R.transpose(-1, -2) + t.unsqueeze(-2)


def project_points(points_cam, K):
    """Project camera-frame points (B, N, 3) with intrinsics K (B, 3, 3) to pixels (B, N, 2)."""
    uvw = points_cam @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:3].clamp_min(1e-9)
