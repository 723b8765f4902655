"""ADD, ADD-S and pose errors (metres, degrees), as the BOP toolkit and YCB-Video toolbox define them.

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


def rotation_error_deg(R_e, R_g) -> np.ndarray:
    """Geodesic angle between rotations (..., 3, 3), degrees.

    atan2(sin, cos) of the relative rotation instead of arccos(cos): accurate for tiny and near-180 degree angles."""
    R = _f64(R_e) @ np.swapaxes(_f64(R_g), -1, -2)
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    skew = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = np.linalg.norm(skew, axis=-1) / 2.0
    return np.degrees(np.arctan2(sin, cos))


def translation_error_m(t_e, t_g) -> np.ndarray:
    """Euclidean distance between translations (..., 3), metres."""
    return np.linalg.norm(_f64(t_e) - _f64(t_g), axis=-1)


def symmetric_pose_errors(T_e, T_g, symmetries) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (deg) and translation (m) errors of T_e against the closest symmetric equivalent of T_g.

    T_e, T_g: (4, 4) or (B, 4, 4); symmetries: (S, 4, 4) object-frame transforms (identity included, as
    ObjectModel.symmetry_transforms returns them). The equivalent poses are T_g @ S; the one minimizing the
    rotation error is chosen and both errors are reported for it (a symmetry with an offset moves the origin).
    """
    T_e, T_g = _f64(T_e), _f64(T_g)
    single = T_e.ndim == 2
    T_e, T_g = T_e.reshape(-1, 4, 4), T_g.reshape(-1, 4, 4)
    S = _f64(symmetries).reshape(-1, 4, 4)
    T_sym = T_g[:, None] @ S[None]                                    # (B, S, 4, 4)
    rot = rotation_error_deg(T_e[:, None, :3, :3], T_sym[..., :3, :3])  # (B, S)
    best = np.argmin(rot, axis=1)
    idx = np.arange(len(T_e))
    r = rot[idx, best]
    t = translation_error_m(T_e[:, :3, 3], T_sym[idx, best, :3, 3])
    return (r[0], t[0]) if single else (r, t)
