"""Train DeepRM: `python -m deeprm_ros.train --config config/demo.yaml --out runs/demo [--resume]`.

Multi-GPU / multi-node: `torchrun --nproc-per-node N -m deeprm_ros.train ...` (env:// rendezvous).
Each process owns its renderer (a GL context per process) and draws its own batches; gradients are
averaged across processes after every backward pass, packed into 25 MB buckets with one all-reduce each
(deeprm_ros/distributed.py says why DDP's wrapper is not used).

Unrolled iterations: the pose is detached between iterations (the renderer is not differentiable,
and each update is learned as a fresh correction, as in DeepIM/CosyPose), while the recurrent state
is carried WITH gradients, so the LSTM learns what to remember across iterations. The loss is the
mean over iterations of Eq. 2 (+ flow_weight x multi-scale EPE).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt
from .distributed import average_gradients
from .model.pretrained import PretrainedWeightsError
from .training_config import ConfigError, load_training_config

log = logging.getLogger("deeprm_ros.train")


def _distributed():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local_rank


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(name)


def lr_factor(step: int, steps_per_epoch: int, milestones, gamma: float, warmup_epochs: float, warmup_factor: float):
    """Piecewise-constant schedule of the paper: warm-up at warmup_factor for the first epochs, then
    x gamma at each milestone epoch."""
    epoch = step / steps_per_epoch
    if epoch < warmup_epochs:
        return warmup_factor
    return gamma ** sum(epoch >= m for m in milestones)


def iteration_weights(n: int, gamma: float = 1.0) -> torch.Tensor:
    """Weights summing to 1 of n unrolled iterations' losses: gamma ** (n - 1 - i), as RAFT weighs its
    iterations. gamma 1 is the plain mean; gamma < 1 puts the weight on the last iterations, whose small errors
    the first iterations' large ones otherwise outweigh, though the last are what a tracker keeps."""
    # 0 would train the last iteration only, a negative gamma would reward some iterations' errors
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma > 0:
        raise ValueError(f"iteration_gamma must be > 0, got {gamma!r}")
    w = gamma ** torch.arange(n - 1, -1, -1, dtype=torch.float64)
    return (w / w.sum()).float()


def compute_loss(out, T_gt, points, syms, loss_cfg):
    """Weighted mean over unrolled iterations of Eq. 2 (min over symmetries; weights: iteration_weights with
    loss_cfg's iteration_gamma, default the plain mean) + flow_weight * multi-scale EPE (plain mean)."""
    from .losses import closest_symmetric_pose, flow_from_poses, multiscale_epe, symmetric_pose_loss

    pose_terms, flow_terms = [], []
    for T_pred, rec in zip(out.poses, out.records):
        loss, _ = symmetric_pose_loss(T_pred, T_gt, points, syms, loss_cfg["rotation_weight"])
        pose_terms.append(loss.mean())
        if rec.flows is not None and loss_cfg["flow_weight"] > 0:
            with torch.no_grad():
                T_obs = closest_symmetric_pose(rec.T_input, T_gt, points, syms)
                flow_gt = flow_from_poses(rec.rendered_depth, rec.rendered_valid, rec.K_crop, rec.T_input, T_obs)
            flow_terms.append(multiscale_epe([f.float() for f in rec.flows], flow_gt, rec.rendered_valid))
    weights = iteration_weights(len(pose_terms), loss_cfg.get("iteration_gamma", 1.0)).to(pose_terms[0].device)
    pose = (torch.stack(pose_terms) * weights).sum()
    flow = torch.stack(flow_terms).mean() if flow_terms else pose.new_zeros(())
    return pose + loss_cfg["flow_weight"] * flow, pose.detach(), flow.detach(), [p.item() for p in pose_terms]


@dataclass
class SequenceLoss:
    total: torch.Tensor          # what is minimized: the mean over frames of compute_loss
    pose: torch.Tensor
    flow: torch.Tensor
    per_iter: list               # pose loss of every iteration of every frame (m)
    rot_err: list                # median rotation error (deg) of frame 0's starts and of the last frame's result
    frame_losses: list = field(default_factory=list)   # compute_loss's total of each frame
    outputs: list = field(default_factory=list)        # each frame's RefinerOutput


def sequence_loss(refiner, batch, first_iterations: int, iterations: int, models, loss_cfg) -> SequenceLoss:
    """The loss of one training sequence, run as the tracker runs it: frame 0 from its perturbed starts with a
    zero state, each later frame from the previous frame's final poses (detached, as between iterations) and
    its recurrent state (not detached: the gradient reaches back through the frames)."""
    from .data.batches import points_tensor, symmetry_tensor

    device = refiner.device
    points = points_tensor(models, batch.obj_ids, loss_cfg["n_points"]).to(device)
    syms = symmetry_tensor(models, batch.obj_ids, loss_cfg["n_continuous_symmetries"]).to(device)
    T, state = batch.T_init, None
    totals, poses, flows, per_iter, outputs, rot_err = [], [], [], [], [], []
    for k in range(batch.n_frames):
        T_gt = torch.as_tensor(batch.T_gt[k], dtype=torch.float32, device=device)
        out = refiner.run(batch.images[k], batch.K, T, batch.obj_ids, first_iterations if k == 0 else iterations,
                          state=state, image_index=batch.image_index, train=True)
        total, pose, flow, frame_iters = compute_loss(out, T_gt, points, syms, loss_cfg)
        if k == 0 or k == batch.n_frames - 1:
            errors = median_rotation_errors_deg(out, T_gt, syms)
            rot_err.append(errors[0] if k == 0 else errors[-1])
        totals.append(total)
        poses.append(pose)
        flows.append(flow)
        per_iter += frame_iters
        outputs.append(out)
        T, state = out.poses[-1].detach(), out.state
    return SequenceLoss(torch.stack(totals).mean(), torch.stack(poses).mean(), torch.stack(flows).mean(), per_iter,
                        rot_err, totals, outputs)


@torch.no_grad()
def median_rotation_errors_deg(out, T_gt, syms) -> list[float]:
    """Median rotation error (degrees, nearest symmetric ground truth) of the initial poses and of each
    iteration: the number that shows whether rotation is being learned (the loss mixes it with translation)."""
    from .metrics import symmetric_pose_errors

    T_gt, syms = T_gt.detach().cpu().numpy(), syms.cpu().numpy()
    return [float(np.median(symmetric_pose_errors(T.detach().cpu().numpy(), T_gt, syms)[0]))
            for T in [out.records[0].T_input] + list(out.poses)]


def train(config: dict, out_dir: Path, resume: bool) -> Path:
    from tqdm import tqdm

    from .data.augmentation import Augmentation
    from .data.batches import BatchSampler, points_tensor, symmetry_tensor
    from .data.bop import BopDataset, resolve_models_dir
    from .meshes import load_object_library
    from .model import DeepRM, ModelConfig
    from .refiner import Refiner
    from .render import Renderer

    world, rank, local_rank = _distributed()
    tcfg, dcfg, ocfg, lcfg = config["train"], config["data"], config["optim"], config["loss"]
    pcfg = config["perturbation"]
    try:  # a bad loss.iteration_gamma is refused before any data is loaded
        iteration_weights(tcfg["iterations"], lcfg["iteration_gamma"])
    except ValueError as e:
        raise ConfigError(f"loss.{e}") from None
    device = _device(tcfg["device"], local_rank)
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if tcfg["threads"]:
        torch.set_num_threads(int(tcfg["threads"]))
    torch.manual_seed(tcfg["seed"])

    root = Path(dcfg["root"]).expanduser()
    models = load_object_library(resolve_models_dir(root, dcfg["models_dir"]), unit=dcfg["mesh_unit"],
                                 n_points=max(lcfg["n_points"], 256))
    splits = dcfg["split"] if isinstance(dcfg["split"], list) else [dcfg["split"]]
    try:  # one for every split's sampler and the sequences'
        augmentation = Augmentation.from_config(dcfg["augmentation"])
    except ValueError as e:
        raise ConfigError(str(e)) from None
    samplers = []
    for split in splits:
        ds = BopDataset(root, split)
        try:
            samplers.append(BatchSampler(ds, dcfg["images_per_batch"], dcfg["objects_per_image"],
                                         dcfg["min_visib_fract"], pcfg["rotation_std_deg"], pcfg["translation_std_m"],
                                         set(models), dcfg["cache_images"], pcfg["rotation_model"],
                                         augmentation, pcfg["fine_fraction"],
                                         pcfg["fine_scale"], dcfg["object_weights"]))
        except ValueError as e:  # the sampler's refusals are the config's (object_weights, min_visib_fract)
            raise ConfigError(str(e)) from None
    first = samplers[0].sample(tcfg["seed"], rank, 0)
    height, width = first.images.shape[1:3]

    out_dir.mkdir(parents=True, exist_ok=True)
    model_cfg = ModelConfig.from_dict(config["model"])
    if resume and (out_dir / ckpt.WEIGHTS).exists():
        model = ckpt.load_model(out_dir, device, with_flow=model_cfg.with_flow).train()
        state = ckpt.load_training_state(out_dir)
    else:
        model = DeepRM(model_cfg).to(device).train()
        state = None
        if tcfg["init_weights"]:
            _init_from(model, Path(tcfg["init_weights"]))
    if tcfg["freeze_batchnorm"]:
        _freeze_batchnorm(model)
    if world > 1:  # same start everywhere
        import torch.distributed as dist
        for p in model.parameters():
            dist.broadcast(p.data, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=ocfg["lr"])
    steps_per_epoch = ocfg["steps_per_epoch"] or max(1, math.ceil(sum(len(s) for s in samplers) /
                                                                   (dcfg["images_per_batch"] * world)))
    total_steps = int(round(steps_per_epoch * ocfg["epochs"]))
    if tcfg["max_steps"]:
        total_steps = min(total_steps, int(tcfg["max_steps"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(
        s, steps_per_epoch, ocfg["milestones"], ocfg["gamma"], ocfg["warmup_epochs"], ocfg["warmup_factor"]))
    step = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        if rank == 0:
            log.info("resumed from %s at step %d", out_dir, step)
    if rank == 0:
        (out_dir / "train_config.json").write_text(json.dumps(config, indent=2))

    renderer = Renderer(models, width=width, height=height)
    refiner = Refiner(model, renderer, models, device, amp=bool(tcfg["amp"]))
    scfg = config["sequence"]
    sequences = None
    if scfg["every"]:
        from .data.sequence_batches import SequenceSampler
        if int(scfg["every"]) < 0 or min(scfg["first_iterations"], scfg["iterations"]) < 1:
            raise ConfigError(f"sequence: every must be >= 0 and both iteration counts >= 1, got {scfg}")
        try:
            sequences = SequenceSampler(models, renderer, scfg["images_per_batch"], scfg["objects_per_image"],
                                        scfg["frames"], scfg["rate_hz"], pcfg["rotation_std_deg"],
                                        pcfg["translation_std_m"], pcfg["rotation_model"],
                                        augmentation, pcfg["fine_fraction"],
                                        pcfg["fine_scale"], scfg["speed"])
        except ValueError as e:
            raise ConfigError(f"sequence: {e}") from None
    scaler = torch.amp.GradScaler("cuda", enabled=refiner.amp)
    if state is not None and state.get("scaler") and refiner.amp:  # absent in states saved before it was kept
        scaler.load_state_dict(state["scaler"])
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(out_dir / "tensorboard"))
    bar = tqdm(total=total_steps, initial=step, desc="train", disable=rank != 0, dynamic_ncols=True)
    t_last = t_begin = time.perf_counter()
    next_log = (step // tcfg["log_every_steps"] + 1) * tcfg["log_every_steps"]   # single-image steps' log rows
    while step < total_steps:
        is_sequence = sequences is not None and step % scfg["every"] == scfg["every"] - 1
        if is_sequence:
            seq = sequence_loss(refiner, sequences.sample(tcfg["seed"], rank, step), scfg["first_iterations"],
                                scfg["iterations"], models, lcfg)
            loss, pose_loss, flow_loss, per_iter, rot_err = seq.total, seq.pose, seq.flow, seq.per_iter, seq.rot_err
        else:
            # the single-image steps take the splits in turn, whichever steps are sequence steps
            n_regular = step - (step + 1) // scfg["every"] if sequences is not None else step
            batch = samplers[n_regular % len(samplers)].sample(tcfg["seed"], rank, step)
            T_gt = torch.as_tensor(batch.T_gt, dtype=torch.float32, device=device)
            points = points_tensor(models, batch.obj_ids, lcfg["n_points"]).to(device)
            syms = symmetry_tensor(models, batch.obj_ids, lcfg["n_continuous_symmetries"]).to(device)
            out = refiner.run(batch.images, batch.K, batch.T_init, batch.obj_ids, tcfg["iterations"],
                              image_index=batch.image_index, train=True)
            loss, pose_loss, flow_loss, per_iter = compute_loss(out, T_gt, points, syms, lcfg)
            rot_err = median_rotation_errors_deg(out, T_gt, syms)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        sync_s = 0.0
        if world > 1:
            t_sync = time.perf_counter()
            average_gradients(model.parameters(), world)
            sync_s = time.perf_counter() - t_sync
            loss, pose_loss, flow_loss, per_iter = _mean_over_processes(loss, pose_loss, flow_loss, per_iter, world)
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), ocfg["grad_clip"])
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        step += 1
        out_of_time = bool(tcfg["max_seconds"]) and time.perf_counter() - t_begin > tcfg["max_seconds"]
        if world > 1 and tcfg["max_seconds"]:  # every rank stops at the same step
            import torch.distributed as dist
            flag = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(flag)
            out_of_time = bool(flag.item())
        if rank == 0:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", first=f"{per_iter[0]*1e3:.1f}mm", last=f"{per_iter[-1]*1e3:.1f}mm",
                            rot=f"{rot_err[0]:.1f}->{rot_err[-1]:.1f}deg")
            if is_sequence:   # every sequence step: their own curves and CSV (other iteration counts)
                for name, v in [("loss", loss.item()), ("pose", pose_loss.item()), ("flow", flow_loss.item()),
                                ("rotation_start_deg", rot_err[0]), ("rotation_end_deg", rot_err[-1])]:
                    writer.add_scalar(f"sequence/{name}", v, step)
                _append_log_row(out_dir / "sequence_log.csv", step, loss.item(), pose_loss.item(), flow_loss.item(),
                                per_iter, rot_err)
            elif step >= next_log or step == total_steps:
                next_log = (step // tcfg["log_every_steps"] + 1) * tcfg["log_every_steps"]
                now = time.perf_counter()
                writer.add_scalar("loss/total", loss.item(), step)
                writer.add_scalar("loss/pose", pose_loss.item(), step)
                writer.add_scalar("loss/flow", flow_loss.item(), step)
                for i, v in enumerate(per_iter):
                    writer.add_scalar(f"loss/pose_iter{i + 1}", v, step)
                for i, v in enumerate(rot_err):
                    writer.add_scalar(f"rotation_error_deg/iter{i}", v, step)
                writer.add_scalar("optim/lr", scheduler.get_last_lr()[0], step)
                writer.add_scalar("optim/grad_norm", float(grad_norm), step)
                writer.add_scalar("time/step_s", (now - t_last) / tcfg["log_every_steps"], step)
                if world > 1:
                    writer.add_scalar("time/gradient_sync_s", sync_s, step)
                t_last = now
                _append_log_row(out_dir / "train_log.csv", step, loss.item(), pose_loss.item(), flow_loss.item(),
                                per_iter, rot_err)
            if step % tcfg["checkpoint_every_steps"] == 0 or step == total_steps or out_of_time:
                ckpt.save_model(model, out_dir)
                ckpt.save_training_state(out_dir, optimizer, scheduler, step, step // steps_per_epoch, scaler=scaler)
        if out_of_time:
            log.info("stopped at step %d after train.max_seconds=%s (continue with --resume)", step, tcfg["max_seconds"])
            break
    bar.close()
    if writer is not None:
        writer.close()
    if world > 1:
        _check_replicas_identical(model, out_dir, rank, world)
    return out_dir


def _mean_over_processes(loss, pose_loss, flow_loss, per_iter, world: int):
    """The logged losses of a data-parallel step: the mean of every process's (the loss of the whole batch when
    the processes hold as many objects each), not rank 0's share. The median rotation errors stay rank 0's."""
    import torch.distributed as dist
    values = torch.stack([loss.detach().float(), pose_loss.float(), flow_loss.float(),
                          *[torch.tensor(v, device=loss.device) for v in per_iter]])
    dist.all_reduce(values)
    values = values / world
    return values[0], values[1], values[2], values[3:].tolist()


def _freeze_batchnorm(model) -> None:
    """BatchNorm layers normalize with their running statistics and stop updating them (their scale and shift
    still learn): the step of each crop no longer depends on the other crops of its process's batch."""
    n = 0
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
            n += 1
    log.info("BatchNorm statistics frozen in %d layers", n)


def _init_from(model, directory: Path) -> None:
    """Start from a checkpoint's weights, e.g. an inference-only bundle (float16, no flow decoder): a run whose
    training state was lost continues from what was committed; the flow decoder, when absent, starts afresh."""
    absent = ckpt.load_weights(model, ckpt.load_model(directory).state_dict(),
                               f"{directory}: does not fit the configured model", may_lack="flow_decoder.")
    log.info("initialized from %s%s", directory, " (flow decoder afresh)" if absent else "")


def _append_log_row(path: Path, step: int, loss: float, pose: float, flow: float, per_iter, rot_err) -> None:
    """One row of train_log.csv (the numbers a study or a plot needs without TensorBoard): losses, the pose loss
    of each unrolled iteration (m) and the median rotation error of the initial poses and after each iteration."""
    if not path.exists():
        cols = ["step", "loss", "pose_loss", "flow_loss"] + [f"pose_iter{i + 1}" for i in range(len(per_iter))] \
            + [f"rot_deg_iter{i}" for i in range(len(rot_err))]
        path.write_text(",".join(cols) + "\n")
    values = [loss, pose, flow, *per_iter, *rot_err]
    with path.open("a") as f:
        f.write(f"{step}," + ",".join(f"{v:.6g}" for v in values) + "\n")


def _check_replicas_identical(model, out_dir: Path, rank: int, world: int) -> None:
    """After data-parallel training every process must hold the same parameters: gather a checksum per
    rank, write them to replicas.json (rank 0) and fail loudly when they differ."""
    import torch.distributed as dist
    flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in model.parameters()])
    digest = [float(flat.sum()), float((flat * torch.arange(flat.numel()) % 9973).sum()), float(flat.abs().max())]
    gathered = [None] * world
    dist.all_gather_object(gathered, digest)
    dist.barrier()
    dist.destroy_process_group()
    if rank == 0:
        (out_dir / "replicas.json").write_text(json.dumps({"world_size": world, "checksums": gathered}))
        if any(g != gathered[0] for g in gathered):
            raise RuntimeError(f"parameters differ between ranks after training: {gathered}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="training YAML (see config/)")
    parser.add_argument("--out", required=True, help="output folder: checkpoint, training state, TensorBoard logs")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out if present")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override an option")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        config = load_training_config(args.config, args.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        train(config, Path(args.out), args.resume)
    except (ckpt.CheckpointError, PretrainedWeightsError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
