"""BOP `models_info.json`: diameters and symmetries. Lengths in the file are in the mesh unit (mm for BOP)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .object_model import MeshError


def load_models_info(path, scale: float) -> dict[int, dict]:
    """{obj_id: {'diameter': metres or None, 'symmetries_discrete': (S,4,4), 'symmetries_continuous': [(axis, offset)]}}.

    scale converts the file's unit to metres (1e-3 for mm): it applies to diameters, discrete symmetry
    translations and continuous symmetry offsets, never to rotations or axes."""
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
