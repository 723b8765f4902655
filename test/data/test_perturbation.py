"""Initial-pose perturbation: statistics against the configured noise (scipy as the reference for angles)."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from deeprm_ros.data.perturbation import perturb_poses

N = 5000


def _poses(n, seed=0):
    rng = np.random.default_rng(seed)
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    T[:, :3, 3] = rng.normal(size=(n, 3)) * 0.1 + [0, 0, 0.8]
    return T


def _dR(T0, T1):
    """The camera-frame rotation dR with R1 = dR @ R0."""
    return Rotation.from_matrix(T1[:, :3, :3] @ np.swapaxes(T0[:, :3, :3], 1, 2))


@pytest.mark.parametrize("sigma", [15.0, 5.0])
def test_rotation_angle_rms_matches_configuration(sigma):
    T = _poses(N)
    out = perturb_poses(T, np.random.default_rng(1), rot_std_deg=sigma)
    rms = np.sqrt(np.mean(np.degrees(_dR(T, out).magnitude()) ** 2))
    assert rms == pytest.approx(sigma, rel=0.05)
    # Isotropic: the rotation vector's components have equal std sigma / sqrt(3).
    std = np.degrees(_dR(T, out).as_rotvec()).std(axis=0)
    np.testing.assert_allclose(std, sigma / np.sqrt(3), rtol=0.05)


def test_rotation_is_about_the_object_centre_in_the_camera_frame():
    """Rotation alone (no translation noise) leaves t untouched, and R' R^T is the same dR for any R."""
    T = _poses(4)
    out = perturb_poses(T, np.random.default_rng(2), trans_std_m=(0.0, 0.0, 0.0))
    np.testing.assert_array_equal(out[:, :3, 3], T[:, :3, 3])
    same = np.repeat(T[:1], 4, axis=0)
    a = perturb_poses(same, np.random.default_rng(3), trans_std_m=0.0)
    b = perturb_poses(T, np.random.default_rng(3), trans_std_m=0.0)
    np.testing.assert_allclose(_dR(same, a).as_matrix(), _dR(T, b).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(out[:, 3], np.tile([0, 0, 0, 1.0], (4, 1)))


def test_translation_std_matches_configuration():
    T = _poses(N)
    out = perturb_poses(T, np.random.default_rng(4), trans_std_m=(0.01, 0.02, 0.05))
    d = out[:, :3, 3] - T[:, :3, 3]
    np.testing.assert_allclose(d.std(axis=0), [0.01, 0.02, 0.05], rtol=0.05)
    np.testing.assert_allclose(d.mean(axis=0), 0.0, atol=0.003)


def test_deepim_euler_model_has_per_axis_euler_std():
    T = np.tile(np.eye(4), (N, 1, 1))
    out = perturb_poses(T, np.random.default_rng(5), rot_std_deg=15.0, rotation_model="deepim_euler")
    euler = Rotation.from_matrix(out[:, :3, :3]).as_euler("xyz", degrees=True)
    np.testing.assert_allclose(euler.std(axis=0), 15.0, rtol=0.05)
    rms = np.sqrt(np.mean(np.degrees(Rotation.from_matrix(out[:, :3, :3]).magnitude()) ** 2))
    assert 22.0 < rms < 28.0  # about sqrt(3) * 15 = 26: much more than the "rms" model's 15
    with pytest.raises(ValueError, match="rotation_model"):
        perturb_poses(T[:2], np.random.default_rng(0), rotation_model="nope")


def test_deterministic_per_seed_and_input_untouched():
    T = _poses(16)
    T_copy = T.copy()
    a = perturb_poses(T, np.random.default_rng(7))
    b = perturb_poses(T, np.random.default_rng(7))
    c = perturb_poses(T, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(T, T_copy)
    single = perturb_poses(T[0], np.random.default_rng(7))
    assert single.shape == (4, 4)
    np.testing.assert_array_equal(single, perturb_poses(T[:1], np.random.default_rng(7))[0])
    # Orthonormal rotations, valid homogeneous matrices.
    np.testing.assert_allclose(a[:, :3, :3] @ np.swapaxes(a[:, :3, :3], 1, 2), np.tile(np.eye(3), (16, 1, 1)), atol=1e-12)


def test_inplane_turns_about_the_viewing_ray_and_keeps_the_projected_centre():
    """The in-plane model: dR's axis is the ray through the object centre, so a model point's image turns
    about the projected centre by the drawn angle (checked by projecting with OpenCV)."""
    import cv2
    T = _poses(2000)
    out = perturb_poses(T, np.random.default_rng(11), rot_std_deg=20.0, trans_std_m=0.0, rotation_model="inplane")
    rotvec = _dR(T, out).as_rotvec()
    angle = np.linalg.norm(rotvec, axis=1)
    rays = T[:, :3, 3] / np.linalg.norm(T[:, :3, 3], axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs((rotvec / angle[:, None] * rays).sum(1)), 1.0, atol=1e-9)
    assert np.degrees(np.sqrt(np.mean(angle ** 2))) == pytest.approx(20.0, rel=0.05)
    np.testing.assert_array_equal(out[:, :3, 3], T[:, :3, 3])
    # One pose by hand: the object straight ahead, a point 5 cm to its right turns in the image plane.
    K = np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])
    T0 = np.eye(4)
    T0[:3, 3] = [0.1, -0.05, 0.7]
    T1 = perturb_poses(T0, np.random.default_rng(3), rot_std_deg=20.0, trans_std_m=0.0, rotation_model="inplane")
    theta = Rotation.from_matrix(T1[:3, :3]).magnitude()
    point = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]])

    def image(Tx):
        uv, _ = cv2.projectPoints(point, cv2.Rodrigues(Tx[:3, :3])[0], Tx[:3, 3], K, None)
        return uv[:, 0]
    a, b = image(T0), image(T1)
    np.testing.assert_allclose(a[0], b[0], atol=1e-9)
    turned = np.arccos(np.dot(a[1] - a[0], b[1] - b[0]) / np.linalg.norm(a[1] - a[0]) / np.linalg.norm(b[1] - b[0]))
    assert turned == pytest.approx(theta, abs=np.deg2rad(1.0))


def test_axes_gives_each_camera_axis_its_own_std():
    T = _poses(N)
    out = perturb_poses(T, np.random.default_rng(12), rot_std_deg=(0.0, 5.0, 20.0), trans_std_m=0.0,
                        rotation_model="axes")
    std = np.degrees(_dR(T, out).as_rotvec().std(axis=0))
    np.testing.assert_allclose(std, [0.0, 5.0, 20.0], atol=0.6)
    with pytest.raises(ValueError, match="three stds"):
        perturb_poses(T[:2], np.random.default_rng(0), rot_std_deg=15.0, rotation_model="axes")
    with pytest.raises(ValueError, match="one std"):
        perturb_poses(T[:2], np.random.default_rng(0), rot_std_deg=(1.0, 2.0, 3.0))


@pytest.mark.parametrize("scale", [0.0, 0.2, 1.0])
def test_shrunk_perturbation_scales_the_rotation_angle_and_the_offset(scale):
    from deeprm_ros.data.perturbation import shrink_perturbations
    T = _poses(200, seed=3)
    init = perturb_poses(T, np.random.default_rng(4), rot_std_deg=15.0, trans_std_m=(0.01, 0.01, 0.05))
    fine = shrink_perturbations(T, init, scale)
    angle = lambda a, b: Rotation.from_matrix(a[:, :3, :3] @ np.transpose(b[:, :3, :3], (0, 2, 1))).magnitude()
    np.testing.assert_allclose(angle(fine, T), scale * angle(init, T), atol=1e-9)
    np.testing.assert_allclose(fine[:, :3, 3] - T[:, :3, 3], scale * (init[:, :3, 3] - T[:, :3, 3]), atol=1e-12)
    # about the same axis as the full perturbation
    axis_full = Rotation.from_matrix(init[:, :3, :3] @ np.transpose(T[:, :3, :3], (0, 2, 1))).as_rotvec()
    axis_fine = Rotation.from_matrix(fine[:, :3, :3] @ np.transpose(T[:, :3, :3], (0, 2, 1))).as_rotvec()
    np.testing.assert_allclose(axis_fine, scale * axis_full, atol=1e-9)
