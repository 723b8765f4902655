"""Photorealistic (physically based) training and test images from any folder of CAD models, in the BOP layout,
made the way BOP's own PBR training data is made: objects resting on a floor in stable poses among distractor
objects, some stacked on others, in a room whose floor and walls carry photo textures, lit by 1 to 3 area
lights of random position, size and power, seen by a camera on a shell around them; path traced (soft
shadows, inter-reflections, glossy highlights) by Mitsuba 3 at 16 samples per pixel and denoised.

`python -m deeprm_ros.data.pbr --models data/demo/models --out datasets/demo_pbr --split test --images 300 --seed 1`

Image i depends only on (seed, i): generation is deterministic, runs in parallel over image ranges
(`--first-image`, or `--workers N` processes) and resumes where it stopped. Colour comes from the path tracer;
masks, depth and BOP's gt_info from the project's rasterizer (data/generation.py). Textures for the room:
`--textures bundled` (the default: four CC0 photographs in data/textures/, grey ones tinted per image),
`--textures DIR` (any photographs; CC0 PBR texture sets work well) or `--textures procedural`.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .generation import Frame, add_dataset_arguments
from .scene_layout import (StablePoses, camera_on_shell, footprint_radius, look_at, scatter_on_floor, stable_poses,
                           stack_some)
from .synthetic import list_images, procedural_background

log = logging.getLogger("deeprm_ros.data.pbr")
DISTRACTOR_ID0 = 1_000_000   # ids of distractors and room surfaces in the rasterizer (never annotated)
ROOM_ID0 = 2_000_000


@dataclass
class PbrConfig:
    width: int = 640
    height: int = 480
    focal_range: tuple = (560.0, 640.0)
    principal_jitter_px: float = 12.0
    objects_range: tuple = (3, 6)          # annotated objects per image (instances may repeat)
    distractors_range: tuple = (2, 5)
    cluster_radius_range: tuple = (0.06, 0.16)   # metres: the disc the objects are scattered in
    stack_probability: float = 0.25        # each object after the first is set on top of another with this chance
    camera_distance_range: tuple = (0.35, 0.85)
    camera_elevation_deg: tuple = (15.0, 80.0)
    camera_roll_deg: float = 20.0
    lights_range: tuple = (1, 3)
    light_distance_range: tuple = (0.6, 2.0)
    light_size_range: tuple = (0.05, 0.6)
    room_half_size: float = 2.0
    room_height: float = 2.5
    spp: int = 16
    max_depth: int = 6
    images_per_scene: int = 1000


# ---- objects, distractors and the room as meshes ---------------------------------------------------------------
def _distractor_models(seed: int = 12345, n: int = 10) -> dict:
    """A fixed set of primitive shapes (boxes, cylinders, spheres, capsules, cones, 3 to 15 cm) that occlude and
    cast shadows but are never annotated; their colours are drawn per image."""
    import trimesh

    from ..meshes import ObjectModel

    rng = np.random.default_rng(seed)
    out = {}
    for k in range(n):
        size = rng.uniform(0.03, 0.15)
        kind = k % 5
        if kind == 0:
            m = trimesh.creation.box(extents=rng.uniform(0.4, 1.0, size=3) * size)
        elif kind == 1:
            m = trimesh.creation.cylinder(radius=size * rng.uniform(0.2, 0.5), height=size, sections=32)
        elif kind == 2:
            m = trimesh.creation.icosphere(subdivisions=3, radius=size / 2)
        elif kind == 3:
            m = trimesh.creation.capsule(height=size * 0.6, radius=size * 0.2)
        else:
            m = trimesh.creation.cone(radius=size * 0.4, height=size, sections=32)
        v = np.asarray(m.vertices, np.float32)
        out[DISTRACTOR_ID0 + k] = ObjectModel(obj_id=DISTRACTOR_ID0 + k, name=f"distractor_{k}", vertices=v,
                                              faces=np.asarray(m.faces, np.int32),
                                              normals=np.asarray(m.vertex_normals, np.float32),
                                              diameter=float(np.linalg.norm(v.max(0) - v.min(0))))
    return out


def _quad(half_w: float, half_h: float):
    v = np.array([[-half_w, -half_h, 0], [half_w, -half_h, 0], [half_w, half_h, 0], [-half_w, half_h, 0]], np.float32)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    return v, np.array([[0, 1, 2], [0, 2, 3]], np.int32), uv


def _room(cfg: PbrConfig) -> list[tuple[str, np.ndarray, tuple]]:
    """(name, T_world_surface, (half width, half height)) of the floor and four walls, normals facing inward."""
    s, h = cfg.room_half_size, cfg.room_height
    out = [("floor", np.eye(4), (s, s))]
    for k in range(4):
        a = k * np.pi / 2
        T = np.eye(4)
        # the quad's x along the wall, y up, z (its normal) = x cross y pointing into the room
        T[:3, 0], T[:3, 1] = [np.sin(a), -np.cos(a), 0.0], [0.0, 0.0, 1.0]
        T[:3, 2] = np.cross(T[:3, 0], T[:3, 1])
        T[:3, 3] = [np.cos(a) * s, np.sin(a) * s, h / 2]
        out.append((f"wall_{k}", T, (s, h / 2)))
    return out


def _room_models(layout) -> dict:
    """The room's surfaces as ObjectModels (unit quads with uv) in their own frames, keyed by rasterizer id."""
    from ..meshes import ObjectModel

    out = {}
    for k, (name, _, (hw, hh)) in enumerate(layout):
        v, f, uv = _quad(hw, hh)
        n = np.tile([[0, 0, 1]], (4, 1)).astype(np.float32)
        out[ROOM_ID0 + k] = ObjectModel(obj_id=ROOM_ID0 + k, name=name, vertices=v, faces=f, normals=n, uv=uv,
                                        diameter=float(2 * np.hypot(hw, hh)))
    return out


def _posed(vertices, normals, T):
    R, t = T[:3, :3], T[:3, 3]
    return np.asarray(vertices, np.float64) @ R.T + t, np.asarray(normals, np.float64) @ R.T


# ---- the generator -------------------------------------------------------------------------------------------
class PbrSceneMaker:
    """Makes PBR frames of a model library; holds the rasterizer (masks, depth) and the cached stable poses."""

    def __init__(self, models: dict, cfg: PbrConfig, textures: list | None = None, variant: str | None = None):
        from ..render import Renderer
        from ..render import path_tracer

        self.pt = path_tracer
        self.mi = path_tracer.mitsuba(variant)
        path_tracer.denoiser()  # fail now, naming the package, not after the first render
        self.models, self.cfg, self.textures = models, cfg, textures
        self.distractors = _distractor_models()
        self.room_layout = _room(cfg)  # fixed by the config: floor and walls, (name, T_world_surface, size)
        self.room = _room_models(self.room_layout)
        self.renderer = Renderer({**models, **self.distractors, **self.room}, width=cfg.width, height=cfg.height,
                                 far=4 * cfg.room_half_size + 10.0)
        self.stable: dict[int, StablePoses] = {}
        self.radii: dict[int, list[float]] = {}
        for oid, m in {**models, **self.distractors}.items():
            sp = stable_poses(m.vertices, m.faces)
            self.stable[oid] = sp
            self.radii[oid] = [footprint_radius(m.vertices, T) for T in sp.transforms]
        self.seconds_per_image: list[float] = []

    def release(self):
        self.renderer.release()

    # -- random pieces ---------------------------------------------------------------------------------
    def _camera_matrix(self, rng) -> np.ndarray:
        c = self.cfg
        f = rng.uniform(*c.focal_range)  # square pixels: Mitsuba's pinhole has one focal length
        cx = (c.width - 1) / 2 + rng.uniform(-1, 1) * c.principal_jitter_px
        cy = (c.height - 1) / 2 + rng.uniform(-1, 1) * c.principal_jitter_px
        return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])

    def _texture_image(self, rng, size: int = 512) -> np.ndarray:
        """An RGB uint8 texture for the floor or the walls: one of the photos (a grey one tinted with a random
        colour; turned by a multiple of 90 degrees and mirrored at random), else a procedural one."""
        if not self.textures:
            return procedural_background(rng, size, size)
        import cv2
        path = self.textures[rng.integers(len(self.textures))]
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"{path}: not a readable image")
        if img.ndim == 2 or img.shape[2] == 1:
            grey = img.reshape(img.shape[:2]).astype(np.float32)
            img = np.clip(grey[..., None] * rng.uniform(0.35, 1.0, size=3), 0, 255).astype(np.uint8)
        else:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
        img = np.rot90(img, int(rng.integers(4)))
        return np.ascontiguousarray(img[:, ::-1] if rng.random() < 0.5 else img)

    def _object_bsdf(self, rng, model) -> dict:
        """Principled material with the model's own colours, random roughness and specular (plastic to glossy)."""
        if model.texture is not None and model.uv is not None:
            base = self.pt.texture(model.texture)
        elif model.vertex_colors is not None:
            base = self.pt.base_color_from_vertices()
        else:
            base = {"type": "rgb", "value": [0.6, 0.6, 0.6]}
        return {"type": "principled", "base_color": base, "roughness": float(rng.uniform(0.15, 0.8)),
                "specular": float(rng.uniform(0.2, 0.8)), "metallic": float(rng.uniform(0.0, 0.1))}

    def _lights(self, rng, target) -> dict:
        """1-3 rectangular area lights above the cluster, facing it; radiance set so that each gives a random
        irradiance at the cluster; Mitsuba samples each in proportion to its power (sampling_weight), which
        keeps 16 samples per pixel clean when one light is much brighter than another."""
        mi, c = self.mi, self.cfg
        out = {}
        for k in range(int(rng.integers(c.lights_range[0], c.lights_range[1] + 1))):
            d = rng.uniform(*c.light_distance_range)
            el, az = np.radians(rng.uniform(30, 90)), rng.uniform(0, 2 * np.pi)
            pos = np.asarray(target) + d * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
            pos[2] = min(pos[2], c.room_height - 0.05)
            size = rng.uniform(*c.light_size_range)
            area = size * size  # Mitsuba's rectangle is 2x2 before scaling by size/2
            irradiance = rng.uniform(0.5, 3.0)
            radiance = irradiance * d * d / area * rng.uniform(0.8, 1.2, size=3) * (1 + rng.uniform(-0.1, 0.1))
            power = float(np.mean(radiance) * area)
            to_world = mi.ScalarTransform4f().look_at(origin=pos.tolist(), target=list(map(float, target)),
                                                      up=[0, 0, 1] if el < np.radians(89) else [1, 0, 0])
            out[f"light_{k}"] = {"type": "rectangle", "to_world": to_world @ mi.ScalarTransform4f().scale(
                [size / 2, size / 2, 1]), "emitter": {"type": "area", "radiance": {"type": "rgb",
                                                                                 "value": radiance.tolist()},
                                                    "sampling_weight": power}}
        out["ambient"] = {"type": "constant", "radiance": {"type": "rgb", "value": float(rng.uniform(0.02, 0.15))}}
        return out

    # -- one frame -------------------------------------------------------------------------------------
    def make_frame(self, rng, index: int) -> Frame:
        t0 = time.perf_counter()
        c = self.cfg
        ids = sorted(self.models)
        n = int(rng.integers(c.objects_range[0], c.objects_range[1] + 1))
        chosen = [int(o) for o in rng.choice(ids, size=n, replace=n > len(ids) or rng.random() < 0.3)]
        distractors = [int(o) for o in rng.choice(sorted(self.distractors),
                                                  size=int(rng.integers(c.distractors_range[0],
                                                                        c.distractors_range[1] + 1)))]
        everything = chosen + distractors
        poses_world = scatter_on_floor(rng, [self.stable[o] for o in everything], [self.radii[o] for o in everything],
                                       area_radius=rng.uniform(*c.cluster_radius_range))
        if c.stack_probability > 0:  # no draws when off: seeds made without stacking give the same scenes
            shapes = [self.models.get(o) or self.distractors[o] for o in everything]
            meshes = [(m.vertices, m.faces) for m in shapes]
            stack_some(rng, poses_world, meshes, [self.stable[o] for o in everything], c.stack_probability)
        centre = np.mean([T[:3, 3] for T in poses_world[:n]], axis=0)
        centre[2] = np.mean([self.models[o].diameter for o in chosen]) * 0.25
        target = centre + rng.normal(0, 0.02, size=3) * np.array([1, 1, 0.5])
        T_world_cam = camera_on_shell(rng, target, c.camera_distance_range, c.camera_elevation_deg, c.camera_roll_deg)
        T_cam_world = np.linalg.inv(T_world_cam)
        K = self._camera_matrix(rng)

        scene = {"type": "scene", "integrator": {"type": "path", "max_depth": c.max_depth},
                 "sensor": self.pt.sensor(K, T_world_cam, c.width, c.height, c.spp)}
        for k, (oid, T) in enumerate(zip(everything, poses_world)):
            m = self.models.get(oid) or self.distractors[oid]
            if oid in self.models:
                bsdf = self._object_bsdf(rng, m)
            else:
                bsdf = {"type": "principled", "base_color": {"type": "rgb", "value": rng.uniform(0.05, 0.9, 3).tolist()},
                        "roughness": float(rng.uniform(0.2, 0.9)), "specular": float(rng.uniform(0.2, 0.7))}
            v, nrm = _posed(m.vertices, m.normals, T)
            scene[f"shape_{k}"] = self.pt.mesh(f"shape_{k}", v, m.faces, nrm, m.uv if oid in self.models else None,
                                               m.vertex_colors if oid in self.models else None, bsdf)
        floor_tex = self._texture_image(rng)
        wall_tex = self._texture_image(rng)
        for k, (name, T, _) in enumerate(self.room_layout):
            surface = self.room[ROOM_ID0 + k]
            vv, nn = _posed(surface.vertices, surface.normals, T)
            tiles = rng.uniform(2, 6)
            bsdf = {"type": "principled", "base_color": self.pt.texture(floor_tex if name == "floor" else wall_tex),
                    "roughness": float(rng.uniform(0.4, 1.0)), "specular": float(rng.uniform(0.1, 0.5))}
            scene[name] = self.pt.mesh(name, vv, surface.faces, nn, surface.uv * tiles, None, bsdf)
        scene.update(self._lights(rng, target))

        linear = self.pt.denoise(self.pt.render_linear(scene, seed=int(rng.integers(2 ** 31))))
        rgb = self.pt.to_srgb8(linear, self.pt.auto_exposure(linear, key=float(rng.uniform(0.12, 0.25))))

        objects = [(oid, T_cam_world @ T) for oid, T in zip(chosen, poses_world)]
        extras = [(oid, T_cam_world @ T) for oid, T in zip(distractors, poses_world[n:])]
        extras += [(ROOM_ID0 + k, T_cam_world @ T) for k, (_, T, _) in enumerate(self.room_layout)]
        raster = self.renderer.render_scene(K, objects + extras)
        self.seconds_per_image.append(time.perf_counter() - t0)
        return Frame(rgb=rgb, depth=raster.depth, K=K, objects=objects, instance=raster.instance)


def generate(models_dir, out_root, split: str, n_images: int, seed: int, mesh_unit: str = "mm",
             textures_dir="bundled", cfg: PbrConfig | None = None, first_image: int = 0, progress: bool = True,
             variant: str | None = None) -> list[float]:
    """Write PBR images [first_image, first_image + n_images) (skipping those already written); returns the
    seconds each new image took."""
    from ..meshes import load_object_library
    from .generation import copy_models, generate_images

    cfg = cfg or PbrConfig()
    models = load_object_library(models_dir, unit=mesh_unit)
    textures = texture_images(textures_dir)
    copy_models(Path(models_dir), out_root)
    maker = PbrSceneMaker(models, cfg, textures, variant)
    try:
        generate_images(out_root, split, seed, first_image, n_images, cfg.images_per_scene, maker.make_frame,
                        maker.renderer, desc=f"pbr {split}", progress=progress)
    finally:
        maker.release()
    return maker.seconds_per_image


BUNDLED_TEXTURES = Path(__file__).resolve().parent / "textures"


def texture_images(textures) -> list | None:
    """The photos for the room: "bundled" -> data/textures/, "procedural" or None -> None (generated ones), else
    the .jpg/.png images of that folder."""
    if textures == "bundled":
        return list_images(BUNDLED_TEXTURES)
    if textures in (None, "procedural"):
        return None
    return list_images(textures)


def _generate_range(kwargs: dict) -> list[float]:
    """One worker process's image range (a top-level function, as multiprocessing needs)."""
    return generate(**kwargs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Physically based (path traced) BOP-format images from a folder of "
                                            "CAD models (needs the optional packages: pip install '.[pbr]')")
    add_dataset_arguments(p, PbrConfig.images_per_scene)
    p.add_argument("--textures", default="bundled",
                   help="photos for floor and walls: 'bundled' (four CC0 photos, the default), 'procedural', or a "
                        "folder of .jpg/.png")
    p.add_argument("--stack-probability", type=float, default=PbrConfig.stack_probability,
                   help="chance that an object is set on top of another instead of the floor (0: all on the floor)")
    p.add_argument("--spp", type=int, default=PbrConfig.spp, help="samples per pixel (denoised afterwards)")
    p.add_argument("--workers", type=int, default=1, help="processes, each taking a contiguous image range")
    p.add_argument("--variant", default=None, help="Mitsuba variant (default: llvm_ad_rgb when LLVM >= 16 is "
                                                   "installed, else scalar_rgb)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..render.path_tracer import PbrUnavailable

    cfg = PbrConfig(spp=args.spp, images_per_scene=args.images_per_scene, stack_probability=args.stack_probability)
    common = dict(models_dir=args.models, out_root=args.out, split=args.split, seed=args.seed,
                  mesh_unit=args.mesh_unit, textures_dir=args.textures, cfg=cfg, variant=args.variant)
    t0 = time.perf_counter()
    try:
        if args.workers <= 1:
            seconds = generate(n_images=args.images, first_image=args.first_image, **common)
        else:
            import multiprocessing as mp
            bounds = np.linspace(args.first_image, args.first_image + args.images, args.workers + 1).astype(int)
            jobs = [dict(common, first_image=int(a), n_images=int(b - a), progress=k == 0)
                    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
            with mp.get_context("spawn").Pool(args.workers) as pool:
                seconds = [s for part in pool.map(_generate_range, jobs) for s in part]
    except PbrUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    if seconds:
        print(f"wrote {len(seconds)} images to {Path(args.out) / args.split} in {wall:.0f} s "
              f"({np.mean(seconds):.2f} s per image in one process, median {np.median(seconds):.2f})")
    else:
        print(f"nothing to do: images {args.first_image}..{args.first_image + args.images - 1} already written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
