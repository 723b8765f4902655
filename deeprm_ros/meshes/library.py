"""Loading meshes (PLY/OBJ, textured or vertex-coloured) into ObjectModels in metres."""
from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .models_info import load_models_info, symmetry_transforms

log = logging.getLogger(__name__)
UNIT_SCALE = {"mm": 1e-3, "m": 1.0}


class MeshError(ValueError):
    """A mesh that cannot be used; the message names the file and the problem."""


@dataclass
class ObjectModel:
    obj_id: int
    name: str
    vertices: np.ndarray                 # (N, 3) float32 metres
    faces: np.ndarray                    # (F, 3) int32
    normals: np.ndarray                  # (N, 3) float32
    uv: np.ndarray | None = None         # (N, 2) float32
    texture: np.ndarray | None = None    # (H, W, 3) uint8
    vertex_colors: np.ndarray | None = None  # (N, 3) uint8
    diameter: float = 0.0
    symmetries_discrete: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))
    symmetries_continuous: list = field(default_factory=list)
    points: np.ndarray | None = None     # (P, 3) float32 sampled surface points
    path: str = ""

    @property
    def is_symmetric(self) -> bool:
        return len(self.symmetries_discrete) > 0 or len(self.symmetries_continuous) > 0

    def symmetry_transforms(self, n_continuous: int = 64) -> np.ndarray:
        return symmetry_transforms(self.symmetries_discrete, self.symmetries_continuous, n_continuous)


def _diameter(vertices: np.ndarray) -> float:
    """Largest distance between two vertices (on the convex hull, so it stays cheap)."""
    import trimesh
    try:
        hull = trimesh.convex.convex_hull(vertices).vertices
    except Exception:
        hull = vertices
    if len(hull) > 3000:
        hull = hull[np.random.default_rng(0).choice(len(hull), 3000, replace=False)]
    d = hull[:, None, :] - hull[None, :, :]
    return float(np.sqrt((d ** 2).sum(-1)).max())


def _texture_of(mesh, path: Path):
    """(uv, texture) of a trimesh mesh, reading a BOP PLY's `comment TextureFile` when trimesh did not."""
    vis = mesh.visual
    uv = getattr(vis, "uv", None)
    if uv is None:
        return None, None
    image = getattr(getattr(vis, "material", None), "image", None)
    if image is None and path.suffix.lower() == ".ply":
        with open(path, "rb") as f:
            head = f.read(4096).decode("latin-1")
        m = re.search(r"comment TextureFile (\S+)", head)
        if m:
            from PIL import Image
            image = Image.open(path.parent / m.group(1))
    if image is None:
        return None, None
    tex = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.asarray(uv, dtype=np.float32), tex


def load_mesh(path, unit: str = "mm", obj_id: int = 0, n_points: int = 1000, info: dict | None = None) -> ObjectModel:
    """Load a PLY or OBJ mesh; `unit` is the unit the file is written in ('mm' for BOP models)."""
    import trimesh

    path = Path(path)
    if unit not in UNIT_SCALE:
        raise MeshError(f"{path}: unit must be 'mm' or 'm', got {unit!r}")
    if not path.exists():
        raise MeshError(f"{path}: file not found")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:
        raise MeshError(f"{path}: cannot be read as a mesh ({type(e).__name__}: {e})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) < 3:
        raise MeshError(f"{path}: contains no triangles")
    scale = UNIT_SCALE[unit]
    vertices = np.asarray(mesh.vertices, dtype=np.float64) * scale
    if not np.isfinite(vertices).all():
        raise MeshError(f"{path}: has non-finite vertex coordinates")
    faces = np.asarray(mesh.faces, dtype=np.int32)
    uv, texture = _texture_of(mesh, path)
    colors = None
    if texture is None:
        vc = getattr(mesh.visual, "vertex_colors", None)
        if vc is not None and len(vc) == len(vertices) and mesh.visual.kind == "vertex":
            colors = np.asarray(vc, dtype=np.uint8)[:, :3]
    diameter = (info or {}).get("diameter") or _diameter(vertices)
    if diameter > 5.0:
        warnings.warn(f"{path}: diameter {diameter:.1f} m with unit '{unit}': is the mesh in mm given as m?")
    elif diameter < 0.005:
        warnings.warn(f"{path}: diameter {diameter * 1e3:.2f} mm with unit '{unit}': is the mesh in m given as mm?")
    tm = trimesh.Trimesh(vertices, faces, process=False)
    points, _ = trimesh.sample.sample_surface(tm, n_points, seed=obj_id)  # the same points in every process
    return ObjectModel(
        obj_id=obj_id, name=path.stem, vertices=vertices.astype(np.float32), faces=faces,
        normals=np.asarray(tm.vertex_normals, dtype=np.float32), uv=uv, texture=texture, vertex_colors=colors,
        diameter=float(diameter),
        symmetries_discrete=(info or {}).get("symmetries_discrete", np.zeros((0, 4, 4))),
        symmetries_continuous=(info or {}).get("symmetries_continuous", []),
        points=np.asarray(points, dtype=np.float32), path=str(path.resolve()))


def load_object_library(models_dir, unit: str = "mm", n_points: int = 1000) -> dict[int, ObjectModel]:
    """Every `obj_XXXXXX.ply|.obj` of a BOP models folder with its models_info.json entry."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise MeshError(f"{models_dir}: models folder not found")
    info_path = models_dir / "models_info.json"
    infos = load_models_info(info_path, UNIT_SCALE[unit]) if info_path.exists() else {}
    out = {}
    for path in sorted(models_dir.iterdir()):
        m = re.fullmatch(r"obj_(\d+)\.(ply|obj)", path.name, flags=re.IGNORECASE)
        if not m:
            continue
        oid = int(m.group(1))
        if oid in out:
            continue
        out[oid] = load_mesh(path, unit, oid, n_points, infos.get(oid))
    if not out:
        raise MeshError(f"{models_dir}: no obj_XXXXXX.ply or .obj meshes")
    return out
