"""Evaluate a checkpoint on a BOP split: AUC of ADD(-S), ADD(-S) < 10% diameter, rotation and
translation errors, for the initial poses and after each iteration count (the paper's Table 4).

`python -m deeprm_ros.evaluate --checkpoint DIR --data ROOT --split test --out DIR [--coarse posecnn.csv]`

Initial poses come from another method's BOP results CSV (--coarse; the paper used PoseCNN for
YCB-V and PVNet for LM-O; a target without an estimate counts as a failure) or, without it, from
DeepIM-style perturbation of the ground truth (seeded). Iterations share one run per object: the
pose after k iterations of a K-iteration run is exactly the pose of a k-iteration run.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from .data.perturbation import ROTATION_STD_DEG, TRANSLATION_STD_M, perturb_poses

log = logging.getLogger("deeprm_ros.evaluate")


def initial_poses(targets, coarse=None, seed=0, rotation_std_deg=ROTATION_STD_DEG, translation_std_m=TRANSLATION_STD_M):
    """(B, 4, 4) initial poses and a (B,) mask of targets that have one."""
    T_gt = np.stack([t.T_cam_obj for t in targets])
    if coarse is None:
        rng = np.random.default_rng(seed)
        return perturb_poses(T_gt, rng, rot_std_deg=rotation_std_deg, trans_std_m=translation_std_m), np.ones(len(targets), bool)
    T0 = T_gt.copy()
    have = np.zeros(len(targets), bool)
    for i, t in enumerate(targets):
        cands = coarse.get((t.scene_id, t.im_id, t.obj_id))
        if cands:
            best = max(cands, key=lambda c: c[0])  # highest score
            T0[i] = best[1]
            have[i] = True
    return T0, have


def evaluate(args, step_model=None) -> dict:
    """step_model: a network step to evaluate instead of the checkpoint's on args.backend (any callable like
    DeepRM: (pair, state) -> StepOutput, e.g. another runtime's build of the same weights)."""
    from tqdm import tqdm

    from .data.bop import BopDataset, resolve_models_dir
    from .data.coarse_csv import read_bop_results, write_bop_results
    from .meshes import load_object_library
    from .refiner import STAGES, Refiner
    from .metrics import format_table, plot_accuracy_curves, pose_errors, summarize, symmetric_object_ids

    root = Path(args.data)
    models = load_object_library(resolve_models_dir(root, args.models_dir), unit=args.mesh_unit, n_points=args.n_points)
    ds = BopDataset(root, args.split, targets_file=args.targets)
    targets = [s for s in ds.samples if s.obj_id in models]
    if args.max_targets:
        targets = targets[: args.max_targets]
    if not targets:
        raise SystemExit(f"error: no targets with known objects in {root}/{args.split}")
    coarse = read_bop_results(args.coarse) if args.coarse else None
    T0, have = initial_poses(targets, coarse, args.seed, args.rotation_std_deg, args.translation_std_m)
    T_gt = np.stack([t.T_cam_obj for t in targets])
    obj_ids = np.array([t.obj_id for t in targets])
    first = ds.load_image(targets[0].scene_id, targets[0].im_id)
    if step_model is None:
        refiner = Refiner.from_checkpoint(args.checkpoint, models, first.shape[1], first.shape[0], args.device,
                                          args.backend, openvino_precision=args.openvino_precision)
    else:
        from .render import Renderer
        refiner = Refiner(step_model, Renderer(models, width=first.shape[1], height=first.shape[0]), models, "cpu")
    counts = sorted(set(args.iterations))
    estimates = {k: T0.copy() for k in counts}
    stage_ms = dict.fromkeys((*STAGES, "total"), 0.0)
    # One pass per image, every object of the image in it, as in the node. The BOP `time` of an image is the
    # wall-clock time of its pass (the same for all its estimates, as BOP defines it; image loading and the
    # coarse detector are not in it).
    image_time = {}
    by_image = {}
    for i, t in enumerate(targets):
        if have[i]:
            by_image.setdefault((t.scene_id, t.im_id), []).append(i)
    for key, idx in tqdm(by_image.items(), desc="evaluate", dynamic_ncols=True):
        image = ds.load_image(*key)
        idx = np.asarray(idx)
        K = np.stack([targets[i].K for i in idx])
        t0 = time.perf_counter()
        out = refiner.run(image[None], K, T0[idx], obj_ids[idx], max(counts), image_index=np.zeros(len(idx), np.int64))
        poses = {c: out.poses[c - 1].cpu().numpy() for c in counts}  # inside the timing: waits for the device
        image_time[key] = time.perf_counter() - t0
        for s in stage_ms:
            stage_ms[s] += out.timings_ms[s]
        for c in counts:
            estimates[c][idx] = poses[c]
    sym = symmetric_object_ids(models) if args.symmetric_ids is None else set(args.symmetric_ids)
    diameters = np.array([models[int(o)].diameter for o in obj_ids])
    results, curves = {}, {}
    for name, T in [("initial", T0)] + [(f"{c} iter", estimates[c]) for c in counts]:
        e, r, tr = pose_errors(T, T_gt, models, obj_ids, sym)
        results[name] = summarize(e, r, tr, obj_ids, diameters, have)
        curves[name] = np.where(have, e, np.inf)
    n_obj = int(have.sum())
    timings = {s: v / max(1, n_obj) / max(counts) for s, v in stage_ms.items() if s != "total"}
    timings["total_per_object_ms"] = stage_ms["total"] / max(1, n_obj)
    report = {"checkpoint": str(args.checkpoint), "data": str(root), "split": args.split, "targets": len(targets),
              "with_initial_pose": n_obj, "backend": getattr(refiner, "backend", args.backend), "initial_poses": args.coarse or {
                  "perturbation_seed": args.seed, "rotation_std_deg": args.rotation_std_deg,
                  "translation_std_m": list(args.translation_std_m)},
              "symmetric_ids": sorted(sym), "results": results, "timings_ms_per_object_iteration": timings,
              "time_per_image_s": float(np.mean(list(image_time.values()))) if image_time else None}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    table = format_table(results)
    (out_dir / "metrics.md").write_text(table + "\n")
    plot_accuracy_curves(curves, out_dir / "accuracy.png")
    last = counts[-1]
    rows = []
    for i, t in enumerate(targets):
        if have[i]:
            rows.append(dict(scene_id=t.scene_id, im_id=t.im_id, obj_id=t.obj_id, score=1.0,
                             T_cam_obj=estimates[last][i], time=image_time.get((t.scene_id, t.im_id), -1.0)))
    write_bop_results(out_dir / f"deeprm-iter{last}_{root.name}-{args.split}.csv", rows)
    print(table)
    print("per-object per-iteration timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    return report


def argument_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate a DeepRM checkpoint on a BOP split")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="BOP dataset root")
    p.add_argument("--split", default="test")
    p.add_argument("--targets", default=None, help="e.g. test_targets_bop19.json (relative to the root)")
    p.add_argument("--models-dir", default="models")
    p.add_argument("--mesh-unit", default="mm", choices=["mm", "m"])
    p.add_argument("--coarse", default=None, help="BOP results CSV of a coarse method (initial poses)")
    p.add_argument("--seed", type=int, default=1, help="perturbation seed when --coarse is not given")
    p.add_argument("--rotation-std-deg", type=float, default=ROTATION_STD_DEG)
    p.add_argument("--translation-std-m", type=float, nargs=3, default=TRANSLATION_STD_M)
    p.add_argument("--iterations", type=int, nargs="+", default=[2, 4, 6, 8, 10, 12])
    p.add_argument("--backend", choices=["torch", "onnx", "openvino", "auto"], default="torch",
                   help="the network backend (auto: the fastest on this machine; the summary records which ran)")
    p.add_argument("--openvino-precision", choices=["auto", "f32", "bf16"], default="auto",
                   help="the openvino backend's precision (auto: bf16 where the CPU has it natively)")
    p.add_argument("--device", default="auto")
    p.add_argument("--n-points", type=int, default=1000)
    p.add_argument("--max-targets", type=int, default=0)
    p.add_argument("--symmetric-ids", type=int, nargs="*", default=None,
                   help="objects scored with ADD-S (default: those with symmetries in models_info.json)")
    p.add_argument("--out", required=True)
    return p


def main(argv=None) -> int:
    args = argument_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    evaluate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
