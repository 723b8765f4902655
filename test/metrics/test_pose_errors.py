"""Pose errors up to symmetry (deeprm_ros.metrics.pose_errors) against hand-computed cases."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from deeprm_ros.metrics import symmetric_pose_errors, translation_error_m


def _T(R, t):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def test_translation_error():
    assert translation_error_m([0.3, 0.4, 1.0], [0.0, 0.0, 1.0]) == pytest.approx(0.5)
    np.testing.assert_allclose(translation_error_m(np.zeros((2, 3)), [[0, 0, 0.01], [0.02, 0, 0]]), [0.01, 0.02])


def test_symmetric_pose_errors_pick_the_closest_symmetric_ground_truth():
    """Symmetries {I, Rz(180) about an axis offset by (0.01, 0, 0)}: T_e = T_g @ S1 has zero error."""
    S1 = _T(Rotation.from_euler("z", 180, degrees=True).as_matrix(), [0.02, 0, 0])  # rotation about x = 0.01
    syms = np.stack([np.eye(4), S1])
    T_g = _T(Rotation.from_euler("xyz", [20, 30, 40], degrees=True).as_matrix(), [0.05, -0.02, 0.6])
    T_e = T_g @ S1
    r, t = symmetric_pose_errors(T_e, T_g, syms)
    assert r == pytest.approx(0.0, abs=1e-6) and t == pytest.approx(0.0, abs=1e-12)
    # Without the symmetry, the same estimate is 180 degrees and 2 cm away.
    r0, t0 = symmetric_pose_errors(T_e, T_g, np.eye(4)[None])
    assert r0 == pytest.approx(180.0, abs=1e-6) and t0 == pytest.approx(0.02, abs=1e-12)
    # Batched: a 10 degree error on top of the symmetric pose stays 10 degrees.
    T_e2 = T_g @ S1 @ _T(Rotation.from_euler("y", 10, degrees=True).as_matrix(), [0, 0, 0])
    r_b, _ = symmetric_pose_errors(np.stack([T_e, T_e2]), np.stack([T_g, T_g]), syms)
    np.testing.assert_allclose(r_b, [0.0, 10.0], atol=1e-6)
    # Per-pose symmetry sets (B, S, 4, 4), padded with the identity: the second pose has no symmetry.
    per_pose = np.stack([syms, np.stack([np.eye(4), np.eye(4)])])
    r_p, t_p = symmetric_pose_errors(np.stack([T_e, T_e]), np.stack([T_g, T_g]), per_pose)
    np.testing.assert_allclose(r_p, [0.0, 180.0], atol=1e-6)
    np.testing.assert_allclose(t_p, [0.0, 0.02], atol=1e-12)


def test_pose_errors_take_the_translation_at_the_nearest_symmetric_pose():
    """An object symmetric under a half turn about an axis 1 cm off its origin: the estimate T_g @ S1 looks exactly
    like the ground truth, so ADD-S, rotation and translation are all zero (the origin moved 2 cm)."""
    from deeprm_ros.meshes import ObjectModel
    from deeprm_ros.metrics import pose_errors

    axis_offset = np.array([0.01, 0.0, 0.0])
    ring = np.stack([0.05 * np.cos(a) for a in np.linspace(0, 2 * np.pi, 24, endpoint=False)])
    points = np.stack([ring, 0.03 * np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False)), np.zeros(24)], 1) \
        + axis_offset  # an ellipse centred on the axis: the half turn maps it onto itself
    model = ObjectModel(obj_id=7, name="offset", vertices=points.astype(np.float32), faces=np.zeros((0, 3), np.int32),
                        normals=np.zeros_like(points, np.float32), points=points.astype(np.float32),
                        symmetries_continuous=[], diameter=0.1,
                        symmetries_discrete=_T(Rotation.from_euler("z", 180, degrees=True).as_matrix(),
                                               2 * axis_offset)[None])
    T_g = _T(Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix(), [0.0, 0.1, 0.7])
    T_e = T_g @ model.symmetries_discrete[0]
    adds, rot, trans = pose_errors(T_e[None], T_g[None], {7: model}, [7])
    assert adds[0] == pytest.approx(0.0, abs=1e-9) and rot[0] == pytest.approx(0.0, abs=1e-6)
    assert trans[0] == pytest.approx(0.0, abs=1e-9)
    assert np.linalg.norm(T_e[:3, 3] - T_g[:3, 3]) == pytest.approx(0.02, abs=1e-9)  # the origins are 2 cm apart


def test_continuous_symmetry_error_is_exact_not_quantized():
    """A can about an axis through (0.01, 0, 0): an estimate turned by an arbitrary angle about that axis and then
    tilted by 3 degrees is exactly 3 degrees and 0 m off (64 sampled steps would say up to 2.8 degrees more), and
    the exact answer equals a brute-force search over 200,000 angles, with a discrete flip as well."""
    from deeprm_ros.metrics.pose_errors import nearest_about_axis

    axis, offset = np.array([0.0, 0.0, 1.0]), np.array([0.01, 0.0, 0.0])

    def about_axis(angle_deg):
        R = Rotation.from_rotvec(np.radians(angle_deg) * axis).as_matrix()
        return _T(R, offset - R @ offset)

    T_g = _T(Rotation.from_euler("xyz", [15, -40, 70], degrees=True).as_matrix(), [0.02, 0.03, 0.5])
    T_e = T_g @ about_axis(2.81) @ _T(Rotation.from_euler("x", 3, degrees=True).as_matrix(), [0, 0, 0])
    r, t = symmetric_pose_errors(T_e, T_g, np.eye(4)[None], [(axis, offset)])
    assert r == pytest.approx(3.0, abs=1e-9) and t == pytest.approx(0.0, abs=1e-12)
    r64, _ = symmetric_pose_errors(T_e, T_g, np.stack([about_axis(k * 360 / 64) for k in range(64)]))
    assert r64 > 3.5  # what sampling reports for the same estimate

    flip = _T(Rotation.from_euler("x", 180, degrees=True).as_matrix(), [0, 0, 0])
    rng = np.random.default_rng(0)
    for _ in range(5):
        T_e = _T(Rotation.random(random_state=rng).as_matrix(), rng.normal(0, 0.05, 3))
        exact, _ = symmetric_pose_errors(T_e, T_g, np.stack([np.eye(4), flip]), [(axis, offset)])
        angles = np.radians(np.linspace(0, 360, 200_000, endpoint=False))
        R_axis = Rotation.from_rotvec(angles[:, None] * axis).as_matrix()         # (N, 3, 3)
        brute = min(np.degrees(Rotation.from_matrix(
            T_e[:3, :3] @ np.swapaxes(T_g[:3, :3] @ R_axis @ S[:3, :3], -1, -2)).magnitude()).min()
            for S in (np.eye(4), flip))
        assert exact == pytest.approx(brute, abs=1e-3)
        assert exact <= brute + 1e-9
    # the closed form's pose is itself a symmetric equivalent: turned about the axis through the offset
    T_near = nearest_about_axis(T_e, T_g, axis, offset)
    C = np.linalg.inv(T_g) @ T_near
    np.testing.assert_allclose(C[:3, :3] @ axis, axis, atol=1e-12)
    np.testing.assert_allclose(C[:3, :3] @ offset + C[:3, 3], offset, atol=1e-12)
