"""Writes datasets in the BOP layout (the format of the BOP challenge datasets), used by the synthetic generator.

split/NNNNNN/{rgb,depth,mask_visib}/ + scene_camera.json, scene_gt.json, scene_gt_info.json, exactly what
deeprm_ros.data.bop.BopDataset (and the BOP toolkit) read. The json files are written by flush() and close() (or at the end of a
`with` block); an existing scene is extended, not overwritten, so generation can be split over several runs and
processes.
"""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import cv2
import numpy as np

DEPTH_SCALE = 0.1  # depth PNG unit in mm: 0.1 mm per count, up to 6.5535 m (BOP's YCB-V/LM use 0.1 or 1.0)


def gt_entry(obj_id: int, T_cam_obj) -> dict:
    """A scene_gt.json entry from a pose in metres: cam_R_m2c row-major, cam_t_m2c in mm."""
    T = np.asarray(T_cam_obj, dtype=np.float64)
    return {"cam_R_m2c": T[:3, :3].reshape(-1).tolist(), "cam_t_m2c": (T[:3, 3] * 1000.0).tolist(),
            "obj_id": int(obj_id)}


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"cannot write {type(x).__name__} to json")


class BopWriter:
    """split/NNNNNN/{rgb,depth,mask_visib}/ + scene_camera.json, scene_gt.json, scene_gt_info.json.

    Several processes may write image ranges of the same split at once: each keeps only its own new entries and
    flush() merges them into the json files under a file lock (read, update, write to a temporary file, rename),
    so no process overwrites another's images and an interrupted run keeps everything flushed before it."""

    def __init__(self, root, split: str, rgb_ext: str = ".png", depth_scale: float = DEPTH_SCALE):
        self.dir = Path(root) / split
        self.rgb_ext = rgb_ext if rgb_ext.startswith(".") else "." + rgb_ext
        self.depth_scale = float(depth_scale)
        self.pending: dict[int, dict] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def scene_dir(self, scene_id: int) -> Path:
        return self.dir / f"{int(scene_id):06d}"

    def _pending(self, scene_id: int) -> dict:
        if scene_id not in self.pending:
            for sub in ("rgb", "depth", "mask_visib"):
                (self.scene_dir(scene_id) / sub).mkdir(parents=True, exist_ok=True)
            self.pending[scene_id] = {"camera": {}, "gt": {}, "info": {}}
        return self.pending[scene_id]

    def written_images(self, scene_id: int) -> set[int]:
        """Image ids of a scene whose ground truth was flushed and whose rgb file exists (resuming skips them)."""
        d = self.scene_dir(scene_id)
        gt = _load_json(d / "scene_gt.json")
        return {int(k) for k in gt if (d / "rgb" / f"{int(k):06d}{self.rgb_ext}").exists()}

    @staticmethod
    def _imwrite(path: Path, img):
        if not cv2.imwrite(str(path), img):
            raise OSError(f"{path}: cannot write image")

    def add_image(self, scene_id: int, im_id: int, rgb, depth, K, gts, gt_infos=None, masks_visib=None):
        """rgb: (H, W, 3) uint8 RGB; depth: (H, W) metres or None; K: (3, 3);
        gts: scene_gt entries [{'obj_id', 'cam_R_m2c' (9), 'cam_t_m2c' (mm)}] (see gt_entry);
        gt_infos: scene_gt_info entries per gt (or None); masks_visib: one bool (H, W) per gt (or None)."""
        gts = list(gts)
        if gt_infos is not None and len(gt_infos) != len(gts):
            raise ValueError(f"image {im_id}: {len(gt_infos)} gt_infos for {len(gts)} gts")
        if masks_visib is not None and len(masks_visib) != len(gts):
            raise ValueError(f"image {im_id}: {len(masks_visib)} masks for {len(gts)} gts")
        s = self._pending(int(scene_id))
        d = self.scene_dir(scene_id)
        name = f"{int(im_id):06d}"
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"image {im_id}: rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if depth is not None:
            counts = np.rint(np.asarray(depth, dtype=np.float64) * 1000.0 / self.depth_scale)
            self._imwrite(d / "depth" / (name + ".png"), np.clip(counts, 0, 65535).astype(np.uint16))
        for k, m in enumerate([] if masks_visib is None else masks_visib):
            self._imwrite(d / "mask_visib" / f"{name}_{k:06d}.png", np.asarray(m, dtype=bool).astype(np.uint8) * 255)
        # rgb last: its presence (with a flushed scene_gt entry) marks the image as complete
        self._imwrite(d / "rgb" / (name + self.rgb_ext), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        s["camera"][str(int(im_id))] = {"cam_K": np.asarray(K, dtype=np.float64).reshape(-1).tolist(),
                                        "depth_scale": self.depth_scale}
        s["gt"][str(int(im_id))] = gts
        if gt_infos is not None:
            s["info"][str(int(im_id))] = list(gt_infos)

    def flush(self):
        """Merge the new entries of every scene into its json files (under the scene's lock)."""
        for scene_id, s in self.pending.items():
            d = self.scene_dir(scene_id)
            with open(d / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                for key, fname in (("camera", "scene_camera.json"), ("gt", "scene_gt.json"),
                                   ("info", "scene_gt_info.json")):
                    if not s[key]:
                        continue
                    data = _load_json(d / fname)
                    data.update(s[key])
                    data = dict(sorted(data.items(), key=lambda kv: int(kv[0])))
                    tmp = d / (fname + f".{os.getpid()}.tmp")
                    tmp.write_text(json.dumps(data, default=_jsonable))
                    os.replace(tmp, d / fname)
                    s[key] = {}

    def close(self):
        """Write the json files of every scene touched (idempotent)."""
        self.flush()


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}
