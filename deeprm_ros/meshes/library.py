"""BOP model folders: every mesh of a folder with its models_info entry, as ObjectModels."""
from __future__ import annotations

import re
from pathlib import Path

from .loading import UNIT_SCALE, load_mesh
from .models_info import load_models_info
from .object_model import MeshError, ObjectModel


def load_object_library(models_dir, unit: str = "mm", n_points: int = 1000) -> dict[int, ObjectModel]:
    """Every `obj_XXXXXX.ply|.obj` of a BOP models folder with its models_info.json entry (if the file exists)."""
    models_dir = Path(models_dir)
    if unit not in UNIT_SCALE:
        raise MeshError(f"{models_dir}: unit must be 'mm' or 'm', got {unit!r}")
    if not models_dir.is_dir():
        raise MeshError(f"{models_dir}: models folder not found")
    info_path = models_dir / "models_info.json"
    infos = load_models_info(info_path, UNIT_SCALE[unit]) if info_path.exists() else {}
    out: dict[int, ObjectModel] = {}
    for path in sorted(models_dir.iterdir()):
        m = re.fullmatch(r"obj_(\d+)\.(ply|obj)", path.name, flags=re.IGNORECASE)
        if not m:
            continue
        oid = int(m.group(1))
        if oid in out:  # obj_1.ply and obj_1.obj: the first by sorted name (.obj) wins
            continue
        out[oid] = load_mesh(path, unit, oid, n_points, infos.get(oid))
    if not out:
        raise MeshError(f"{models_dir}: no obj_XXXXXX.ply or .obj meshes")
    missing = sorted(set(infos) - set(out))
    if missing:
        raise MeshError(f"{info_path}: lists objects {missing} that have no mesh in {models_dir}")
    return out
