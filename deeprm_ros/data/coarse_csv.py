"""BOP results CSV: `scene_id,im_id,obj_id,score,R,t,time` (R row-major, t in mm, space separated).

Used to read a coarse method's estimates (PoseCNN for YCB-V, PVNet for LM-O) as initial poses, and
to write our own results for the BOP toolkit.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HEADER = ["scene_id", "im_id", "obj_id", "score", "R", "t", "time"]


def read_bop_results(path) -> dict:
    """{(scene_id, im_id, obj_id): [(score, T_cam_obj metres (4, 4), time), ...]}."""
    path = Path(path)
    out: dict = {}
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].strip() == "scene_id":
                continue
            try:
                if len(row) != 7:
                    raise ValueError(f"expected 7 columns, got {len(row)}")
                R = np.array([float(v) for v in row[4].split()], dtype=np.float64)
                t = np.array([float(v) for v in row[5].split()], dtype=np.float64)
                if R.size != 9 or t.size != 3:
                    raise ValueError(f"R needs 9 values and t 3, got {R.size} and {t.size}")
                T = np.eye(4)
                T[:3, :3] = R.reshape(3, 3)
                T[:3, 3] = t / 1000.0
                key = (int(row[0]), int(row[1]), int(row[2]))
                out.setdefault(key, []).append((float(row[3]), T, float(row[6])))
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: malformed BOP results row ({e})") from None
    return out


def write_bop_results(path, rows) -> None:
    """rows: dicts with scene_id, im_id, obj_id, score, T_cam_obj (metres), time (s, -1 if unknown)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for r in rows:
            T = np.asarray(r["T_cam_obj"], dtype=np.float64)
            w.writerow([int(r["scene_id"]), int(r["im_id"]), int(r["obj_id"]), f"{float(r['score']):.6f}",
                        " ".join(f"{v:.8f}" for v in T[:3, :3].reshape(-1)),
                        " ".join(f"{v:.4f}" for v in T[:3, 3] * 1000.0), f"{float(r.get('time', -1)):.4f}"])
