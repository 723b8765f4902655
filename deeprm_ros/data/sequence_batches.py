"""Training sequences: a few consecutive frames of objects moving in front of a fixed camera, so the recurrent
state can be trained the way the tracker uses it, carried from one frame to the next.

Single-image batches (batches.py) only ever start the state at zero; a tracked object enters each frame with
the state of its previous frame and a pose that was right one frame ago. The scenes are rendered here, from the
object models alone (no dataset): each sequence has its own motion (data/sequence.py's SceneMotion with a random
seed, a random subset and order of up to four objects, a random depth and spacing, a speed of `speed` times
its rate), light, background and intrinsics; frame 0's starting poses are DeepIM perturbations of the truth, as
a detection gives. Deterministic given (seed, step, slot), like BatchSampler.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .perturbation import training_starts
from .sequence import LIGHT_DIR, SceneMotion
from .synthetic import procedural_background

# SceneMotion seeds of the training scenes start here: the tracking benchmark's videos use seeds 0 and 1.
FIRST_SCENE_SEED = 1000


@dataclass
class SequenceBatch:
    images: np.ndarray        # (F, N, H, W, 3) uint8: F frames of N sequences
    image_index: np.ndarray   # (B,) which sequence each object is in
    K: np.ndarray             # (B, 3, 3), fixed over the frames
    obj_ids: np.ndarray       # (B,)
    T_gt: np.ndarray          # (F, B, 4, 4) metres, every frame
    T_init: np.ndarray        # (B, 4, 4) frame 0's starting poses (the detection)

    @property
    def n_frames(self) -> int:
        return len(self.images)


class SequenceSampler:
    """Draws `images_per_batch` sequences of `frames` frames at `rate_hz`, and up to `objects_per_image` objects
    of each that are visible (at least `min_visible_px` pixels) in every frame."""

    def __init__(self, models: dict, renderer, images_per_batch: int, objects_per_image: int, frames: int,
                 rate_hz: float, rotation_std_deg, translation_std_m, rotation_model: str = "rms",
                 augmentation=None, fine_fraction: float = 0.0, fine_scale: float = 0.2, speed=(0.5, 2.0),
                 objects_per_scene: int = 4, min_visible_px: int = 400, focal_range=None,
                 depth_range_m=(0.45, 0.8)):
        if frames < 2:
            raise ValueError(f"a training sequence needs at least 2 frames, got {frames}")
        self.models, self.renderer = models, renderer
        self.obj_ids = sorted(models)
        self.images_per_batch, self.objects_per_image, self.frames = images_per_batch, objects_per_image, frames
        self.rate_hz, self.speed = float(rate_hz), tuple(speed)
        self.rotation_std_deg, self.translation_std_m = rotation_std_deg, tuple(translation_std_m)
        self.rotation_model, self.augmentation = rotation_model, augmentation
        self.fine_fraction, self.fine_scale = float(fine_fraction), float(fine_scale)
        self.objects_per_scene, self.min_visible_px = objects_per_scene, min_visible_px
        # default: the synthetic training images' 560-640 px at 640 wide, scaled to the renderer's width
        scale = renderer.width / 640.0
        self.focal_range = tuple(focal_range) if focal_range else (560.0 * scale, 640.0 * scale)
        self.depth_range_m = tuple(depth_range_m)

    def _scene(self, rng):
        """One sequence: intrinsics, its frames' images and poses, and which objects stay visible throughout."""
        w, h = self.renderer.width, self.renderer.height
        ids = list(rng.choice(self.obj_ids, size=min(self.objects_per_scene, len(self.obj_ids)), replace=False))
        motion = SceneMotion(ids, seed=FIRST_SCENE_SEED + int(rng.integers(1 << 30)),
                             depth=rng.uniform(*self.depth_range_m), spacing=rng.uniform(0.07, 0.12))
        f = rng.uniform(*self.focal_range)
        jitter = 12.0 * w / 640.0
        K = np.array([[f, 0, (w - 1) / 2 + rng.uniform(-jitter, jitter)], [0, f, (h - 1) / 2 + rng.uniform(-jitter, jitter)],
                      [0, 0, 1]])
        light = LIGHT_DIR + rng.normal(0, 0.3, 3)
        light /= np.linalg.norm(light)
        ambient = rng.uniform(0.25, 0.5)
        background = procedural_background(rng, h, w)
        t0, dt = rng.uniform(0, 120), rng.uniform(*self.speed) / self.rate_hz
        noise = rng.uniform(0, 4)
        images, poses, visible = [], [], np.ones(len(ids), bool)
        for k in range(self.frames):
            T = motion.poses(t0 + k * dt)
            out = self.renderer.render_scene(K, list(zip(ids, T)), light_dir=light, ambient=ambient)
            rgb = np.where((out.instance >= 0)[..., None], out.rgb, background).astype(np.float32)
            rgb += rng.normal(0, noise, size=rgb.shape)
            images.append(np.clip(rgb, 0, 255).astype(np.uint8))
            poses.append(T)
            visible &= np.bincount(out.instance[out.instance >= 0].ravel(), minlength=len(ids)) >= self.min_visible_px
        return np.array(ids), K, images, np.stack(poses), visible

    def sample(self, seed: int, rank: int, step: int) -> SequenceBatch:
        frames = [[] for _ in range(self.frames)]
        index, Ks, ids, gts, inits = [], [], [], [], []
        for n in range(self.images_per_batch):
            slot = rank * self.images_per_batch + n
            rng = np.random.default_rng([seed, step, slot, 3])
            for _ in range(20):   # a scene whose objects all leave the view or hide is drawn again
                scene_ids, K, images, T_gt, visible = self._scene(rng)
                if visible.any():
                    break
            else:
                raise RuntimeError("20 training scenes in a row had no object visible in every frame")
            candidates = np.flatnonzero(visible)
            pick = rng.choice(candidates, size=min(self.objects_per_image, len(candidates)), replace=False)
            aug = self.augmentation
            for k, img in enumerate(images):
                if aug is not None and aug.enabled:   # the same draw for every frame: one camera, one scene
                    img = aug(img, np.random.default_rng([seed, step, slot, 1]), None)
                frames[k].append(img)
            init = training_starts(T_gt[0, pick], rng, self.rotation_std_deg, self.translation_std_m,
                                   self.rotation_model, self.fine_fraction, self.fine_scale)
            index += [n] * len(pick)
            Ks += [K] * len(pick)
            ids += list(scene_ids[pick])
            gts.append(T_gt[:, pick])
            inits.append(init)
        return SequenceBatch(np.stack([np.stack(f) for f in frames]), np.asarray(index), np.stack(Ks),
                             np.asarray(ids), np.concatenate(gts, axis=1), np.concatenate(inits))
