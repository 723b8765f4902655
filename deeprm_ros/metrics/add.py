"""ADD, ADD-S and pose errors (metres, degrees)."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def _posed(R, t, pts):
    return pts @ np.asarray(R, float).T + np.asarray(t, float)


def add(R_e, t_e, R_g, t_g, points) -> float:
    """Mean distance between corresponding model points under the estimated and true poses."""
    return float(np.linalg.norm(_posed(R_e, t_e, points) - _posed(R_g, t_g, points), axis=1).mean())


def add_s(R_e, t_e, R_g, t_g, points) -> float:
    """Mean over true-posed points of the distance to the nearest estimated-posed point (symmetric objects)."""
    est = _posed(R_e, t_e, points)
    gt = _posed(R_g, t_g, points)
    d, _ = cKDTree(est).query(gt, k=1)
    return float(d.mean())


def add_or_adds(R_e, t_e, R_g, t_g, points, symmetric: bool) -> float:
    """ADD(-S): ADD-S for symmetric objects, ADD otherwise."""
    return (add_s if symmetric else add)(R_e, t_e, R_g, t_g, points)


def rotation_error_deg(R_e, R_g) -> np.ndarray:
    """Geodesic angle between rotations (..., 3, 3), degrees."""
    R = np.asarray(R_e, float) @ np.swapaxes(np.asarray(R_g, float), -1, -2)
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def translation_error_m(t_e, t_g) -> np.ndarray:
    return np.linalg.norm(np.asarray(t_e, float) - np.asarray(t_g, float), axis=-1)
