"""Debug overlay: the refined models' outlines drawn over the camera image."""
from __future__ import annotations

import cv2
import numpy as np

COLORS = [(0, 255, 0), (255, 64, 64), (64, 160, 255), (255, 200, 0), (255, 0, 255), (0, 255, 255)]


def draw_outlines(renderer, rgb: np.ndarray, K: np.ndarray, objects, labels=None, thickness: int = 2) -> np.ndarray:
    """Render all objects at their poses, trace each visible silhouette and draw it (with a label)."""
    out = rgb.copy()
    if not objects:
        return out
    render = renderer.render_scene(K, objects)
    for i in range(len(objects)):
        mask = (render.instance == i).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        color = COLORS[i % len(COLORS)]
        cv2.drawContours(out, contours, -1, color, thickness)
        if labels and contours:
            x, y, _, _ = cv2.boundingRect(max(contours, key=cv2.contourArea))
            cv2.putText(out, labels[i], (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    return out
