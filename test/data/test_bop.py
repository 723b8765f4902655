"""BOP reader on a hand-written fixture in the official layout, and writer -> reader round trips."""
import json

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from deeprm_ros.data.bop import BopDataset
from deeprm_ros.data.bop_writer import BopWriter, gt_entry

H, W = 6, 8


@pytest.fixture
def lmo_like(tmp_path):
    """LM-O-like dataset written by hand from literal dicts (not by BopWriter): one test scene 000002, image 3 with
    two objects (obj 1 and obj 5; the targets list only obj 5), image 4 with obj 1 only (not a target)."""
    root = tmp_path / "lmo"
    scene = root / "test" / "000002"
    for sub in ("rgb", "depth", "mask_visib"):
        (scene / sub).mkdir(parents=True)
    (root / "models").mkdir()
    (root / "models" / "models_info.json").write_text(json.dumps({"1": {"diameter": 102.1}, "5": {"diameter": 200.0}}))
    K = [572.4114, 0.0, 325.2611, 0.0, 573.57043, 242.04899, 0.0, 0.0, 1.0]
    (scene / "scene_camera.json").write_text(json.dumps({
        "3": {"cam_K": K, "depth_scale": 0.1},
        "4": {"cam_K": K, "depth_scale": 1.0}}))
    (scene / "scene_gt.json").write_text(json.dumps({
        "3": [{"cam_R_m2c": [0, -1, 0, 1, 0, 0, 0, 0, 1], "cam_t_m2c": [100.0, -50.0, 1000.0], "obj_id": 1},
              {"cam_R_m2c": [1, 0, 0, 0, 1, 0, 0, 0, 1], "cam_t_m2c": [-20.0, 30.5, 800.0], "obj_id": 5}],
        "4": [{"cam_R_m2c": [1, 0, 0, 0, 1, 0, 0, 0, 1], "cam_t_m2c": [0.0, 0.0, 900.0], "obj_id": 1}]}))
    (scene / "scene_gt_info.json").write_text(json.dumps({
        "3": [{"bbox_obj": [1, 2, 3, 4], "bbox_visib": [1, 2, 2, 3], "px_count_visib": 5, "visib_fract": 0.4},
              {"bbox_obj": [0, 0, 5, 5], "bbox_visib": [0, 0, 5, 5], "px_count_visib": 25, "visib_fract": 0.95}],
        "4": [{"bbox_obj": [0, 0, 8, 6], "bbox_visib": [0, 0, 8, 6], "px_count_visib": 48, "visib_fract": 1.0}]}))
    (root / "test_targets_bop19.json").write_text(json.dumps([
        {"im_id": 3, "inst_count": 1, "obj_id": 5, "scene_id": 2}]))
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 200, 100, 50  # blue 200, green 100, red 50 (OpenCV order)
    for im in (3, 4):
        cv2.imwrite(str(scene / "rgb" / f"{im:06d}.png"), bgr)
        cv2.imwrite(str(scene / "depth" / f"{im:06d}.png"), np.full((H, W), 12345, np.uint16))
    mask = np.zeros((H, W), np.uint8)
    mask[2, 3] = 255
    cv2.imwrite(str(scene / "mask_visib" / "000003_000001.png"), mask)
    return root


def test_reads_hand_written_official_layout(lmo_like):
    ds = BopDataset(lmo_like, "test")
    assert len(ds.samples) == 3 and ds.images() == [(2, 3), (2, 4)]
    s0, s1 = ds.image_objects(2, 3)
    assert (s0.obj_id, s0.gt_index, s1.obj_id, s1.gt_index) == (1, 0, 5, 1)
    np.testing.assert_array_equal(s0.T_cam_obj[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]])  # row-major
    np.testing.assert_allclose(s0.T_cam_obj[:3, 3], [0.1, -0.05, 1.0])  # mm -> m
    np.testing.assert_array_equal(s0.T_cam_obj[3], [0, 0, 0, 1])
    np.testing.assert_allclose(s1.T_cam_obj[:3, 3], [-0.02, 0.0305, 0.8])
    np.testing.assert_allclose(s0.K, [[572.4114, 0, 325.2611], [0, 573.57043, 242.04899], [0, 0, 1]])
    assert s0.visib_fract == 0.4 and s0.bbox_visib == (1, 2, 2, 3) and s0.px_count_visib == 5
    assert ds.models_info()[1]["diameter"] == 102.1

    rgb = ds.load_image(2, 3)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
    np.testing.assert_array_equal(rgb[0, 0], [50, 100, 200])  # BGR on disk -> RGB
    depth = ds.load_depth(2, 3)
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, 1.2345, rtol=1e-6)      # 12345 counts * 0.1 mm
    np.testing.assert_allclose(ds.load_depth(2, 4), 12.345, rtol=1e-6)  # depth_scale 1.0 mm
    m = ds.load_mask_visib(2, 3, 1)
    assert m.dtype == bool and m.sum() == 1 and m[2, 3]
    with pytest.raises(FileNotFoundError, match="000003_000000.png"):
        ds.load_mask_visib(2, 3, 0)


def test_targets_and_visibility_filters(lmo_like):
    ds = BopDataset(lmo_like, "test", targets_file="test_targets_bop19.json")
    assert [(s.scene_id, s.im_id, s.obj_id, s.gt_index) for s in ds.samples] == [(2, 3, 5, 1)]
    assert ds.images() == [(2, 3)]
    assert [s.obj_id for s in ds.image_objects(2, 3, all_objects=True)] == [1, 5]  # occluders stay reachable
    assert ds.image_objects(2, 4) == []
    absolute = BopDataset(lmo_like, "test", targets_file=lmo_like / "test_targets_bop19.json")
    assert len(absolute.samples) == 1
    visible = BopDataset(lmo_like, "test", min_visib_fract=0.5)
    assert [(s.im_id, s.obj_id) for s in visible.samples] == [(3, 5), (4, 1)]


def test_missing_split_and_broken_json_are_named(lmo_like):
    with pytest.raises(FileNotFoundError, match="train_pbr"):
        BopDataset(lmo_like, "train_pbr")
    (lmo_like / "test" / "000002" / "scene_gt.json").write_text("{not json")
    with pytest.raises(ValueError, match="scene_gt.json"):
        BopDataset(lmo_like, "test")


def _random_image(rng, n_obj):
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.3, 2.0, size=(H, W))
    depth[0, 0] = 0.0
    poses, masks = [], []
    for R in Rotation.random(n_obj, random_state=int(rng.integers(1 << 30))).as_matrix():
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, rng.normal(size=3) * 0.1 + [0, 0, 0.9]
        poses.append(T)
        masks.append(rng.random((H, W)) > 0.5)
    return rgb, depth, poses, masks


def test_writer_reader_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    K = np.array([[500.0, 0, 4], [0, 510.0, 3], [0, 0, 1]])
    written = {}
    with BopWriter(tmp_path, "train_pbr") as w:
        for scene_id, im_id, n_obj in [(0, 0, 2), (0, 1, 1), (1, 7, 3)]:
            rgb, depth, poses, masks = _random_image(rng, n_obj)
            obj_ids = [int(o) for o in rng.integers(1, 22, size=n_obj)]
            infos = [{"visib_fract": float(np.float32(0.2 + 0.3 * k)), "bbox_visib": [0, 0, W, H],
                      "px_count_visib": np.int64(m.sum())} for k, m in enumerate(masks)]  # numpy scalars are fine
            w.add_image(scene_id, im_id, rgb=rgb, depth=depth, K=K, gts=[gt_entry(o, T) for o, T in zip(obj_ids, poses)],
                        gt_infos=infos, masks_visib=masks)
            written[(scene_id, im_id)] = (rgb, depth, poses, masks, obj_ids)
    # The written files are the official layout.
    assert json.loads((tmp_path / "train_pbr" / "000000" / "scene_camera.json").read_text())["1"]["depth_scale"] == 0.1
    assert (tmp_path / "train_pbr" / "000001" / "mask_visib" / "000007_000002.png").is_file()

    ds = BopDataset(tmp_path, "train_pbr")
    assert ds.images() == [(0, 0), (0, 1), (1, 7)] and len(ds.samples) == 6
    for key, (rgb, depth, poses, masks, obj_ids) in written.items():
        recs = ds.image_objects(*key)
        assert [r.obj_id for r in recs] == obj_ids
        for r, T, m in zip(recs, poses, masks):
            np.testing.assert_allclose(r.T_cam_obj, T, atol=1e-12)
            np.testing.assert_allclose(r.K, K)
            np.testing.assert_array_equal(ds.load_mask_visib(*key, r.gt_index), m)
        np.testing.assert_array_equal(ds.load_image(*key), rgb)
        np.testing.assert_allclose(ds.load_depth(*key), depth, atol=0.05e-3 + 1e-7)  # 0.1 mm counts, rounded
        assert ds.load_depth(*key)[0, 0] == 0.0
    assert [round(s.visib_fract, 6) for s in ds.image_objects(1, 7)] == [0.2, 0.5, 0.8]
    assert len(BopDataset(tmp_path, "train_pbr", min_visib_fract=0.45).samples) == 3


def test_writer_extends_an_existing_scene_and_writes_jpg(tmp_path):
    rng = np.random.default_rng(1)
    K = np.eye(3)
    rgb, depth, poses, masks = _random_image(rng, 1)
    with BopWriter(tmp_path, "train_pbr", rgb_ext=".jpg") as w:
        w.add_image(0, 0, rgb, depth, K, [gt_entry(3, poses[0])], None, None)
    smooth = np.full((H, W, 3), (30, 120, 220), np.uint8)
    with BopWriter(tmp_path, "train_pbr", rgb_ext=".jpg") as w:  # a second run adds to scene 0
        w.add_image(0, 1, smooth, None, K, [gt_entry(4, poses[0])])
    ds = BopDataset(tmp_path, "train_pbr")
    assert [(s.im_id, s.obj_id) for s in ds.samples] == [(0, 3), (1, 4)]
    assert ds.samples[0].visib_fract == 1.0  # no scene_gt_info.json written -> fully visible
    assert (tmp_path / "train_pbr" / "000000" / "rgb" / "000001.jpg").is_file()
    np.testing.assert_allclose(ds.load_image(0, 1).astype(int), smooth.astype(int), atol=3)  # jpeg, RGB order kept
    with pytest.raises(ValueError, match="masks"):
        BopWriter(tmp_path, "x").add_image(0, 0, smooth, None, K, [gt_entry(1, np.eye(4))], None, [])
