"""How far could a choice between two tracking strategies go? Pairs the rows of two strategies of one tracking
benchmark run (same frame, same object) and scores, with the benchmark's AUC of ADD(-S): each alone, the per-frame
oracle (the smaller error of the two: no causal rule can beat it), the higher outline confidence this frame, the
higher confidence averaged over past frames (exponential, per object), and the two poses blended (geodesic, to the
nearest symmetric equivalent; what running both at every frame and averaging would give). No network runs: seconds.

    python bench/tracking_bounds.py outputs/tracking_bundle3 [outputs/tracking_bundle3_seed1 ...]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from deeprm_ros.meshes import load_object_library
from deeprm_ros.metrics import auc_adds, pose_errors, symmetric_object_ids
from deeprm_ros.tracking.tracks import blend_poses

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["first", "second", "oracle", "confidence", "confidence EMA 0.3", "blend 0.3", "blend 0.5"]


def paired_rows(rows: list[dict], first: str, second: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (i_first, i_second) of the frames and objects both strategies scored, in frame order."""
    index = {s: {(int(r["frame"]), int(r["obj_id"])): i for i, r in enumerate(rows) if r["strategy"] == s}
             for s in (first, second)}
    keys = sorted(set(index[first]) & set(index[second]))
    if not keys:
        raise SystemExit(f"error: no frames with both {first!r} and {second!r}")
    return np.array([index[first][k] for k in keys]), np.array([index[second][k] for k in keys])


def ema_choice(obj: np.ndarray, conf_a: np.ndarray, conf_b: np.ndarray, alpha: float) -> np.ndarray:
    """True where the first strategy's confidence, averaged per object over the frames so far, is higher."""
    mean_a, mean_b, pick = {}, {}, np.zeros(len(obj), bool)
    for i, o in enumerate(obj):
        mean_a[o] = conf_a[i] if o not in mean_a else (1 - alpha) * mean_a[o] + alpha * conf_a[i]
        mean_b[o] = conf_b[i] if o not in mean_b else (1 - alpha) * mean_b[o] + alpha * conf_b[i]
        pick[i] = mean_a[o] > mean_b[o]
    return pick


def bounds(run: Path, models, first: str, second: str) -> list[float]:
    rows = list(csv.DictReader(open(run / "tracking_frames.csv")))
    saved = np.load(run / "tracking_poses.npz")
    ia, ib = paired_rows(rows, first, second)
    obj = np.array([int(rows[i]["obj_id"]) for i in ia])
    conf_a = np.array([float(rows[i]["confidence"]) for i in ia])
    conf_b = np.array([float(rows[i]["confidence"]) for i in ib])
    sym = symmetric_object_ids(models)
    gt = saved["gt_pose"][ia]

    def errors(poses):
        return pose_errors(poses, gt, models, obj, sym)[0]

    err_a, err_b = errors(saved["pose"][ia]), errors(saved["pose"][ib])
    out = [auc_adds(err_a), auc_adds(err_b), auc_adds(np.minimum(err_a, err_b)),
           auc_adds(np.where(conf_a > conf_b, err_a, err_b)),
           auc_adds(np.where(ema_choice(obj, conf_a, conf_b, 0.3), err_a, err_b))]
    symmetries = {o: models[o].symmetry_transforms() for o in np.unique(obj)}
    for share in (0.3, 0.5):   # the second strategy's pose moved that share of the way to the first's
        blended = np.stack([blend_poses(saved["pose"][b], saved["pose"][a], share, symmetries[o])
                            for a, b, o in zip(ia, ib, obj)])
        out.append(auc_adds(errors(blended)))
    return [float(v) for v in out]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="tracking_benchmark.py --out folders (one per video)")
    parser.add_argument("--first", default="detection", help="strategy (a)")
    parser.add_argument("--second", default="tracking", help="strategy (b)")
    parser.add_argument("--models", default=str(ROOT / "data/demo/models"))
    args = parser.parse_args(argv)
    models = load_object_library(args.models)
    names = [args.first, args.second] + COLUMNS[2:]
    print("| run | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    table = []
    for run in args.runs:
        table.append(bounds(Path(run), models, args.first, args.second))
        print(f"| {run} | " + " | ".join(f"{v:.1f}" for v in table[-1]) + " |")
    if len(table) > 1:
        print("| mean | " + " | ".join(f"{v:.2f}" for v in np.mean(table, 0)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
