"""A reader for datasets in the BOP layout (YCB-V, LM/LM-O, and our synthetic data).

root/models/ (+ models_info.json); root/<split>/<scene:06d>/ with scene_camera.json (cam_K, depth_scale),
scene_gt.json (cam_R_m2c row-major, cam_t_m2c in mm, obj_id), scene_gt_info.json (bbox_obj, bbox_visib,
px_count_visib, visib_fract; optional), rgb/ (png or jpg), depth/ (uint16 png, depth_scale mm per count),
mask_visib/<im:06d>_<gt:06d>.png; optionally root/test_targets_bop19.json, a list of
{scene_id, im_id, obj_id, inst_count} selecting the evaluated objects (LM-O lists only some objects per image).

Poses are converted to 4x4 T_cam_obj in metres at load time; nothing else in the package sees millimetres.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif")


@dataclass
class Sample:
    """One ground-truth object instance in one image."""
    scene_id: int
    im_id: int
    obj_id: int
    gt_index: int           # index into scene_gt.json[im_id] (and the mask_visib file name)
    T_cam_obj: np.ndarray   # (4, 4) float64, metres
    K: np.ndarray           # (3, 3) float64
    visib_fract: float      # 1.0 when scene_gt_info.json is absent
    bbox_obj: tuple | None = None     # (x, y, w, h) pixels, from scene_gt_info.json
    bbox_visib: tuple | None = None
    px_count_visib: int | None = None


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read ({e})") from None


def read_targets(path) -> dict:
    """{(scene_id, im_id, obj_id): inst_count} from a BOP test_targets_bop19.json."""
    out = {}
    for k, t in enumerate(_read_json(path)):
        try:
            out[(int(t["scene_id"]), int(t["im_id"]), int(t["obj_id"]))] = int(t.get("inst_count", 1))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: entry {k} is not a BOP target ({e!r})") from None
    return out


def resolve_models_dir(root, models_dir="models") -> Path:
    """A dataset's mesh folder: `models_dir` as given when absolute, else under the dataset root (BOP: models/)."""
    path = Path(models_dir).expanduser()
    return path if path.is_absolute() else Path(root).expanduser() / path


class BopDataset:
    """The ground truth of one split, as a flat list of `Sample`s (`.samples`) plus image/depth/mask loaders.

    targets_file (absolute, or relative to root): keep only (scene, image, object) triples it lists, all instances of
    such an object in that image included. min_visib_fract: drop instances less visible than that.
    """

    def __init__(self, root, split: str, targets_file=None, min_visib_fract: float = 0.0):
        self.root = Path(root)
        self.split = split
        self.dir = self.root / split
        if not self.dir.is_dir():
            raise FileNotFoundError(f"{self.dir}: BOP split folder not found")
        self.targets = None
        if targets_file:
            tpath = Path(targets_file)
            self.targets = read_targets(tpath if tpath.is_absolute() else self.root / tpath)
        self.samples: list[Sample] = []
        self._all: dict[tuple[int, int], list[Sample]] = {}      # every gt instance per image, unfiltered
        self._kept: dict[tuple[int, int], list[Sample]] = {}     # the ones in .samples
        self._cameras: dict[tuple[int, int], dict] = {}
        self._paths: dict = {}
        scene_dirs = sorted(p for p in self.dir.iterdir() if p.is_dir() and p.name.isdigit())
        for scene_dir in scene_dirs:
            self._read_scene(scene_dir, min_visib_fract)

    def _read_scene(self, scene_dir: Path, min_visib_fract: float):
        scene_id = int(scene_dir.name)
        cams = _read_json(scene_dir / "scene_camera.json")
        gts = _read_json(scene_dir / "scene_gt.json")
        info_path = scene_dir / "scene_gt_info.json"
        infos = _read_json(info_path) if info_path.exists() else {}
        for im_key in sorted(gts, key=int):
            im_id = int(im_key)
            if im_key not in cams:
                raise ValueError(f"{scene_dir / 'scene_camera.json'}: no camera for image {im_id}")
            cam = cams[im_key]
            K = np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3)
            self._cameras[(scene_id, im_id)] = cam
            im_infos = infos.get(im_key, [])
            for k, gt in enumerate(gts[im_key]):
                try:
                    T = np.eye(4)
                    T[:3, :3] = np.asarray(gt["cam_R_m2c"], dtype=np.float64).reshape(3, 3)
                    T[:3, 3] = np.asarray(gt["cam_t_m2c"], dtype=np.float64).reshape(3) / 1000.0
                    oid = int(gt["obj_id"])
                except (KeyError, TypeError, ValueError) as e:
                    raise ValueError(f"{scene_dir / 'scene_gt.json'}: image {im_id}, gt {k}: {e!r}") from None
                info = im_infos[k] if k < len(im_infos) else {}
                s = Sample(scene_id, im_id, oid, k, T, K, float(info.get("visib_fract", 1.0)),
                           tuple(info["bbox_obj"]) if "bbox_obj" in info else None,
                           tuple(info["bbox_visib"]) if "bbox_visib" in info else None,
                           int(info["px_count_visib"]) if "px_count_visib" in info else None)
                self._all.setdefault((scene_id, im_id), []).append(s)
                if self.targets is not None and (scene_id, im_id, oid) not in self.targets:
                    continue
                if s.visib_fract < min_visib_fract:
                    continue
                self.samples.append(s)
                self._kept.setdefault((scene_id, im_id), []).append(s)

    def __repr__(self):
        return f"BopDataset({self.dir}, {len(self.images())} images, {len(self.samples)} samples)"

    def __len__(self):
        return len(self.samples)

    @property
    def models_dir(self) -> Path:
        return resolve_models_dir(self.root)

    def models_info(self) -> dict[int, dict]:
        """models/models_info.json as {obj_id: info} (diameter etc. in the file's unit, mm for BOP)."""
        return {int(k): v for k, v in _read_json(self.models_dir / "models_info.json").items()}

    def images(self) -> list[tuple[int, int]]:
        """(scene_id, im_id) of the images with at least one sample, sorted."""
        return sorted(self._kept)

    def image_objects(self, scene_id: int, im_id: int, all_objects: bool = False) -> list[Sample]:
        """The samples of one image; all_objects=True: every annotated instance (ignoring targets and visibility)."""
        return list((self._all if all_objects else self._kept).get((int(scene_id), int(im_id)), []))

    def camera(self, scene_id: int, im_id: int) -> dict:
        """The image's raw scene_camera.json entry."""
        return self._cameras[(int(scene_id), int(im_id))]

    def _file(self, scene_id: int, im_id: int, folder: str) -> Path:
        key = (folder, scene_id, im_id)
        if key not in self._paths:
            base = self.dir / f"{scene_id:06d}" / folder / f"{im_id:06d}"
            for ext in IMAGE_EXTENSIONS:
                if base.with_suffix(ext).exists():
                    self._paths[key] = base.with_suffix(ext)
                    break
            else:
                raise FileNotFoundError(f"{base}.png/.jpg: image not found")
        return self._paths[key]

    def load_image(self, scene_id: int, im_id: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        path = self._file(scene_id, im_id, "rgb")
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path}: cannot decode image")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def load_depth(self, scene_id: int, im_id: int) -> np.ndarray:
        """(H, W) float32 metres, 0 where there is no measurement."""
        path = self._file(scene_id, im_id, "depth")
        d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if d is None or d.ndim != 2:
            raise ValueError(f"{path}: cannot decode a single-channel depth image")
        scale_mm = float(self.camera(scene_id, im_id).get("depth_scale", 1.0))
        return (d.astype(np.float64) * (scale_mm / 1000.0)).astype(np.float32)

    def load_mask_visib(self, scene_id: int, im_id: int, gt_index: int) -> np.ndarray:
        """(H, W) bool visible mask of instance gt_index."""
        path = self.dir / f"{scene_id:06d}" / "mask_visib" / f"{im_id:06d}_{gt_index:06d}.png"
        m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise FileNotFoundError(f"{path}: mask not found or unreadable")
        return m > 127
