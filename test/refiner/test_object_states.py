"""Per-object recurrent state through Refiner.run, the same for the torch and the ONNX step model: a list of
states goes in (None for a new object) and `object_states` comes out, and a new object beside tracked ones
leaves their states alone."""
import numpy as np
import pytest
import torch

from deeprm_ros.export import OnnxStepModel, export_onnx
from deeprm_ros.model import create_model
from deeprm_ros.refiner import Refiner

K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])


def _poses(n):
    T = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        T[i, :3, 3] = [-0.1 + 0.1 * i, 0.02, 0.6 + 0.05 * i]
    return T


@pytest.fixture(scope="module")
def step_models(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(0, "lstm", input_size=(64, 96), hidden_sizes=(32, 32, 16), reduce_channels=8,
                         with_flow=False).eval()
    for p in model.heads.parameters():  # non-trivial updates
        torch.nn.init.normal_(p, std=0.3)
    onnx = OnnxStepModel(export_onnx(model, tmp_path_factory.mktemp("onnx") / "m.onnx"), model.config, threads=1)
    return {"torch": model, "onnx": onnx}


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_new_object_beside_tracked_ones_leaves_their_state_alone(step_models, demo_models, demo_renderer, backend):
    refiner = Refiner(step_models[backend], demo_renderer, demo_models, "cpu")
    ids = sorted(demo_models)[:3]
    image = np.zeros((1, 480, 640, 3), np.uint8)
    Ks, T = np.repeat(K[None], 3, 0), _poses(3)
    index = np.zeros(3, np.int64)
    first = refiner.run(image, Ks, T, ids, 2, image_index=index)
    states = first.object_states
    assert len(states) == 3 and all(len(s) == 6 and s[0].shape == (1, 32) for s in states)  # h, c x 3 layers
    poses = first.poses[-1].numpy()
    # Objects 0 and 2 carry their state; object 1 is new (None): zeros for it alone.
    mixed = refiner.run(image, Ks, poses, ids, 1, state=[states[0], None, states[2]], image_index=index)
    for i, state in ((0, states[0]), (2, states[2])):
        alone = refiner.run(image, Ks[i:i + 1], poses[i:i + 1], ids[i:i + 1], 1, state=[state], image_index=index[:1])
        np.testing.assert_allclose(mixed.poses[-1][i].numpy(), alone.poses[-1][0].numpy(), atol=1e-5)
        for a, b in zip(mixed.object_states[i], alone.object_states[0]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    fresh = refiner.run(image, Ks[1:2], poses[1:2], ids[1:2], 1, state=None, image_index=index[:1])
    np.testing.assert_allclose(mixed.poses[-1][1].numpy(), fresh.poses[-1][0].numpy(), atol=1e-5)
    # The carried state matters: without it object 0 moves elsewhere.
    assert np.abs(mixed.poses[-1][0].numpy() - fresh_of(refiner, image, Ks, poses, ids, 0)).max() > 1e-4


def fresh_of(refiner, image, Ks, poses, ids, i):
    return refiner.run(image, Ks[i:i + 1], poses[i:i + 1], ids[i:i + 1], 1, image_index=np.zeros(1, np.int64)
                       ).poses[-1][0].numpy()
