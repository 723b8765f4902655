"""EfficientNet backbone (timm) with a 6-channel stem for the observed+rendered pair."""
from __future__ import annotations

import timm
import torch
from torch import nn

from .config import STEM_INITS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PairBackbone(nn.Module):
    """Multi-scale features (strides 2..32) of the 6-channel (observed, rendered) crop pair."""

    def __init__(self, name: str):
        super().__init__()
        self.net = timm.create_model(name, features_only=True, in_chans=6, pretrained=False)
        self.channels = list(self.net.feature_info.channels())
        mean = torch.tensor(IMAGENET_MEAN * 2).view(1, 6, 1, 1)
        std = torch.tensor(IMAGENET_STD * 2).view(1, 6, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, pair: torch.Tensor) -> list[torch.Tensor]:
        """pair: (B, 6, H, W) in [0, 1]."""
        return self.net((pair - self.mean) / self.std)


def pair_stem_weights(rgb_weight: torch.Tensor, mode: str = "repeat") -> torch.Tensor:
    """Widen a pretrained RGB stem (C, 3, k, k) to the (C, 6, k, k) observed+rendered stem.

    "repeat" (timm's adapt_input_conv) gives both images the same weights at half scale, so the first
    layer sees only (observed + rendered) / 2: swapping the two images changes nothing, yet the
    update's sign depends on which is which. The network has to break that symmetry through the stem's
    gradients alone.
    "split" keeps each pretrained filter whole but feeds it one image: even output channels see the
    observed crop, odd ones the rendered crop, so both images reach the later layers separately.
    """
    if mode == "repeat":
        from timm.models import adapt_input_conv
        return adapt_input_conv(6, rgb_weight)
    if mode != "split":
        raise ValueError(f"stem_init must be one of {STEM_INITS}, got {mode!r}")
    out = rgb_weight.new_zeros(rgb_weight.shape[0], 6, *rgb_weight.shape[2:])
    out[0::2, :3] = rgb_weight[0::2]
    out[1::2, 3:] = rgb_weight[1::2]
    return out
