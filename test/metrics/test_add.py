"""ADD / ADD-S against hand-computed values and independent references (scipy, brute force)."""
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.spatial.transform import Rotation

from deeprm_ros.metrics import add, add_batch, add_or_adds, add_or_adds_batch, add_s, add_s_batch


def _ring(n=36, r=0.05):
    """Points on a circle of radius r about the z axis: symmetric under any rotation by a multiple of 360/n deg."""
    a = np.arange(n) * 2 * np.pi / n
    return np.stack([r * np.cos(a), r * np.sin(a), np.zeros(n)], 1)


def _T(R, t):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def test_pure_translation_of_1cm_gives_add_of_1cm():
    pts = np.random.default_rng(0).normal(size=(200, 3)) * 0.05
    R = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    t = np.array([0.1, -0.05, 0.8])
    assert add(R, t + [0, 0.01, 0], R, t, pts) == pytest.approx(0.01, abs=1e-12)
    assert add(R, t + [0.006, 0, 0.008], R, t, pts) == pytest.approx(0.01, abs=1e-12)  # 3-4-5 triangle


def test_180_deg_about_symmetry_axis_adds_zero_add_large():
    """Every ring point goes to the diametrically opposite point: ADD = 2r = 0.1 m exactly, ADD-S = 0."""
    pts = _ring(36, 0.05)
    R_g, t = np.eye(3), np.array([0.0, 0.0, 0.7])
    R_e = Rotation.from_rotvec([0, 0, np.pi]).as_matrix()
    assert add(R_e, t, R_g, t, pts) == pytest.approx(0.1, abs=1e-12)
    assert add_s(R_e, t, R_g, t, pts) == pytest.approx(0.0, abs=1e-12)
    assert add_or_adds(R_e, t, R_g, t, pts, symmetric=True) == pytest.approx(0.0, abs=1e-12)
    assert add_or_adds(R_e, t, R_g, t, pts, symmetric=False) == pytest.approx(0.1, abs=1e-12)


def test_adds_hand_case_on_a_line():
    """Points x = 0, 1, 3 (cm) shifted by 0.6 cm: nearest distances 0.6, 0.4 (1 -> 0.6), 0.6 (3 -> 3.6); ADD 0.6."""
    pts = np.array([[0.0, 0, 0], [0.01, 0, 0], [0.03, 0, 0]])
    I, z = np.eye(3), np.zeros(3)
    assert add_s(I, [0.006, 0, 0], I, z, pts) == pytest.approx((0.006 + 0.004 + 0.006) / 3, abs=1e-12)
    assert add(I, [0.006, 0, 0], I, z, pts) == pytest.approx(0.006, abs=1e-12)


def test_add_and_adds_match_brute_force_for_random_poses():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(150, 3)) * [0.05, 0.03, 0.02]
    Re, Rg = Rotation.random(2, random_state=2).as_matrix()
    te, tg = rng.normal(size=3) * 0.02 + [0, 0, 0.6], np.array([0, 0, 0.6])
    est, gt = pts @ Re.T + te, pts @ Rg.T + tg
    assert add(Re, te, Rg, tg, pts) == pytest.approx(np.mean(np.sqrt(((est - gt) ** 2).sum(1))), rel=1e-12)
    # ADD-S: for each ground-truth-posed point, the nearest estimated-posed point (rows = gt).
    assert add_s(Re, te, Rg, tg, pts) == pytest.approx(cdist(gt, est).min(axis=1).mean(), rel=1e-12)
    assert add_s(Re, te, Rg, tg, pts) <= add(Re, te, Rg, tg, pts)


def test_batched_variants_equal_single_ones():
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(100, 3)) * 0.04
    B = 5
    T_e = np.stack([_T(R, rng.normal(size=3) * 0.02 + [0, 0, 0.5]) for R in Rotation.random(B, random_state=4).as_matrix()])
    T_g = np.stack([_T(R, [0, 0, 0.5]) for R in Rotation.random(B, random_state=5).as_matrix()])
    single_add = [add(a[:3, :3], a[:3, 3], b[:3, :3], b[:3, 3], pts) for a, b in zip(T_e, T_g)]
    single_adds = [add_s(a[:3, :3], a[:3, 3], b[:3, :3], b[:3, 3], pts) for a, b in zip(T_e, T_g)]
    np.testing.assert_allclose(add_batch(T_e, T_g, pts), single_add, rtol=1e-12)
    np.testing.assert_allclose(add_s_batch(T_e, T_g, pts), single_adds, rtol=1e-12)
    sym = np.array([True, False, True, False, False])
    np.testing.assert_allclose(add_or_adds_batch(T_e, T_g, pts, sym), np.where(sym, single_adds, single_add), rtol=1e-12)
    # Per-pose point sets (B, P, 3).
    np.testing.assert_allclose(add_batch(T_e, T_g, np.broadcast_to(pts, (B,) + pts.shape)), single_add, rtol=1e-12)
