"""The headless GL context (moderngl on EGL: Mesa llvmpipe on a CPU machine, the GPU with NVIDIA's EGL).

A GL context is bound to the thread that creates it (used from another thread moderngl silently returns
wrong pixels), so create it in the thread that renders; the Renderer checks this on every call.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def _import_torch_first() -> None:
    """torch and timm (torchvision) must be imported before an EGL context exists: imported after it, they can
    segfault. The one place that enforces this order, so no other module needs an import for its side effect."""
    for name in ("torch", "timm"):
        try:
            __import__(name)
        except ImportError:  # a rendering-only install (the data generator) may have neither
            pass


def create_context():
    """A standalone EGL context (no display needed); GL 3.3 core is all the shaders need."""
    _import_torch_first()
    try:
        import moderngl
    except ImportError as e:
        raise RuntimeError(f"moderngl is not installed ({e}): pip install moderngl") from None
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as e:
        raise RuntimeError(
            f"cannot create a headless EGL OpenGL 3.3 context ({type(e).__name__}: {e}). Install the EGL/Mesa "
            "libraries (Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1 libgles2) or, on NVIDIA, the "
            "driver's EGL vendor library (check __EGL_VENDOR_LIBRARY_FILENAMES)") from None
    renderer = ctx.info.get("GL_RENDERER", "unknown")
    if "llvmpipe" in renderer.lower() or "softpipe" in renderer.lower():
        cuda = False
        try:
            import torch
            cuda = torch.cuda.is_available()
        except ImportError:
            pass
        if cuda:
            log.warning("OpenGL renders on the CPU (%s) although a CUDA GPU is present: rendering will be slow; "
                        "check the NVIDIA EGL vendor library (__EGL_VENDOR_LIBRARY_FILENAMES)", renderer)
    log.info("OpenGL renderer: %s (LP_NUM_THREADS=%s)", renderer, os.environ.get("LP_NUM_THREADS", "unset"))
    return ctx
