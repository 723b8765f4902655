"""The physically based generator: its camera matches the project's rasterizer, objects rest on the floor in
stable poses, and its files are deterministic and pass the BOP format check."""
import numpy as np
import pytest
from scipy.spatial import Delaunay

from deeprm_ros.data.scene_layout import camera_on_shell, footprint_radius, look_at, scatter_on_floor, stable_poses
from deeprm_ros.ros.resources import default_models_dir


@pytest.fixture(scope="module")
def models():
    from deeprm_ros.meshes import load_object_library
    return load_object_library(default_models_dir())


def test_path_traced_silhouettes_match_the_rasterizer(models):
    """Each demo object, black, in front of a white sky, path traced at 160x120 with 4 samples per pixel and an
    off-centre principal point: the pixels more than half covered are the rasterizer's mask (IoU > 0.99; the
    rest is the 4-sample coverage noise on the outline) and the centroids agree to a quarter pixel (a
    half-pixel convention error would show here)."""
    import torch  # noqa: F401  (before the GL context)

    from deeprm_ros.geometry import quat_to_matrix
    from deeprm_ros.render import Renderer
    from deeprm_ros.render import path_tracer as pt

    W, H = 160, 120
    K = np.array([[150.0, 0, 71.3], [0, 150.0, 64.8], [0, 0, 1]])
    rng = np.random.default_rng(0)
    ious = []
    with Renderer(models, width=W, height=H) as r:
        for oid, m in models.items():
            q = rng.normal(size=4)
            T = np.eye(4)
            T[:3, :3] = quat_to_matrix(q / np.linalg.norm(q))
            T[:3, 3] = [-0.006, 0.004, 0.18]
            raster = r.render_scene(K, [(oid, T)]).instance >= 0
            scene = {"type": "scene", "integrator": {"type": "path", "max_depth": 2},
                     "sensor": pt.sensor(K, np.eye(4), W, H, 4, sampler="stratified"),
                     "sky": {"type": "constant", "radiance": {"type": "rgb", "value": 1.0}},
                     "object": pt.mesh("o", m.vertices @ T[:3, :3].T + T[:3, 3], m.faces, m.normals @ T[:3, :3].T,
                                       bsdf={"type": "diffuse", "reflectance": {"type": "rgb", "value": 0.0}})}
            traced = pt.render_linear(scene, seed=0).mean(-1) < 0.51
            ious.append((traced & raster).sum() / (traced | raster).sum())
            (ys, xs), (yr, xr) = np.nonzero(traced), np.nonzero(raster)
            assert abs(xs.mean() - xr.mean()) < 0.25 and abs(ys.mean() - yr.mean()) < 0.25, oid
    assert min(ious) > 0.985 and np.mean(ious) > 0.99, ious


def test_stable_poses_rest_on_the_floor(models):
    """Every stable pose puts the lowest point at z = 0 and the centre of mass above the contact area (inside
    the hull of the points touching the floor), so the object would not tip over."""
    import trimesh

    for m in models.values():
        sp = stable_poses(m.vertices, m.faces)
        assert np.isclose(sp.probabilities.sum(), 1.0) and len(sp.transforms) >= 2
        mesh = trimesh.Trimesh(np.asarray(m.vertices, np.float64), m.faces, process=True)
        for T in sp.transforms:
            v = mesh.vertices @ T[:3, :3].T + T[:3, 3]
            assert v[:, 2].min() == pytest.approx(0.0, abs=1e-9)
            contact = v[v[:, 2] < 1e-6][:, :2]
            com = (T[:3, :3] @ mesh.center_mass + T[:3, 3])[:2]
            assert len(contact) >= 3 and Delaunay(contact).find_simplex(com) >= 0, m.obj_id


def test_scattered_objects_do_not_overlap(models):
    rng = np.random.default_rng(1)
    ids = sorted(models) * 2
    sps = [stable_poses(models[o].vertices, models[o].faces) for o in ids]
    radii = [[footprint_radius(models[o].vertices, T) for T in sp.transforms] for o, sp in zip(ids, sps)]
    poses = scatter_on_floor(rng, sps, radii, area_radius=0.1)
    for i in range(len(poses)):
        vi = models[ids[i]].vertices @ poses[i][:3, :3].T + poses[i][:3, 3]
        assert vi[:, 2].min() == pytest.approx(0.0, abs=1e-9)
        for j in range(i):
            gap = np.linalg.norm(poses[i][:2, 3] - poses[j][:2, 3])
            ri = footprint_radius(models[ids[i]].vertices, poses[i])
            rj = footprint_radius(models[ids[j]].vertices, poses[j])
            assert gap >= ri + rj - 1e-9


def test_camera_on_the_shell_looks_at_the_target_with_up_up():
    rng = np.random.default_rng(2)
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    target = np.array([0.1, -0.05, 0.03])
    for _ in range(5):
        T = camera_on_shell(rng, target, (0.4, 0.8), (15, 80), roll_deg=0.0)
        assert 0.4 <= np.linalg.norm(T[:3, 3] - target) <= 0.8 and T[2, 3] > target[2]
        cam = np.linalg.inv(T)
        p = K @ (cam[:3, :3] @ target + cam[:3, 3])
        np.testing.assert_allclose(p[:2] / p[2], [320, 240], atol=1e-6)
        above = K @ (cam[:3, :3] @ (target + [0, 0, 0.05]) + cam[:3, 3])
        assert above[1] / above[2] < 240  # higher in the world is higher in the image
    T = look_at([0, 0, 1], [0, 0, 0])  # straight down: still a rotation
    np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-12)


def test_pbr_images_are_deterministic_and_pass_the_bop_check(tmp_path):
    from deeprm_ros.data.bop import BopDataset
    from deeprm_ros.data.bop_check import check_split
    from deeprm_ros.data.pbr import PbrConfig, generate

    cfg = PbrConfig(width=160, height=120, focal_range=(140.0, 150.0), spp=4, images_per_scene=2,
                    objects_range=(2, 3), distractors_range=(1, 2))
    for name in ("a", "b"):
        generate(default_models_dir(), tmp_path / name, "test", 3, seed=5, cfg=cfg, progress=False)
    assert check_split(tmp_path / "a", "test") == []
    a, b = BopDataset(tmp_path / "a", "test"), BopDataset(tmp_path / "b", "test")
    assert [(s.obj_id, s.T_cam_obj.round(9).tolist()) for s in a.samples] == \
           [(s.obj_id, s.T_cam_obj.round(9).tolist()) for s in b.samples]
    # The same scene, lit and seeded the same: equal pixels in most runs. Mitsuba's LLVM variant now and then
    # traces another noise realization of the same image (seen in about 1 image of 10 across processes, with
    # parallel scene loading already off), so pixels are compared after a blur, where that noise averages out;
    # another scene or light would differ by tens of levels.
    import cv2
    for s in (0, 1):
        for im in ((0, 1) if s == 0 else (0,)):
            ia, ib = (cv2.GaussianBlur(d.load_image(s, im).astype(np.float64), (0, 0), 2.0) for d in (a, b))
            assert np.abs(ia - ib).mean() < 3.0 and ia.std() > 10
    # objects stand on the floor: every annotated object is in front of the camera and mostly in view
    assert all(s.T_cam_obj[2, 3] > 0.1 for s in a.samples)


def test_a_missing_renderer_package_is_named_with_its_install_command(tmp_path):
    """Without mitsuba (or pyoidn) the generator exits 2 with one line naming the package and how to get it."""
    import subprocess
    import sys

    from deeprm_ros.ros.resources import default_models_dir

    for missing in ("mitsuba", "pyoidn"):
        code = (f"import sys; sys.modules[{missing!r}] = None\n"
                "from deeprm_ros.data.pbr import main\n"
                f"sys.exit(main(['--models', {str(default_models_dir())!r}, '--out', {str(tmp_path)!r}, "
                "'--split', 'test', '--images', '1']))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr[-2000:]
        assert f"optional package {missing}" in r.stderr and "pip install '.[pbr]'" in r.stderr
        assert "Traceback" not in r.stderr


def test_a_box_stacked_on_a_box_sits_on_its_top_face(models):
    """Hand case: the box resting on the floor, a second box set over its centre (spread 0) rests with its lowest
    point exactly at the first one's highest (both lie on a flat face), above the floor."""
    from deeprm_ros.data.scene_layout import stack_some

    box = models[1]
    sp = stable_poses(box.vertices, box.faces)
    first = [T.copy() for T in sp.transforms[:1]] * 2
    poses = [first[0].copy(), first[1].copy()]
    stacked = stack_some(np.random.default_rng(0), poses, [(box.vertices, box.faces)] * 2, [sp, sp], 1.0, spread=0.0)
    low = box.vertices @ poses[0][:3, :3].T + poses[0][:3, 3]
    high = box.vertices @ poses[1][:3, :3].T + poses[1][:3, 3]
    assert stacked == [False, True]
    assert high[:, 2].min() == pytest.approx(low[:, 2].max(), abs=1e-9) and low[:, 2].max() > 0.02
    np.testing.assert_allclose(poses[1][:2, 3], poses[0][:2, 3], atol=1e-12)


def test_stacked_objects_touch_what_is_under_them_and_do_not_sink_into_it(models):
    """Heaps of the demo objects (each stacked with probability 0.8): every object touches the floor or another
    object (a vertical gap of 0), and no point of its surface lies inside the convex hull of a convex object
    (the box, the can) that it does not belong to."""
    import trimesh
    from scipy.spatial import ConvexHull

    from deeprm_ros.data.scene_layout import drop_distance, stack_some

    ids = sorted(models) * 2
    meshes = [(models[o].vertices, models[o].faces) for o in ids]
    sps = [stable_poses(models[o].vertices, models[o].faces) for o in ids]
    radii = [[footprint_radius(models[o].vertices, T) for T in sp.transforms] for o, sp in zip(ids, sps)]
    n_stacked = 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        poses = scatter_on_floor(rng, sps, radii, area_radius=0.1)
        stacked = stack_some(rng, poses, meshes, sps, 0.8)
        n_stacked += sum(stacked)
        world = [models[o].vertices @ T[:3, :3].T + T[:3, 3] for o, T in zip(ids, poses)]
        for i, o in enumerate(ids):
            lowest = min([world[i][:, 2].min()] + [drop_distance(world[i], meshes[i][1], world[j], meshes[j][1])
                                                   for j in range(len(ids)) if j != i])
            assert lowest == pytest.approx(0.0, abs=1e-7), (seed, i)
            surface = trimesh.sample.sample_surface(trimesh.Trimesh(world[i], meshes[i][1]), 400, seed=seed)[0]
            for j, q in enumerate(ids):
                if j == i or q not in (1, 4):
                    continue
                eq = ConvexHull(world[j]).equations                    # inside: every a.x + b < 0
                depth = np.max(surface @ eq[:, :3].T + eq[:, 3], axis=1)  # > 0 outside
                assert depth.min() > -1e-4, (seed, i, j, depth.min())
    assert n_stacked >= 8
