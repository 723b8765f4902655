import numpy as np
import torch
from scipy.spatial.transform import Rotation

from deeprm_ros.geometry import scale_pose_update


def _wxyz(rotations: Rotation) -> torch.Tensor:
    return torch.tensor(rotations.as_quat()[:, [3, 0, 1, 2]], dtype=torch.float64)


def _rotvec(q: torch.Tensor) -> np.ndarray:
    return Rotation.from_quat(q[:, [1, 2, 3, 0]].numpy()).as_rotvec()


ROTVECS = np.array([[0.3, -0.5, 0.2], [0.0, 0.0, 1e-12], [2.5, 0.1, 0.0]])
UPDATES = torch.tensor([[3.0, -2.0, 1.1], [0.0, 0.0, 1.0], [1.0, 1.0, 0.9]], dtype=torch.float64)


def test_a_fraction_of_the_update_turns_by_that_fraction_of_the_angle_about_the_same_axis():
    q = _wxyz(Rotation.from_rotvec(ROTVECS))
    q[2] = -q[2]   # the same rotation written with w < 0
    for gain in (0.0, 0.3, 0.5):
        t, q_scaled = scale_pose_update(UPDATES, q, gain)
        np.testing.assert_allclose(_rotvec(q_scaled), ROTVECS * gain, atol=1e-12)
        np.testing.assert_allclose(q_scaled.norm(dim=-1).numpy(), 1.0, atol=1e-12)
        np.testing.assert_allclose(t[:, :2].numpy(), UPDATES[:, :2].numpy() * gain)
        np.testing.assert_allclose(t[:, 2].numpy(), UPDATES[:, 2].numpy() ** gain)   # depth ratio: z * 1.1**g


def test_half_an_update_applied_twice_is_the_whole_update():
    # A pure rotation about one axis and a pure depth step compose exactly: two half steps make one step.
    q = _wxyz(Rotation.from_rotvec(ROTVECS[:1]))
    t, q_half = scale_pose_update(UPDATES[:1], q, 0.5)
    twice = Rotation.from_quat(q_half[:, [1, 2, 3, 0]].numpy()) * Rotation.from_quat(q_half[:, [1, 2, 3, 0]].numpy())
    np.testing.assert_allclose(twice.as_rotvec(), ROTVECS[:1], atol=1e-12)
    np.testing.assert_allclose(t[0, 2].item() ** 2, UPDATES[0, 2].item())


def test_one_gain_per_object_and_gain_one_leaves_the_update_alone():
    q = _wxyz(Rotation.from_rotvec(ROTVECS))
    for gains in (torch.tensor([0.5, 1.0, 0.0]), np.array([0.5, 1.0, 0.0])):
        t, q_scaled = scale_pose_update(UPDATES, q, gains)
        np.testing.assert_allclose(_rotvec(q_scaled), ROTVECS * np.array([[0.5], [1.0], [0.0]]), atol=1e-12)
        np.testing.assert_allclose(t.numpy(), [[1.5, -1.0, 1.1 ** 0.5], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    for ones in (1.0, np.ones(3)):
        same_t, same_q = scale_pose_update(UPDATES, q, ones)
        assert same_t is UPDATES and same_q is q
