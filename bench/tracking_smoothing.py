"""Would smoothing the published poses over time help? Causal alpha-beta filters (constant velocity, translation
and rotation apart, restarted with the track) applied per object to the poses a tracking benchmark run saved
(`tracking_poses.npz` beside its CSV), scored with the same AUC of ADD(-S). No network runs: seconds.

    python bench/tracking_smoothing.py outputs/tracking
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from deeprm_ros.meshes import load_object_library
from deeprm_ros.metrics import auc_adds, pose_errors

ROOT = Path(__file__).resolve().parents[1]
# (alpha, beta) for translation, then for rotation; (1, 0) passes the measurement through
GAINS = [(0.5, 0.1, 0.5, 0.1), (0.3, 0.05, 0.3, 0.05), (0.2, 0.02, 0.2, 0.02), (0.5, 0.1, 1.0, 0.0),
         (1.0, 0.0, 0.5, 0.1)]


def alpha_beta(poses: np.ndarray, restart: np.ndarray, dt: float, a_t, b_t, a_r, b_r) -> np.ndarray:
    """Filtered copies of one object's poses in frame order; restart[i] starts the filter again at pose i."""
    out = poses.copy()
    for i, z in enumerate(poses):
        if i == 0 or restart[i]:
            x, v, R, w = z[:3, 3].copy(), np.zeros(3), Rotation.from_matrix(z[:3, :3]), np.zeros(3)
        else:
            predicted = x + v * dt
            r = z[:3, 3] - predicted
            x, v = predicted + a_t * r, v + b_t * r / dt
            R_pred = Rotation.from_rotvec(w * dt) * R
            rr = (Rotation.from_matrix(z[:3, :3]) * R_pred.inv()).as_rotvec()
            R, w = Rotation.from_rotvec(a_r * rr) * R_pred, w + b_r * rr / dt
        out[i, :3, 3], out[i, :3, :3] = x, R.as_matrix()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a tracking_benchmark.py --out folder")
    parser.add_argument("--models", default=str(ROOT / "data/demo/models"))
    parser.add_argument("--rate", type=float, default=10.0, help="the run's camera rate (Hz)")
    args = parser.parse_args(argv)
    rows = list(csv.DictReader(open(Path(args.run) / "tracking_frames.csv")))
    saved = np.load(Path(args.run) / "tracking_poses.npz")
    models = load_object_library(args.models)
    obj = np.array([int(r["obj_id"]) for r in rows])
    print("| strategy | detector | gains (a_t, b_t, a_r, b_r) | AUC ADD(-S) | per object |\n|---|---|---|---|---|")
    for key in sorted({(r["strategy"], r["detector_hz"]) for r in rows}):
        sel = np.array([i for i, r in enumerate(rows) if (r["strategy"], r["detector_hz"]) == key])
        for gains in [None] + GAINS:
            est = saved["pose"][sel].copy()
            if gains:
                for o in np.unique(obj[sel]):
                    mine = np.flatnonzero(obj[sel] == o)
                    mine = mine[np.argsort([int(rows[sel[k]]["frame"]) for k in mine], kind="stable")]
                    restart = np.array([bool(rows[sel[k]]["reinit"]) for k in mine])
                    est[mine] = alpha_beta(est[mine], restart, 1.0 / args.rate, *gains)
            e, _, _ = pose_errors(est, saved["gt_pose"][sel], models, obj[sel])
            per = " / ".join(f"{auc_adds(e[obj[sel] == o]):.1f}" for o in np.unique(obj[sel]))
            print(f"| {key[0]} | {key[1]} Hz | {gains or 'none (published)'} | {auc_adds(e):.1f} | {per} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
