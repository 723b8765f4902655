"""Pose errors up to symmetry (degrees, metres): the one scoring path of evaluation, the demo and the node.

The error of an estimate is taken against the symmetric equivalent of the ground truth (T_g @ S, S from
ObjectModel.symmetry_transforms) whose rotation is nearest; the translation error is taken at that same pose.
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


def symmetric_pose_errors(T_e, T_g, symmetries) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (deg) and translation (m) errors of T_e against the closest symmetric equivalent of T_g.

    T_e, T_g: (4, 4) or (B, 4, 4); symmetries: (S, 4, 4) shared, or (B, S, 4, 4) per pose (padded with the
    identity, which a minimum ignores), identity included as ObjectModel.symmetry_transforms returns them.
    """
    T_e, T_g = _f64(T_e), _f64(T_g)
    single = T_e.ndim == 2
    T_e, T_g = T_e.reshape(-1, 4, 4), T_g.reshape(-1, 4, 4)
    S = _f64(symmetries)
    S = S.reshape(-1, 4, 4)[None] if S.ndim <= 3 else S                    # (1 or B, S, 4, 4)
    T_sym = T_g[:, None] @ S                                                 # (B, S, 4, 4)
    rot = rotation_angle_deg(T_e[:, None, :3, :3] @ np.swapaxes(T_sym[..., :3, :3], -1, -2))  # (B, S)
    best = np.argmin(rot, axis=1)
    idx = np.arange(len(T_e))
    r = rot[idx, best]
    t = translation_error_m(T_e[:, :3, 3], T_sym[idx, best, :3, 3])
    return (r[0], t[0]) if single else (r, t)


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
        r, t = symmetric_pose_errors(Te, Tg, m.symmetry_transforms())
        rot.append(float(r))
        trans.append(float(t))
    return np.asarray(adds), np.asarray(rot), np.asarray(trans)
