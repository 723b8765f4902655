"""Loss balance: the share of each loss term in the gradient of the backbone and of the recurrent layers.

Terms, as train.compute_loss weights them: Eq. 2 (the paper's disentangled point matching, metres), the
rotation-only point-matching term (loss.rotation_weight x PML(R_est, t_gt)) and the flow term
(loss.flow_weight x multi-scale EPE). Each term's gradient is taken alone on the same batches, with the
configured number of unrolled iterations, from a config's freshly initialized model or a checkpoint.

    python bench/loss_balance.py --config config/demo.yaml --batches 3
    python bench/loss_balance.py --config config/demo_correlation.yaml --checkpoint runs/demo_corr --batches 3
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import numpy as np


def grad_norms(model, loss) -> dict:
    """L2 norm of d loss / d parameters, per part of the model."""
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    parts = {"backbone": model.backbone, "recurrent": model.recurrent, "heads": model.heads}
    out = {}
    for name, module in parts.items():
        g = [p.grad.reshape(-1) for p in module.parameters() if p.grad is not None]
        out[name] = float(torch.cat(g).norm()) if g else 0.0
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="config/demo.yaml")
    p.add_argument("--checkpoint", default=None, help="start from these weights (default: the config's initial model)")
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from deeprm_ros import checkpoint as ckpt
    from deeprm_ros.data.batches import BatchSampler, points_tensor, symmetry_tensor
    from deeprm_ros.data.bop import BopDataset
    from deeprm_ros.losses import (closest_symmetric_pose, flow_from_poses, multiscale_epe, point_matching_l1,
                                   symmetric_pose_loss)
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.model import DeepRM, ModelConfig
    from deeprm_ros.refiner import Refiner
    from deeprm_ros.render import Renderer
    from deeprm_ros.training_config import load_training_config

    torch.manual_seed(args.seed)
    cfg = load_training_config(args.config)
    d, lc, pc = cfg["data"], cfg["loss"], cfg["perturbation"]
    root = Path(d["root"])
    models = load_object_library(root / d["models_dir"], unit=d["mesh_unit"], n_points=max(lc["n_points"], 256))
    sampler = BatchSampler(BopDataset(root, d["split"]), d["images_per_batch"], d["objects_per_image"],
                           d["min_visib_fract"], pc["rotation_std_deg"], pc["translation_std_m"], set(models),
                           rotation_model=pc["rotation_model"])
    model_cfg = ModelConfig.from_dict(cfg["model"])
    model = (ckpt.load_model(args.checkpoint, with_flow=model_cfg.with_flow) if args.checkpoint
             else DeepRM(model_cfg)).train()
    first = sampler.sample(args.seed, 0, 0)
    renderer = Renderer(models, width=first.images.shape[2], height=first.images.shape[1])
    refiner = Refiner(model, renderer, models)
    rows = {k: [] for k in ("Eq. 2", "rotation-only term", "flow term")}
    for step in range(args.batches):
        b = sampler.sample(args.seed, 0, 1000 + step)
        T_gt = torch.as_tensor(b.T_gt, dtype=torch.float32)
        pts = points_tensor(models, b.obj_ids, lc["n_points"])
        syms = symmetry_tensor(models, b.obj_ids, lc["n_continuous_symmetries"])
        out = refiner.run(b.images, b.K, b.T_init, b.obj_ids, cfg["train"]["iterations"], image_index=b.image_index,
                          train=True)
        eq2, rot, flow = [], [], []
        for T, rec in zip(out.poses, out.records):
            eq2.append(symmetric_pose_loss(T, T_gt, pts, syms, 0.0)[0].mean())
            T_near = closest_symmetric_pose(T.detach(), T_gt, pts, syms)
            rot.append(lc["rotation_weight"] * point_matching_l1(T[:, :3, :3], T_near[:, :3, 3], T_near[:, :3, :3],
                                                                 T_near[:, :3, 3], pts).mean())
            if rec.flows is not None:
                with torch.no_grad():
                    T_obs = closest_symmetric_pose(rec.T_input, T_gt, pts, syms)
                    gt = flow_from_poses(rec.rendered_depth, rec.rendered_valid, rec.K_crop, rec.T_input, T_obs)
                flow.append(lc["flow_weight"] * multiscale_epe(rec.flows, gt, rec.rendered_valid))
        rows["Eq. 2"].append(grad_norms(model, torch.stack(eq2).mean()))
        rows["rotation-only term"].append(grad_norms(model, torch.stack(rot).mean()))
        if flow:
            rows["flow term"].append(grad_norms(model, torch.stack(flow).mean()))
    renderer.release()
    print(f"Gradient norm per term ({args.config}, {'weights ' + args.checkpoint if args.checkpoint else 'initial model'},"
          f" mean of {args.batches} batches)\n")
    print("| term | backbone | recurrent | heads |\n|---|---|---|---|")
    for name, r in rows.items():
        if r:
            m = {k: np.mean([x[k] for x in r]) for k in r[0]}
            print(f"| {name} | {m['backbone']:.3g} | {m['recurrent']:.3g} | {m['heads']:.3g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
