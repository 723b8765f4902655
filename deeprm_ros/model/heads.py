"""Translation (vx, vy, vz) and rotation (quaternion) heads that start at the identity update."""
from __future__ import annotations

import torch
from torch import nn

# A raw translation output of 1 shifts the object by a quarter of the crop's width; this keeps
# the head's outputs O(0.1) for typical errors and makes them independent of the crop resolution.
PIXELS_PER_UNIT_OF_CROP_WIDTH = 0.25


class PoseHeads(nn.Module):
    def __init__(self, in_features: int, crop_width: int):
        super().__init__()
        self.translation = nn.Linear(in_features, 3)
        self.rotation = nn.Linear(in_features, 4)
        self.pixel_scale = PIXELS_PER_UNIT_OF_CROP_WIDTH * crop_width
        for layer in (self.translation, self.rotation):
            nn.init.normal_(layer.weight, std=1e-3)
            nn.init.zeros_(layer.bias)
        with torch.no_grad():
            self.rotation.bias[0] = 1.0  # quaternion (1, 0, 0, 0): no rotation

    def forward(self, x: torch.Tensor):
        """Returns (vx, vy in crop pixels, vz = z_new / z_old) and a unit quaternion (w, x, y, z)."""
        raw_t = self.translation(x)
        vxvy = raw_t[:, :2] * self.pixel_scale
        vz = torch.exp(raw_t[:, 2:3])  # DeepIM's log-depth ratio: always positive
        q = self.rotation(x)
        q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        return torch.cat([vxvy, vz], dim=-1), q
