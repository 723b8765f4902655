"""The loop's plumbing: an oracle network that outputs the exact target update (computed from the ground
truth with the crop intrinsics the refiner really used) must land on the ground truth in one iteration,
through the real crop, renderer and pose update; and then the rendered crop must match the observed one."""
import numpy as np
import pytest
import torch

from deeprm_ros.data.perturbation import perturb_poses
from deeprm_ros.geometry import apply_pose_update, crop_intrinsics, deepim_boxes, pose_update_target
from deeprm_ros.model import ModelConfig, StepOutput
from deeprm_ros.refiner import Refiner


class OracleNetwork:
    """Knows the ground truth and computes, as the refiner will, the crop each iteration is cut at (the CosyPose
    box of the first 256 model points at the incoming pose), so it can output the exact update for that crop."""

    def __init__(self, T_gt, T0, K, points):
        self.T_gt = torch.as_tensor(T_gt, dtype=torch.float32)
        self.T_in = torch.as_tensor(T0, dtype=torch.float32)
        self.K = torch.as_tensor(K, dtype=torch.float32)
        self.points = torch.as_tensor(points, dtype=torch.float32)
        self.config = ModelConfig(phi=0, input_size=(120, 160), with_flow=False)

    def __call__(self, pair, state, with_flow=False):
        size = tuple(self.config.input_size)
        K_crop = crop_intrinsics(self.K, deepim_boxes(self.K, self.points, self.T_in, out_size=size), size)
        t, q = pose_update_target(self.T_in, self.T_gt, K_crop)
        self.T_in = apply_pose_update(self.T_in, t.float(), q.float(), K_crop)
        return StepOutput(t.float(), q.float(), ())


@pytest.mark.parametrize("full_frame", [False, True])
def test_oracle_reaches_ground_truth_in_one_iteration(demo_models, demo_renderer, full_frame):
    K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])
    ids = sorted(demo_models)
    T_gt = np.tile(np.eye(4), (len(ids), 1, 1))
    for i in range(len(ids)):
        T_gt[i, :3, 3] = [-0.15 + 0.1 * i, 0.02 * i - 0.03, 0.55 + 0.05 * i]
    T0 = perturb_poses(T_gt, np.random.default_rng(0))
    Ks = np.repeat(K[None], len(ids), 0)
    observed, _ = demo_renderer.render_each(Ks, ids, T_gt)  # the objects alone, on black
    oracle = OracleNetwork(T_gt, T0, Ks, np.stack([demo_models[o].points[:256] for o in ids]))
    refiner = Refiner(oracle, demo_renderer, demo_models, "cpu", render_full_frame=full_frame)
    out = refiner.run(observed, Ks, T0, ids, 2)
    assert np.abs(T0 - T_gt).max() > 0.01
    np.testing.assert_allclose(out.poses[0].numpy(), T_gt, atol=1e-5)

    def crop_difference(T):
        obs = torch.as_tensor(observed).permute(0, 3, 1, 2).float() / 255
        pair, _ = refiner.render_and_crop(obs, torch.as_tensor(Ks, dtype=torch.float32),
                                          torch.as_tensor(T, dtype=torch.float32), ids)
        return (pair[:, :3] - pair[:, 3:]).abs().mean().item()

    before, after = crop_difference(T0), crop_difference(out.poses[0])
    assert after < 0.01 and before > 5 * after
    assert out.translation_update_mm.max() < 1e-2 and out.rotation_update_deg.max() < 0.05
