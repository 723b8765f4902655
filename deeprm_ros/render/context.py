"""The headless GL context. It is bound to the thread that creates it: create and use it in one thread."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def create_context():
    """A standalone EGL context (no display needed); GL 3.3 core is enough for our shaders."""
    import moderngl
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as e:
        raise RuntimeError(
            f"cannot create a headless EGL OpenGL context ({e}); install the EGL/Mesa libraries "
            "(Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1) or the NVIDIA driver's EGL") from None
    renderer = ctx.info.get("GL_RENDERER", "unknown")
    try:
        import torch
        if torch.cuda.is_available() and "llvmpipe" in renderer.lower():
            log.warning("OpenGL renders on the CPU (%s) although a CUDA GPU is present: rendering will be slow; "
                        "check the NVIDIA EGL vendor library (__EGL_VENDOR_LIBRARY_FILENAMES)", renderer)
    except ImportError:
        pass
    log.info("OpenGL renderer: %s", renderer)
    return ctx
