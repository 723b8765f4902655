"""Training augmentation of the observed image, as CosyPose does it (blur, sharpness, contrast, brightness,
colour, noise, and the background replaced behind the annotated objects): the rendered image stays clean, so
the network learns to match a clean render against whatever a camera delivers.

Each operation fires with its own probability and draws its strength from a range; every draw comes from the
generator passed in (the sampler's per-slot generator), so a batch is the same on every run and on resume.
Factors follow PIL.ImageEnhance: 1 leaves the image as it is, 0 gives a blurred / grey / black / colourless
image, above 1 strengthens.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import cv2
import numpy as np
from PIL import Image, ImageEnhance


@dataclass
class Augmentation:
    """Probabilities and ranges; `from_config` reads the training config's data.augmentation mapping."""
    enabled: bool = False
    blur_p: float = 0.4
    blur_sigma: tuple = (0.5, 2.0)          # Gaussian, pixels
    sharpness_p: float = 0.3
    sharpness: tuple = (0.0, 4.0)
    contrast_p: float = 0.3
    contrast: tuple = (0.5, 1.8)
    brightness_p: float = 0.5
    brightness: tuple = (0.5, 1.6)
    color_p: float = 0.3
    color: tuple = (0.0, 2.0)
    noise_p: float = 0.3
    noise_std: tuple = (2.0, 10.0)          # 0..255 intensity units
    background_p: float = 0.3               # replace everything but the annotated objects
    background_dir: str = ""                # photos for it; empty: procedural textures
    _background_paths: list = field(default_factory=list, repr=False)

    @classmethod
    def from_config(cls, cfg: dict | bool | None) -> "Augmentation":
        if cfg is None or cfg is False:
            return cls(enabled=False)
        if cfg is True:
            return cls(enabled=True)
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"data.augmentation: unknown options {sorted(unknown)} (known: {sorted(known)})")
        out = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
        if out.background_dir:
            from .synthetic import list_images
            out._background_paths = list_images(out.background_dir)
        return out

    @property
    def needs_masks(self) -> bool:
        return self.enabled and self.background_p > 0

    def __call__(self, image: np.ndarray, rng, objects_mask: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> augmented copy. objects_mask (H, W) bool: pixels of the annotated objects
        (kept when the background is replaced)."""
        if not self.enabled:
            return image
        img = np.asarray(image)
        if objects_mask is not None and rng.random() < self.background_p:
            img = np.where(objects_mask[..., None], img, self._background(rng, *img.shape[:2]))
        pil = Image.fromarray(np.ascontiguousarray(img, np.uint8))
        for p, rang, enhancer in ((self.sharpness_p, self.sharpness, ImageEnhance.Sharpness),
                                  (self.contrast_p, self.contrast, ImageEnhance.Contrast),
                                  (self.brightness_p, self.brightness, ImageEnhance.Brightness),
                                  (self.color_p, self.color, ImageEnhance.Color)):
            if rng.random() < p:
                pil = enhancer(pil).enhance(float(rng.uniform(*rang)))
        out = np.asarray(pil)
        if rng.random() < self.blur_p:
            out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(*self.blur_sigma)))
        if rng.random() < self.noise_p:
            noisy = out.astype(np.float32) + rng.normal(0, rng.uniform(*self.noise_std), size=out.shape)
            out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        return out

    def _background(self, rng, h: int, w: int) -> np.ndarray:
        from .synthetic import image_background, procedural_background
        if self._background_paths:
            return image_background(rng, self._background_paths, h, w)
        return procedural_background(rng, h, w)
