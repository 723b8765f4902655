"""The renderer: RGB, metric depth and instance ids in the OpenCV convention, one or many objects per image.

The projection is built directly from K so that a point projecting to pixel (u, v) by OpenCV lands on
the pixel whose centre is (u, v); rows are read back top row first, so no flip is needed anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .brightness import metering_gain
from .context import create_context
from .shaders import FRAGMENT, VERTEX


@dataclass
class RenderOutput:
    rgb: np.ndarray       # (H, W, 3) uint8
    depth: np.ndarray     # (H, W) float32 metres, 0 = background
    instance: np.ndarray  # (H, W) int16, -1 = background, else index into the rendered list


def opencv_projection(K, width: int, height: int, near: float, far: float) -> np.ndarray:
    """Clip-space matrix for OpenCV camera coordinates. Window x = u + 0.5 (pixel centres at integers);
    window y = v + 0.5, i.e. framebuffer row 0 is image row 0 (the winding flips, so culling stays off)."""
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


class _GpuMesh:
    def __init__(self, ctx, prog, model):
        n = len(model.vertices)
        uv = model.uv if model.uv is not None else np.zeros((n, 2), np.float32)
        if model.vertex_colors is not None:
            color = model.vertex_colors.astype(np.float32) / 255.0
        else:
            color = np.full((n, 3), 0.7, np.float32)
        data = np.hstack([model.vertices, model.normals, uv, color]).astype("f4")
        self.vbo = ctx.buffer(data.tobytes())
        self.ibo = ctx.buffer(np.ascontiguousarray(model.faces, dtype="i4").tobytes())
        self.vao = ctx.vertex_array(prog, [(self.vbo, "3f 3f 2f 3f", "in_position", "in_normal", "in_uv", "in_color")],
                                    index_buffer=self.ibo)
        self.texture = None
        if model.texture is not None:
            tex = np.ascontiguousarray(model.texture[::-1])  # GL textures start at the bottom row (v = 0)
            self.texture = ctx.texture((tex.shape[1], tex.shape[0]), 3, tex.tobytes())
            self.texture.build_mipmaps()
            self.texture.filter = (ctx.LINEAR_MIPMAP_LINEAR, ctx.LINEAR)
        self.diameter = model.diameter


class Renderer:
    def __init__(self, models: dict, width: int = 640, height: int = 480, near: float = 0.01, far: float = 10.0,
                 ambient: float = 0.35, metering: bool = True):
        import moderngl

        self.width, self.height, self.near, self.far = int(width), int(height), near, far
        self.ambient = ambient
        self.ctx = create_context()
        self.gl_renderer = self.ctx.info.get("GL_RENDERER", "unknown")
        self.prog = self.ctx.program(vertex_shader=VERTEX, fragment_shader=FRAGMENT)
        self.meshes = {int(oid): _GpuMesh(self.ctx, self.prog, m) for oid, m in models.items()}
        self._fbos = {}
        self._use_size(self.width, self.height)
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)
        self.white = self.ctx.texture((1, 1), 3, bytes([255, 255, 255]))
        self.metering = metering
        self.gains: dict[int, float] = {}

    def _use_size(self, width: int, height: int):
        """Select (creating once) the framebuffer of this size: full frames and network-sized crops."""
        key = (int(width), int(height))
        if key not in self._fbos:
            attachments = [self.ctx.renderbuffer(key, 4), self.ctx.renderbuffer(key, 1, dtype="f4"),
                           self.ctx.renderbuffer(key, 1, dtype="f4")]
            self._fbos[key] = self.ctx.framebuffer(attachments, self.ctx.depth_renderbuffer(key))
        self.fbo = self._fbos[key]
        self._fw, self._fh = key

    # -- drawing ------------------------------------------------------------------------------------
    def _begin(self, K, light_dir, light_color, ambient):
        self.fbo.use()
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.prog["projection"].write(opencv_projection(np.asarray(K, float), self._fw, self._fh,
                                                        self.near, self.far).T.astype("f4").tobytes())
        ld = np.asarray([0.0, 0.0, 1.0] if light_dir is None else light_dir, dtype=np.float64)
        self.prog["light_dir"].value = tuple((ld / np.linalg.norm(ld)).tolist())
        lc = np.ones(3) if light_color is None else np.broadcast_to(np.asarray(light_color, float), 3)
        self.prog["light_color"].value = tuple(lc.tolist())
        self.prog["ambient"].value = float(self.ambient if ambient is None else ambient)

    def _draw(self, obj_id: int, T, instance: int, gain: float):
        mesh = self.meshes.get(int(obj_id))
        if mesh is None:
            raise KeyError(f"unknown object id {obj_id}: the renderer knows {sorted(self.meshes)}")
        self.prog["model_view"].write(np.asarray(T, dtype=np.float64).T.astype("f4").tobytes())
        self.prog["use_texture"].value = mesh.texture is not None
        (mesh.texture or self.white).use(0)
        self.prog["tex"].value = 0
        self.prog["gain"].value = float(gain)
        self.prog["instance_id"].value = float(instance + 1)
        mesh.vao.render()

    def _read_rgb(self):
        raw = self.fbo.read(components=3, attachment=0, alignment=1)
        return np.frombuffer(raw, np.uint8).reshape(self._fh, self._fw, 3)

    def _read_f32(self, attachment):
        raw = self.fbo.read(components=1, attachment=attachment, dtype="f4")
        return np.frombuffer(raw, np.float32).reshape(self._fh, self._fw)

    # -- public -------------------------------------------------------------------------------------
    def render_scene(self, K, objects, light_dir=None, light_color=None, ambient=None) -> RenderOutput:
        """All `objects` [(obj_id, T_cam_obj)] in one image, with occlusion between them."""
        self._use_size(self.width, self.height)
        self._begin(K, light_dir, light_color, ambient)
        for i, (oid, T) in enumerate(objects):
            self._draw(oid, T, i, 1.0)
        inst = self._read_f32(2)
        return RenderOutput(self._read_rgb().copy(), self._read_f32(1).copy(),
                            (np.rint(inst).astype(np.int16) - 1))

    def gain(self, obj_id: int) -> float:
        """The object's metering gain, computed on first use."""
        oid = int(obj_id)
        if oid not in self.gains:
            if not self.metering:
                self.gains[oid] = 1.0
            else:
                def render_fn(K, T):
                    self._use_size(self.width, self.height)
                    self._begin(K, None, None, None)
                    self._draw(oid, T, 0, 1.0)
                    return self._read_rgb(), self._read_f32(1) > 0
                self.gains[oid] = metering_gain(render_fn, self.meshes[oid].diameter, self.width, self.height)
        return self.gains[oid]

    def render_each(self, K, obj_ids, poses, size=None):
        """B images, object i alone on black at poses[i] with intrinsics K[i] and its metering gain.

        size (height, width) renders at another resolution than the camera's (e.g. straight into a
        network crop with the crop's intrinsics). Returns rgb (B, H, W, 3) uint8 and depth (B, H, W)
        float32 metres (0 = background)."""
        K = np.asarray(K, dtype=np.float64)
        poses = np.asarray(poses, dtype=np.float64)
        B = len(obj_ids)
        if K.ndim == 2:
            K = np.repeat(K[None], B, 0)
        h, w = (self.height, self.width) if size is None else (int(size[0]), int(size[1]))
        gains = [self.gain(oid) for oid in obj_ids]
        self._use_size(w, h)
        rgb = np.empty((B, h, w, 3), np.uint8)
        depth = np.empty((B, h, w), np.float32)
        for i, oid in enumerate(obj_ids):
            g = gains[i]
            self._begin(K[i], None, None, None)
            self._draw(oid, poses[i], 0, g)
            rgb[i] = self._read_rgb()
            depth[i] = self._read_f32(1)
        return rgb, depth

    def release(self):
        self.ctx.release()
