"""ObjectModel (one object's mesh, appearance, diameter, symmetries, sample points) and BOP model folders."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .loading import UNIT_SCALE, MeshError, load_mesh, mesh_diameter
from .models_info import load_models_info, symmetry_transforms

__all__ = ["ObjectModel", "load_object_library", "load_mesh", "MeshError", "mesh_diameter"]


@dataclass
class ObjectModel:
    """Everything the renderer, losses and metrics need about one object, in metres."""
    obj_id: int
    name: str
    vertices: np.ndarray                 # (N, 3) float32 metres
    faces: np.ndarray                    # (F, 3) int32
    normals: np.ndarray                  # (N, 3) float32
    uv: np.ndarray | None = None         # (N, 2) float32, v = 0 at the texture's bottom row
    texture: np.ndarray | None = None    # (H, W, 3) uint8
    vertex_colors: np.ndarray | None = None  # (N, 3) uint8
    diameter: float = 0.0                # metres
    symmetries_discrete: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))  # (S, 4, 4) metres
    symmetries_continuous: list = field(default_factory=list)  # [(axis (3,), offset (3,) metres)]
    points: np.ndarray | None = None     # (P, 3) float32 sampled surface points (losses, metrics)
    path: str = ""

    @property
    def is_symmetric(self) -> bool:
        return len(self.symmetries_discrete) > 0 or len(self.symmetries_continuous) > 0

    def symmetry_transforms(self, n_continuous: int = 64) -> np.ndarray:
        """(S, 4, 4) float64, identity first: the poses T @ S look the same as T (BOP convention)."""
        return symmetry_transforms(self.symmetries_discrete, self.symmetries_continuous, n_continuous)


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
