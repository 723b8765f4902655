"""Sequence training: rendered moving-object sequences (data/sequence_batches.py) and the loss that carries the
recurrent state from frame to frame (train.sequence_loss), checked against OpenCV projections, scipy rotations and
the refiner run frame by frame by hand."""
import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from .conftest import TINY_MODEL, tiny_config
from .test_training import _train, _write

RATE_HZ, MAX_SPEED = 10.0, 2.0
MAX_SPIN_RAD_S = 0.25   # data/sequence.py SceneMotion: turns at 0.1-0.25 rad/s


@pytest.fixture(scope="module")
def scene_setup(demo_models):
    from deeprm_ros.render import Renderer
    return demo_models, Renderer(demo_models, width=320, height=240)


def _sampler(models, renderer, **kw):
    from deeprm_ros.data.sequence_batches import SequenceSampler
    args = dict(images_per_batch=2, objects_per_image=2, frames=3, rate_hz=RATE_HZ, rotation_std_deg=15.0,
                translation_std_m=(0.01, 0.01, 0.05), speed=(0.5, MAX_SPEED), focal_range=(280.0, 300.0))
    args.update(kw)
    return SequenceSampler(models, renderer, **args)


def test_sequences_are_deterministic_and_move_slowly_in_view(scene_setup):
    """The same (seed, step) draws the same sequence, another step another; between consecutive frames each object
    turns by more than 0 and at most its spin rate allows (scipy), and its projected centre (cv2.projectPoints)
    stays in the image and on a pixel that changes as the object moves."""
    models, renderer = scene_setup
    sampler = _sampler(models, renderer)
    a, b, c = sampler.sample(0, 0, 5), sampler.sample(0, 0, 5), sampler.sample(0, 0, 6)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.T_init, b.T_init)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (3, 2, 240, 320, 3) and a.T_gt.shape == (3, len(a.obj_ids), 4, 4)
    max_turn = np.rad2deg(MAX_SPIN_RAD_S * MAX_SPEED / RATE_HZ)
    for batch in (a, c):
        for k in range(1, batch.n_frames):
            turn = Rotation.from_matrix(batch.T_gt[k, :, :3, :3] @ batch.T_gt[k - 1, :, :3, :3].transpose(0, 2, 1))
            deg = np.rad2deg(turn.magnitude())
            assert np.all(deg > 0.05) and np.all(deg <= max_turn + 1e-6), deg
            assert np.all(np.linalg.norm(batch.T_gt[k, :, :3, 3] - batch.T_gt[k - 1, :, :3, 3], axis=1) < 0.02)
        for i in range(len(batch.obj_ids)):
            for k in range(batch.n_frames):
                T = batch.T_gt[k, i]
                uv, _ = cv2.projectPoints(T[:3, 3][None], np.zeros(3), np.zeros(3), batch.K[i], None)
                u, v = uv.ravel()
                assert 0 <= u < 320 and 0 <= v < 240


def test_frame_zero_starts_are_detection_like(scene_setup):
    """Frame 0's starts are the truth perturbed by 15 degrees RMS (angle from scipy) and (1, 1, 5) cm; with
    fine_fraction 1 every start is 5x nearer."""
    models, renderer = scene_setup
    angles, offsets, fine_angles = [], [], []
    plain, fine = _sampler(models, renderer, frames=2), _sampler(models, renderer, frames=2, fine_fraction=1.0)
    for step in range(12):
        for sampler, out in ((plain, angles), (fine, fine_angles)):
            b = sampler.sample(0, 0, step)
            dR = b.T_init[:, :3, :3] @ b.T_gt[0, :, :3, :3].transpose(0, 2, 1)
            out.extend(np.rad2deg(Rotation.from_matrix(dR).magnitude()))
            if sampler is plain:
                offsets.extend(b.T_init[:, :3, 3] - b.T_gt[0, :, :3, 3])
    rms = np.sqrt(np.mean(np.square(angles)))
    assert 10 < rms < 20, rms
    assert 1.5 < rms / np.sqrt(np.mean(np.square(fine_angles))) < 8
    assert 0.025 < np.std(np.asarray(offsets)[:, 2]) < 0.08


def test_a_sequence_of_fewer_than_two_frames_is_refused(scene_setup, tiny_dataset, tmp_path, capsys):
    models, renderer = scene_setup
    with pytest.raises(ValueError, match="at least 2 frames"):
        _sampler(models, renderer, frames=1)
    from deeprm_ros.train import main as train_main
    cfg = tiny_config(tiny_dataset)
    cfg["sequence"] = {"every": 2, "frames": 1}
    assert train_main(["--config", str(_write(tmp_path, cfg)), "--out", str(tmp_path / "run")]) == 2
    assert "sequence: a training sequence needs at least 2 frames" in capsys.readouterr().err


def test_sequence_loss_carries_poses_and_state_and_the_gradient_reaches_back(scene_setup):
    """Frame 1 is refined from frame 0's final poses with its recurrent state: the same as the refiner called by
    hand that way, and not what a zero state gives. Frame 1's loss has a gradient with respect to frame 0's image,
    which it reaches only through the carried state (the poses are detached between frames)."""
    from deeprm_ros.model import DeepRM, ModelConfig
    from deeprm_ros.refiner import Refiner
    from deeprm_ros.train import sequence_loss

    models, renderer = scene_setup
    torch.manual_seed(0)
    model = DeepRM(ModelConfig.from_dict(dict(TINY_MODEL, pretrained=False))).eval()   # eval: no batch statistics
    refiner = Refiner(model, renderer, models, "cpu")
    batch = _sampler(models, renderer, frames=2).sample(0, 0, 0)
    images = torch.as_tensor(batch.images, dtype=torch.float32).permute(0, 1, 4, 2, 3) / 255.0
    images.requires_grad_(True)
    batch.images = images
    loss_cfg = {"n_points": 100, "n_continuous_symmetries": 16, "rotation_weight": 1.0, "flow_weight": 0.1}
    result = sequence_loss(refiner, batch, 2, 1, models, loss_cfg)
    assert len(result.outputs) == 2 and len(result.per_iter) == 3

    first = result.outputs[0]
    by_hand = refiner.run(images[1].detach(), batch.K, first.poses[-1].detach(), batch.obj_ids, 1,
                          state=tuple(s.detach() for s in first.state), image_index=batch.image_index)
    torch.testing.assert_close(result.outputs[1].poses[-1].detach(), by_hand.poses[-1], atol=1e-5, rtol=1e-5)
    zero_state = refiner.run(images[1].detach(), batch.K, first.poses[-1].detach(), batch.obj_ids, 1,
                             image_index=batch.image_index)
    assert (zero_state.poses[-1] - by_hand.poses[-1]).abs().max() > 1e-4

    grad, = torch.autograd.grad(result.frame_losses[1], images)
    assert grad[0].abs().sum() > 0, "no gradient reaches frame 0 through the carried state"
    assert grad[1].abs().sum() > 0


def test_training_alternates_sequence_and_single_image_steps(tiny_dataset, tmp_path):
    """sequence.every=2: steps 2 and 4 are sequence steps (sequence_log.csv, 2 + 2 + 2 iterations of 3 frames),
    steps 1 and 3 single-image steps (train_log.csv); a resumed run goes on with the same rule."""
    import csv
    cfg = tiny_config(tiny_dataset)
    cfg["sequence"] = {"every": 2, "frames": 3, "first_iterations": 2, "iterations": 2, "images_per_batch": 1,
                       "objects_per_image": 1}
    path = _write(tmp_path, cfg)
    out = tmp_path / "run"
    _train(path, out, "--set", "train.max_steps=2")
    _train(path, out, "--resume")
    seq_rows = list(csv.DictReader((out / "sequence_log.csv").open()))
    plain_rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert [int(r["step"]) for r in seq_rows] == [2, 4]
    assert [int(r["step"]) for r in plain_rows] == [1, 3]
    assert "pose_iter6" in seq_rows[0] and "pose_iter7" not in seq_rows[0]
    assert "pose_iter2" in plain_rows[0] and "pose_iter3" not in plain_rows[0]
    assert all(np.isfinite(float(r["loss"])) for r in seq_rows)
