"""Siamese backbone with correlation layers: a matching option beside the paper's 6-channel early fusion.

Why: the rotation update leaves no linear trace in the early-fusion maps of ImageNet features, but does in the
local correlation of the two images' features; early fusion has to learn that comparison from the pose loss
alone, and a correlation layer (FlowNetC, RAFT) hands it over at initialization (the study and its numbers:
docs/results/rotation_study.md).

Each crop goes through the same RGB EfficientNet; the cosine similarity of observed and rendered features for
small displacements is taken at strides 8 and 16, encoded down to stride 32 and joined to both images' stride-32
maps (`appearance`) or alone. The multi-scale maps it returns (observed, rendered and correlation channels side by
side) feed the pose path and the FlowNetS-style flow decoder alike, so the rest of DeepRM is unchanged.

The stride-32 map is the correlation encoding alone by default: with both images' stride-32 features beside it,
DeepRM's flattened top memorizes its training samples instead of generalizing (docs/results/rotation_study.md).
"""
from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import nn

from .backbone import IMAGENET_MEAN, IMAGENET_STD

CORRELATION_RADII = (4, 3)  # feature cells at strides 8 and 16: +-32 and +-48 crop pixels


def local_correlation(fa: torch.Tensor, fb: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, (2r+1)^2, H, W): cosine similarity of fa at each cell with fb displaced by (dx, dy), |dx|, |dy| <= r,
    displacements in row-major order (dy outer); fb is zero outside the map."""
    fa, fb = F.normalize(fa, dim=1), F.normalize(fb, dim=1)
    H, W = fa.shape[-2:]
    padded = F.pad(fb, (radius,) * 4)
    return torch.stack([(fa * padded[:, :, dy:dy + H, dx:dx + W]).sum(1)
                        for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)], dim=1)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU())


class CorrelationBackbone(nn.Module):
    """Multi-scale features (strides 2..32) of the (observed, rendered) pair, like PairBackbone's."""

    def __init__(self, name: str, radii=CORRELATION_RADII, widths=(96, 128), appearance: bool = False):
        super().__init__()
        self.appearance = appearance
        self.net = timm.create_model(name, features_only=True, in_chans=3, pretrained=False)
        c = list(self.net.feature_info.channels())[-5:]
        self.radii = tuple(radii)
        n8, n16 = ((2 * r + 1) ** 2 for r in self.radii)
        self.encode8 = _conv(n8, widths[0])              # stride 8 -> 16
        self.encode16 = _conv(widths[0] + n16, widths[1])  # stride 16 -> 32
        self.channels = [2 * c[0], 2 * c[1], 2 * c[2] + n8, 2 * c[3] + n16, widths[1] + (2 * c[4] if appearance else 0)]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, pair: torch.Tensor) -> list[torch.Tensor]:
        """pair: (B, 6, H, W) in [0, 1], observed channels first."""
        B = pair.shape[0]
        both = torch.cat([pair[:, :3], pair[:, 3:]], dim=0)
        feats = self.net((both - self.mean) / self.std)[-5:]
        obs, ren = [f[:B] for f in feats], [f[B:] for f in feats]
        c8 = local_correlation(obs[2], ren[2], self.radii[0])
        c16 = local_correlation(obs[3], ren[3], self.radii[1])
        e16 = self.encode8(c8)[..., : c16.shape[-2], : c16.shape[-1]]
        e32 = self.encode16(torch.cat([e16, c16], dim=1))[..., : obs[4].shape[-2], : obs[4].shape[-1]]
        return [torch.cat([obs[0], ren[0]], 1), torch.cat([obs[1], ren[1]], 1), torch.cat([obs[2], ren[2], c8], 1),
                torch.cat([obs[3], ren[3], c16], 1),
                torch.cat([obs[4], ren[4], e32], 1) if self.appearance else e32]
