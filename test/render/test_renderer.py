"""Renderer against independent references: cv2.projectPoints, analytic ray-plane depth, known textures."""
import threading

import cv2
import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

W, H = 640, 480
# A deliberately asymmetric camera: fx != fy, principal point off-centre and not on a half pixel.
K = np.array([[612.3, 0.0, 331.37], [0.0, 587.9, 228.61], [0.0, 0.0, 1.0]])


def pose(rotvec, t):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def quad(half_w, half_h, z=0.0):
    """Two triangles in the object's z = const plane, uv (0,0) at (-x, +y) (image bottom-left when facing
    the camera unrotated: camera y points down)."""
    v = np.array([[-half_w, half_h, z], [half_w, half_h, z], [half_w, -half_h, z], [-half_w, -half_h, z]])
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    n = np.tile([0.0, 0.0, -1.0], (4, 1))
    return v, f, uv, n


def pixel_centres():
    return np.stack(np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)), -1)


def hull_signed_distance(points2d):
    """Signed distance (px, >0 inside) of every pixel centre to the convex hull of points2d."""
    hull = cv2.convexHull(points2d.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    # cv2.convexHull returns the hull clockwise in image coordinates (y down) with the default flag
    area = 0.5 * np.sum(hull[:, 0] * np.roll(hull[:, 1], -1) - np.roll(hull[:, 0], -1) * hull[:, 1])
    if area < 0:
        hull = hull[::-1]
    p = pixel_centres()
    d = np.full((H, W), np.inf)
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        e = b - a
        n = np.array([-e[1], e[0]]) / np.linalg.norm(e)  # inward for counter-clockwise (in x-right, y-down)
        d = np.minimum(d, (p - a) @ n)
    return d


@pytest.fixture(scope="module")
def scene_models(model_factory):
    models = {}
    ico = trimesh.creation.icosphere(subdivisions=2, radius=0.06)  # convex
    models[1] = model_factory(1, ico.vertices, ico.faces)
    box = trimesh.creation.box((0.1, 0.1, 0.02))  # closed, outward wound: culled
    models[2] = model_factory(2, box.vertices, box.faces)
    v, f, uv, n = quad(0.5, 0.5)
    models[3] = model_factory(3, v, f, normals=n)  # a big open plane: drawn two-sided
    tex = np.zeros((64, 64, 3), np.uint8)
    tex[:32, :32] = (250, 20, 20)    # top-left: red
    tex[:32, 32:] = (20, 250, 20)    # top-right: green
    tex[32:, :32] = (20, 20, 250)    # bottom-left: blue
    tex[32:, 32:] = (240, 240, 30)   # bottom-right: yellow
    v, f, uv, n = quad(0.05, 0.05)
    models[4] = model_factory(4, v, f, uv=uv, texture=tex, normals=n)
    vc = np.array([[200, 100, 50]] * 4, np.uint8)
    models[5] = model_factory(5, v, f, vertex_colors=vc, normals=n)
    return models


@pytest.fixture(scope="module")
def renderer(scene_models):
    from deeprm_ros.render import Renderer
    r = Renderer(scene_models, W, H, ambient=0.3)
    yield r
    r.release()


def test_gl_renderer_is_reported(renderer):
    assert isinstance(renderer.gl_renderer, str) and renderer.gl_renderer not in ("", "unknown")


@pytest.mark.parametrize("rotvec,t", [([0.3, -0.5, 0.2], [0.02, -0.015, 0.45]),
                                      ([2.0, 0.4, -1.1], [-0.08, 0.05, 0.7])])
def test_mask_matches_projected_hull(renderer, scene_models, rotvec, t):
    """The silhouette of a convex mesh is the convex hull of its cv2-projected vertices."""
    T = pose(rotvec, t)
    out = renderer.render_scene(K, [(1, T)])
    mask = out.instance == 0
    proj, _ = cv2.projectPoints(scene_models[1].vertices.astype(np.float64), cv2.Rodrigues(T[:3, :3])[0],
                                T[:3, 3], K, None)
    d = hull_signed_distance(proj.reshape(-1, 2))
    ref = d > 0
    iou = (mask & ref).sum() / (mask | ref).sum()
    assert iou > 0.999, iou
    wrong = mask != ref
    # any disagreement is a pixel centre lying (within rasterisation precision) on the hull boundary;
    # a half-pixel convention error would put wrong pixels up to 0.5 px inside/outside
    assert wrong.sum() == 0 or np.abs(d[wrong]).max() < 0.05, np.abs(d[wrong]).max()
    ys, xs = np.nonzero(mask)
    ys_r, xs_r = np.nonzero(ref)
    assert abs(xs.mean() - xs_r.mean()) < 0.02 and abs(ys.mean() - ys_r.mean()) < 0.02
    assert ((out.depth > 0) == mask).all()


def test_fronto_parallel_plane_depth(renderer):
    T = pose([0, 0, 0], [0.0, 0.0, 0.5])
    out = renderer.render_scene(K, [(3, T)])
    assert (out.instance == 0).all()  # a 1 m plane at 0.5 m fills the view
    assert np.abs(out.depth - 0.5).max() < 1e-4


def test_tilted_plane_depth_per_pixel(renderer):
    """Rendered depth equals the z of the ray / plane intersection through every pixel centre."""
    T = pose([0.5, -0.35, 0.1], [0.03, -0.02, 0.8])
    out = renderer.render_scene(K, [(3, T)])
    n = T[:3, :3] @ np.array([0.0, 0.0, 1.0])
    p0 = T[:3, 3]
    p = pixel_centres()
    rays = np.concatenate([p, np.ones((H, W, 1))], -1) @ np.linalg.inv(K).T  # z component = 1
    z = (n @ p0) / (rays @ n)
    mask = out.instance == 0
    assert mask.mean() > 0.5
    hit = rays * z[..., None]  # camera-frame intersection points; inside the 1 m x 1 m quad?
    local = (hit - p0) @ T[:3, :3]
    inside = (np.abs(local[..., 0]) < 0.5 - 1e-3) & (np.abs(local[..., 1]) < 0.5 - 1e-3)
    outside = (np.abs(local[..., 0]) > 0.5 + 1e-3) | (np.abs(local[..., 1]) > 0.5 + 1e-3)
    assert mask[inside].all() and not mask[outside].any()
    err = np.abs(out.depth[mask] - z[mask])
    assert err.max() < 1e-4, err.max()
    assert np.abs(out.depth[~mask]).max() == 0


def test_closed_box_shows_its_near_face(renderer):
    """Back-face culling keeps the face towards the camera (culling the wrong winding would show the far one)."""
    assert renderer.meshes[2].cull
    out = renderer.render_scene(K, [(2, pose([0, 0, 0], [0.0, 0.0, 0.5]))])
    u = int(round(K[0, 2]))
    v = int(round(K[1, 2]))
    assert abs(out.depth[v, u] - 0.49) < 1e-4
    assert out.depth[out.depth > 0].max() < 0.49 + 1e-4


def _rect(z, x0, x1, y0, y1):
    """Analytic image rectangle (u0, u1, v0, v1) of a fronto-parallel rectangle at depth z."""
    return (K[0, 0] * x0 / z + K[0, 2], K[0, 0] * x1 / z + K[0, 2], K[1, 1] * y0 / z + K[1, 2], K[1, 1] * y1 / z + K[1, 2])


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_instance_ids_nearer_wins(renderer, order):
    far = (2, pose([0, 0, 0], [0.0, 0.0, 0.60]))    # front face at z = 0.59, x, y in [-0.05, 0.05]
    near = (2, pose([0, 0, 0], [0.06, 0.03, 0.45]))  # front face at z = 0.44, x in [0.01, 0.11], y in [-0.02, 0.08]
    objs = [far, near] if order == (0, 1) else [near, far]
    i_far, i_near = (0, 1) if order == (0, 1) else (1, 0)
    out = renderer.render_scene(K, objs)
    p = pixel_centres()

    def inside(r, margin):
        u0, u1, v0, v1 = r
        return (p[..., 0] > u0 + margin) & (p[..., 0] < u1 - margin) & (p[..., 1] > v0 + margin) & (p[..., 1] < v1 - margin)

    r_far = _rect(0.59, -0.05, 0.05, -0.05, 0.05)
    r_near = _rect(0.44, 0.01, 0.11, -0.02, 0.08)
    in_near = inside(r_near, 1.0)
    in_far_only = inside(r_far, 1.0) & ~inside(r_near, -1.0)
    assert (inside(r_far, 1.0) & in_near).sum() > 1000  # the overlap is substantial
    assert (out.instance[in_near] == i_near).all()
    assert (out.instance[in_far_only] == i_far).all()
    assert np.abs(out.depth[in_near] - 0.44).max() < 1e-4
    assert np.abs(out.depth[in_far_only] - 0.59).max() < 1e-4
    outside = ~inside(r_far, -1.0) & ~inside(r_near, -1.0)
    assert (out.instance[outside] == -1).all() and (out.depth[outside] == 0).all()
    assert out.instance.dtype == np.int16 and out.depth.dtype == np.float32 and out.rgb.dtype == np.uint8


def test_texture_colours_and_orientation(renderer, scene_models):
    """A quad facing the camera, lit from the camera, shows its texture exactly, upright and unmirrored."""
    T = pose([0, 0, 0], [0.0, 0.0, 0.4])
    out = renderer.render_scene(K, [(4, T)])
    tex = scene_models[4].texture
    for (x, y), (r, c) in {(-0.025, -0.025): (16, 16), (0.025, -0.025): (16, 48),
                           (-0.025, 0.025): (48, 16), (0.025, 0.025): (48, 48)}.items():
        u = int(round(K[0, 0] * x / 0.4 + K[0, 2]))
        v = int(round(K[1, 1] * y / 0.4 + K[1, 2]))
        got = out.rgb[v - 3:v + 4, u - 3:u + 4].reshape(-1, 3).astype(int)
        assert np.abs(got - tex[r, c].astype(int)).max() <= 2, (x, y, got[0], tex[r, c])


def test_vertex_colours_and_lambert(renderer):
    """Vertex colours; diffuse falls with the cosine of the light angle, the ambient share stays."""
    T = pose([0, 0, 0], [0.0, 0.0, 0.4])
    u, v = int(round(K[0, 2])), int(round(K[1, 2]))
    head_on = renderer.render_scene(K, [(5, T)]).rgb[v, u].astype(float)
    assert np.abs(head_on - [200, 100, 50]).max() <= 1
    ang = np.deg2rad(60)
    oblique = renderer.render_scene(K, [(5, T)], light_dir=[np.sin(ang), 0, np.cos(ang)], ambient=0.3).rgb[v, u]
    expected = np.array([200, 100, 50]) * (0.3 + 0.7 * np.cos(ang))
    assert np.abs(oblique.astype(float) - expected).max() <= 1.5
    tinted = renderer.render_scene(K, [(5, T)], light_color=[1.0, 0.5, 0.0], ambient=0.0).rgb[v, u]
    assert np.abs(tinted.astype(float) - [200, 50, 0]).max() <= 1


def test_render_each_matches_single_renders_and_tiles_do_not_leak(renderer):
    """B images in one call (one framebuffer, several tiles) equal the same objects rendered one by one."""
    rng = np.random.default_rng(3)
    B = 11  # more than one tile batch
    ids = [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    Ks = np.repeat(K[None], B, 0)
    Ks[:, 0, 2] += rng.uniform(-30, 30, B)
    poses = np.stack([pose(rng.normal(size=3), [rng.uniform(-0.1, 0.1), rng.uniform(-0.08, 0.08), rng.uniform(0.3, 0.5)])
                      for _ in range(B)])
    poses[4, :3, 3] = [0.0, 0.35, 0.3]  # partly below the image: must not spill into the next tile
    rgb, depth = renderer.render_each(Ks, ids, poses)
    assert rgb.shape == (B, H, W, 3) and depth.shape == (B, H, W) and depth.dtype == np.float32
    for i in range(B):
        ref = renderer.render_scene(Ks[i], [(ids[i], poses[i])])
        assert np.array_equal(depth[i] > 0, ref.instance == 0), i
        assert np.abs(depth[i] - ref.depth).max() < 2e-5, i  # float interpolation order only
    rgb1, depth1 = renderer.render_each(Ks[5], [ids[5]], poses[5:6])
    assert np.array_equal(depth1[0] > 0, depth[5] > 0) and np.abs(depth1[0] - depth[5]).max() < 2e-5
    assert np.abs(rgb1[0].astype(int) - rgb[5]).max() <= 1


def test_render_each_into_a_crop(renderer):
    """Rendering at another size with shifted intrinsics gives exactly the crop of the full frame."""
    T = pose([0.4, 0.2, -0.3], [0.01, 0.0, 0.4])
    _, full = renderer.render_each(K, [1], T[None])
    x0, y0, w, h = 250, 140, 160, 120
    Kc = K.copy()
    Kc[0, 2] -= x0
    Kc[1, 2] -= y0
    _, crop = renderer.render_each(Kc[None], [1], T[None], size=(h, w))
    assert crop.shape == (1, h, w)
    assert (crop[0] > 0).sum() > 1000
    assert np.array_equal(crop[0] > 0, full[0, y0:y0 + h, x0:x0 + w] > 0)
    assert np.abs(crop[0] - full[0, y0:y0 + h, x0:x0 + w]).max() < 2e-5


def test_empty_scene_and_unknown_object(renderer):
    out = renderer.render_scene(K, [])
    assert (out.instance == -1).all() and (out.depth == 0).all() and (out.rgb == 0).all()
    with pytest.raises(KeyError, match="unknown object id 99"):
        renderer.render_scene(K, [(99, np.eye(4))])


def test_other_thread_is_refused(renderer):
    errors = []

    def run():
        try:
            renderer.render_scene(K, [])
        except RuntimeError as e:
            errors.append(str(e))

    th = threading.Thread(target=run)
    th.start()
    th.join()
    assert errors and "thread" in errors[0]
