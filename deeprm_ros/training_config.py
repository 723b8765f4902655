"""Training configuration: YAML in config/, read once, merged over these defaults, checked for typos."""
from __future__ import annotations

import copy
import re
from dataclasses import fields
from pathlib import Path

import yaml

from .data.augmentation import Augmentation
from .data.perturbation import ROTATION_STD_DEG, TRANSLATION_STD_M
from .meshes.object_model import N_CONTINUOUS_SYMMETRIES

AUGMENTATION_DEFAULTS = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
                         for f in fields(Augmentation) if not f.name.startswith("_")}
DEFAULTS = {
    "model": {},  # ModelConfig fields
    "data": {
        "root": "",                 # BOP dataset root (holds models/ and the split folders)
        "split": "train_pbr",       # a split name or a list of names
        "models_dir": "models",     # relative to root, or absolute
        "mesh_unit": "mm",
        "min_visib_fract": 0.1,
        "images_per_batch": 16,
        "objects_per_image": 4,
        "cache_images": False,      # keep decoded images in memory (small datasets)
        # {obj_id: weight}: how likely each object of an image is among the objects_per_image drawn (default 1);
        # for an object the model refines worst. {} draws uniformly (and the batches are what they always were).
        "object_weights": {},
        # CosyPose-style augmentation of the observed image (data/augmentation.py): enabled, then for each of
        # blur, sharpness, contrast, brightness, color, noise, background: a probability (_p) and a range
        "augmentation": AUGMENTATION_DEFAULTS,
    },
    # rotation_model: rms | deepim_euler | inplane | axes (then rotation_std_deg is [x, y, z]); data/perturbation.py
    # fine_fraction: the share of objects whose perturbation is scaled by fine_scale (near-correct starts, as a
    # tracker gives; data/batches.py)
    "perturbation": {"rotation_std_deg": ROTATION_STD_DEG, "translation_std_m": list(TRANSLATION_STD_M),
                     "rotation_model": "rms", "fine_fraction": 0.0, "fine_scale": 0.2},
    # Sequence steps (data/sequence_batches.py): every `every`-th step (0: none) trains the recurrent state as the
    # tracker uses it: `frames` consecutive frames of rendered moving objects at `rate_hz` (times a speed drawn
    # from `speed`), frame 0 from a perturbed pose with `first_iterations`, each later frame from the previous
    # frame's result and state with `iterations`, the loss over every iteration of every frame, gradients
    # through the carried state. The perturbation section sets frame 0's starts.
    "sequence": {"every": 0, "frames": 4, "rate_hz": 10.0, "first_iterations": 4, "iterations": 2,
                 "images_per_batch": 4, "objects_per_image": 2, "speed": [0.5, 2.0]},
    "optim": {
        "lr": 1.0e-4, "epochs": 20, "steps_per_epoch": 0,  # 0: one pass over the dataset's images
        "milestones": [10, 15], "gamma": 0.1, "warmup_epochs": 0, "warmup_factor": 0.1,
        "grad_clip": 10.0,
    },
    "loss": {"flow_weight": 0.1, "rotation_weight": 0.0, "n_points": 500, "n_continuous_symmetries": N_CONTINUOUS_SYMMETRIES,
             "iteration_gamma": 1.0},   # < 1: later unrolled iterations weigh more (train.iteration_weights)
    "train": {
        "iterations": 6, "amp": True, "seed": 0, "checkpoint_every_steps": 500, "log_every_steps": 20,
        "threads": 0, "device": "auto", "max_steps": 0,
        "max_seconds": 0,    # stop (with a checkpoint) after this much wall time; 0 = no limit; resumable
        "init_weights": "",  # a checkpoint folder (e.g. the bundled one) to start from when not resuming
        # Keep BatchNorm's running statistics (ImageNet's, with model.pretrained) instead of each step's crops:
        # for small batches per process; a crop's step then no longer depends on the other crops of its process.
        "freeze_batchnorm": False,
    },
}


class _Loader(yaml.SafeLoader):
    """YAML as people write it: PyYAML follows YAML 1.1, which reads `3e-4` (no dot) as a string; read it as 1.2
    does, a float."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                              list("-+0123456789."))


class ConfigError(ValueError):
    pass


def _merge(base: dict, update: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        if where != "model" and key not in base:
            raise ConfigError(f"unknown option {where}.{key} (known: {sorted(base)})")
        # An empty default mapping (model, data.object_weights) takes the user's keys as they are.
        if isinstance(base.get(key), dict) and base[key] and isinstance(value, dict):
            out[key] = _merge(base[key], value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def apply_override(config: dict, assignment: str) -> None:
    """`section.key=value` with a YAML value, e.g. `optim.lr=3e-4` or `data.split=[a,b]`."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} is not section.key=value")
    dotted, raw = assignment.split("=", 1)
    parts = dotted.split(".")
    node = config
    for p in parts[:-1]:
        if p not in node or not isinstance(node[p], dict):
            raise ConfigError(f"override {dotted!r}: no section {p!r}")
        node = node[p]
    if parts[0] != "model" and parts[-1] not in node:
        raise ConfigError(f"override {dotted!r}: unknown option")
    node[parts[-1]] = yaml.load(raw, Loader=_Loader)


def load_training_config(path, overrides=()) -> dict:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_Loader) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the training config ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    config = {}
    for section, defaults in DEFAULTS.items():
        config[section] = _merge(defaults, data.get(section, {}), section)
    unknown = set(data) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"{path}: unknown sections {sorted(unknown)}")
    for o in overrides:
        apply_override(config, o)
    return config
