"""Automated renderer brightness by average metering (DeepRM section 4.3).

The paper tuned the render brightness per object so that renders are well exposed, and noted that an
average-metering algorithm (as in a camera's auto-exposure) can do it automatically. Here: render the
object alone on black from six canonical views (looking along +-x, +-y, +-z of the object, centred,
spanning about half the image), take the mean intensity over the object's pixels, and find the gain
that brings it to the target. The shader clamps colours to [0, 1], so the mean is not linear in the
gain; a few multiplicative corrections converge because it is monotonic. Computed once per object.
"""
from __future__ import annotations

import numpy as np

TARGET_MEAN = 0.45           # of full scale (the bundled demo model was trained with 0.45)
GAIN_RANGE = (0.5, 4.0)      # a black or white object is not pushed to grey at any price
ITERATIONS = 4


def canonical_views(center, diameter: float, width: int, height: int):
    """(K, [T_cam_obj]): six axis-aligned views of the object centred in the image."""
    f = 1.2 * max(width, height)
    K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
    z = 2.0 * max(diameter, 1e-6) * f / min(width, height)  # the object spans about half the shorter side
    rots = [np.eye(3)]
    for axis, angle in [(0, np.pi / 2), (0, -np.pi / 2), (1, np.pi / 2), (1, -np.pi / 2), (0, np.pi)]:
        c, s = np.cos(angle), np.sin(angle)
        R = np.eye(3)
        i, j = [(1, 2), (0, 2)][axis]
        R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
        rots.append(R)
    poses = []
    for R in rots:
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = np.array([0.0, 0.0, z]) - R @ np.asarray(center, dtype=np.float64)
        poses.append(T)
    return K, poses


def mean_intensity(render_fn, K, poses, gain: float) -> float | None:
    """Mean of (R+G+B)/3 / 255 over all object pixels of all views, or None when nothing is visible."""
    total, count = 0.0, 0
    for T in poses:
        rgb, mask = render_fn(K, T, gain)
        if mask.any():
            total += rgb[mask].astype(np.float64).mean(axis=1).sum() / 255.0
            count += int(mask.sum())
    return total / count if count else None


def metering_gain(render_fn, center, diameter: float, width: int, height: int, target: float = TARGET_MEAN,
                  gain_range=GAIN_RANGE) -> float:
    """render_fn(K, T, gain) -> (rgb (H,W,3) uint8, mask (H,W) bool). Returns the clamped gain."""
    K, poses = canonical_views(center, diameter, width, height)
    gain = 1.0
    for _ in range(ITERATIONS):
        m = mean_intensity(render_fn, K, poses, gain)
        if m is None:
            return 1.0
        if abs(m - target) < 2e-3:
            break
        new = float(np.clip(gain * target / max(m, 1e-4), *gain_range))
        if new == gain:  # clamped
            break
        gain = new
    return gain
