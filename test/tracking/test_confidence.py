import cv2
import numpy as np

from deeprm_ros.tracking import contour_agreement


def _scene(rng):
    """A textured background with a flat disc drawn by OpenCV (the 'object'), as a (120, 160) crop."""
    img = rng.integers(90, 110, size=(120, 160, 3)).astype(np.uint8)
    cv2.circle(img, (80, 60), 35, (200, 60, 40), thickness=-1)
    return img


def _disc_mask(cx, cy, r):
    m = np.zeros((120, 160), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, thickness=-1)
    return m > 0


def test_outline_on_the_object_scores_high_and_falls_as_it_moves_off():
    img = _scene(np.random.default_rng(0))
    masks = np.stack([_disc_mask(80, 60, 35), _disc_mask(81, 60, 35), _disc_mask(92, 60, 35),
                      _disc_mask(80, 60, 25), _disc_mask(30, 30, 15)])
    c = contour_agreement(np.stack([img] * 5), masks)
    assert c[0] > 0.95 and c[1] > 0.95           # exact, and 1 px off (within the 2 px tolerance)
    assert c[2] < 0.6                             # 12 px to the side: only where the two circles cross
    assert c[3] < 0.1 and c[4] < 0.1              # too small (inside the disc), elsewhere (flat background)
    assert np.all((c >= 0) & (c <= 1))


def test_outline_along_the_crop_border_is_not_counted():
    """An object cut off by the crop's edge: its silhouette's straight side on the border is no image edge, and it
    must not count against the pose; no outline at all scores 0."""
    img = np.random.default_rng(1).integers(90, 110, size=(120, 160, 3)).astype(np.uint8)
    img[:, :60] = (200, 60, 40)                   # the object fills the left of the crop
    mask = np.zeros((120, 160), bool)
    mask[:, :60] = True
    c = contour_agreement(np.stack([img, img]), np.stack([mask, np.zeros_like(mask)]))
    assert c[0] > 0.95 and c[1] == 0.0
