"""Average metering (DeepRM 4.3): each object's render_each brightness meets the target, whatever its albedo."""
import numpy as np
import pytest
import trimesh


@pytest.fixture(scope="module")
def metered(model_factory):
    from deeprm_ros.render import Renderer
    box = trimesh.creation.box((0.08, 0.05, 0.03))
    v, f = box.vertices, box.faces
    grey = lambda g: np.full((len(v), 3), g, np.uint8)  # noqa: E731
    rng = np.random.default_rng(0)
    models = {
        1: model_factory(1, v, f, vertex_colors=grey(60)),    # dark
        2: model_factory(2, v, f, vertex_colors=grey(230)),   # bright: needs < 1, with clipping near white
        3: model_factory(3, v + [0.2, -0.1, 0.05], f, vertex_colors=rng.integers(0, 255, (len(v), 3)).astype(np.uint8)),
        4: model_factory(4, v, f, vertex_colors=grey(3)),     # nearly black: the gain is clamped
    }
    r = Renderer(models, 320, 240, brightness_target=0.5)
    yield r
    r.release()


def measured_mean(r, oid):
    """Mean intensity of render_each's output over the object's pixels at the metering views."""
    from deeprm_ros.render.brightness import canonical_views
    mesh = r.meshes[oid]
    K, poses = canonical_views(mesh.center, mesh.diameter, r.width, r.height)
    rgb, depth = r.render_each(K, [oid] * len(poses), np.stack(poses))
    mask = depth > 0
    assert mask.sum() > 6 * 500  # every view sees the object (an off-centre mesh is centred too)
    return rgb[mask].astype(np.float64).mean() / 255.0


@pytest.mark.parametrize("oid", [1, 2, 3])
def test_metering_hits_target(metered, oid):
    assert abs(measured_mean(metered, oid) - 0.5) < 0.01


def test_gains_follow_albedo_and_clamp(metered):
    from deeprm_ros.render.brightness import GAIN_RANGE
    g_dark, g_bright, g_black = metered.gain(1), metered.gain(2), metered.gain(4)
    assert g_dark > 1.5 and g_bright < 0.9
    assert g_black == GAIN_RANGE[1]
    assert measured_mean(metered, 4) < 0.1  # clamped: a black object stays dark


def test_gain_is_computed_once(metered):
    g = metered.gain(1)
    metered.meshes[1].diameter *= 1.0  # no-op; the cache must not recompute
    assert metered.gains[1] == g and metered.gain(1) == g


def test_scenes_are_not_metered(metered):
    """render_scene renders albedo x light (gain 1): the data generator owns the scene's lighting."""
    from deeprm_ros.render.brightness import canonical_views
    mesh = metered.meshes[1]
    K, poses = canonical_views(mesh.center, mesh.diameter, metered.width, metered.height)
    out = metered.render_scene(K, [(1, poses[0])])
    v, u = metered.height // 2, metered.width // 2  # the face towards the camera (lit head-on: diffuse 1)
    assert out.instance[v, u] == 0 and np.abs(out.rgb[v, u].astype(float) - 60).max() <= 1
