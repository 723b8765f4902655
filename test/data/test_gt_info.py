"""scene_gt_info as the BOP toolkit computes it (deeprm_ros.data.gt_info), and both generators' files against the
BOP format check."""
import cv2
import numpy as np
import pytest

from deeprm_ros.data.bop_check import check_split
from deeprm_ros.data.gt_info import bop_bbox, full_silhouettes, gt_info_entries
from deeprm_ros.ros.resources import default_models_dir


def test_bop_box_is_max_minus_min():
    assert bop_bbox([2, 5, 4], [3, 9, 4]) == [2, 3, 3, 6]
    assert bop_bbox([], []) == [-1, -1, -1, -1]


def test_object_cut_by_the_image_edge_keeps_its_whole_silhouette():
    """The box (object 1) with its centre on the left image edge: px_count_all counts the part outside the
    image as well (checked on an independent, larger image), bbox_obj starts at a negative x and matches the
    projection of its vertices (cv2.projectPoints) to a pixel, and visib_fract is about one half."""
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.render import Renderer

    models = load_object_library(default_models_dir())
    W, H = 160, 120
    K = np.array([[150.0, 0, 79.5], [0, 150.0, 59.5], [0, 0, 1]])
    T = np.eye(4)
    T[:3, 3] = [-79.5 / 150.0 * 0.5, 0.0, 0.5]  # the origin projects to u = 0
    with Renderer(models, width=W, height=H) as r:
        out = r.render_scene(K, [(1, T)])
        large = full_silhouettes(r, K, [(1, T)], W, H)
        K_big = K.copy()
        K_big[0, 2] += 300
        K_big[1, 2] += 200
        _, depth_big = r.render_each(K_big, [1], T[None], size=(H + 400, W + 600))
    info = gt_info_entries(large, [out.instance == 0], out.depth, W, H)[0]
    assert info["px_count_all"] == int((depth_big[0] > 0).sum())
    assert info["px_count_visib"] == int((out.instance == 0).sum())
    assert info["px_count_valid"] == info["px_count_visib"]  # nothing occludes it, and it has depth everywhere
    assert 0.4 < info["visib_fract"] < 0.6
    uv, _ = cv2.projectPoints(models[1].vertices.astype(np.float64), cv2.Rodrigues(T[:3, :3])[0], T[:3, 3], K, None)
    uv = uv.reshape(-1, 2)
    x, y, w, h = info["bbox_obj"]
    assert x < 0
    np.testing.assert_allclose([x, y, x + w, y + h], [*uv.min(0), *uv.max(0)], atol=1.0)
    xv, yv, wv, hv = info["bbox_visib"]
    assert xv == 0 and 0 <= xv + wv < W


@pytest.mark.parametrize("split", ["test", "train_pbr"])
def test_raster_generator_writes_files_that_pass_the_bop_check(tmp_path, split):
    from deeprm_ros.data.synthetic import SceneConfig, generate

    cfg = SceneConfig(width=160, height=120, focal_range=(140.0, 150.0), objects_range=(2, 4), images_per_scene=3)
    generate(default_models_dir(), tmp_path, split, 5, seed=2, cfg=cfg, progress=False)
    assert check_split(tmp_path, split) == []
    assert sorted(p.name for p in (tmp_path / "models_eval").glob("*.ply")) == \
        [f"obj_{i:06d}.ply" for i in (1, 2, 3, 4)]
    assert (tmp_path / "test_targets_bop19.json").exists() == (split == "test")


def test_the_bop_check_finds_what_is_wrong(tmp_path):
    import json

    from deeprm_ros.data.synthetic import SceneConfig, generate

    cfg = SceneConfig(width=160, height=120, focal_range=(140.0, 150.0), objects_range=(2, 2))
    generate(default_models_dir(), tmp_path, "test", 2, seed=2, cfg=cfg, progress=False)
    path = tmp_path / "test" / "000000" / "scene_gt_info.json"
    info = json.loads(path.read_text())
    info["0"][0]["bbox_obj"] = [1.5, 2, 3, 4]
    info["1"][0]["visib_fract"] = 2.0
    path.write_text(json.dumps(info))
    (tmp_path / "models_eval" / "obj_000003.ply").unlink()
    problems = "\n".join(check_split(tmp_path, "test"))
    assert "boxes must be 4 ints" in problems and "visib_fract" in problems and "obj_000003.ply" in problems


def test_generation_resumes_and_parallel_ranges_make_the_same_dataset(tmp_path):
    """Two ranges written by separate runs (as by two processes) and a rerun of both give the files one run
    gives: json merged, nothing rewritten."""
    import json

    from deeprm_ros.data.synthetic import SceneConfig, generate

    cfg = SceneConfig(width=160, height=120, focal_range=(140.0, 150.0), objects_range=(2, 3), images_per_scene=4)
    generate(default_models_dir(), tmp_path / "one", "test", 6, seed=4, cfg=cfg, progress=False)
    generate(default_models_dir(), tmp_path / "two", "test", 3, seed=4, cfg=cfg, first_image=3, progress=False)
    generate(default_models_dir(), tmp_path / "two", "test", 3, seed=4, cfg=cfg, first_image=0, progress=False)
    rgb = tmp_path / "two" / "test" / "000000" / "rgb" / "000000.png"
    stamp = rgb.stat().st_mtime_ns
    generate(default_models_dir(), tmp_path / "two", "test", 6, seed=4, cfg=cfg, progress=False)  # a resume
    assert rgb.stat().st_mtime_ns == stamp
    for scene in ("000000", "000001"):
        for name in ("scene_gt.json", "scene_gt_info.json", "scene_camera.json"):
            a = json.loads((tmp_path / "one" / "test" / scene / name).read_text())
            b = json.loads((tmp_path / "two" / "test" / scene / name).read_text())
            assert a == b, (scene, name)
    assert json.loads((tmp_path / "one" / "test_targets_bop19.json").read_text()) == \
        json.loads((tmp_path / "two" / "test_targets_bop19.json").read_text())


def test_visible_masks_lie_inside_the_silhouettes_and_a_refresh_changes_nothing(tmp_path):
    """px_count_visib <= px_count_all for every instance of 640x480 raster images (the visible mask is cut to
    the object's own silhouette, as BOP's is), and refresh_gt_info recomputes exactly what generation wrote."""
    import json

    from deeprm_ros.data.bop import BopDataset
    from deeprm_ros.data.generation import refresh_gt_info
    from deeprm_ros.data.synthetic import generate

    generate(default_models_dir(), tmp_path, "test", 5, seed=1, first_image=35, progress=False)  # 37: an outline pixel
    path = tmp_path / "test" / "000000" / "scene_gt_info.json"
    written = json.loads(path.read_text())
    assert all(e["px_count_visib"] <= e["px_count_all"] for im in written.values() for e in im)
    assert check_split(tmp_path, "test") == []
    masks = [BopDataset(tmp_path, "test").load_mask_visib(0, 37, k) for k in range(2)]
    assert refresh_gt_info(tmp_path, "test", progress=False) == 5
    assert json.loads(path.read_text()) == written
    assert all(np.array_equal(m, BopDataset(tmp_path, "test").load_mask_visib(0, 37, k)) for k, m in enumerate(masks))


@pytest.mark.parametrize("obj_id", [1, 2, 3, 4])
def test_models_eval_vertices_weigh_the_surface_evenly(obj_id):
    """BOP's toolkit takes ADD(-S) over the models_eval/ vertices; ours over points spread evenly on the surface.
    The evaluation mesh keeps the surface and spreads its vertices, so both give the same ADD (the raw box, 8
    corners, gives a much larger one)."""
    import trimesh
    from scipy.spatial.transform import Rotation

    from deeprm_ros.data.generation import evaluation_mesh

    raw = trimesh.load(default_models_dir() / f"obj_{obj_id:06d}.ply", force="mesh", process=False)
    ev = evaluation_mesh(raw)
    assert len(ev.vertices) > 10000
    # the same surface: subdivision keeps the area and the extent
    assert ev.area == pytest.approx(raw.area, rel=1e-6)
    np.testing.assert_allclose(ev.bounds, raw.bounds, atol=1e-6 * raw.scale)
    surface, _ = trimesh.sample.sample_surface(raw, 50000, seed=0)
    R = Rotation.from_rotvec([0.1, -0.2, 0.15]).as_matrix()

    def add(points):
        return np.linalg.norm(points @ R.T - points, axis=1).mean()
    assert add(ev.vertices) == pytest.approx(add(surface), rel=0.02)
    assert np.sign(ev.volume) == np.sign(raw.volume)  # faces wound as before
    if obj_id == 1:  # the box: its raw vertices are its corners
        assert add(np.unique(raw.vertices, axis=0)) > 1.2 * add(surface)


def test_parallel_workers_copy_the_models_once_without_tripping_over_each_other(tmp_path):
    """`--workers N` starts N processes that each copy models/ and models_eval/ into the same dataset: all of
    them succeed and the copy is complete (with one shared temporary folder, one worker deleted the other's)."""
    import multiprocessing as mp

    from deeprm_ros.data.generation import copy_models

    with mp.get_context("spawn").Pool(4) as pool:
        pool.starmap(copy_models, [(str(default_models_dir()), str(tmp_path))] * 4)
    expected = sorted(p.stem for p in default_models_dir().glob("obj_*.*"))
    assert sorted(p.stem for p in (tmp_path / "models_eval").glob("obj_*.ply")) == sorted(set(expected))
    assert not list(tmp_path.glob("*.partial*"))
