import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from deeprm_ros.geometry import (apply_pose_update, crop_and_resize, crop_intrinsics, deepim_boxes,
                                 pose_update_target, project_points, transform_points)

K = np.array([[600.0, 0, 320.5], [0, 610.0, 239.0], [0, 0, 1]])


def _pose(rotvec, t):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def test_projection_matches_opencv():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.05, 0.05, size=(50, 3))
    T = _pose([0.3, -0.2, 0.5], [0.02, -0.03, 0.6])
    ref, _ = cv2.projectPoints(pts, cv2.Rodrigues(T[:3, :3])[0], T[:3, 3], K, None)
    ours = project_points(transform_points(torch.tensor(T)[None], torch.tensor(pts)), torch.tensor(K)[None])
    np.testing.assert_allclose(ours[0].numpy(), ref[:, 0], atol=1e-9)


def test_deepim_box_hand_case():
    # A square of half-size 0.05 m at z = 1 m, fx = fy = 100, centred at (cx, cy) = (50, 40):
    # projected half-extent 5 px in x and y. r = 4/3: width = 2*1.4*max(5, 5*4/3), height = 2*1.4*max(5*3/4, 5).
    Kh = torch.tensor([[[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]]])
    pts = torch.tensor([[-0.05, -0.05, 0], [0.05, 0.05, 0], [0.05, -0.05, 0], [-0.05, 0.05, 0]])
    T = torch.eye(4)[None]
    T[0, 2, 3] = 1.0
    box = deepim_boxes(Kh, pts, T)[0].numpy()
    w, h = 2 * 1.4 * 5 * 4 / 3, 2 * 1.4 * 5
    np.testing.assert_allclose(box, [50 - w / 2, 40 - h / 2, 50 + w / 2, 40 + h / 2], atol=1e-5)
    assert abs((box[2] - box[0]) / (box[3] - box[1]) - 4 / 3) < 1e-6


def test_crop_intrinsics_agree_with_crop_and_resize():
    """A Gaussian blob drawn at the OpenCV projection of a point must appear, after the crop, where
    the crop intrinsics project that point."""
    H, W = 480, 640
    T = _pose([0.1, 0.4, -0.2], [0.03, -0.02, 0.5])
    point = np.array([[0.01, 0.02, -0.01]])
    uv, _ = cv2.projectPoints(point, cv2.Rodrigues(T[:3, :3])[0], T[:3, 3], K, None)
    u, v = uv[0, 0]
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * 6.0 ** 2)).astype(np.float32)
    Kt = torch.tensor(K, dtype=torch.float32)[None]
    box = torch.tensor([[u - 70.3, v - 40.1, u + 90.2, v + 80.6]], dtype=torch.float32)  # non-square, off-centre
    crop = crop_and_resize(torch.tensor(img)[None, None], box, (120, 160))[0, 0].numpy()
    Kc = crop_intrinsics(Kt, box, (120, 160))
    expect = project_points(transform_points(torch.tensor(T, dtype=torch.float32)[None],
                                             torch.tensor(point, dtype=torch.float32)), Kc)[0, 0].numpy()
    ys, xs = np.mgrid[0:120, 0:160]
    wgt = crop / crop.sum()
    centroid = np.array([(wgt * xs).sum(), (wgt * ys).sum()])
    np.testing.assert_allclose(centroid, expect, atol=0.05)


def test_update_then_inverse_is_identity_and_reaches_target():
    rng = np.random.default_rng(5)
    T_in = torch.tensor(np.stack([_pose(rng.normal(size=3), [rng.normal() * 0.05, rng.normal() * 0.05, 0.7])
                                  for _ in range(16)]))
    T_gt = torch.tensor(np.stack([_pose(rng.normal(size=3), [rng.normal() * 0.05, rng.normal() * 0.05, 0.6])
                                  for _ in range(16)]))
    Kc = torch.tensor(K)[None].repeat(16, 1, 1)
    Kc[:, 0, 0] *= 1.7
    vxyz, q = pose_update_target(T_in, T_gt, Kc)
    np.testing.assert_allclose(apply_pose_update(T_in, vxyz, q, Kc).numpy(), T_gt.numpy(), atol=1e-9)
    # Zero update is the identity.
    ident = apply_pose_update(T_in, torch.tensor([[0.0, 0.0, 1.0]]).repeat(16, 1).double(),
                              torch.tensor([[1.0, 0, 0, 0]]).repeat(16, 1).double(), Kc)
    np.testing.assert_allclose(ident.numpy(), T_in.numpy(), atol=1e-12)


def test_update_hand_case():
    # Object at (0, 0, 1); vx = 10 px with fx = 100 and vz = 2: z -> 2, x = (10/100 + 0) * 2 = 0.2.
    T = torch.eye(4, dtype=torch.float64)[None]
    T[0, 2, 3] = 1.0
    Kc = torch.tensor([[[100.0, 0, 0], [0, 100.0, 0], [0, 0, 1]]], dtype=torch.float64)
    out = apply_pose_update(T, torch.tensor([[10.0, 0.0, 2.0]], dtype=torch.float64),
                            torch.tensor([[1.0, 0, 0, 0]], dtype=torch.float64), Kc)
    np.testing.assert_allclose(out[0, :3, 3].numpy(), [0.2, 0.0, 2.0])


def test_both_crop_paths_read_the_same_points_as_roi_align():
    """Crops that enlarge the image take grid_sample, crops that shrink it roi_align; the enlarging path
    must give what roi_align (the reference, torchvision) gives for the same box, borders included."""
    from torchvision.ops import roi_align

    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 48, 64, generator=g)
    boxes = torch.tensor([[10.3, 5.7, 40.1, 28.2],      # inside, enlarged
                          [-8.0, -6.5, 20.0, 15.0],      # over the top-left border
                          [50.2, 30.1, 75.0, 52.3],      # over the bottom-right border
                          [-30.0, -20.0, -10.0, -5.0],   # entirely outside: zeros
                          [0.0, 0.0, 64.0, 48.0]])       # shrinks 64x48 -> 32x24: roi_align path
    index = torch.tensor([0, 1, 0, 1, 1])
    out_size = (24, 32)
    rois = torch.cat([index.float()[:, None], boxes + 0.5], dim=1)
    expect = roi_align(images, rois, output_size=out_size, spatial_scale=1.0, sampling_ratio=0, aligned=True)
    got = crop_and_resize(images, boxes, out_size, index)
    torch.testing.assert_close(got, expect, atol=1e-5, rtol=1e-5)
    assert float(got[3].abs().max()) == 0.0
    torch.testing.assert_close(crop_and_resize(images, boxes[:4], out_size, index[:4]), expect[:4], atol=1e-5, rtol=1e-5)


def test_a_pose_at_the_camera_plane_gets_a_capped_finite_box_and_others_keep_theirs():
    """An object whose points reach the camera plane (z ~ 0) or a non-finite pose projects to huge or NaN pixels:
    its box is capped at 8 image widths (2 cx) and finite, so cropping it allocates a bounded amount (an
    evaluation on path-traced images ran out of memory in roi_align before); the normal pose in the same batch
    gets the same box as alone (the hand case above)."""
    from deeprm_ros.geometry.crop import MAX_CROP_IMAGES

    Kb = torch.tensor([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]]).repeat(3, 1, 1)
    pts = torch.tensor([[-0.05, -0.05, 0], [0.05, 0.05, 0], [0.05, -0.05, 0], [-0.05, 0.05, 0], [0.01, 0.01, -0.3]])
    T = torch.eye(4).repeat(3, 1, 1)
    T[:, 2, 3] = torch.tensor([1.0, 0.3 + 1e-7, float("nan")])   # ok, one point at z = 1e-7, not finite
    boxes = deepim_boxes(Kb, pts, T)
    assert torch.isfinite(boxes).all()
    limit = MAX_CROP_IMAGES * 2 * 50
    widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert float(widths[1]) == limit and float(widths[2]) == limit
    np.testing.assert_allclose((widths / heights).numpy(), 4 / 3, rtol=1e-6)
    alone = deepim_boxes(Kb[:1], pts, T[:1])
    np.testing.assert_allclose(boxes[0].numpy(), alone[0].numpy(), rtol=1e-6)
    crops = crop_and_resize(torch.rand(1, 3, 80, 100), boxes, (24, 32), torch.zeros(3, dtype=torch.long))
    assert crops.shape == (3, 3, 24, 32) and torch.isfinite(crops).all()
