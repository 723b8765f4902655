"""Automated renderer brightness by average metering (DeepRM section 4.3).

The paper tuned, per object, the brightness of the render so that it is well exposed, and noted that
an average-metering algorithm (as in a camera's auto-exposure) can do it. Here: render the object on
black from a few canonical views with unit gain, take the mean intensity over its pixels, and choose
the gain that brings it to a target. Computed once per object, then used for every render.
"""
from __future__ import annotations

import numpy as np

from ..geometry import axis_angle_to_matrix

TARGET_MEAN = 0.45
GAIN_RANGE = (0.5, 4.0)
VIEWS = [(0, 0, 0), (np.pi / 2, 0, 0), (-np.pi / 2, 0, 0), (0, np.pi / 2, 0), (0, -np.pi / 2, 0), (np.pi, 0, 0)]


def metering_gain(render_fn, diameter: float, width: int, height: int, target: float = TARGET_MEAN) -> float:
    """render_fn(K, T) -> (rgb uint8, mask) at unit gain; returns the clamped gain."""
    f = 1.2 * width
    K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
    z = 2.0 * diameter * f / min(width, height)  # the object spans about half the shorter side
    values = []
    for rv in VIEWS:
        T = np.eye(4)
        T[:3, :3] = axis_angle_to_matrix(np.asarray(rv, dtype=np.float64))
        T[2, 3] = z
        rgb, mask = render_fn(K, T)
        if mask.any():
            values.append(rgb[mask].astype(np.float64).mean() / 255.0)
    if not values or np.mean(values) <= 1e-3:
        return 1.0
    return float(np.clip(target / np.mean(values), *GAIN_RANGE))
