"""A synthetic video with ground truth at every frame: the demo objects moving slowly over a textured
background, seen by a fixed camera, and coarse detections with PoseCNN-like noise at a lower rate.

One source for the ROS synthetic camera (which publishes it) and the tracking benchmark (which scores every
frame of it), so both see the same motion. Deterministic given the seed: frame i's image noise and frame i's
detection noise are drawn in frame order from one generator, image first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import axis_angle_to_matrix
from .perturbation import ROTATION_STD_DEG, TRANSLATION_STD_M, perturb_poses
from .synthetic import procedural_background

LIGHT_DIR = np.array([0.3, 0.4, -1.0]) / np.linalg.norm([0.3, 0.4, -1.0])


class SceneMotion:
    """Deterministic slow motion of the objects: each oscillates around a spot (1.5-3.5 cm across x and y,
    up to 5 cm in depth, periods of 8-20 s) and turns about a fixed axis at 6-14 degrees per second. The
    spots are close together so the objects occlude each other now and then."""

    def __init__(self, obj_ids, seed: int = 0, depth: float = 0.55, spacing: float = 0.09):
        rng = np.random.default_rng(seed)
        n = len(obj_ids)
        self.obj_ids = list(obj_ids)
        xs = (np.arange(n) - (n - 1) / 2) * spacing
        self.centres = np.stack([xs, rng.uniform(-0.03, 0.03, n), depth + rng.uniform(-0.05, 0.05, n)], 1)
        self.amplitude = rng.uniform(0.015, 0.035, size=(n, 3)) * np.array([1, 1, 1.5])
        self.freq = rng.uniform(0.05, 0.12, size=(n, 3))
        self.phase = rng.uniform(0, 2 * np.pi, size=(n, 3))
        self.R0 = [axis_angle_to_matrix(rng.normal(size=3)) for _ in range(n)]
        axes = rng.normal(size=(n, 3))
        self.spin_axes = axes / np.linalg.norm(axes, axis=1, keepdims=True)
        self.spin_rate = rng.uniform(0.1, 0.25, size=n)  # rad/s

    def poses(self, t: float) -> np.ndarray:
        out = np.tile(np.eye(4), (len(self.obj_ids), 1, 1))
        for i in range(len(self.obj_ids)):
            out[i, :3, 3] = self.centres[i] + self.amplitude[i] * np.sin(2 * np.pi * self.freq[i] * t + self.phase[i])
            out[i, :3, :3] = axis_angle_to_matrix(self.spin_axes[i] * self.spin_rate[i] * t) @ self.R0[i]
        return out


@dataclass
class SequenceFrame:
    index: int
    time_s: float
    rgb: np.ndarray                  # (H, W, 3) uint8
    poses: np.ndarray                # (N, 4, 4) ground truth, camera frame, metres, in obj_ids' order
    detections: np.ndarray | None    # (N, 4, 4) coarse poses on frames with a detection, else None
    scores: np.ndarray | None        # (N,) detector scores on those frames


class SyntheticSequence:
    """Frame i is at time i / rate_hz * time_scale; a detection comes with every round(rate / detection_rate)-th
    frame. `frame(i)` must be called for i = 0, 1, 2, ... in order (the noise is drawn as it goes)."""

    def __init__(self, models: dict, renderer, seed: int = 0, rate_hz: float = 10.0, detection_rate_hz: float = 2.0,
                 focal_px: float = 600.0, noise_rotation_deg: float = ROTATION_STD_DEG,
                 noise_translation_m=TRANSLATION_STD_M, time_scale: float = 1.0, image_noise: float = 2.0):
        self.renderer = renderer
        self.width, self.height = renderer.width, renderer.height
        self.K = np.array([[focal_px, 0, (self.width - 1) / 2], [0, focal_px, (self.height - 1) / 2], [0, 0, 1]])
        self.motion = SceneMotion(sorted(models), seed)
        self.obj_ids = self.motion.obj_ids
        self.background = procedural_background(np.random.default_rng(seed), self.height, self.width)
        self.rng = np.random.default_rng(seed + 1)
        self.rate_hz, self.time_scale = rate_hz, time_scale
        self.every = max(1, round(rate_hz / detection_rate_hz))
        self.noise_rotation_deg, self.noise_translation_m = noise_rotation_deg, tuple(noise_translation_m)
        self.image_noise = image_noise
        self.next_index = 0

    def frame(self, i: int) -> SequenceFrame:
        if i != self.next_index:
            raise ValueError(f"frames are drawn in order: expected frame {self.next_index}, asked for {i}")
        self.next_index += 1
        t = i / self.rate_hz * self.time_scale
        poses = self.motion.poses(t)
        out = self.renderer.render_scene(self.K, list(zip(self.obj_ids, poses)), light_dir=LIGHT_DIR)
        rgb = np.where((out.instance >= 0)[..., None], out.rgb, self.background)
        rgb = np.clip(rgb + self.rng.normal(0, self.image_noise, size=rgb.shape), 0, 255).astype(np.uint8)
        detections = scores = None
        if i % self.every == 0:
            detections = perturb_poses(poses, self.rng, rot_std_deg=self.noise_rotation_deg,
                                       trans_std_m=self.noise_translation_m)
            scores = self.rng.uniform(0.6, 1.0, len(poses))
        return SequenceFrame(i, t, rgb, poses, detections, scores)
