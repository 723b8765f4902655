"""How far to trust a refined pose: does the model, drawn at that pose, fit the object's outline in the image?

The confidence is the share of the rendered silhouette's outline that lies on an edge of the observed image.
A pose that has locked on to its object puts its outline on the object's edges (0.9 and more on the demo
scenes); one that is shifted, turned or scaled away from it puts much of it on the object's inside or the
background. It is blind to what leaves the outline in place (a small error in depth, a turn about a symmetry
axis), and clutter with many edges raises it for every pose. The alternative of trusting a pose whose last
iterative update was small separated good from bad poses far worse in the tracking benchmark (bench/).
"""
from __future__ import annotations

import numpy as np


def contour_agreement(observed: np.ndarray, rendered_mask: np.ndarray, tolerance_px: int = 2) -> np.ndarray:
    """Share of the rendered silhouette's outline that lies on an edge of the observed image (within
    tolerance_px): near 1 when the model, drawn at the refined pose, fits the object's outline in the image;
    low when it is shifted, turned or scaled away from it. observed (B, h, w, 3) uint8 crops, rendered_mask
    (B, h, w) bool at the same crops. The outline where the silhouette touches the crop's border is not
    counted (the object is cut off there)."""
    import cv2

    kernel = np.ones((2 * tolerance_px + 1, 2 * tolerance_px + 1), np.uint8)
    out = np.zeros(len(observed))
    for i, (img, mask) in enumerate(zip(observed, rendered_mask)):
        # Edges of any colour channel: an object can differ from its background in hue alone.
        blurred = cv2.GaussianBlur(np.ascontiguousarray(img), (3, 3), 0)
        edges = np.zeros(img.shape[:2], np.uint8)
        for c in range(3):
            edges |= cv2.Canny(np.ascontiguousarray(blurred[..., c]), 30, 90)
        edges = cv2.dilate(edges, kernel) > 0
        m = mask.astype(np.uint8)
        outline = (m > 0) & (cv2.erode(m, np.ones((3, 3), np.uint8), borderValue=1) == 0)
        outline[[0, -1], :] = outline[:, [0, -1]] = False
        out[i] = edges[outline].mean() if outline.any() else 0.0
    return out
