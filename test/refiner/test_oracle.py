"""The loop's plumbing: an oracle network that outputs the exact target update (computed from the ground
truth with the crop intrinsics the refiner really used) must land on the ground truth in one iteration,
through the real crop, renderer and pose update; and then the rendered crop must match the observed one."""
import numpy as np
import pytest
import torch

from deeprm_ros.data.perturbation import perturb_poses
from deeprm_ros.geometry import pose_update_target
from deeprm_ros.model import ModelConfig, StepOutput
from deeprm_ros.refiner import Refiner


class OracleNetwork:
    def __init__(self, T_gt):
        self.T_gt = torch.as_tensor(T_gt, dtype=torch.float32)
        self.config = ModelConfig(phi=0, input_size=(120, 160), with_flow=False)
        self.refiner = None

    def __call__(self, pair, state, with_flow=False):
        rec = self.refiner.current
        t, q = pose_update_target(rec.T_input, self.T_gt, rec.K_crop)
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
    oracle = OracleNetwork(T_gt)
    refiner = Refiner(oracle, demo_renderer, demo_models, "cpu", render_full_frame=full_frame)
    oracle.refiner = refiner
    out = refiner.run(observed, Ks, T0, ids, 2, keep_pairs=True)
    assert np.abs(T0 - T_gt).max() > 0.01
    np.testing.assert_allclose(out.poses[0].numpy(), T_gt, atol=1e-5)
    before = (out.records[0].pair[:, :3] - out.records[0].pair[:, 3:]).abs().mean().item()
    after = (out.records[1].pair[:, :3] - out.records[1].pair[:, 3:]).abs().mean().item()
    assert after < 0.01 and before > 5 * after
    assert out.translation_update_mm.max() < 1e-2 and out.rotation_update_deg.max() < 0.05
