"""Training batches: images x objects from a BOP dataset, with ground truth and DeepIM-style initial poses."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from .perturbation import training_starts


@dataclass
class Batch:
    images: np.ndarray        # (N, H, W, 3) uint8
    image_index: np.ndarray   # (B,) which image each object is in
    K: np.ndarray             # (B, 3, 3)
    obj_ids: np.ndarray       # (B,)
    T_gt: np.ndarray          # (B, 4, 4) metres
    T_init: np.ndarray        # (B, 4, 4)


def _checked_weights(weights, known_obj_ids) -> dict:
    """data.object_weights as {int obj_id: float weight}; a typo (not a mapping, an unknown object, a weight that
    is not a positive number) stops the run here, named, instead of silently drawing uniformly."""
    if not isinstance(weights, dict):
        raise ValueError(f"data.object_weights must map object ids to weights, e.g. {{2: 4.0}}; got {weights!r}")
    try:
        out = {int(o): float(w) for o, w in weights.items()}
    except (TypeError, ValueError):
        raise ValueError(f"data.object_weights must map object ids to numbers; got {weights!r}") from None
    unknown = sorted(set(out) - {int(o) for o in known_obj_ids})
    if unknown:
        raise ValueError(f"data.object_weights names objects that are not in the models: {unknown}")
    bad = {o: w for o, w in out.items() if not w > 0}
    if bad:
        raise ValueError(f"data.object_weights must be positive, got {bad}")
    return out


class BatchSampler:
    """Draws `images_per_batch` images and up to `objects_per_image` visible objects from each
    (the paper: YCB-V 16 x 4, LM-O 48 x 1).

    Each image of a step is a slot of the step's global batch, drawn from its own generator (seed, step, slot);
    process `rank` of a data-parallel run takes slots rank * n .. rank * n + n - 1. So resuming at step s draws
    exactly the batches an uninterrupted run would have drawn, and two processes of n images together draw
    what one process of 2n draws."""

    def __init__(self, dataset, images_per_batch: int, objects_per_image: int, min_visib_fract: float,
                 rotation_std_deg, translation_std_m, known_obj_ids, cache_images: bool = False,
                 rotation_model: str = "rms", augmentation=None, fine_fraction: float = 0.0, fine_scale: float = 0.2,
                 object_weights: dict | None = None):
        self.dataset = dataset
        # A share of the objects starts nearer the truth (perturbation scaled by fine_scale), drawn from its own
        # generator (seed, step, slot, 2): with fine_fraction 0 every batch is what it was without the option.
        self.fine_fraction, self.fine_scale = float(fine_fraction), float(fine_scale)
        self.augmentation = augmentation  # data.augmentation.Augmentation, or None
        # {obj_id: weight} for drawing the objects of an image (data.object_weights); empty: uniform, as before
        self.object_weights = _checked_weights(object_weights or {}, known_obj_ids)
        self.images_per_batch = images_per_batch
        self.objects_per_image = objects_per_image
        self.rotation_std_deg = rotation_std_deg
        self.rotation_model = rotation_model
        self.translation_std_m = tuple(translation_std_m)
        self.cache = {} if cache_images else None
        per_image = defaultdict(list)
        self.annotated = defaultdict(list)  # every annotated instance of an image (background replacement)
        for rec in dataset.samples:
            self.annotated[(rec.scene_id, rec.im_id)].append(rec.gt_index)
            if rec.visib_fract >= min_visib_fract and rec.obj_id in known_obj_ids:
                per_image[(rec.scene_id, rec.im_id)].append(rec)
        self.keys = sorted(per_image)
        self.per_image = per_image
        if not self.keys:
            raise ValueError(f"no image of {dataset} has an object with visib_fract >= {min_visib_fract}")

    def __len__(self):
        return len(self.keys)

    def _image(self, key):
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        img = self.dataset.load_image(*key)
        if self.cache is not None:
            self.cache[key] = img
        return img

    def _objects_mask(self, key) -> np.ndarray:
        ckey = ("mask",) + key
        if self.cache is not None and ckey in self.cache:
            return self.cache[ckey]
        mask = np.any([self.dataset.load_mask_visib(*key, g) for g in self.annotated[key]], axis=0)
        if self.cache is not None:
            self.cache[ckey] = mask
        return mask

    def _observed(self, key, seed: int, step: int, slot: int) -> np.ndarray:
        """The image, augmented when augmentation is on, from its own generator (seed, step, slot, 1): turning
        augmentation on changes no image, object or initial pose that is drawn."""
        img = self._image(key)
        aug = self.augmentation
        if aug is None or not aug.enabled:
            return img
        mask = self._objects_mask(key) if aug.needs_masks else None
        return aug(img, np.random.default_rng([seed, step, slot, 1]), mask)

    def _object_probabilities(self, recs) -> np.ndarray | None:
        if not self.object_weights:
            return None
        w = np.array([self.object_weights.get(int(r.obj_id), 1.0) for r in recs])
        return w / w.sum()

    def sample(self, seed: int, rank: int, step: int) -> Batch:
        images, index, Ks, ids, poses, inits = [], [], [], [], [], []
        for n in range(self.images_per_batch):
            slot = rank * self.images_per_batch + n
            rng = np.random.default_rng([seed, step, slot])
            key = self.keys[int(rng.integers(len(self.keys)))]
            recs = self.per_image[key]
            pick = rng.choice(len(recs), size=min(self.objects_per_image, len(recs)), replace=False,
                              p=self._object_probabilities(recs))
            images.append(self._observed(key, seed, step, slot))
            T_gt = np.stack([recs[p].T_cam_obj for p in pick]).astype(np.float64)
            for p in pick:
                index.append(n)
                Ks.append(recs[p].K)
                ids.append(recs[p].obj_id)
            poses.append(T_gt)
            inits.append(training_starts(T_gt, rng, self.rotation_std_deg, self.translation_std_m,
                                         self.rotation_model, self.fine_fraction, self.fine_scale,
                                         fine_rng=np.random.default_rng([seed, step, slot, 2])))
        return Batch(np.stack(images), np.asarray(index), np.stack(Ks).astype(np.float64),
                     np.asarray(ids), np.concatenate(poses), np.concatenate(inits))

def symmetry_tensor(models: dict, obj_ids, n_continuous: int) -> torch.Tensor:
    """(B, S_max, 4, 4) symmetric transforms per object, padded with the identity (harmless in a min)."""
    per = [np.asarray(models[int(o)].symmetry_transforms(n_continuous)) for o in obj_ids]
    s_max = max(len(p) for p in per)
    out = np.tile(np.eye(4), (len(per), s_max, 1, 1))
    for i, p in enumerate(per):
        out[i, : len(p)] = p
    return torch.as_tensor(out, dtype=torch.float32)


def points_tensor(models: dict, obj_ids, n_points: int) -> torch.Tensor:
    return torch.stack([torch.as_tensor(models[int(o)].points[:n_points], dtype=torch.float32) for o in obj_ids])
