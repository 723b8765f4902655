"""Pose errors up to symmetry (degrees, metres): the one scoring path of evaluation, the demo and the node.

The error of an estimate is taken against the symmetric equivalent of the ground truth (T_g @ S, S from
ObjectModel.symmetry_transforms, the angle about a continuous axis found exactly) whose rotation is nearest; the translation error is taken at that same pose.
For a symmetry about an axis through the model origin (every BOP model centred on its origin) that translation is
the ground truth's own; for an axis with an offset it moves the origin, and an estimate that looks exactly like
the ground truth then scores zero in both, as it should.
"""
from __future__ import annotations

import numpy as np

from ..geometry import rotation_angle_deg
from .add import _f64, add, add_s


def symmetric_object_ids(models) -> set[int]:
    """The objects with a discrete or continuous symmetry: scored with ADD-S."""
    return {oid for oid, m in models.items() if m.is_symmetric}


def translation_error_m(t_e, t_g) -> np.ndarray:
    """Euclidean distance between translations (..., 3), metres."""
    return np.linalg.norm(_f64(t_e) - _f64(t_g), axis=-1)


def _skew(a: np.ndarray) -> np.ndarray:
    return np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])


def nearest_about_axis(T_e, T_sym, axis, offset) -> np.ndarray:
    """T_sym @ C(theta) with C the rotation by theta about the axis (unit, through `offset`, model frame) whose
    rotation is nearest to T_e, in closed form: with A = R_sym^T R_e, the trace of R_e (R_sym R(theta))^T is
    a.A.a + cos(theta) (tr A - a.A.a) + sin(theta) <A, [a]x>, largest at theta = atan2(<A, [a]x>, tr A - a.A.a).
    T_e (..., 4, 4), T_sym (..., 4, 4) broadcast together."""
    a = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    offset = np.asarray(offset, np.float64)
    A = np.swapaxes(T_sym[..., :3, :3], -1, -2) @ T_e[..., :3, :3]
    aAa = np.einsum("i,...ij,j->...", a, A, a)
    p = np.trace(A, axis1=-2, axis2=-1) - aAa
    q = np.einsum("...ij,ij->...", A, _skew(a))
    theta = np.arctan2(q, p)
    c, s_ = np.cos(theta)[..., None, None], np.sin(theta)[..., None, None]
    R = c * np.eye(3) + s_ * _skew(a) + (1 - c) * np.outer(a, a)
    C = np.broadcast_to(np.eye(4), R.shape[:-2] + (4, 4)).copy()
    C[..., :3, :3] = R
    C[..., :3, 3] = offset - R @ offset
    return T_sym @ C


def nearest_symmetric_pose(T_e, T_g, symmetries, continuous=()) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric equivalent of T_g whose rotation is nearest to T_e's, and that rotation error (deg).

    T_e, T_g: (4, 4) or (B, 4, 4); symmetries: (S, 4, 4) shared, or (B, S, 4, 4) per pose (padded with the
    identity, which a minimum ignores), identity included as ObjectModel.symmetry_transforms returns them.
    continuous: [(axis, offset)] of a continuous symmetry, shared by the batch; with one axis, `symmetries`
    should hold only the discrete ones (ObjectModel.symmetry_transforms(n_continuous=1)) and the angle about the
    axis is found exactly (nearest_about_axis) instead of among sampled steps, which overstate the error by up
    to half a step (2.8 degrees at BOP's 64).
    """
    T_e, T_g = _f64(T_e), _f64(T_g)
    single = T_e.ndim == 2
    T_e, T_g = T_e.reshape(-1, 4, 4), T_g.reshape(-1, 4, 4)
    S = _f64(symmetries)
    S = S.reshape(-1, 4, 4)[None] if S.ndim <= 3 else S                    # (1 or B, S, 4, 4)
    T_sym = T_g[:, None] @ S                                                 # (B, S, 4, 4)
    if len(continuous) > 1:
        raise ValueError("symmetric_pose_errors: at most one continuous symmetry axis (pass sampled transforms "
                         "for objects with several)")
    for axis, offset in continuous:
        T_sym = nearest_about_axis(T_e[:, None], T_sym, axis, offset)
    rot = rotation_angle_deg(T_e[:, None, :3, :3] @ np.swapaxes(T_sym[..., :3, :3], -1, -2))  # (B, S)
    best = np.argmin(rot, axis=1)
    idx = np.arange(len(T_e))
    nearest, r = T_sym[idx, best], rot[idx, best]
    return (nearest[0], r[0]) if single else (nearest, r)


def symmetric_pose_errors(T_e, T_g, symmetries, continuous=()) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (deg) and translation (m) errors of T_e against the closest symmetric equivalent of T_g
    (nearest_symmetric_pose, whose arguments it takes); the translation error is taken at that same pose."""
    nearest, r = nearest_symmetric_pose(T_e, T_g, symmetries, continuous)
    return r, translation_error_m(_f64(T_e)[..., :3, 3], nearest[..., :3, 3])


def model_symmetric_pose_errors(T_e, T_g, model) -> tuple[np.ndarray, np.ndarray]:
    """symmetric_pose_errors with an ObjectModel's symmetries: exact about its continuous axis (one), sampled
    otherwise."""
    if len(model.symmetries_continuous) == 1:
        return symmetric_pose_errors(T_e, T_g, model.symmetry_transforms(n_continuous=1), model.symmetries_continuous)
    return symmetric_pose_errors(T_e, T_g, model.symmetry_transforms())


def pose_errors(T_est, T_gt, models, obj_ids, symmetric_ids=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per estimate: ADD(-S) in metres (ADD-S for the objects in symmetric_ids; None: those with any symmetry, as
    BOP and YCB-Video score them), and the rotation (deg) and translation (m) errors up to symmetry."""
    if symmetric_ids is None:
        symmetric_ids = symmetric_object_ids(models)
    adds, rot, trans = [], [], []
    for Te, Tg, oid in zip(_f64(T_est), _f64(T_gt), obj_ids):
        m = models[int(oid)]
        score = add_s if int(oid) in symmetric_ids else add
        adds.append(score(Te[:3, :3], Te[:3, 3], Tg[:3, :3], Tg[:3, 3], m.points))
        r, t = model_symmetric_pose_errors(Te, Tg, m)
        rot.append(float(r))
        trans.append(float(t))
    return np.asarray(adds), np.asarray(rot), np.asarray(trans)
