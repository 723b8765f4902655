"""Synthetic training/test data from any folder of CAD models, written in the BOP layout so that one
reader serves BOP datasets and the user's own objects.

`python -m deeprm_ros.data.synthetic --models data/demo/models --out datasets/demo --split train_pbr --images 4000 --seed 0`

Each image: 2 to 5 objects (instances may repeat) at random poses clustered so that they occlude each
other, a random light (direction, colour, ambient), a background (procedural texture, or a random
crop of an image from --backgrounds), camera intrinsics jitter, then sensor effects (blur, noise).
Image i depends only on (seed, i): generation is deterministic, can be split across processes (--first-image)
and resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .generation import Frame, add_dataset_arguments

@dataclass
class SceneConfig:
    width: int = 640
    height: int = 480
    focal_range: tuple = (560.0, 640.0)
    principal_jitter_px: float = 12.0
    objects_range: tuple = (2, 5)
    depth_range_m: tuple = (0.35, 0.85)
    cluster_spread: float = 0.35          # object spread as a fraction of the cluster depth
    ambient_range: tuple = (0.25, 0.6)
    blur_sigma_max: float = 1.0
    noise_std_max: float = 6.0            # in 0..255 intensity units
    images_per_scene: int = 1000


def random_rotation(rng) -> np.ndarray:
    """Uniform random rotation (normalized 4D Gaussian quaternion)."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    from ..geometry import quat_to_matrix
    return quat_to_matrix(q)


def procedural_background(rng, h: int, w: int) -> np.ndarray:
    """A cluttered procedural texture: smooth colour noise plus random rectangles, ellipses and stripes."""
    low = rng.uniform(0, 255, size=(rng.integers(3, 9), rng.integers(4, 12), 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.integers(8, 30)):
        color = rng.uniform(0, 255, size=3).tolist()
        kind = rng.integers(3)
        if kind == 0:
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (p1[0] + int(rng.integers(10, 200)), p1[1] + int(rng.integers(10, 200)))
            cv2.rectangle(img, p1, p2, color, -1)
        elif kind == 1:
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(5, 120)), int(rng.integers(5, 120)))
            cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
        else:
            y = int(rng.integers(0, h))
            cv2.line(img, (0, y), (w, int(rng.integers(0, h))), color, int(rng.integers(1, 12)))
    noise = rng.normal(0, rng.uniform(2, 20), size=(h, w, 1)).astype(np.float32)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def image_background(rng, paths, h: int, w: int) -> np.ndarray:
    img = cv2.imread(str(paths[rng.integers(len(paths))]), cv2.IMREAD_COLOR)
    if img is None:
        return procedural_background(rng, h, w)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    scale = max(h / img.shape[0], w / img.shape[1]) * rng.uniform(1.0, 1.5)
    img = cv2.resize(img, (int(np.ceil(img.shape[1] * scale)), int(np.ceil(img.shape[0] * scale))))
    y0 = rng.integers(0, img.shape[0] - h + 1)
    x0 = rng.integers(0, img.shape[1] - w + 1)
    return img[y0:y0 + h, x0:x0 + w]


def random_camera(rng, cfg: SceneConfig) -> np.ndarray:
    f = rng.uniform(*cfg.focal_range)
    cx = (cfg.width - 1) / 2 + rng.uniform(-1, 1) * cfg.principal_jitter_px
    cy = (cfg.height - 1) / 2 + rng.uniform(-1, 1) * cfg.principal_jitter_px
    return np.array([[f, 0, cx], [0, f * rng.uniform(0.99, 1.01), cy], [0, 0, 1]])


def random_placements(rng, cfg: SceneConfig, K, obj_ids, diameters) -> list:
    """Poses clustered around a random point inside the view, so objects overlap and occlude."""
    n = int(rng.integers(cfg.objects_range[0], cfg.objects_range[1] + 1))
    chosen = rng.choice(obj_ids, size=n, replace=n > len(obj_ids) or rng.random() < 0.2)
    z0 = rng.uniform(*cfg.depth_range_m)
    margin = 0.15
    u = rng.uniform(margin * cfg.width, (1 - margin) * cfg.width)
    v = rng.uniform(margin * cfg.height, (1 - margin) * cfg.height)
    centre = np.linalg.solve(K, np.array([u, v, 1.0])) * z0
    poses = []
    for oid in chosen:
        T = np.eye(4)
        T[:3, :3] = random_rotation(rng)
        for _ in range(20):
            t = centre + rng.normal(0, cfg.cluster_spread * z0 / 3, size=3) * np.array([1, 1, 0.5])
            t[2] = np.clip(t[2], cfg.depth_range_m[0] * 0.8, cfg.depth_range_m[1] * 1.2)
            uvw = K @ t
            uv = uvw[:2] / uvw[2]
            if 0 <= uv[0] < cfg.width and 0 <= uv[1] < cfg.height and \
                    all(np.linalg.norm(t - p[1][:3, 3]) > 0.3 * diameters[int(oid)] for p in poses):
                break
        T[:3, 3] = t
        poses.append((int(oid), T))
    return poses


def sensor_effects(rng, img: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    out = img.astype(np.float32)
    sigma = rng.uniform(0, cfg.blur_sigma_max)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out *= rng.uniform(0.85, 1.15, size=3)  # white balance / exposure
    out += rng.normal(0, rng.uniform(0, cfg.noise_std_max), size=out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_frame(renderer, models, rng, cfg: SceneConfig, backgrounds=None) -> Frame:
    """One synthetic frame: objects lit by one light over a background, with sensor effects."""
    K = random_camera(rng, cfg)
    diam = {oid: m.diameter for oid, m in models.items()}
    objects = random_placements(rng, cfg, K, sorted(models), diam)
    light_dir = rng.normal(size=3)
    light_dir[2] = -abs(light_dir[2]) - 0.3  # mostly from the camera side
    light_dir /= np.linalg.norm(light_dir)
    light_color = rng.uniform(0.6, 1.2) * (1 + rng.uniform(-0.15, 0.15, size=3))
    out = renderer.render_scene(K, objects, light_dir=light_dir, light_color=light_color,
                                ambient=rng.uniform(*cfg.ambient_range))
    bg = image_background(rng, backgrounds, cfg.height, cfg.width) if backgrounds else \
        procedural_background(rng, cfg.height, cfg.width)
    fg = out.instance >= 0
    rgb = np.where(fg[..., None], out.rgb, bg)
    rgb = sensor_effects(rng, rgb, cfg)
    return Frame(rgb=rgb, depth=out.depth, K=K, objects=objects, instance=out.instance)


def list_images(folder) -> list[Path]:
    """The .jpg/.png images under a folder (backgrounds, textures), or a ValueError naming the folder."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise ValueError(f"{folder}: no .jpg/.png images")
    return paths


def generate(models_dir, out_root, split: str, n_images: int, seed: int, mesh_unit: str = "mm",
             backgrounds_dir=None, cfg: SceneConfig | None = None, first_image: int = 0, progress: bool = True):
    """Write images [first_image, first_image + n_images) of the dataset defined by (models, seed); images
    already written are skipped (a rerun resumes)."""
    from ..meshes import load_object_library
    from ..render import Renderer
    from .generation import copy_models, generate_images

    cfg = cfg or SceneConfig()
    models = load_object_library(models_dir, unit=mesh_unit)
    backgrounds = list_images(backgrounds_dir) if backgrounds_dir else None
    out_root = Path(out_root)
    copy_models(Path(models_dir), out_root)
    renderer = Renderer(models, width=cfg.width, height=cfg.height)
    try:
        generate_images(out_root, split, seed, first_image, n_images, cfg.images_per_scene,
                        lambda rng, i: make_frame(renderer, models, rng, cfg, backgrounds), renderer,
                        desc=f"generate {split}", progress=progress)
    finally:
        renderer.release()
    return out_root


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Generate a synthetic BOP-format dataset from a folder of CAD models")
    add_dataset_arguments(p)
    p.add_argument("--backgrounds", default=None, help="folder of background images (default: procedural)")
    args = p.parse_args(argv)
    cfg = SceneConfig(images_per_scene=args.images_per_scene)
    generate(args.models, args.out, args.split, args.images, args.seed, args.mesh_unit, args.backgrounds, cfg,
             args.first_image)
    print(f"wrote {args.images} images to {Path(args.out) / args.split}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
