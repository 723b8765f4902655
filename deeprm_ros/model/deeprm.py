"""The DeepRM network (Fig. 3): backbone -> flatten -> 3 recurrent FC layers -> pose heads.

One forward call is one refinement iteration (like RAFT's update block); the loop over
iterations lives in `deeprm_ros.refiner`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .backbone import PairBackbone
from .config import ModelConfig
from .correlation import CorrelationBackbone
from .flow_decoder import FlowDecoder
from .heads import PoseHeads
from .pretrained import load_imagenet
from .recurrent import RecurrentStack


@dataclass
class StepOutput:
    translation: torch.Tensor       # (B, 3): vx, vy in crop pixels, vz = z_new / z_old
    quaternion: torch.Tensor        # (B, 4) unit, (w, x, y, z)
    state: tuple                    # new recurrent state
    flows: list | None = None       # training only: flows at strides 32, 16, 8, 4


class DeepRM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.matching == "correlation":
            self.backbone = CorrelationBackbone(config.backbone, appearance=config.correlation_appearance)
        else:
            self.backbone = PairBackbone(config.backbone)
        if config.pretrained:
            load_imagenet(self.backbone, config.backbone, config.pretrained_file, config.stem_init)
        c_last = self.backbone.channels[-1]
        self.reduce = None
        if config.reduce_channels:
            self.reduce = nn.Sequential(nn.Conv2d(c_last, config.reduce_channels, 1), nn.ReLU())
            c_last = config.reduce_channels
        h, w = config.input_size
        self.flat_features = c_last * _stride32_size(h) * _stride32_size(w)
        self.recurrent = RecurrentStack(config.recurrent, self.flat_features, config.hidden_sizes,
                                        config.normalize_recurrent_input, config.normalize_every_layer)
        self.heads = PoseHeads(self.recurrent.out_features, crop_width=w)
        self.flow_decoder = FlowDecoder(self.backbone.channels) if config.with_flow else None

    def zero_state(self, batch: int, device=None):
        return self.recurrent.zero_state(batch, device)

    @property
    def state_widths(self) -> list:
        """Width of each recurrent state tensor (h, c per LSTM layer; h per GRU layer; none for the MLP)."""
        return self.recurrent.state_widths

    def forward(self, pair: torch.Tensor, state: tuple | None = None, with_flow: bool = False) -> StepOutput:
        """pair: (B, 6, H, W) observed and rendered crops in [0, 1]."""
        features = self.backbone(pair)
        x = features[-1]
        if self.reduce is not None:
            x = self.reduce(x)
        x, new_state = self.recurrent(x.flatten(1), state)
        translation, quaternion = self.heads(x)
        flows = None
        if with_flow:
            if self.flow_decoder is None:
                raise RuntimeError("this model was built without the flow decoder (inference model)")
            flows = self.flow_decoder(features)
        return StepOutput(translation, quaternion, new_state, flows)

    def without_flow(self) -> "DeepRM":
        """Drop the training-only flow decoder (the inference model)."""
        self.flow_decoder = None
        self.config.with_flow = False
        return self


def _stride32_size(n: int) -> int:
    """Size of the last feature map: five stride-2 convolutions, each ceil(n / 2) (240x320 -> 8x10)."""
    for _ in range(5):
        n = (n + 1) // 2
    return n


def create_model(phi: int = 3, recurrent: str = "lstm", **kwargs) -> DeepRM:
    """timm-style factory: `create_model(phi=0, recurrent='gru', with_flow=False)`."""
    return DeepRM(ModelConfig(phi=phi, recurrent=recurrent, **kwargs))


def count_parameters(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())
