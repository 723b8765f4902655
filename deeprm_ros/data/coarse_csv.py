"""BOP results CSV: `scene_id,im_id,obj_id,score,R,t,time` (R row-major 9 values, t in mm, space separated).

Used to read a coarse method's estimates (PoseCNN for YCB-V, PVNet for LM-O) as initial poses, and to write our own
results for the BOP toolkit. Poses inside the package are 4x4 T_cam_obj in metres; only this file knows about mm.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HEADER = ["scene_id", "im_id", "obj_id", "score", "R", "t", "time"]


def _numbers(text: str, n: int, name: str) -> np.ndarray:
    vals = np.array([float(v) for v in text.split()], dtype=np.float64)
    if vals.size != n:
        raise ValueError(f"{name} needs {n} space-separated values, got {vals.size}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} has non-finite values")
    return vals


def read_bop_results(path) -> dict:
    """{(scene_id, im_id, obj_id): [(score, T_cam_obj (4, 4) float64 metres, time s), ...]} in file order.

    The header line is optional; blank lines are skipped. A malformed row raises ValueError naming file and line."""
    path = Path(path)
    out: dict = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if row[0].strip() == "scene_id":
                continue
            try:
                if len(row) != 7:
                    raise ValueError(f"expected 7 columns ({','.join(HEADER)}), got {len(row)}")
                R = _numbers(row[4], 9, "R").reshape(3, 3)
                t = _numbers(row[5], 3, "t")
                T = np.eye(4)
                T[:3, :3] = R
                T[:3, 3] = t / 1000.0
                key = (int(row[0]), int(row[1]), int(row[2]))
                out.setdefault(key, []).append((float(row[3]), T, float(row[6])))
            except ValueError as e:
                raise ValueError(f"{path}:{line}: malformed BOP results row ({e})") from None
    return out


def write_bop_results(path, rows) -> None:
    """rows: dicts with scene_id, im_id, obj_id, score, T_cam_obj ((4, 4) metres), time (s; -1 when unknown).

    R is written with 8 decimals and t in mm with 4 (0.1 micrometre): far below any metric's resolution."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for r in rows:
            T = np.asarray(r["T_cam_obj"], dtype=np.float64)
            if T.shape != (4, 4):
                raise ValueError(f"{path}: T_cam_obj must be (4, 4), got {T.shape}")
            w.writerow([int(r["scene_id"]), int(r["im_id"]), int(r["obj_id"]), f"{float(r['score']):.6f}",
                        " ".join(f"{v:.8f}" for v in T[:3, :3].reshape(-1)),
                        " ".join(f"{v:.4f}" for v in T[:3, 3] * 1000.0), f"{float(r.get('time', -1)):.4f}"])
