import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from deeprm_ros.geometry import axis_angle_to_matrix, matrix_to_quat, quat_to_matrix, rotation_angle_deg


def _scipy_wxyz(r):
    q = r.as_quat()[:, [3, 0, 1, 2]]
    return np.where(q[:, :1] < 0, -q, q)


def test_quat_to_matrix_matches_scipy():
    r = Rotation.random(200, random_state=1)
    np.testing.assert_allclose(quat_to_matrix(_scipy_wxyz(r)), r.as_matrix(), atol=1e-12)


def test_matrix_to_quat_matches_scipy_including_near_180_degrees():
    r = Rotation.concatenate([Rotation.random(200, random_state=2),
                              Rotation.from_rotvec([[np.pi - 1e-9, 0, 0], [0, np.pi, 0], [0.0, 0.0, np.pi]])])
    np.testing.assert_allclose(np.abs(matrix_to_quat(r.as_matrix())), np.abs(_scipy_wxyz(r)), atol=1e-6)
    np.testing.assert_allclose(quat_to_matrix(matrix_to_quat(r.as_matrix())), r.as_matrix(), atol=1e-9)


def test_unnormalized_quaternion_is_normalized():
    q = np.array([[2.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(quat_to_matrix(q)[0], np.eye(3))


def test_axis_angle_and_angle_match_scipy():
    rv = np.random.default_rng(3).normal(size=(100, 3))
    r = Rotation.from_rotvec(rv)
    np.testing.assert_allclose(axis_angle_to_matrix(rv), r.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rotation_angle_deg(r.as_matrix()), np.degrees(r.magnitude()), atol=1e-5)


def test_torch_path_keeps_gradients():
    q = torch.tensor([[0.9, 0.1, -0.2, 0.3]], requires_grad=True)
    quat_to_matrix(q).sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()


def test_rotation_error_against_scipy_and_hand_values():
    """The error between R_e and R_g is rotation_angle_deg(R_e @ R_g^T), exact for tiny and 180-degree angles."""

    def rotation_error_deg(R_e, R_g):
        return rotation_angle_deg(np.asarray(R_e) @ np.swapaxes(np.asarray(R_g), -1, -2))

    Rx90 = Rotation.from_euler("x", 90, degrees=True).as_matrix()
    assert rotation_error_deg(Rx90, np.eye(3)) == pytest.approx(90.0, abs=1e-10)
    assert rotation_error_deg(Rotation.from_rotvec([0, np.pi, 0]).as_matrix(), np.eye(3)) == pytest.approx(180.0, abs=1e-6)
    tiny = Rotation.from_rotvec([1e-7, 0, 0]).as_matrix()
    assert rotation_error_deg(tiny, np.eye(3)) == pytest.approx(np.degrees(1e-7), rel=1e-6)
    Re = Rotation.random(50, random_state=6)
    Rg = Rotation.random(50, random_state=7)
    ref = np.degrees((Re * Rg.inv()).magnitude())
    np.testing.assert_allclose(rotation_error_deg(Re.as_matrix(), Rg.as_matrix()), ref, atol=1e-9)
