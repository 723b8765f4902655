"""Reading PLY/OBJ meshes (textured or vertex-coloured) into ObjectModels in metres.

Why a module of its own: the unit conversion and its sanity warning, the BOP texture conventions and the
named errors are what every caller (training, evaluation, the ROS node) relies on to fail early and clearly.
"""
from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np

from .object_model import MeshError, ObjectModel

log = logging.getLogger(__name__)
UNIT_SCALE = {"mm": 1e-3, "m": 1.0}
# A diameter outside [MIN, MAX] metres after conversion almost always means a wrong unit.
DIAMETER_MIN_M = 0.005
DIAMETER_MAX_M = 5.0


def mesh_diameter(vertices: np.ndarray) -> float:
    """Largest distance between two vertices. Exact on the convex hull (chunked), which keeps it cheap."""
    import trimesh

    v = np.asarray(vertices, dtype=np.float64)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # flat meshes: a zero-volume hull
            warnings.simplefilter("ignore")
            hull = np.asarray(trimesh.convex.convex_hull(v).vertices)
    except Exception:  # degenerate (flat) meshes have no 3D hull
        hull = np.unique(v, axis=0)
    if len(hull) > 20000:
        hull = hull[np.random.default_rng(0).choice(len(hull), 20000, replace=False)]
    best = 0.0
    for i in range(0, len(hull), 1024):
        d = ((hull[i:i + 1024, None, :] - hull[None, :, :]) ** 2).sum(-1)
        best = max(best, float(d.max()))
    return float(np.sqrt(best))


def _texture_file_comment(path: Path) -> str | None:
    """The image named by a PLY header's `comment TextureFile <name>` (BOP; any capitalisation)."""
    with open(path, "rb") as f:
        head = f.read(65536)
    end = head.find(b"end_header")
    text = head[: end if end >= 0 else len(head)].decode("latin-1")
    m = re.search(r"^comment\s+texture_?file\s+(\S.*?)\s*$", text, flags=re.IGNORECASE | re.MULTILINE)
    return m.group(1) if m else None


def _ply_vertex_columns(mesh, names) -> np.ndarray | None:
    """Columns of the PLY vertex element as trimesh read them (None when absent or not a PLY)."""
    try:
        raw = (getattr(mesh, "metadata", None) or {}).get("_ply_raw")
        data = raw["vertex"]["data"] if raw is not None else None
        have = (data.keys() if isinstance(data, dict) else (getattr(getattr(data, "dtype", None), "names", None)
                                                             or ())) if data is not None else ()
        if all(k in have for k in names):
            return np.stack([np.asarray(data[k], dtype=np.float64).reshape(-1) for k in names], -1)
    except Exception:
        pass
    return None


def _texture_of(mesh, path: Path):
    """(uv (N,2) float32, texture (H,W,3) uint8) or (None, None). uv v = 0 is the image's bottom row.

    A PLY naming a texture (`comment TextureFile`) whose image is missing or unreadable is an error:
    silently rendering such an object untextured would train and refine against the wrong appearance."""
    vis = mesh.visual
    uv = getattr(vis, "uv", None)
    if uv is None:
        uv = _ply_vertex_columns(mesh, ("texture_u", "texture_v"))
        if uv is None:
            uv = _ply_vertex_columns(mesh, ("s", "t"))
    image = getattr(getattr(vis, "material", None), "image", None)
    name = None
    if path.suffix.lower() == ".ply":
        # trimesh substitutes a 2x2 placeholder when the PLY's image is missing or broken: read it ourselves
        image = None
        name = _texture_file_comment(path)
    if name is not None:
        tex_path = path.parent / name
        try:
            from PIL import Image
            image = Image.open(tex_path)
            image.load()
        except Exception as e:
            raise MeshError(f"{path}: texture file {tex_path} cannot be read ({type(e).__name__}: {e})") from None
    if image is None:
        if uv is not None:
            log.warning("%s: has texture coordinates but no texture image; rendering it untextured", path)
        return None, None
    if uv is None or len(uv) != len(mesh.vertices):
        log.warning("%s: has a texture image but no per-vertex texture coordinates; rendering it untextured", path)
        return None, None
    tex = np.asarray(image.convert("RGB"), dtype=np.uint8)
    uv = np.asarray(uv, dtype=np.float32)
    if not np.isfinite(uv).all():
        raise MeshError(f"{path}: has non-finite texture coordinates")
    return uv, tex


def _vertex_normals(mesh, vertices, faces) -> np.ndarray:
    """The file's normals when it has valid ones (smooth shading as authored), else area-weighted face normals."""
    import trimesh

    given = _ply_vertex_columns(mesh, ("nx", "ny", "nz"))
    if given is None and "vertex_normals" in getattr(mesh, "_cache", {}):  # OBJ `vn` lines
        given = np.asarray(mesh._cache["vertex_normals"], dtype=np.float64)
    if given is not None and given.shape == vertices.shape and np.isfinite(given).all():
        n = np.linalg.norm(given, axis=1)
        if np.all(np.abs(n - 1.0) < 1e-2):
            return (given / n[:, None]).astype(np.float32)
    tm = trimesh.Trimesh(vertices, faces, process=False)
    return np.asarray(tm.vertex_normals, dtype=np.float32)


def check_unit(path, diameter_m: float, unit: str) -> None:
    """Warn (naming the file) when the diameter suggests the wrong unit was given."""
    if diameter_m > DIAMETER_MAX_M:
        warnings.warn(f"{path}: diameter {diameter_m:.2f} m after reading it as '{unit}': "
                      f"is the mesh in mm but loaded with unit='m'?", stacklevel=3)
    elif diameter_m < DIAMETER_MIN_M:
        warnings.warn(f"{path}: diameter {diameter_m * 1e3:.3f} mm after reading it as '{unit}': "
                      f"is the mesh in m but loaded with unit='mm'?", stacklevel=3)


def load_mesh(path, unit: str = "mm", obj_id: int = 0, n_points: int = 1000, info: dict | None = None):
    """Load a PLY or OBJ mesh into an ObjectModel in metres.

    unit: the unit the file is written in ('mm' for BOP models, 'm'). info: this object's entry of
    load_models_info (already in metres): diameter and symmetries. Raises MeshError naming the file."""
    import trimesh

    path = Path(path)
    if unit not in UNIT_SCALE:
        raise MeshError(f"{path}: unit must be 'mm' or 'm', got {unit!r}")
    if not path.is_file():
        raise MeshError(f"{path}: file not found")
    if path.suffix.lower() not in (".ply", ".obj"):
        raise MeshError(f"{path}: unsupported mesh format {path.suffix!r} (PLY or OBJ)")
    trimesh_log = logging.getLogger("trimesh")
    level = trimesh_log.level
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # trimesh logs a traceback for a broken texture image and goes on; _texture_of reports it, naming the file
            trimesh_log.setLevel(logging.ERROR)
            mesh = trimesh.load(path, force="mesh", process=False)
    except MeshError:
        raise
    except Exception as e:
        raise MeshError(f"{path}: cannot be read as a mesh ({type(e).__name__}: {e})") from None
    finally:
        trimesh_log.setLevel(level)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) < 3:
        raise MeshError(f"{path}: contains no triangles")
    scale = UNIT_SCALE[unit]
    vertices = np.asarray(mesh.vertices, dtype=np.float64) * scale
    if not np.isfinite(vertices).all():
        raise MeshError(f"{path}: has non-finite vertex coordinates")
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(f"{path}: face indices out of range (0..{len(vertices) - 1})")
    faces = faces.astype(np.int32)
    uv, texture = _texture_of(mesh, path)
    colors = None
    if texture is None and getattr(mesh.visual, "kind", None) == "vertex":
        vc = np.asarray(mesh.visual.vertex_colors)
        if len(vc) == len(vertices):
            colors = vc[:, :3].astype(np.uint8)
    info = info or {}
    diameter = info.get("diameter") or mesh_diameter(vertices)
    check_unit(path, diameter, unit)
    normals = _vertex_normals(mesh, vertices, faces)
    tm = trimesh.Trimesh(vertices, faces, process=False)
    if tm.area <= 0:
        raise MeshError(f"{path}: all faces are degenerate (zero area)")
    points, _ = trimesh.sample.sample_surface(tm, n_points, seed=int(obj_id))  # the same points in every process
    return ObjectModel(
        obj_id=int(obj_id), name=path.stem, vertices=vertices.astype(np.float32), faces=faces, normals=normals,
        uv=uv, texture=texture, vertex_colors=colors, diameter=float(diameter),
        symmetries_discrete=np.asarray(info.get("symmetries_discrete", np.zeros((0, 4, 4))), np.float64).reshape(-1, 4, 4),
        symmetries_continuous=list(info.get("symmetries_continuous", [])),
        points=np.asarray(points, dtype=np.float32), path=str(path.resolve()))
