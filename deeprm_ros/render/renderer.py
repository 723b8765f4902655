"""The renderer: RGB, metric depth and instance ids in the OpenCV convention, one or many objects per image.

The projection is built directly from K so that a point projecting to pixel (u, v) by OpenCV lands on
the pixel whose centre is (u, v); framebuffer row 0 is image row 0 and rows are read back top row first,
so no flip is needed anywhere. render_each draws its B images into B tiles of one framebuffer (stacked
vertically, one viewport each) and reads them back with one read per attachment for the whole batch.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

from .brightness import TARGET_MEAN, metering_gain
from .context import create_context
from .shaders import FRAGMENT, VERTEX

log = logging.getLogger(__name__)
MAX_TILES = 16  # images per framebuffer in render_each (bounds its memory: 16 x 640x480 x 16 B = 79 MB)


@dataclass
class RenderOutput:
    rgb: np.ndarray       # (H, W, 3) uint8
    depth: np.ndarray     # (H, W) float32 metres (camera z), 0 = background
    instance: np.ndarray  # (H, W) int16, -1 = background, else index into the rendered list


def opencv_projection(K, width: int, height: int, near: float, far: float) -> np.ndarray:
    """Clip-space matrix for OpenCV camera coordinates (x right, y down, z forward).

    Window x = u + 0.5 and window y = v + 0.5 where (u, v) = OpenCV's projection, so pixel centres sit at
    integer (u, v) and framebuffer row 0 is image row 0. NDC z maps camera z in [near, far] to [-1, 1].
    Front faces of outward-wound meshes come out clockwise on screen (the y axis is mirrored)."""
    K = np.asarray(K, dtype=np.float64)
    fx, fy, cx, cy, s = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    P = np.zeros((4, 4))
    P[0, 0] = 2 * fx / width
    P[0, 1] = 2 * s / width
    P[0, 2] = 2 * (cx + 0.5) / width - 1
    P[1, 1] = 2 * fy / height
    P[1, 2] = 2 * (cy + 0.5) / height - 1
    P[2, 2] = (far + near) / (far - near)
    P[2, 3] = -2 * far * near / (far - near)
    P[3, 2] = 1.0
    return P


def _closed_outward(model) -> bool:
    """True when back faces can never be seen: watertight, consistently wound, positive volume.
    Culling them halves the rasterisation work on llvmpipe; open or badly wound meshes are drawn two-sided."""
    try:
        import trimesh
        m = trimesh.Trimesh(np.asarray(model.vertices, np.float64), np.asarray(model.faces), process=True)
        return bool(m.is_watertight and m.is_winding_consistent and m.volume > 0)
    except Exception:
        return False


class _GpuMesh:
    """One object's buffers and texture, uploaded once."""

    def __init__(self, ctx, prog, model, cull: bool | None):
        n = len(model.vertices)
        uv = model.uv if model.uv is not None else np.zeros((n, 2), np.float32)
        if model.vertex_colors is not None:
            color = np.asarray(model.vertex_colors, np.float32)[:, :3] / 255.0
        else:
            color = np.full((n, 3), 0.7, np.float32)
        data = np.hstack([model.vertices, model.normals, uv, color]).astype("f4")
        self.vbo = ctx.buffer(np.ascontiguousarray(data).tobytes())
        self.ibo = ctx.buffer(np.ascontiguousarray(model.faces, dtype="i4").tobytes())
        self.vao = ctx.vertex_array(prog, [(self.vbo, "3f 3f 2f 3f", "in_position", "in_normal", "in_uv", "in_color")],
                                    index_buffer=self.ibo, index_element_size=4)
        self.texture = None
        if model.texture is not None and model.uv is not None:
            tex = np.ascontiguousarray(np.asarray(model.texture, np.uint8)[::-1, :, :3])  # GL: row 0 = v 0 = bottom
            self.texture = ctx.texture((tex.shape[1], tex.shape[0]), 3, tex.tobytes(), alignment=1)
            self.texture.build_mipmaps()
            self.texture.filter = (ctx.LINEAR_MIPMAP_LINEAR, ctx.LINEAR)
        self.diameter = float(model.diameter)
        v = np.asarray(model.vertices, np.float64)
        self.center = (v.min(0) + v.max(0)) / 2
        self.cull = _closed_outward(model) if cull is None else bool(cull)

    def release(self):
        for o in (self.vao, self.vbo, self.ibo, self.texture):
            if o is not None:
                o.release()


class _Target:
    """A framebuffer of `tiles` images of (w, h) stacked vertically: colour, depth (z), instance, z-buffer."""

    def __init__(self, ctx, w: int, h: int, tiles: int):
        size = (w, h * tiles)
        self.w, self.h, self.tiles = w, h, tiles
        self.attachments = [ctx.renderbuffer(size, 4), ctx.renderbuffer(size, 1, dtype="f4"),
                            ctx.renderbuffer(size, 1, dtype="f4")]
        self.zbuffer = ctx.depth_renderbuffer(size)
        self.fbo = ctx.framebuffer(self.attachments, self.zbuffer)

    def release(self):
        self.fbo.release()
        for a in self.attachments + [self.zbuffer]:
            a.release()


class Renderer:
    """Offscreen renderer for a fixed set of objects. Create and use it in ONE thread (GL contexts are
    thread-bound), after importing torch.

    models: {obj_id: ObjectModel}. width, height: the default image size. ambient: the ambient share of
    the light (the rest is Lambert diffuse). brightness_target: render_each's average-metering target
    (mean intensity over the object, fraction of full scale). near, far: clipping distances in metres.
    cull_back_faces: None = per mesh, when it is closed and outward-wound (faster); True/False forces it."""

    def __init__(self, models: dict, width: int = 640, height: int = 480, ambient: float = 0.35,
                 brightness_target: float = TARGET_MEAN, near: float = 0.01, far: float = 10.0,
                 metering: bool = True, cull_back_faces: bool | None = None):
        import moderngl

        if not (0 < near < far):
            raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
        self.width, self.height, self.near, self.far = int(width), int(height), float(near), float(far)
        self.ambient = float(ambient)
        self.brightness_target = float(brightness_target)
        self.metering = bool(metering)
        self._thread = threading.get_ident()
        self.ctx = create_context()
        self.gl_renderer: str = self.ctx.info.get("GL_RENDERER", "unknown")
        max_rb = int(self.ctx.info.get("GL_MAX_RENDERBUFFER_SIZE", 8192))
        self._max_rows = max_rb
        self.prog = self.ctx.program(vertex_shader=VERTEX, fragment_shader=FRAGMENT)
        self.meshes = {int(oid): _GpuMesh(self.ctx, self.prog, m, cull_back_faces) for oid, m in models.items()}
        self._targets: dict[tuple[int, int], _Target] = {}
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.front_face = "cw"  # see opencv_projection
        self._moderngl = moderngl
        self._white = self.ctx.texture((1, 1), 3, bytes([255, 255, 255]))
        self.gains: dict[int, float] = {}
        log.info("Renderer: %d objects, %dx%d, GL_RENDERER=%s", len(self.meshes), self.width, self.height,
                 self.gl_renderer)

    # -- internals -----------------------------------------------------------------------------------
    def _activate(self):
        """Called first by every method that draws or frees GL objects: refuses another thread, and makes this
        renderer's GL context the current one (GL calls go to the thread's current context: with two renderers in
        one thread, the one created last would otherwise receive the other's calls, with its own framebuffers and
        programs)."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("Renderer used from another thread than the one that created it: GL contexts are "
                               "thread-bound (results would be silently wrong); create a Renderer per thread")
        self.ctx.__enter__()

    def _target(self, w: int, h: int, tiles: int) -> _Target:
        """The (cached) framebuffer for images of (w, h), with room for at least `tiles` of them."""
        key = (int(w), int(h))
        t = self._targets.get(key)
        if t is None or t.tiles < tiles:
            if t is not None:
                t.release()
            cap = 1
            while cap < tiles:
                cap *= 2
            cap = max(1, min(cap, MAX_TILES, self._max_rows // max(h, 1)))
            t = self._targets[key] = _Target(self.ctx, key[0], key[1], cap)
        return t

    def _begin(self, target: _Target, n: int, light_dir, light_color, ambient):
        target.fbo.use()
        target.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=(0, 0, target.w, target.h * n))
        ld = np.asarray([0.0, 0.0, 1.0] if light_dir is None else light_dir, dtype=np.float64).reshape(3)
        norm = np.linalg.norm(ld)
        if not np.isfinite(norm) or norm < 1e-12:
            raise ValueError(f"light_dir must be a non-zero 3-vector, got {light_dir}")
        self.prog["light_dir"].value = tuple((ld / norm).tolist())
        lc = np.ones(3) if light_color is None else np.broadcast_to(np.asarray(light_color, np.float64), (3,))
        self.prog["light_color"].value = tuple(float(c) for c in lc)
        self.prog["ambient"].value = float(self.ambient if ambient is None else ambient)
        self.prog["tex"].value = 0

    def _set_tile(self, target: _Target, i: int, K):
        vp = (0, i * target.h, target.w, target.h)
        self.ctx.viewport = vp
        self.ctx.scissor = vp  # no fragment may leak into the neighbouring tile
        self.prog["projection"].write(
            opencv_projection(K, target.w, target.h, self.near, self.far).T.astype("f4").tobytes())

    def _draw(self, obj_id: int, T, instance: int, gain: float):
        mesh = self.meshes.get(int(obj_id))
        if mesh is None:
            raise KeyError(f"unknown object id {obj_id}: the renderer knows {sorted(self.meshes)}")
        T = np.asarray(T, dtype=np.float64).reshape(4, 4)
        self.prog["model_view"].write(T.T.astype("f4").tobytes())
        self.prog["use_texture"].value = mesh.texture is not None
        (mesh.texture or self._white).use(0)
        self.prog["gain"].value = float(gain)
        self.prog["instance_id"].value = float(instance + 1)
        if mesh.cull:
            self.ctx.enable(self._moderngl.CULL_FACE)
        else:
            self.ctx.disable(self._moderngl.CULL_FACE)
        mesh.vao.render()

    def _read(self, target: _Target, n: int, rgb=None, depth=None, instance=None):
        vp = (0, 0, target.w, target.h * n)
        self.ctx.scissor = None
        if rgb is not None:
            target.fbo.read_into(rgb, viewport=vp, components=3, attachment=0, alignment=1)
        if depth is not None:
            target.fbo.read_into(depth, viewport=vp, components=1, attachment=1, alignment=1, dtype="f4")
        if instance is not None:
            target.fbo.read_into(instance, viewport=vp, components=1, attachment=2, alignment=1, dtype="f4")

    # -- public ----------------------------------------------------------------------------------------
    def render_scene(self, K, objects, light_dir=None, light_color=None, ambient=None) -> RenderOutput:
        """All `objects` [(obj_id, T_cam_obj)] in one (height, width) image, occluding each other.
        Brightness gain 1 (the scene's lighting is the caller's: light_dir is the direction the light
        travels in the camera frame, light_color an RGB multiplier, ambient the ambient share)."""
        self._activate()
        h, w = self.height, self.width
        t = self._target(w, h, 1)
        self._begin(t, 1, light_dir, light_color, ambient)
        self._set_tile(t, 0, K)
        for i, (oid, T) in enumerate(objects):
            self._draw(oid, T, i, 1.0)
        rgb = np.empty((h, w, 3), np.uint8)
        depth = np.empty((h, w), np.float32)
        inst = np.empty((h, w), np.float32)
        self._read(t, 1, rgb, depth, inst)
        return RenderOutput(rgb, depth, (np.rint(inst).astype(np.int16) - 1))

    def gain(self, obj_id: int) -> float:
        """The object's average-metering gain (computed on first use, then cached)."""
        oid = int(obj_id)
        if oid not in self.gains:
            if oid not in self.meshes:
                raise KeyError(f"unknown object id {obj_id}: the renderer knows {sorted(self.meshes)}")
            if not self.metering:
                self.gains[oid] = 1.0
            else:
                self._activate()
                mesh = self.meshes[oid]
                h, w = self.height, self.width
                rgb = np.empty((h, w, 3), np.uint8)
                depth = np.empty((h, w), np.float32)

                def render_fn(K, T, g):
                    t = self._target(w, h, 1)
                    self._begin(t, 1, None, None, None)
                    self._set_tile(t, 0, K)
                    self._draw(oid, T, 0, g)
                    self._read(t, 1, rgb, depth)
                    return rgb, depth > 0

                self.gains[oid] = metering_gain(render_fn, mesh.center, mesh.diameter, w, h,
                                                target=self.brightness_target)
                log.info("object %d: metering gain %.3f", oid, self.gains[oid])
        return self.gains[oid]

    def render_each(self, K, obj_ids, poses, size=None):
        """B images, object i alone on black at poses[i] with intrinsics K[i] (or one shared (3,3) K) and
        its metering gain, under the default light (from the camera).

        size (height, width) renders at another resolution than the default (e.g. straight into a network
        crop with the crop's intrinsics). Returns rgb (B, H, W, 3) uint8 and depth (B, H, W) float32 metres
        (0 = background)."""
        self._activate()
        K = np.asarray(K, dtype=np.float64)
        poses = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
        obj_ids = [int(o) for o in np.asarray(obj_ids).reshape(-1)]
        B = len(obj_ids)
        if K.ndim == 2:
            K = np.broadcast_to(K, (B, 3, 3))
        if len(K) != B or len(poses) != B:
            raise ValueError(f"render_each: {B} obj_ids but {len(K)} intrinsics and {len(poses)} poses")
        h, w = (self.height, self.width) if size is None else (int(size[0]), int(size[1]))
        gains = [self.gain(oid) for oid in obj_ids]
        rgb = np.empty((B, h, w, 3), np.uint8)
        depth = np.empty((B, h, w), np.float32)
        if B == 0:
            return rgb, depth
        t = self._target(w, h, B)
        for start in range(0, B, t.tiles):
            n = min(t.tiles, B - start)
            self._begin(t, n, None, None, None)
            for j in range(n):
                i = start + j
                self._set_tile(t, j, K[i])
                self._draw(obj_ids[i], poses[i], 0, gains[i])
            self._read(t, n, rgb[start:start + n], depth[start:start + n])
        return rgb, depth

    def release(self):
        """Free the GL objects and the context (in the creating thread)."""
        self._activate()
        for m in self.meshes.values():
            m.release()
        for t in self._targets.values():
            t.release()
        self._targets.clear()
        self.ctx.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
