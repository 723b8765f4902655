import numpy as np
import torch
from scipy.spatial.transform import Rotation

from deeprm_ros.losses import (disentangled_point_matching, flow_from_poses, multiscale_epe, point_matching_l1,
                               symmetric_pose_loss)


def _pose(rotvec, t):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return torch.tensor(T)


def test_point_matching_hand_case():
    # Pure translation (1, 2, 3) mm: every point differs by |1|+|2|+|3| = 6 mm in l1.
    pts = torch.rand(100, 3, dtype=torch.float64)
    R = torch.eye(3, dtype=torch.float64)
    loss = point_matching_l1(R, torch.tensor([0.001, 0.002, 0.003], dtype=torch.float64), R,
                             torch.zeros(3, dtype=torch.float64), pts)
    assert abs(loss.item() - 0.006) < 1e-12
    # Eq. 2 for the same case: terms 6, 3 (x, y only) and 3 (z only) mm -> mean 4 mm.
    d = disentangled_point_matching(R, torch.tensor([0.001, 0.002, 0.003], dtype=torch.float64), R,
                                    torch.zeros(3, dtype=torch.float64), pts)
    assert abs(d.item() - 0.004) < 1e-12


def test_loss_zero_at_ground_truth_and_positive_elsewhere():
    pts = torch.rand(1, 200, 3, dtype=torch.float64) - 0.5
    T = _pose([0.3, 0.2, 0.1], [0.0, 0.1, 0.8])[None]
    S = torch.eye(4, dtype=torch.float64)[None, None]
    assert symmetric_pose_loss(T, T, pts, S)[0].item() < 1e-12
    assert symmetric_pose_loss(_pose([0.31, 0.2, 0.1], [0.0, 0.1, 0.8])[None], T, pts, S)[0].item() > 1e-4


def test_loss_unchanged_under_object_symmetry():
    # Points on a ring about z are symmetric under any rotation about z.
    a = torch.linspace(0, 2 * np.pi, 73, dtype=torch.float64)[:-1]
    pts = torch.stack([0.05 * torch.cos(a), 0.05 * torch.sin(a), torch.zeros_like(a)], -1)[None]
    syms = torch.stack([_pose([0, 0, k * 2 * np.pi / 72], [0, 0, 0]) for k in range(72)])[None]
    T_gt = _pose([0.2, -0.4, 0.1], [0.01, 0.02, 0.7])[None]
    T_est = _pose([0.25, -0.4, 0.1], [0.02, 0.02, 0.72])[None]
    T_gt_sym = T_gt @ _pose([0, 0, 10 * 2 * np.pi / 72], [0, 0, 0])
    l1, _ = symmetric_pose_loss(T_est, T_gt, pts, syms, rotation_weight=0.5)
    l2, _ = symmetric_pose_loss(T_est, T_gt_sym, pts, syms, rotation_weight=0.5)
    torch.testing.assert_close(l1, l2)
    # And the symmetric ground truth itself scores zero.
    assert symmetric_pose_loss(T_gt_sym, T_gt, pts, syms)[0].item() < 1e-12


def test_flow_from_poses_matches_projection_of_moved_points():
    K = torch.tensor([[[200.0, 0, 40], [0, 200.0, 30], [0, 0, 1]]], dtype=torch.float64)
    T_r = _pose([0.0, 0.0, 0.0], [0.0, 0.0, 1.0])[None]
    T_o = _pose([0.0, 0.0, 0.1], [0.01, -0.02, 1.1])[None]
    depth = torch.ones(1, 60, 80, dtype=torch.float64)  # a fronto-parallel plane at z = 1
    valid = torch.ones(1, 60, 80, dtype=torch.bool)
    flow = flow_from_poses(depth, valid, K, T_r, T_o)
    # Pixel (u, v) = (50, 20): X = ((50-40)/200, (20-30)/200, 1); object frame = X - (0,0,1); observed = R x + t.
    x_obj = torch.tensor([10 / 200, -10 / 200, 0.0], dtype=torch.float64)
    X2 = T_o[0, :3, :3] @ x_obj + T_o[0, :3, 3]
    uv2 = (K[0] @ X2)[:2] / X2[2]
    torch.testing.assert_close(flow[0, :, 20, 50], uv2 - torch.tensor([50.0, 20.0], dtype=torch.float64))


def test_multiscale_epe_zero_for_exact_prediction_and_grows_with_error():
    flow = torch.randn(2, 2, 64, 96)
    valid = torch.ones(2, 64, 96, dtype=torch.bool)
    import torch.nn.functional as F
    preds = [F.adaptive_avg_pool2d(flow / 20.0, (64 // s, 96 // s)) for s in (32, 16, 8, 4)]
    assert multiscale_epe(preds, flow, valid).item() < 1e-5
    worse = [p + 0.5 for p in preds]
    assert multiscale_epe(worse, flow, valid).item() > 0.05
