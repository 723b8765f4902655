"""The synthetic generator is deterministic per seed, writes the BOP layout the reader reads, and its
ground truth agrees with its own images (masks where the objects project)."""
import numpy as np

from deeprm_ros.data.bop import BopDataset
from deeprm_ros.data.synthetic import SceneConfig, generate
from deeprm_ros.ros.resources import default_models_dir

CFG = SceneConfig(width=320, height=240, focal_range=(280.0, 300.0), objects_range=(2, 3), images_per_scene=10)


def test_same_seed_same_images_other_seed_other_images(tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        generate(default_models_dir(), tmp_path / name, "test", 3, seed=seed, cfg=CFG, progress=False)
    read = {n: BopDataset(tmp_path / n, "test") for n in "abc"}
    for im in range(3):
        a, b, c = (read[n].load_image(0, im) for n in "abc")
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)
    assert [(s.obj_id, s.T_cam_obj.round(9).tolist()) for s in read["a"].samples] == \
           [(s.obj_id, s.T_cam_obj.round(9).tolist()) for s in read["b"].samples]
    assert (tmp_path / "a" / "test_targets_bop19.json").exists()


def test_ground_truth_matches_the_images(tmp_path):
    generate(default_models_dir(), tmp_path, "train_pbr", 4, seed=3, cfg=CFG, progress=False)
    ds = BopDataset(tmp_path, "train_pbr")
    for s in ds.samples:
        if s.visib_fract < 0.5:
            continue
        mask = ds.load_mask_visib(s.scene_id, s.im_id, s.gt_index)
        depth = ds.load_depth(s.scene_id, s.im_id)
        u, v, w = s.K @ s.T_cam_obj[:3, 3]
        ys, xs = np.nonzero(mask)
        # The visible mask surrounds the projected object centre's neighbourhood, and its depth is near the object's.
        assert abs(np.median(xs) - u / w) < 60 and abs(np.median(ys) - v / w) < 60
        assert abs(np.median(depth[mask]) - s.T_cam_obj[2, 3]) < 0.1
