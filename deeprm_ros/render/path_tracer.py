"""Physically based rendering with Mitsuba 3 (path tracing, soft shadows, glossy highlights) in the OpenCV
camera convention, denoised by OpenImageDenoise: what makes the PBR training and test images look like a
photograph. Optional: `pip install '.[pbr]'` (mitsuba, pyoidn); scripts/setup.sh installs them.

Variant: `llvm_ad_rgb` (vectorized, JIT-compiled by LLVM) when an LLVM >= 16 library is found, else
`scalar_rgb` (about 3.5x slower). Debian 12's own libLLVM-15 aborts the process inside Dr.Jit ("Cannot select
fminimum"), so this module always names the library itself (DRJIT_LIBLLVM_PATH) and never lets Dr.Jit pick
one: `apt-get install libllvm19` gives the fast variant.

Only colour comes from here: masks and depth come from the project's rasterizer, whose silhouettes agree with
the path tracer's to IoU > 0.99 (test/render/test_path_tracer.py).
"""
from __future__ import annotations

import glob
import logging
import os
import re

import numpy as np

log = logging.getLogger(__name__)

_LLVM_GLOBS = ("/usr/lib/x86_64-linux-gnu/libLLVM*.so*", "/usr/lib/aarch64-linux-gnu/libLLVM*.so*",
               "/usr/lib/llvm-*/lib/libLLVM*.so*", "/usr/lib64/libLLVM*.so*", "/usr/local/lib/libLLVM*.so*")
MIN_LLVM_MAJOR = 16
_state: dict = {}


class PbrUnavailable(RuntimeError):
    """The optional physically based renderer cannot run here; the message says what to install."""


def _llvm_major(path: str) -> int:
    m = re.search(r"libLLVM[-.]?(\d+)", os.path.basename(path))
    if m:
        return int(m.group(1))
    m = re.search(r"llvm-(\d+)", path)
    return int(m.group(1)) if m else 0


def find_llvm() -> str | None:
    """The newest LLVM shared library of version >= 16 on this machine (DRJIT_LIBLLVM_PATH when set)."""
    given = os.environ.get("DRJIT_LIBLLVM_PATH")
    if given:
        return given if os.path.exists(given) else None
    found = sorted({p for g in _LLVM_GLOBS for p in glob.glob(g)}, key=_llvm_major, reverse=True)
    return next((p for p in found if _llvm_major(p) >= MIN_LLVM_MAJOR), None)


def mitsuba(variant: str | None = None):
    """The mitsuba module with a variant set (once per process): `variant`, $DEEPRM_PBR_VARIANT, or
    llvm_ad_rgb when an LLVM >= 16 exists, else scalar_rgb with a log line saying why."""
    if "mi" in _state and (variant is None or variant == _state["variant"]):
        return _state["mi"]
    variant = variant or os.environ.get("DEEPRM_PBR_VARIANT")
    if variant is None:
        llvm = find_llvm()
        if llvm:
            os.environ["DRJIT_LIBLLVM_PATH"] = llvm
            variant = "llvm_ad_rgb"
        else:
            variant = "scalar_rgb"
            log.warning("no LLVM >= %d library found (Debian 12: apt-get install libllvm19): Mitsuba runs its "
                        "scalar_rgb variant, about 3.5x slower than llvm_ad_rgb", MIN_LLVM_MAJOR)
    elif variant.startswith("llvm"):
        llvm = find_llvm()
        if llvm is None:
            raise PbrUnavailable(f"variant {variant} needs an LLVM >= {MIN_LLVM_MAJOR} library "
                                 "(Debian 12: apt-get install libllvm19; or set DRJIT_LIBLLVM_PATH)")
        os.environ["DRJIT_LIBLLVM_PATH"] = llvm
    try:
        import mitsuba as mi
    except ImportError as e:
        raise PbrUnavailable(f"the PBR renderer needs the optional package mitsuba ({e}): "
                             "pip install '.[pbr]' (scripts/setup.sh installs it)") from None
    if variant not in mi.variants():
        raise PbrUnavailable(f"Mitsuba has no variant {variant!r} (available: {mi.variants()})")
    mi.set_variant(variant)
    log.info("Mitsuba %s, variant %s%s", mi.__version__, variant,
             f" (LLVM {os.environ['DRJIT_LIBLLVM_PATH']})" if variant.startswith("llvm") else "")
    _state.update(mi=mi, variant=variant)
    return mi


def denoiser():
    """pyoidn's denoise function, or a PbrUnavailable naming the package."""
    try:
        import pyoidn
    except ImportError as e:
        raise PbrUnavailable(f"the PBR renderer needs the optional package pyoidn ({e}): "
                             "pip install '.[pbr]' (scripts/setup.sh installs it)") from None
    return pyoidn.denoise


def camera_to_world_flip() -> np.ndarray:
    """Mitsuba's camera looks down +z with +x to the LEFT and +y up in the image; OpenCV's x points right and y
    down. Turning the OpenCV camera by 180 degrees about z maps one onto the other."""
    return np.diag([-1.0, -1.0, 1.0, 1.0])


def sensor(K, T_world_cam, width: int, height: int, spp: int, sampler: str = "independent") -> dict:
    """A Mitsuba perspective sensor that images like the OpenCV camera K at pose T_world_cam (camera to world).

    Mitsuba's pinhole has one focal length: fov along x is 2 atan(W / (2 fx)), and fx must equal fy. Its principal
    point is an offset of the image centre, (W - 1)/2 in OpenCV's pixel-centre coordinates, as a fraction of the
    image size, positive to the left and up (the flipped axes above). A box pixel filter: with the default
    gaussian, 16 samples per pixel leave noise that the denoiser cannot remove."""
    mi = mitsuba()
    K = np.asarray(K, dtype=np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if abs(fx - fy) > 1e-6 * fx:
        raise ValueError(f"the path tracer needs square pixels (fx == fy), got fx={fx}, fy={fy}")
    to_world = np.asarray(T_world_cam, dtype=np.float64) @ camera_to_world_flip()
    return {
        "type": "perspective",
        "fov_axis": "x",
        "fov": float(np.degrees(2 * np.arctan(width / (2 * fx)))),
        "principal_point_offset_x": float(((width - 1) / 2 - cx) / width),
        "principal_point_offset_y": float(((height - 1) / 2 - cy) / height),
        "near_clip": 0.01,
        "far_clip": 100.0,
        "to_world": mi.ScalarTransform4f(to_world.tolist()),
        "film": {"type": "hdrfilm", "width": int(width), "height": int(height), "pixel_format": "rgb",
                 "rfilter": {"type": "box"}},
        "sampler": {"type": sampler, "sample_count": int(spp)},
    }


def texture(image: np.ndarray, srgb: bool = True) -> dict:
    """A bitmap texture from an (H, W, 3) uint8 image whose row 0 is the top (v = 1 in OBJ/PLY uv): Mitsuba puts
    v = 0 at row 0, so v is flipped."""
    mi = mitsuba()
    img = np.array(np.asarray(image, np.uint8)[..., :3], order="C", copy=True)  # writeable, as nanobind needs
    return {"type": "bitmap", "bitmap": mi.Bitmap(img),
            "raw": not srgb, "to_uv": mi.ScalarTransform4f().translate([0, 1, 0]).scale([1, -1, 1])}


def mesh(name: str, vertices, faces, normals=None, uv=None, vertex_colors=None, bsdf: dict | None = None):
    """A Mitsuba triangle mesh built in memory from arrays already in world coordinates (metres).
    vertex_colors (N, 3) uint8 become the attribute `vertex_color` (use base_color_from_vertices)."""
    mi = mitsuba()
    v = np.asarray(vertices, np.float32)
    f = np.asarray(faces, np.uint32)
    props = mi.Properties()
    if bsdf is not None:
        props["bsdf"] = mi.load_dict(bsdf)
    m = mi.Mesh(name, len(v), len(f), props=props, has_vertex_normals=normals is not None,
                has_vertex_texcoords=uv is not None)
    params = mi.traverse(m)
    params["vertex_positions"] = mi.Float(v.ravel())
    params["faces"] = mi.UInt32(f.ravel())
    if normals is not None:
        params["vertex_normals"] = mi.Float(np.asarray(normals, np.float32).ravel())
    if uv is not None:
        params["vertex_texcoords"] = mi.Float(np.asarray(uv, np.float32).ravel())
    params.update()
    if vertex_colors is not None:
        col = np.asarray(vertex_colors, np.float32)[:, :3] / 255.0
        m.add_attribute("vertex_color", 3, mi.Float((col ** 2.2).ravel()))  # sRGB-ish to linear
    return m


def base_color_from_vertices() -> dict:
    return {"type": "mesh_attribute", "name": "vertex_color"}


def render_linear(scene_dict: dict, seed: int) -> np.ndarray:
    """(H, W, 3) float32 linear radiance of a scene description, path traced with the given sampler seed."""
    mi = mitsuba()
    scene = mi.load_dict(scene_dict, parallel=False)  # parallel loading orders the emitters differently run to run
    img = mi.render(scene, seed=int(seed) & 0x7FFFFFFF)
    return np.array(img, dtype=np.float32)[..., :3]


def denoise(linear: np.ndarray) -> np.ndarray:
    """OpenImageDenoise on a linear HDR image (what makes 16 samples per pixel look clean)."""
    return np.asarray(denoiser()(np.ascontiguousarray(linear, np.float32), hdr=True), np.float32)


def to_srgb8(linear: np.ndarray, exposure: float) -> np.ndarray:
    """Exposure, then the sRGB transfer curve, to uint8."""
    x = np.clip(np.asarray(linear, np.float64) * exposure, 0.0, 1.0)
    srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


def auto_exposure(linear: np.ndarray, key: float = 0.18, percentile: float = 50.0) -> float:
    """The exposure that maps the image's `percentile` luminance to `key` (a camera's average metering)."""
    lum = linear[..., 0] * 0.2126 + linear[..., 1] * 0.7152 + linear[..., 2] * 0.0722
    level = float(np.percentile(lum, percentile))
    return key / max(level, 1e-6)
