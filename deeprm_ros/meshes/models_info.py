"""BOP `models_info.json`: diameters and symmetries (translations in the file are in the mesh unit)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..geometry import axis_angle_to_matrix


def load_models_info(path, scale: float) -> dict[int, dict]:
    """{obj_id: {'diameter': m, 'symmetries_discrete': (S,4,4), 'symmetries_continuous': [(axis, offset)]}}."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read models_info ({e})") from None
    out = {}
    for key, info in raw.items():
        discrete = []
        for flat in info.get("symmetries_discrete", []):
            T = np.asarray(flat, dtype=np.float64).reshape(4, 4)
            T[:3, 3] *= scale
            discrete.append(T)
        continuous = [(np.asarray(c["axis"], dtype=np.float64), np.asarray(c.get("offset", [0, 0, 0]), float) * scale)
                      for c in info.get("symmetries_continuous", [])]
        out[int(key)] = {"diameter": float(info["diameter"]) * scale if "diameter" in info else None,
                         "symmetries_discrete": np.asarray(discrete).reshape(-1, 4, 4),
                         "symmetries_continuous": continuous}
    return out


def symmetry_transforms(discrete: np.ndarray, continuous: list, n_continuous: int = 64) -> np.ndarray:
    """All symmetry transforms (S, 4, 4), identity first: each discrete one, each combined with
    n_continuous rotations about every continuous axis (as the BOP toolkit's `get_symmetry_transformations`)."""
    discrete_all = [np.eye(4)] + [T for T in discrete if not np.allclose(T, np.eye(4))]
    cont = [np.eye(4)]
    for axis, offset in continuous:
        axis = axis / np.linalg.norm(axis)
        for k in range(1, n_continuous):
            R = axis_angle_to_matrix(axis * (2 * np.pi * k / n_continuous))
            T = np.eye(4)
            T[:3, :3] = R
            T[:3, 3] = offset - R @ offset  # rotation about the axis through `offset`
            cont.append(T)
    return np.stack([Tc @ Td for Td in discrete_all for Tc in cont])
