"""FlowNetS-style multi-scale optical-flow decoder (training only; DeepRM section 3.1).

As FlowNetS's refinement part: starting from the deepest feature map, predict a flow, upsample
features (transposed conv) and flow, concatenate with the backbone's skip features of the next
finer stage and repeat. Channel widths follow the backbone's stages, so the decoder scales with phi.
Flows are in pixels of the crop, predicted at strides 32, 16, 8 and 4.
"""
from __future__ import annotations

import torch
from torch import nn


def _predict_flow(channels: int) -> nn.Conv2d:
    return nn.Conv2d(channels, 2, kernel_size=3, padding=1)


def _deconv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.1))


class FlowDecoder(nn.Module):
    def __init__(self, stage_channels: list[int]):
        super().__init__()
        # stage_channels: backbone channels at strides 2, 4, 8, 16, 32
        c2, c4, c8, c16, c32 = stage_channels[-5:]
        self.predict = nn.ModuleList()
        self.deconvs = nn.ModuleList()
        self.upflows = nn.ModuleList()
        cin = c32
        for skip in (c16, c8, c4):
            self.predict.append(_predict_flow(cin))
            self.deconvs.append(_deconv(cin, skip))
            self.upflows.append(nn.ConvTranspose2d(2, 2, kernel_size=4, stride=2, padding=1, bias=False))
            cin = skip + skip + 2
        self.predict.append(_predict_flow(cin))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """features: backbone maps at strides 2..32. Returns flows coarse to fine (strides 32, 16, 8, 4)."""
        f2, f4, f8, f16, f32 = features[-5:]
        x = f32
        flows = []
        for i, skip in enumerate((f16, f8, f4)):
            flow = self.predict[i](x)
            flows.append(flow)
            up = self.deconvs[i](x)[..., : skip.shape[-2], : skip.shape[-1]]
            up_flow = self.upflows[i](flow)[..., : skip.shape[-2], : skip.shape[-1]]
            x = torch.cat([skip, up, up_flow], dim=1)
        flows.append(self.predict[-1](x))
        return flows
