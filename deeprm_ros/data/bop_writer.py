"""Writes datasets in the BOP layout (the format of the BOP challenge datasets), used by the generator."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

DEPTH_SCALE = 0.1  # depth PNG unit in mm: 0.1 mm per count, up to 6.5 m


class BopWriter:
    """split/NNNNNN/{rgb,depth,mask_visib}/ + scene_camera.json, scene_gt.json, scene_gt_info.json."""

    def __init__(self, root, split: str, rgb_ext: str = ".png"):
        self.dir = Path(root) / split
        self.rgb_ext = rgb_ext
        self.scenes: dict[int, dict] = {}

    def _scene(self, scene_id: int) -> dict:
        if scene_id not in self.scenes:
            d = self.dir / f"{scene_id:06d}"
            for sub in ("rgb", "depth", "mask_visib"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            self.scenes[scene_id] = {"dir": d, "camera": self._load(d / "scene_camera.json"),
                                     "gt": self._load(d / "scene_gt.json"), "info": self._load(d / "scene_gt_info.json")}
        return self.scenes[scene_id]

    @staticmethod
    def _load(path: Path) -> dict:
        return json.loads(path.read_text()) if path.exists() else {}

    def add_image(self, scene_id: int, im_id: int, rgb, depth, K, gts, gt_infos, masks_visib):
        """depth in metres; gts: [{'obj_id', 'cam_R_m2c' (9), 'cam_t_m2c' (mm)}]; masks: bool (H, W) per gt."""
        s = self._scene(scene_id)
        d = s["dir"]
        name = f"{im_id:06d}"
        cv2.imwrite(str(d / "rgb" / (name + self.rgb_ext)), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        depth_counts = np.clip(np.rint(np.asarray(depth) * 1000.0 / DEPTH_SCALE), 0, 65535).astype(np.uint16)
        cv2.imwrite(str(d / "depth" / (name + ".png")), depth_counts)
        for k, m in enumerate(masks_visib):
            cv2.imwrite(str(d / "mask_visib" / f"{name}_{k:06d}.png"), np.asarray(m, np.uint8) * 255)
        s["camera"][str(im_id)] = {"cam_K": np.asarray(K, float).reshape(-1).tolist(), "depth_scale": DEPTH_SCALE}
        s["gt"][str(im_id)] = gts
        s["info"][str(im_id)] = gt_infos

    def close(self):
        for s in self.scenes.values():
            for key, fname in (("camera", "scene_camera.json"), ("gt", "scene_gt.json"), ("info", "scene_gt_info.json")):
                data = dict(sorted(s[key].items(), key=lambda kv: int(kv[0])))
                (s["dir"] / fname).write_text(json.dumps(data))
