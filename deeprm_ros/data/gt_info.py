"""scene_gt_info.json entries exactly as the BOP toolkit's `calc_gt_info.py` computes them, for both generators.

What BOP does and a straightforward version would not:
- the whole silhouette is rendered on a canvas three times the image size with the image in its middle, so an
  object cut off by the image edge keeps its full `px_count_all` and an unclipped `bbox_obj` (which may start
  at negative coordinates); `visib_fract` = px_count_visib / px_count_all is then the visible share of the
  whole object, not of its part inside the image;
- `px_count_valid` counts the silhouette's pixels inside the image that have a depth measurement;
- a box is [x_min, y_min, x_max - x_min, y_max - y_min] (`misc.calc_2d_bbox`: max minus min, not + 1);
- both boxes are [-1, -1, -1, -1] when no pixel of the object is visible.
"""
from __future__ import annotations

import numpy as np

NO_BOX = [-1, -1, -1, -1]


def bop_bbox(xs, ys) -> list[int]:
    """BOP's 2D box of pixel coordinates: [x, y, w, h] with w = x_max - x_min, h = y_max - y_min."""
    xs, ys = np.asarray(xs), np.asarray(ys)
    if xs.size == 0:
        return list(NO_BOX)
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) - x0, int(ys.max()) - y0]


def full_silhouettes(renderer, K, objects, width: int, height: int) -> np.ndarray:
    """(N, 3H, 3W) bool: each object alone on the canvas of three times the image size, the image at its
    centre (pixel (u, v) of the image is (u + W, v + H) of the canvas)."""
    K_large = np.asarray(K, np.float64).copy()
    K_large[0, 2] += width
    K_large[1, 2] += height
    if not objects:
        return np.zeros((0, 3 * height, 3 * width), bool)
    _, depth = renderer.render_each(K_large, [o for o, _ in objects], np.stack([T for _, T in objects]),
                                    size=(3 * height, 3 * width))
    return depth > 0


def visible_inside_silhouettes(visible_masks, silhouettes_large) -> list[np.ndarray]:
    """Each visible mask restricted to its object's own silhouette (the image part of the large render), as BOP
    derives its visibility from that render: the two rasterizations of one object differ by a pixel on the
    outline, which would otherwise make px_count_visib exceed px_count_all."""
    if len(visible_masks) == 0:
        return []
    h, w = np.asarray(visible_masks[0]).shape
    return [np.asarray(v, bool) & large[h:2 * h, w:2 * w] for v, large in zip(visible_masks, silhouettes_large)]


def gt_info_entries(silhouettes_large, visible_masks, depth, width: int, height: int) -> list[dict]:
    """One scene_gt_info entry per object. silhouettes_large: from full_silhouettes; visible_masks (N, H, W)
    bool; depth (H, W) the image's depth (0 = no measurement)."""
    entries = []
    valid_depth = np.asarray(depth) > 0
    for large, visib in zip(silhouettes_large, visible_masks):
        inside = large[height:2 * height, width:2 * width]
        n_all, n_visib = int(large.sum()), int(visib.sum())
        box_obj, box_visib = list(NO_BOX), list(NO_BOX)
        if n_visib > 0:
            ys, xs = np.nonzero(large)
            box_obj = bop_bbox(xs - width, ys - height)
            ys, xs = np.nonzero(visib)
            box_visib = bop_bbox(xs, ys)
        entries.append({"bbox_obj": box_obj, "bbox_visib": box_visib, "px_count_all": n_all,
                        "px_count_valid": int((inside & valid_depth).sum()), "px_count_visib": n_visib,
                        "visib_fract": float(n_visib / n_all) if n_all else 0.0})
    return entries
