"""Is the refiner's remaining error tied to where its crop falls, or to the view? Refines the same targets
several times, each time with every crop box shifted and scaled by one fixed random amount (the refiner's
`deepim_boxes` wrapped for the run; the model was trained on centred boxes), and scores each run and the
average of their final poses. If the error were the crop's, averaging over shifted crops would remove it; if it
is the view's, averaging gains little and each shifted crop alone loses.

    python bench/crop_jitter_probe.py --data datasets/demo --max-targets 400 --rotation-std-deg 3
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from tqdm import tqdm

import deeprm_ros.refiner as refiner_module
from deeprm_ros.data.bop import BopDataset, resolve_models_dir
from deeprm_ros.evaluate import initial_poses
from deeprm_ros.geometry.crop import CROP_SIZE, deepim_boxes
from deeprm_ros.meshes import load_object_library
from deeprm_ros.metrics import pose_errors, summarize, symmetric_object_ids

ROOT = Path(__file__).resolve().parents[1]


def jittered_boxes(shift_xy, scale):
    """deepim_boxes with the box scaled about its centre and shifted by shift_xy of its width and height."""
    def boxes(K, points, T_input, T_rendered=None, lamb=1.4, out_size=CROP_SIZE):
        b = deepim_boxes(K, points, T_input, T_rendered, lamb * scale, out_size)
        dx, dy = shift_xy[0] * (b[:, 2] - b[:, 0]), shift_xy[1] * (b[:, 3] - b[:, 1])
        return b + torch.stack([dx, dy, dx, dy], dim=-1)
    return boxes


def mean_poses(runs: list[np.ndarray]) -> np.ndarray:
    """Mean translation and chordal mean rotation (scipy's Rotation.mean) of each target over the runs."""
    out = runs[0].copy()
    stacked = np.stack(runs, axis=1)   # (N, runs, 4, 4)
    out[:, :3, 3] = stacked[:, :, :3, 3].mean(axis=1)
    out[:, :3, :3] = np.stack([Rotation.from_matrix(s[:, :3, :3]).mean().as_matrix() for s in stacked])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "data/demo/checkpoint"))
    parser.add_argument("--data", default="datasets/demo")
    parser.add_argument("--max-targets", type=int, default=400)
    parser.add_argument("--rotation-std-deg", type=float, default=3.0,
                        help="start noise; translation (1, 1, 3.3) mm per degree")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--jitters", type=int, default=6)
    parser.add_argument("--max-shift", type=float, default=0.08, help="of the box's width and height")
    parser.add_argument("--max-scale", type=float, default=0.1)
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    root = Path(args.data)
    models = load_object_library(resolve_models_dir(root, "models"), unit="mm")
    ds = BopDataset(root, "test", targets_file="test_targets_bop19.json")
    targets = [s for s in ds.samples if s.obj_id in models][: args.max_targets]
    s = args.rotation_std_deg
    T0, have = initial_poses(targets, None, args.seed, s, (s / 1000, s / 1000, s * 3.3 / 1000))
    T_gt = np.stack([t.T_cam_obj for t in targets])
    obj = np.array([t.obj_id for t in targets])
    first = ds.load_image(targets[0].scene_id, targets[0].im_id)
    refiner = refiner_module.Refiner.from_checkpoint(args.checkpoint, models, first.shape[1], first.shape[0], "cpu",
                                                     args.backend)
    by_image = {}
    for i, t in enumerate(targets):
        by_image.setdefault((t.scene_id, t.im_id), []).append(i)
    rng = np.random.default_rng(0)
    jitters = [((0.0, 0.0), 1.0)] + [(tuple(rng.uniform(-args.max_shift, args.max_shift, 2)),
                                      float(1 + rng.uniform(-args.max_scale, args.max_scale)))
                                     for _ in range(args.jitters)]
    runs = []
    for shift, scale in tqdm(jitters, desc="crop jitters"):
        refiner_module.deepim_boxes = jittered_boxes(shift, scale)
        est = T0.copy()
        for key, idx in by_image.items():
            idx = np.asarray(idx)
            out = refiner.run(ds.load_image(*key)[None], np.stack([targets[i].K for i in idx]), T0[idx], obj[idx],
                              args.iterations, image_index=np.zeros(len(idx), np.int64))
            est[idx] = out.poses[-1].cpu().numpy()
        runs.append(est)
    refiner_module.deepim_boxes = deepim_boxes

    sym = symmetric_object_ids(models)
    diameters = np.array([models[int(o)].diameter for o in obj])
    worst = max(models, key=lambda o: models[o].diameter)
    print(f"{len(targets)} targets, from {s:g} degrees, {args.iterations} iterations; object {worst} is the largest\n")
    print(f"| poses | AUC ADD(-S) | object {worst} | median rotation (deg) | object {worst} |\n|---|---|---|---|---|")
    rows = [("initial", T0)] + [(f"shift ({sh[0]:+.3f}, {sh[1]:+.3f}), scale {sc:.2f}", r)
                                for (sh, sc), r in zip(jitters, runs)]
    rows += [(f"mean of the {args.jitters} shifted", mean_poses(runs[1:])),
             (f"mean of the centred and {args.jitters} shifted", mean_poses(runs))]
    for name, T in rows:
        e, r, tr = pose_errors(T, T_gt, models, obj, sym)
        one = obj == worst
        pooled, largest = summarize(e, r, tr, obj, diameters, have), summarize(e[one], r[one], tr[one], obj[one],
                                                                              diameters[one], have[one])
        print(f"| {name} | {pooled['auc_adds']:.1f} | {largest['auc_adds']:.1f} | {np.median(r):.2f} | "
              f"{np.median(r[one]):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
