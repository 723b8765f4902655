"""ADD and ADD-S (metres), as the BOP toolkit and YCB-Video toolbox define them.

Single-pose functions take (R_e, t_e, R_g, t_g, points); the `*_batch` variants take (B, 4, 4) poses and either
one (P, 3) point set shared by the batch or (B, P, 3). Inputs may be numpy arrays or CPU torch tensors; all maths is
float64 numpy so metrics never depend on the precision the network ran in.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def _f64(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _posed(R, t, pts) -> np.ndarray:
    return _f64(pts) @ _f64(R).T + _f64(t).reshape(3)


def add(R_e, t_e, R_g, t_g, points) -> float:
    """ADD: mean distance between corresponding model points under the estimated and true poses."""
    return float(np.linalg.norm(_posed(R_e, t_e, points) - _posed(R_g, t_g, points), axis=1).mean())


def add_s(R_e, t_e, R_g, t_g, points) -> float:
    """ADD-S: mean over true-posed points of the distance to the nearest estimated-posed point.

    No correspondence is assumed, so a pose that differs from the truth by a symmetry of the shape scores ~0."""
    est = _posed(R_e, t_e, points)
    gt = _posed(R_g, t_g, points)
    d, _ = cKDTree(est).query(gt, k=1)
    return float(d.mean())


def add_or_adds(R_e, t_e, R_g, t_g, points, symmetric: bool) -> float:
    """ADD(-S): ADD-S for symmetric objects, ADD otherwise."""
    return (add_s if symmetric else add)(R_e, t_e, R_g, t_g, points)


def _batch_points(points, B: int) -> np.ndarray:
    p = _f64(points)
    if p.ndim == 2:
        p = np.broadcast_to(p, (B,) + p.shape)
    if p.shape[0] != B or p.shape[-1] != 3:
        raise ValueError(f"points must be (P, 3) or ({B}, P, 3), got {p.shape}")
    return p


def _batch_posed(T, p) -> np.ndarray:
    return np.einsum("bij,bpj->bpi", T[:, :3, :3], p) + T[:, None, :3, 3]


def add_batch(T_e, T_g, points) -> np.ndarray:
    """(B,) ADD for (B, 4, 4) estimated and true poses."""
    T_e, T_g = _f64(T_e).reshape(-1, 4, 4), _f64(T_g).reshape(-1, 4, 4)
    p = _batch_points(points, len(T_e))
    return np.linalg.norm(_batch_posed(T_e, p) - _batch_posed(T_g, p), axis=-1).mean(axis=-1)


def add_s_batch(T_e, T_g, points) -> np.ndarray:
    """(B,) ADD-S for (B, 4, 4) estimated and true poses (one k-d tree per pose)."""
    T_e, T_g = _f64(T_e).reshape(-1, 4, 4), _f64(T_g).reshape(-1, 4, 4)
    p = _batch_points(points, len(T_e))
    est, gt = _batch_posed(T_e, p), _batch_posed(T_g, p)
    return np.array([cKDTree(e).query(g, k=1)[0].mean() for e, g in zip(est, gt)], dtype=np.float64)


def add_or_adds_batch(T_e, T_g, points, symmetric) -> np.ndarray:
    """(B,) ADD(-S); `symmetric` is one bool or a (B,) bool array."""
    T_e, T_g = _f64(T_e).reshape(-1, 4, 4), _f64(T_g).reshape(-1, 4, 4)
    sym = np.broadcast_to(np.asarray(symmetric, dtype=bool), (len(T_e),))
    p = _batch_points(points, len(T_e))
    out = add_batch(T_e, T_g, p)
    if sym.any():
        out[sym] = add_s_batch(T_e[sym], T_g[sym], p[sym])
    return out
