"""A reader for datasets in the BOP layout (YCB-V, LM/LM-O, and our synthetic data).

root/models/ (+ models_info.json); root/<split>/<scene:06d>/ with scene_camera.json (cam_K,
depth_scale), scene_gt.json (cam_R_m2c row-major, cam_t_m2c in mm, obj_id), scene_gt_info.json
(visib_fract, bboxes), rgb/ (png or jpg), depth/, mask_visib/<im>_<gt>.png; optionally
root/test_targets_bop19.json selecting the evaluated (scene, image, object) triples.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass
class Sample:
    scene_id: int
    im_id: int
    obj_id: int
    gt_index: int
    T_cam_obj: np.ndarray   # (4, 4) metres
    K: np.ndarray           # (3, 3)
    visib_fract: float


class BopDataset:
    def __init__(self, root, split: str, targets_file=None, min_visib_fract: float = 0.0):
        self.root = Path(root)
        self.split = split
        self.dir = self.root / split
        if not self.dir.is_dir():
            raise FileNotFoundError(f"{self.dir}: BOP split folder not found")
        targets = None
        if targets_file:
            tpath = Path(targets_file) if Path(targets_file).is_absolute() else self.root / targets_file
            targets = {}
            for t in json.loads(tpath.read_text()):
                targets[(int(t["scene_id"]), int(t["im_id"]), int(t["obj_id"]))] = int(t.get("inst_count", 1))
        self.samples: list[Sample] = []
        self._cameras: dict = {}
        self._rgb_paths: dict = {}
        for scene_dir in sorted(p for p in self.dir.iterdir() if p.is_dir() and p.name.isdigit()):
            scene_id = int(scene_dir.name)
            cams = self._read_json(scene_dir / "scene_camera.json")
            gts = self._read_json(scene_dir / "scene_gt.json")
            info_path = scene_dir / "scene_gt_info.json"
            infos = self._read_json(info_path) if info_path.exists() else {}
            for im_key, objs in gts.items():
                im_id = int(im_key)
                cam = cams[im_key]
                K = np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3)
                self._cameras[(scene_id, im_id)] = cam
                for k, gt in enumerate(objs):
                    oid = int(gt["obj_id"])
                    if targets is not None and (scene_id, im_id, oid) not in targets:
                        continue
                    vf = float(infos[im_key][k].get("visib_fract", 1.0)) if im_key in infos else 1.0
                    if vf < min_visib_fract:
                        continue
                    T = np.eye(4)
                    T[:3, :3] = np.asarray(gt["cam_R_m2c"], dtype=np.float64).reshape(3, 3)
                    T[:3, 3] = np.asarray(gt["cam_t_m2c"], dtype=np.float64) / 1000.0
                    self.samples.append(Sample(scene_id, im_id, oid, k, T, K, vf))

    @staticmethod
    def _read_json(path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: cannot read ({e})") from None

    def __repr__(self):
        return f"BopDataset({self.dir}, {len(self.samples)} samples)"

    def images(self) -> list[tuple[int, int]]:
        return sorted({(s.scene_id, s.im_id) for s in self.samples})

    def image_objects(self, scene_id: int, im_id: int) -> list[Sample]:
        return [s for s in self.samples if s.scene_id == scene_id and s.im_id == im_id]

    def _image_path(self, scene_id: int, im_id: int, folder: str = "rgb") -> Path:
        key = (folder, scene_id, im_id)
        if key not in self._rgb_paths:
            base = self.dir / f"{scene_id:06d}" / folder / f"{im_id:06d}"
            for ext in (".png", ".jpg", ".jpeg", ".tif"):
                if base.with_suffix(ext).exists():
                    self._rgb_paths[key] = base.with_suffix(ext)
                    break
            else:
                raise FileNotFoundError(f"{base}.png/.jpg: image not found")
        return self._rgb_paths[key]

    def load_image(self, scene_id: int, im_id: int) -> np.ndarray:
        path = self._image_path(scene_id, im_id, "rgb")
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path}: cannot decode image")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def load_depth(self, scene_id: int, im_id: int) -> np.ndarray:
        path = self._image_path(scene_id, im_id, "depth")
        d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if d is None:
            raise ValueError(f"{path}: cannot decode depth")
        scale = float(self._cameras[(scene_id, im_id)].get("depth_scale", 1.0))
        return d.astype(np.float32) * scale / 1000.0

    def load_mask_visib(self, scene_id: int, im_id: int, gt_index: int) -> np.ndarray:
        path = self.dir / f"{scene_id:06d}" / "mask_visib" / f"{im_id:06d}_{gt_index:06d}.png"
        m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise FileNotFoundError(f"{path}: mask not found")
        return m > 127
