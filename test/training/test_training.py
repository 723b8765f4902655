import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from deeprm_ros.data.bop import BopDataset
from deeprm_ros.data.coarse_csv import read_bop_results

from .conftest import tiny_config


def _write(tmp_path, cfg, name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg))
    return p


def _train(cfg_path, out, *extra, torchrun=0):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "deeprm_ros.train", "--config", str(cfg_path), "--out", str(out), *extra]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(torchrun), "--master-port",
               str(29500 + os.getpid() % 1000), "-m", "deeprm_ros.train", "--config", str(cfg_path), "--out", str(out),
               *extra]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def test_bop_reader_reads_generated_dataset(tiny_dataset):
    ds = BopDataset(tiny_dataset, "train_pbr")
    assert len(ds.images()) == 8 and len(ds.samples) >= 16
    s = ds.samples[0]
    img = ds.load_image(s.scene_id, s.im_id)
    depth = ds.load_depth(s.scene_id, s.im_id)
    assert img.shape == (240, 320, 3) and depth.shape == (240, 320)
    # The object's origin projects inside the image, and the depth there is about the object's distance.
    u, v, w = s.K @ s.T_cam_obj[:3, 3]
    assert 0 <= u / w < 320 and 0 <= v / w < 240
    assert (BopDataset(tiny_dataset, "test", targets_file="test_targets_bop19.json").samples)


def test_overfits_one_fixed_batch(tiny_dataset):
    """The model, renderer, crop and loss fit one fixed batch: the loss falls by at least 10x."""
    from deeprm_ros.data.batches import BatchSampler, points_tensor, symmetry_tensor
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.model import DeepRM, ModelConfig
    from deeprm_ros.refiner import Refiner
    from deeprm_ros.render import Renderer
    from deeprm_ros.train import compute_loss

    torch.manual_seed(0)
    cfg = tiny_config(tiny_dataset)
    models = load_object_library(tiny_dataset / "models", n_points=256)
    sampler = BatchSampler(BopDataset(tiny_dataset, "train_pbr"), 2, 2, 0.05, 15.0, (0.01, 0.01, 0.05), set(models))
    batch = sampler.sample(0, 0, 0)
    model = DeepRM(ModelConfig.from_dict(cfg["model"])).train()
    refiner = Refiner(model, Renderer(models, 320, 240), models)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    T_gt = torch.as_tensor(batch.T_gt, dtype=torch.float32)
    pts, syms = points_tensor(models, batch.obj_ids, 100), symmetry_tensor(models, batch.obj_ids, 16)
    losses = []
    for _ in range(200):
        out = refiner.run(batch.images, batch.K, batch.T_init, batch.obj_ids, 1, image_index=batch.image_index,
                          train=True)
        loss, pose, _, _ = compute_loss(out, T_gt, pts, syms, {"flow_weight": 0.0, "rotation_weight": 1.0})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(pose.item())
    assert min(losses[-5:]) < losses[0] / 10, f"{losses[0]:.4f} -> {losses[-5:]}"


def test_resume_continues_with_the_same_optimizer_state(tiny_dataset, tmp_path):
    cfg = _write(tmp_path, tiny_config(tiny_dataset))
    full, part = tmp_path / "full", tmp_path / "part"
    _train(cfg, full, "--set", "train.max_steps=4")
    _train(cfg, part, "--set", "train.max_steps=2")
    saved = torch.load(part / "training_state.pt", weights_only=True)
    assert saved["step"] == 2
    r = _train(cfg, part, "--resume", "--set", "train.max_steps=4")
    assert "resumed from" in r.stderr and "at step 2" in r.stderr
    resumed = torch.load(part / "training_state.pt", weights_only=True)
    assert resumed["step"] == 4
    # The Adam moments continued (step counts 4 for every parameter), so the resumed run equals the
    # uninterrupted one.
    assert all(int(s["step"]) == 4 for s in resumed["optimizer"]["state"].values())
    a, b = load_file(str(full / "model.safetensors")), load_file(str(part / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    # train_log.csv: one row per logged step (log_every_steps=1) with the pose loss of each of the 2 unrolled
    # iterations and the median rotation error before and after each; the resumed run appends to it, and its
    # rows equal the uninterrupted run's.
    full_rows = (full / "train_log.csv").read_text().splitlines()
    part_rows = (part / "train_log.csv").read_text().splitlines()
    assert full_rows[0] == ("step,loss,pose_loss,flow_loss,pose_iter1,pose_iter2,"
                            "rot_deg_iter0,rot_deg_iter1,rot_deg_iter2")
    assert [r.split(",")[0] for r in part_rows[1:]] == ["1", "2", "3", "4"]
    np.testing.assert_allclose(np.array([r.split(",") for r in part_rows[1:]], float),
                               np.array([r.split(",") for r in full_rows[1:]], float), rtol=1e-3, atol=1e-5)


def test_torchrun_two_cpu_processes_end_with_identical_parameters(tiny_dataset, tmp_path):
    cfg = _write(tmp_path, tiny_config(tiny_dataset))
    _train(cfg, tmp_path / "ddp", "--set", "train.max_steps=2", torchrun=2)
    rep = json.loads((tmp_path / "ddp" / "replicas.json").read_text())
    assert rep["world_size"] == 2 and rep["checksums"][0] == rep["checksums"][1]
    assert (tmp_path / "ddp" / "model.safetensors").exists()


def test_two_processes_of_n_images_draw_what_one_process_of_2n_draws(tiny_dataset):
    from deeprm_ros.data.batches import BatchSampler

    ds = BopDataset(tiny_dataset, "train_pbr")
    known = {s.obj_id for s in ds.samples}
    half, whole = (BatchSampler(ds, n, 2, 0.05, 15.0, (0.01, 0.01, 0.05), known) for n in (2, 4))
    for step in (0, 7):
        parts = [half.sample(3, rank, step) for rank in (0, 1)]
        full = whole.sample(3, 0, step)
        np.testing.assert_array_equal(np.concatenate([p.images for p in parts]), full.images)
        for field in ("obj_ids", "T_gt", "T_init", "K"):
            np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in parts]), getattr(full, field))
        np.testing.assert_array_equal(np.concatenate([parts[0].image_index, parts[1].image_index + 2]),
                                      full.image_index)
    assert not np.array_equal(half.sample(3, 0, 0).T_init, half.sample(3, 0, 1).T_init)


def test_torchrun_two_processes_equal_one_process_on_the_doubled_batch(tiny_dataset, tmp_path):
    """Data-parallel training is the single-process step on the whole batch. With BatchNorm statistics frozen,
    ImageNet weights and one object per image (equal counts per process), 2 processes x 2 images log the losses
    that 1 process x 4 images logs, step after step, and clearly not those of 1 process x 2 images (rank 0's half
    alone). Losses, not parameters: the tiled renderer places a crop at another tile when the batch differs, which
    moves an edge pixel by one grey level, and Adam's first step (lr * sign(g)) turns that into +-lr on weights
    whose gradient is near zero; the loss hardly depends on those."""
    cfg = _write(tmp_path, tiny_config(tiny_dataset))
    common = ["--set", "train.max_steps=3", "--set", "train.freeze_batchnorm=true", "--set", "loss.flow_weight=0",
              "--set", "data.objects_per_image=1", "--set", "model.pretrained=true", "--set", "optim.lr=3.0e-4"]
    _train(cfg, tmp_path / "two", *common, torchrun=2)
    _train(cfg, tmp_path / "one", *common, "--set", "data.images_per_batch=4")
    _train(cfg, tmp_path / "half", *common)
    rep = json.loads((tmp_path / "two" / "replicas.json").read_text())
    assert rep["checksums"][0] == rep["checksums"][1]
    logs = {d: np.loadtxt(tmp_path / d / "train_log.csv", delimiter=",", skiprows=1) for d in ("two", "one", "half")}
    print({d: v[:, 1].round(6).tolist() for d, v in logs.items()})
    np.testing.assert_allclose(logs["two"][:, 1], logs["one"][:, 1], rtol=1e-4)  # total loss, steps 1-3
    assert np.abs(logs["half"][:, 1] - logs["one"][:, 1]).max() > 0.05 * logs["one"][:, 1].mean()


def test_generate_train_evaluate_and_read_csv(tiny_dataset, tmp_path):
    cfg = _write(tmp_path, tiny_config(tiny_dataset))
    out = tmp_path / "run"
    _train(cfg, out, "--set", "train.max_steps=2")
    ev = tmp_path / "eval"
    r = subprocess.run([sys.executable, "-m", "deeprm_ros.evaluate", "--checkpoint", str(out), "--data",
                        str(tiny_dataset), "--split", "test", "--targets", "test_targets_bop19.json",
                        "--iterations", "1", "2", "--out", str(ev)], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((ev / "metrics.json").read_text())
    assert set(report["results"]) == {"initial", "1 iter", "2 iter"}
    for res in report["results"].values():
        assert 0.0 <= res["auc_adds"] <= 100.0 and 0.0 <= res["adds_10pct"] <= 100.0
    assert (ev / "accuracy.png").stat().st_size > 1000
    csvs = list(ev.glob("*.csv"))
    rows = read_bop_results(csvs[0])
    targets = BopDataset(tiny_dataset, "test", targets_file="test_targets_bop19.json").samples
    assert len(rows) == len({(t.scene_id, t.im_id, t.obj_id) for t in targets})
    for (scene, im, obj), ests in rows.items():
        R = ests[0][1][:3, :3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-5)
    # BOP's time: per image, the same for every estimate of that image, and what the report's mean is made of.
    per_image = {}
    for (scene, im, obj), ests in rows.items():
        per_image.setdefault((scene, im), set()).add(ests[0][2])
    assert all(len(times) == 1 and next(iter(times)) > 0 for times in per_image.values()), per_image
    mean = np.mean([next(iter(t)) for t in per_image.values()])
    assert abs(report["time_per_image_s"] - mean) < 1e-3


def test_max_seconds_stops_with_a_checkpoint_that_resumes(tiny_dataset, tmp_path):
    cfg = _write(tmp_path, tiny_config(tiny_dataset, checkpoint_every_steps=100))
    out = tmp_path / "timed"
    r = _train(cfg, out, "--set", "train.max_steps=50", "--set", "train.max_seconds=0.001")
    assert "stopped at step 1 after train.max_seconds" in r.stderr
    assert torch.load(out / "training_state.pt", weights_only=True)["step"] == 1  # saved although not a multiple of 100
    _train(cfg, out, "--resume", "--set", "train.max_steps=2")
    assert torch.load(out / "training_state.pt", weights_only=True)["step"] == 2


def test_init_weights_starts_from_a_bundle(tiny_dataset, tmp_path):
    """A run started from an inference-only bundle holds the bundle's weights (lr 0 keeps them) and a new flow
    decoder; a bundle that does not fit the config stops the run naming the folder."""
    from deeprm_ros.export import bundle
    cfg = _write(tmp_path, tiny_config(tiny_dataset))
    _train(cfg, tmp_path / "first", "--set", "train.max_steps=1")
    bundle(tmp_path / "first", tmp_path / "bundle")
    _train(cfg, tmp_path / "second", "--set", "train.max_steps=1", "--set", "optim.lr=0",
           "--set", f"train.init_weights={tmp_path / 'bundle'}")
    a, b = load_file(str(tmp_path / "bundle" / "model.safetensors")), load_file(str(tmp_path / "second" / "model.safetensors"))
    assert any(k.startswith("flow_decoder.") for k in b) and not any(k.startswith("flow_decoder.") for k in a)
    for k in a:
        if a[k].is_floating_point() and "running" not in k and "num_batches" not in k:
            torch.testing.assert_close(b[k].float(), a[k].float(), atol=1e-3, rtol=1e-3)
    with pytest.raises(AssertionError, match="does not fit"):
        _train(cfg, tmp_path / "third", "--set", "train.max_steps=1", "--set", "model.hidden_sizes=[8,8,8]",
               "--set", f"train.init_weights={tmp_path / 'bundle'}")


def test_training_stops_with_the_pretrained_file_named(tiny_dataset, tmp_path, capsys):
    """`model.pretrained_file` pointing nowhere stops the training program with exit 2 and the path."""
    from deeprm_ros.train import main as train_main

    missing = tmp_path / "imagenet_b0.safetensors"
    code = train_main(["--config", str(_write(tmp_path, tiny_config(tiny_dataset))), "--out", str(tmp_path / "run"),
                       "--set", "model.pretrained=true", "--set", f"model.pretrained_file={missing}"])
    assert code == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_fine_fraction_shrinks_some_starts_and_changes_nothing_else(tiny_dataset):
    """perturbation.fine_fraction: about that share of the objects starts fine_scale times nearer the truth; the
    images, objects and other starts are the draws of a run without it."""
    from deeprm_ros.data.batches import BatchSampler
    from deeprm_ros.meshes import load_object_library

    models = load_object_library(tiny_dataset / "models", n_points=64)
    ds = BopDataset(tiny_dataset, "train_pbr")
    args = (ds, 2, 2, 0.05, 15.0, (0.01, 0.01, 0.05), set(models))
    fine_share, changed = [], 0
    for step in range(40):
        plain = BatchSampler(*args).sample(0, 0, step)
        mixed = BatchSampler(*args, fine_fraction=0.5, fine_scale=0.2).sample(0, 0, step)
        np.testing.assert_array_equal(plain.images, mixed.images)
        np.testing.assert_array_equal(plain.obj_ids, mixed.obj_ids)
        np.testing.assert_allclose(plain.T_gt, mixed.T_gt)
        off_plain = plain.T_init[:, :3, 3] - plain.T_gt[:, :3, 3]
        off_mixed = mixed.T_init[:, :3, 3] - mixed.T_gt[:, :3, 3]
        same = np.all(np.isclose(off_plain, off_mixed), axis=1)
        shrunk = np.all(np.isclose(off_mixed, 0.2 * off_plain), axis=1)
        assert np.all(same | shrunk)
        fine_share.extend(shrunk & ~same)
        changed += int(np.any(~same))
    assert 0.3 < np.mean(fine_share) < 0.7 and changed > 10


def test_object_weights_draw_the_weighted_object_more_often(tiny_dataset):
    """data.object_weights: an object weighted 50x is drawn in nearly every image that shows it, against about
    its fair share without weights; empty weights give exactly the unweighted batches; a zero weight, an unknown
    object and a weight that is not a number are refused, named."""
    from deeprm_ros.data.batches import BatchSampler
    from deeprm_ros.meshes import load_object_library

    models = load_object_library(tiny_dataset / "models", n_points=64)
    ds = BopDataset(tiny_dataset, "train_pbr")
    args = (ds, 2, 1, 0.05, 15.0, (0.01, 0.01, 0.05), set(models))
    favourite = 2
    plain, weighted = [], []
    for step in range(60):
        a = BatchSampler(*args).sample(0, 0, step)
        b = BatchSampler(*args, object_weights={favourite: 50.0}).sample(0, 0, step)
        np.testing.assert_array_equal(a.obj_ids, BatchSampler(*args, object_weights={}).sample(0, 0, step).obj_ids)
        np.testing.assert_array_equal(a.images, b.images)  # the images drawn do not change, only their objects
        plain.extend(a.obj_ids == favourite)
        weighted.extend(b.obj_ids == favourite)
    sampler = BatchSampler(*args)
    shown = np.mean([any(r.obj_id == favourite for r in sampler.per_image[sampler.keys[int(
        np.random.default_rng([0, step, slot]).integers(len(sampler.keys)))]]) for step in range(60) for slot in range(2)])
    assert 0.9 * shown <= np.mean(weighted) <= shown
    assert np.mean(plain) < 0.75 * shown
    with pytest.raises(ValueError, match="object_weights must be positive"):
        BatchSampler(*args, object_weights={favourite: 0.0})
    with pytest.raises(ValueError, match="not in the models: \\[99\\]"):
        BatchSampler(*args, object_weights={99: 2.0})
    with pytest.raises(ValueError, match="must map object ids to weights"):
        BatchSampler(*args, object_weights=[favourite, 4])
    with pytest.raises(ValueError, match="must map object ids to numbers"):
        BatchSampler(*args, object_weights={favourite: "a lot"})


def test_object_weights_are_read_from_the_config_and_the_command_line(tmp_path):
    from deeprm_ros.training_config import load_training_config

    path = tmp_path / "c.yaml"
    path.write_text("data:\n  object_weights: {2: 3.0}\n")
    assert load_training_config(path)["data"]["object_weights"] == {2: 3.0}
    cfg = load_training_config(path, ["data.object_weights={2: 4, 1: 0.5}"])
    assert cfg["data"]["object_weights"] == {2: 4, 1: 0.5}
    path.write_text("data:\n  objects_per_imag: 2\n")
    with pytest.raises(Exception, match="unknown option data.objects_per_imag"):
        load_training_config(path)


def test_training_stops_with_an_unknown_object_in_object_weights_named(tiny_dataset, tmp_path, capsys):
    """A typo in data.object_weights stops the training program with exit 2 and the object, not a traceback."""
    from deeprm_ros.train import main as train_main

    code = train_main(["--config", str(_write(tmp_path, tiny_config(tiny_dataset))), "--out", str(tmp_path / "run"),
                       "--set", "data.object_weights={99: 2.0}"])
    assert code == 2
    assert "data.object_weights names objects that are not in the models: [99]" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_iteration_gamma_weighs_the_unrolled_iterations_as_raft_does():
    """Three iterations off the truth by 30, 10 and 3 mm along x (no rotation, no symmetry): Eq. 2's terms are
    dx, dx and 0, so each iteration's loss is 2 dx / 3 over any points. gamma 1 gives their plain mean;
    gamma 0.5 weighs them 1, 2, 4 (over 7), the last iteration most."""
    from types import SimpleNamespace

    from deeprm_ros.train import compute_loss, iteration_weights

    np.testing.assert_allclose(iteration_weights(3, 0.5).numpy(), [1 / 7, 2 / 7, 4 / 7], rtol=1e-6)
    np.testing.assert_allclose(iteration_weights(4).numpy(), [0.25] * 4, rtol=1e-6)
    T_gt = torch.eye(4)[None]
    poses = []
    for dx in (0.03, 0.01, 0.003):
        T = torch.eye(4)[None].clone()
        T[0, 0, 3] = dx
        poses.append(T)
    out = SimpleNamespace(poses=poses, records=[SimpleNamespace(flows=None)] * 3)
    points = torch.randn(1, 50, 3) * 0.05
    syms = torch.eye(4)[None, None]
    cfg = {"flow_weight": 0.0, "rotation_weight": 0.0}
    _, plain, _, per_iteration = compute_loss(out, T_gt, points, syms, cfg)
    np.testing.assert_allclose(per_iteration, [0.02, 0.02 / 3, 0.002], rtol=1e-5)
    np.testing.assert_allclose(plain.item(), 2 / 3 * 0.043 / 3, rtol=1e-5)
    _, weighted, _, _ = compute_loss(out, T_gt, points, syms, {**cfg, "iteration_gamma": 0.5})
    np.testing.assert_allclose(weighted.item(), 2 / 3 * (0.03 + 2 * 0.01 + 4 * 0.003) / 7, rtol=1e-5)


def test_training_stops_with_a_non_positive_iteration_gamma_named(tiny_dataset, tmp_path, capsys):
    """loss.iteration_gamma 0 would train the last iteration only, a negative one would reward errors: the
    training program exits 2 naming the option, before writing anything."""
    from deeprm_ros.train import main as train_main

    for bad in ("0", "-0.5", "'fast'"):
        code = train_main(["--config", str(_write(tmp_path, tiny_config(tiny_dataset))), "--out", str(tmp_path / "run"),
                           "--set", f"loss.iteration_gamma={bad}"])
        assert code == 2
        assert f"loss.iteration_gamma must be > 0, got {bad}\n" in capsys.readouterr().err, bad
        assert not (tmp_path / "run" / "model.safetensors").exists()
