"""The model's configuration: plain data, saved beside every checkpoint as JSON."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

# The paper's widths (Table 3); other phis follow the rule in `default_hidden_sizes`.
PAPER_HIDDEN_SIZES = {0: (256, 256, 128), 2: (384, 256, 256), 3: (512, 256, 128)}
RECURRENT_TYPES = ("lstm", "gru", "mlp")
STEM_INITS = ("repeat", "split")  # how a pretrained RGB stem takes 6 channels (backbone.pair_stem_weights)
# How the observed and rendered crops meet: "fusion" (the paper: one backbone with a 6-channel stem) or
# "correlation" (one RGB backbone per crop, correlation layers between them: model/correlation.py).
MATCHINGS = ("fusion", "correlation")


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
    input_size: tuple = (240, 320)          # (height, width) of the crops
    backbone: str = ""                      # timm name; '' = efficientnet_b{phi}
    reduce_channels: int = 0                # optional 1x1 conv before flattening (0 = the paper: none)
    with_flow: bool = True                  # FlowNetS-style decoder, training only
    pretrained_lite0: bool = False          # ImageNet weights from the efficientnet-lite0 package
    stem_init: str = "repeat"               # how the pretrained RGB stem takes 6 channels (backbone.pair_stem_weights)
    matching: str = "fusion"                # "fusion" (the paper) or "correlation" (see MATCHINGS)
    correlation_appearance: bool = False    # correlation: both crops' stride-32 features in the pose path too
    normalize_recurrent_input: bool = True  # LayerNorm + fan-in init before the recurrent layers (see recurrent.py)
    normalize_every_layer: bool = False     # LayerNorm before layers 2, 3 and the heads too (see recurrent.py)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.recurrent not in RECURRENT_TYPES:
            raise ValueError(f"recurrent must be one of {RECURRENT_TYPES}, got {self.recurrent!r}")
        if self.matching not in MATCHINGS:
            raise ValueError(f"matching must be one of {MATCHINGS}, got {self.matching!r}")
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
            self.backbone = f"efficientnet_b{self.phi}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)
