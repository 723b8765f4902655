"""CosyPose-style crops (DeepRM section 3.3): box around the object, intrinsics of the crop, batched resize.

Box convention: (x1, y1, x2, y2) are the outer edges of the crop in image coordinates whose pixel
centres are integers, so output pixel j of an output W pixels wide samples u = x1 + (j + 0.5) * (x2 - x1) / W.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from .camera import project_points, transform_points

CROP_SIZE = (240, 320)  # (height, width): the paper's 240x320 network input


def _box_of(uv):
    return torch.cat([uv.min(dim=1).values, uv.max(dim=1).values], dim=-1)  # (B, 4)


MAX_CROP_IMAGES = 8


def deepim_boxes(K, points, T_input, T_rendered=None, lamb: float = 1.4, out_size=CROP_SIZE):
    """Crop boxes (B, 4) centred on the projected object origin of the rendered pose.

    As CosyPose's `deepim_boxes`: the half-extents are the largest distances from the centre to
    the edges of the boxes of the projected model points at the input and rendered poses; the
    box has the output's aspect ratio r = W/H (4:3) and is enlarged by lambda = 1.4.
    points: (N, 3) model points shared by the batch, or (B, N, 3).
    """
    if T_rendered is None:
        T_rendered = T_input
    r = out_size[1] / out_size[0]
    centre = project_points(T_rendered[:, None, :3, 3], K)[:, 0]  # (B, 2)
    boxes = torch.stack([
        _box_of(project_points(transform_points(T_input, points), K)),
        _box_of(project_points(transform_points(T_rendered, points), K)),
    ], dim=1)  # (B, 2, 4)
    xc, yc = centre[:, 0:1], centre[:, 1:2]
    xdist = torch.cat([(boxes[..., 0] - xc).abs(), (boxes[..., 2] - xc).abs()], dim=1).max(dim=1).values
    ydist = torch.cat([(boxes[..., 1] - yc).abs(), (boxes[..., 3] - yc).abs()], dim=1).max(dim=1).values
    width = 2 * lamb * torch.maximum(xdist, ydist * r)
    # A pose with model points at or behind the camera plane projects them to huge or non-finite pixels: its
    # crop is capped at MAX_CROP_IMAGES image widths (a crop that large holds no usable pixels anyway; without
    # the cap, resampling a 1e7-pixel box exhausts memory). The refiner then moves the pose back or it is
    # reported as lost; no other object in the batch is affected.
    limit = MAX_CROP_IMAGES * 2 * K[:, 0, 2].abs().clamp(min=1.0)
    width = torch.nan_to_num(width, nan=float(limit.max()), posinf=float(limit.max())).clamp(max=limit)
    height = width / r
    xc = torch.nan_to_num(centre[:, 0], nan=0.0).clamp(-limit, limit)
    yc = torch.nan_to_num(centre[:, 1], nan=0.0).clamp(-limit, limit)
    return torch.stack([xc - width / 2, yc - height / 2, xc + width / 2, yc + height / 2], dim=-1)


def crop_intrinsics(K, boxes, out_size=CROP_SIZE):
    """Intrinsics (B, 3, 3) of the crops: a point at pixel u of the image lands at (u - x1) / s - 0.5."""
    h, w = out_size
    sx = (boxes[:, 2] - boxes[:, 0]) / w
    sy = (boxes[:, 3] - boxes[:, 1]) / h
    Kc = K.clone()
    Kc[:, 0, 0] = K[:, 0, 0] / sx
    Kc[:, 0, 1] = K[:, 0, 1] / sx
    Kc[:, 0, 2] = (K[:, 0, 2] - boxes[:, 0]) / sx - 0.5
    Kc[:, 1, 1] = K[:, 1, 1] / sy
    Kc[:, 1, 2] = (K[:, 1, 2] - boxes[:, 1]) / sy - 0.5
    return Kc


def crop_and_resize(images, boxes, out_size=CROP_SIZE, image_index=None):
    """Bilinear crop-and-resize of (N, C, H, W) images to (B, C, h, w), one sample per output pixel at
    u = x1 + (j + 0.5) * (x2 - x1) / w (likewise v), or an average of several where the crop shrinks the image.

    image_index (B,) selects the source image of each box (default: box i from image i), so one
    camera frame serves all of its objects without copies. Boxes that enlarge the image (the usual
    case: an object smaller than the crop) take one sample per pixel; they go through grid_sample,
    which runs on all cores (torchvision's roi_align runs on one: 24 ms against about 5 for 8 crops
    of 240x320 on 2 cores). Boxes that shrink it go through roi_align with sampling_ratio=0, which
    averages ceil(box / crop) samples per bin against aliasing. Both read the same points and treat the
    image border alike (samples within a pixel outside it repeat the edge, farther out are 0), so
    the path taken does not change the result (test/geometry/test_crop_and_update.py).
    """
    if image_index is None:
        image_index = torch.arange(boxes.shape[0], device=boxes.device)
    image_index = image_index.to(boxes.device)
    h, w = out_size
    shrinks = ((boxes[:, 2] - boxes[:, 0]) > w) | ((boxes[:, 3] - boxes[:, 1]) > h)
    if not bool(shrinks.any()):
        return _resample(images, boxes, out_size, image_index)
    if bool(shrinks.all()):
        return _roi_align(images, boxes, out_size, image_index)
    out = images.new_empty(boxes.shape[0], images.shape[1], h, w)
    out[~shrinks] = _resample(images, boxes[~shrinks], out_size, image_index[~shrinks])
    out[shrinks] = _roi_align(images, boxes[shrinks], out_size, image_index[shrinks])
    return out


def _roi_align(images, boxes, out_size, image_index):
    """roi_align with aligned=True samples at x1' - 0.5 + (j + 0.5) * s; x1' = x1 + 0.5 is our convention."""
    rois = torch.cat([image_index.to(boxes.dtype)[:, None], boxes + 0.5], dim=1)
    return roi_align(images, rois.to(images.dtype), output_size=out_size, spatial_scale=1.0,
                     sampling_ratio=0, aligned=True)


def _resample(images, boxes, out_size, image_index):
    """One bilinear sample per output pixel with grid_sample, border handling as roi_align's."""
    h, w = out_size
    H, W = images.shape[-2:]
    steps = lambda n: (torch.arange(n, device=boxes.device, dtype=boxes.dtype) + 0.5) / n  # noqa: E731
    u = boxes[:, 0:1] + steps(w) * (boxes[:, 2:3] - boxes[:, 0:1])  # (B, w) pixel coordinates
    v = boxes[:, 1:2] + steps(h) * (boxes[:, 3:4] - boxes[:, 1:2])  # (B, h)
    # grid_sample (align_corners=False) reads pixel p at (2p + 1) / size - 1; 'border' repeats the edge.
    gx = ((2 * u + 1) / W - 1).to(images.dtype)
    gy = ((2 * v + 1) / H - 1).to(images.dtype)
    grid = torch.stack([gx[:, None, :].expand(-1, h, -1), gy[:, :, None].expand(-1, -1, w)], dim=-1)
    out = images.new_empty(boxes.shape[0], images.shape[1], h, w)
    for i in torch.unique(image_index).tolist():
        sel = (image_index == i).nonzero().squeeze(1)
        src = images[i:i + 1].expand(len(sel), -1, -1, -1)
        out[sel] = F.grid_sample(src, grid[sel], mode="bilinear", padding_mode="border", align_corners=False)
    inside = ((v >= -1) & (v <= H))[:, None, :, None] & ((u >= -1) & (u <= W))[:, None, None, :]
    return out.mul_(inside.to(out.dtype))
