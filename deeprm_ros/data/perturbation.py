"""DeepIM-style initial poses: the ground truth perturbed in rotation and translation.

Rotation (default, `rotation_model="rms"`): a rotation vector with independent normal components of std
sigma / sqrt(3), so the rotation angle |v| has an RMS of exactly sigma (E|v|^2 = 3 sigma^2 / 3): the target is
"15 degrees RMS" of the rotation angle, and this parametrization hits it exactly and is isotropic (no gimbal
dependence). DeepIM itself draws three Euler angles (x, y, z) each with std sigma; that gives an RMS angle of about
sqrt(3) sigma (~26 degrees for sigma = 15), available as `rotation_model="deepim_euler"` to reproduce its setting.
The rotation is applied in the camera frame about the object centre: R' = dR @ R, t unchanged by it.
Two more models isolate parts of the problem (rotation studies, curricula): `"inplane"` turns the object about
its viewing ray (the line from the camera centre through the object centre) by an angle of std sigma, so its
image turns in the image plane about the projected centre; `"axes"` takes a std per camera axis (x, y, z) for the
rotation vector's components, e.g. (0, 0, 20) for turns about the optical axis only.

Translation: independent normal noise with std (1, 1, 5) cm along camera x, y, z (DeepIM/CosyPose defaults: depth
is the least observable from a single RGB image), added to t.

Deterministic given the numpy Generator; draws are made in the order (rotation, translation) for the whole batch.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

ROTATION_MODELS = ("rms", "deepim_euler", "inplane", "axes")
ROTATION_STD_DEG = 15.0                   # the defaults of training, evaluation and the synthetic camera
TRANSLATION_STD_M = (0.01, 0.01, 0.05)


def random_rotations(n: int, rng: np.random.Generator, rot_std_deg=ROTATION_STD_DEG, rotation_model: str = "rms",
                     view_rays=None):
    """(n, 3, 3) random rotations dR in the camera frame (see the module docstring for the models).

    rot_std_deg is one std in degrees, or three (camera x, y, z) for "axes". view_rays (n, 3), the object
    centres in the camera frame, are needed by "inplane".
    """
    std = np.asarray(rot_std_deg, dtype=np.float64)
    if rotation_model == "axes":
        if std.shape != (3,):
            raise ValueError(f"rotation_model 'axes' needs three stds (camera x, y, z), got {rot_std_deg!r}")
        return Rotation.from_rotvec(rng.normal(size=(n, 3)) * np.deg2rad(std)).as_matrix()
    if std.ndim != 0:
        raise ValueError(f"rotation_model {rotation_model!r} takes one std, got {rot_std_deg!r}")
    sigma = np.deg2rad(float(std))
    if rotation_model == "rms":
        return Rotation.from_rotvec(rng.normal(0.0, sigma / np.sqrt(3.0), size=(n, 3))).as_matrix()
    if rotation_model == "deepim_euler":
        return Rotation.from_euler("xyz", rng.normal(0.0, sigma, size=(n, 3))).as_matrix()
    if rotation_model == "inplane":
        if view_rays is None:
            raise ValueError("rotation_model 'inplane' needs the object centres (view_rays)")
        rays = np.asarray(view_rays, dtype=np.float64).reshape(n, 3)
        rays = rays / np.linalg.norm(rays, axis=1, keepdims=True)
        return Rotation.from_rotvec(rays * rng.normal(0.0, sigma, size=(n, 1))).as_matrix()
    raise ValueError(f"rotation_model must be one of {ROTATION_MODELS}, got {rotation_model!r}")


def perturb_poses(T, rng: np.random.Generator, rot_std_deg=ROTATION_STD_DEG, trans_std_m=TRANSLATION_STD_M,
                  rotation_model: str = "rms") -> np.ndarray:
    """(B, 4, 4) (or one (4, 4)) poses in metres -> perturbed float64 copies; the input is not modified."""
    T = np.asarray(T, dtype=np.float64)
    single = T.ndim == 2
    T = T.reshape(-1, 4, 4)
    B = T.shape[0]
    dR = random_rotations(B, rng, rot_std_deg, rotation_model, view_rays=T[:, :3, 3])
    dt = rng.normal(0.0, 1.0, size=(B, 3)) * np.broadcast_to(np.asarray(trans_std_m, dtype=np.float64), (3,))
    out = T.copy()
    out[:, :3, :3] = dR @ T[:, :3, :3]
    out[:, :3, 3] = T[:, :3, 3] + dt
    return out[0] if single else out


def shrink_perturbations(T_gt, T_init, scale: float) -> np.ndarray:
    """T_init's error from T_gt scaled by `scale`: the rotation vector of dR = R_init R_gt^T and the translation
    offset both times scale (for the "rms" model: the same draw from a scale-times smaller std). Training mixes
    such near-correct starts in (perturbation.fine_fraction) so the refiner learns to leave a good pose alone,
    which is what a tracker hands it every frame."""
    T_gt, T_init = np.asarray(T_gt, np.float64).reshape(-1, 4, 4), np.asarray(T_init, np.float64).reshape(-1, 4, 4)
    dR = T_init[:, :3, :3] @ np.transpose(T_gt[:, :3, :3], (0, 2, 1))
    out = T_init.copy()
    out[:, :3, :3] = Rotation.from_rotvec(Rotation.from_matrix(dR).as_rotvec() * scale).as_matrix() @ T_gt[:, :3, :3]
    out[:, :3, 3] = T_gt[:, :3, 3] + scale * (T_init[:, :3, 3] - T_gt[:, :3, 3])
    return out


def training_starts(T_gt, rng: np.random.Generator, rot_std_deg, trans_std_m, rotation_model: str = "rms",
                    fine_fraction: float = 0.0, fine_scale: float = 0.2, fine_rng: np.random.Generator | None = None):
    """(B, 4, 4) training starts for the truths T_gt: perturb_poses, and with fine_fraction > 0 that share of them
    (which ones drawn from fine_rng, default rng) made fine_scale times nearer by shrink_perturbations. One place
    for the single-image batches and the training sequences."""
    init = perturb_poses(T_gt, rng, rot_std_deg=rot_std_deg, trans_std_m=trans_std_m,
                         rotation_model=rotation_model).reshape(-1, 4, 4)
    if fine_fraction > 0:
        fine = (rng if fine_rng is None else fine_rng).random(len(init)) < fine_fraction
        if fine.any():
            init[fine] = shrink_perturbations(np.asarray(T_gt, np.float64).reshape(-1, 4, 4)[fine], init[fine],
                                              fine_scale)
    return init
