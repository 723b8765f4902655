"""Summarize a training run's train_log.csv: per window of steps, the mean pose loss and the mean reduction of
the median rotation error by the unrolled iterations (initial minus last), the number that shows whether the
refiner has started to learn rotation (the loss mixes it with translation).

    python bench/train_log_summary.py runs/demo/train_log.csv --window 100
"""
from __future__ import annotations

import argparse
import csv
import sys

import numpy as np


def summarize(path: str, window: int) -> list[dict]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{path}: no rows")
    rot_cols = sorted((c for c in rows[0] if c.startswith("rot_deg_iter")), key=lambda c: int(c[12:]))
    steps = np.array([int(r["step"]) for r in rows])
    rot = np.array([[float(r[c]) for c in rot_cols] for r in rows])
    pose = np.array([float(r["pose_loss"]) for r in rows])
    out = []
    for start in range(0, int(steps.max()), window):
        sel = (steps > start) & (steps <= start + window)
        if sel.any():
            out.append(dict(steps=f"{start + 1}-{start + window}", pose_mm=pose[sel].mean() * 1e3,
                            rot_initial=rot[sel, 0].mean(), rot_last=rot[sel, -1].mean(),
                            reduction=(rot[sel, 0] - rot[sel, -1]).mean()))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("log", help="train_log.csv of a run")
    p.add_argument("--window", type=int, default=100)
    args = p.parse_args(argv)
    print("| steps | pose loss (mm) | median rot. initial (deg) | after the last iteration | mean reduction |")
    print("|---|---|---|---|---|")
    for w in summarize(args.log, args.window):
        print(f"| {w['steps']} | {w['pose_mm']:.1f} | {w['rot_initial']:.2f} | {w['rot_last']:.2f} | "
              f"{w['reduction']:+.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
