"""BOP `models_info.json`: diameters and symmetries. Lengths in the file are in the mesh unit (mm for BOP)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def load_models_info(path, scale: float) -> dict[int, dict]:
    """{obj_id: {'diameter': metres or None, 'symmetries_discrete': (S,4,4), 'symmetries_continuous': [(axis, offset)]}}.

    scale converts the file's unit to metres (1e-3 for mm): it applies to diameters, discrete symmetry
    translations and continuous symmetry offsets, never to rotations or axes."""
    from .loading import MeshError

    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MeshError(f"{path}: cannot read models_info ({type(e).__name__}: {e})") from None
    if not isinstance(raw, dict):
        raise MeshError(f"{path}: expected a JSON object keyed by object id")
    out = {}
    for key, info in raw.items():
        try:
            oid = int(key)
            discrete = []
            for flat in info.get("symmetries_discrete", []):
                T = np.asarray(flat, dtype=np.float64).reshape(4, 4)
                T[:3, 3] *= scale
                discrete.append(T)
            continuous = []
            for c in info.get("symmetries_continuous", []):
                axis = np.asarray(c["axis"], dtype=np.float64).reshape(3)
                if np.linalg.norm(axis) < 1e-9:
                    raise ValueError("continuous symmetry axis is zero")
                offset = np.asarray(c.get("offset", [0, 0, 0]), dtype=np.float64).reshape(3) * scale
                continuous.append((axis / np.linalg.norm(axis), offset))
            diameter = float(info["diameter"]) * scale if "diameter" in info else None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise MeshError(f"{path}: object {key!r}: {type(e).__name__}: {e}") from None
        out[oid] = {"diameter": diameter, "symmetries_discrete": np.asarray(discrete).reshape(-1, 4, 4),
                    "symmetries_continuous": continuous}
    return out


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' formula (numpy only, so this module stays free of torch)."""
    a = axis / np.linalg.norm(axis)
    Kx = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * Kx + (1 - np.cos(angle)) * Kx @ Kx


def symmetry_transforms(discrete, continuous: list, n_continuous: int = 64) -> np.ndarray:
    """All symmetry transforms (S, 4, 4), identity first, as the BOP toolkit's `get_symmetry_transformations`:
    [identity] + discrete ones, each composed (T_cont @ T_disc) with the n_continuous rotations
    (k * 360/n, k = 0..n-1) about every continuous axis through its offset."""
    discrete = np.asarray(discrete, dtype=np.float64).reshape(-1, 4, 4)
    discrete_all = [np.eye(4)] + [T for T in discrete if not np.allclose(T, np.eye(4))]
    cont = [np.eye(4)]
    for axis, offset in continuous:
        axis = np.asarray(axis, dtype=np.float64)
        offset = np.asarray(offset, dtype=np.float64)
        for k in range(1, n_continuous):
            R = _rotation_about(axis, 2 * np.pi * k / n_continuous)
            T = np.eye(4)
            T[:3, :3] = R
            T[:3, 3] = offset - R @ offset  # rotation about the axis through `offset`
            cont.append(T)
    return np.stack([Tc @ Td for Td in discrete_all for Tc in cont])
