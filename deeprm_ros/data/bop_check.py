"""Checks that a dataset folder is in the BOP format as the BOP toolkit reads it, and says what is wrong.

`python -m deeprm_ros.data.bop_check datasets/demo_pbr --split test`

Checked: models/ and models_eval/ with models_info.json and one PLY per object; per scene scene_camera.json
(cam_K of 9 numbers, depth_scale), scene_gt.json (cam_R_m2c 9 numbers of a rotation, cam_t_m2c 3, obj_id of a
known model), scene_gt_info.json (one entry per gt with BOP's six keys, boxes as [x, y, w, h] with w, h >= 0 or
all -1, px_count_visib <= px_count_all, visib_fract = px_count_visib / px_count_all), and the rgb, depth and
mask_visib files each entry implies; test_targets_bop19.json entries name existing images and objects.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

INFO_KEYS = {"bbox_obj", "bbox_visib", "px_count_all", "px_count_valid", "px_count_visib", "visib_fract"}


def _box_ok(box) -> bool:
    return isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) for v in box) and \
        (box == [-1, -1, -1, -1] or (box[2] >= 0 and box[3] >= 0))


def _models_problems(root: Path) -> tuple[list[str], set[int]]:
    problems, ids = [], set()
    for name in ("models", "models_eval"):
        d = root / name
        info = d / "models_info.json"
        if not info.exists():
            problems.append(f"{info}: missing")
            continue
        entries = json.loads(info.read_text())
        for key, e in entries.items():
            oid = int(key)
            ids.add(oid)
            if not (d / f"obj_{oid:06d}.ply").exists():
                problems.append(f"{d}/obj_{oid:06d}.ply: missing (BOP reads PLY)")
            if "diameter" not in e:
                problems.append(f"{info}: object {oid} has no diameter")
    return problems, ids


def check_split(root, split: str, max_problems: int = 50) -> list[str]:
    """Problems found in the dataset's models and one split ([] = conforms)."""
    root = Path(root)
    problems, ids = _models_problems(root)
    split_dir = root / split
    scenes = sorted(p for p in split_dir.iterdir() if p.is_dir() and re.fullmatch(r"\d{6}", p.name)) \
        if split_dir.is_dir() else []
    if not scenes:
        problems.append(f"{split_dir}: no scene folders")
    images = set()
    for scene in scenes:
        try:
            cam = json.loads((scene / "scene_camera.json").read_text())
            gt = json.loads((scene / "scene_gt.json").read_text())
            info = json.loads((scene / "scene_gt_info.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            problems.append(f"{scene}: {e}")
            continue
        if set(cam) != set(gt) or set(gt) != set(info):
            problems.append(f"{scene}: scene_camera, scene_gt and scene_gt_info list different images")
        for im, entries in gt.items():
            images.add((int(scene.name), int(im)))
            name = f"{int(im):06d}"
            c = cam.get(im, {})
            if len(c.get("cam_K", [])) != 9 or not isinstance(c.get("depth_scale"), (int, float)):
                problems.append(f"{scene}/scene_camera.json: image {im}: cam_K (9) and depth_scale required")
            if not any((scene / "rgb" / (name + ext)).exists() for ext in (".png", ".jpg")):
                problems.append(f"{scene}/rgb/{name}: missing")
            if not (scene / "depth" / (name + ".png")).exists():
                problems.append(f"{scene}/depth/{name}.png: missing")
            infos = info.get(im, [])
            if len(infos) != len(entries):
                problems.append(f"{scene}: image {im}: {len(entries)} gts but {len(infos)} gt_info entries")
            for k, (e, inf) in enumerate(zip(entries, infos)):
                where = f"{scene.name}/{im}/{k}"
                R = np.asarray(e.get("cam_R_m2c", []), np.float64)
                if R.size != 9 or not np.allclose(R.reshape(3, 3) @ R.reshape(3, 3).T, np.eye(3), atol=1e-5) \
                        or abs(np.linalg.det(R.reshape(3, 3)) - 1) > 1e-5:
                    problems.append(f"{where}: cam_R_m2c is not a rotation (9 numbers, row-major)")
                if len(e.get("cam_t_m2c", [])) != 3:
                    problems.append(f"{where}: cam_t_m2c must have 3 numbers (mm)")
                if e.get("obj_id") not in ids:
                    problems.append(f"{where}: obj_id {e.get('obj_id')} is not in models_info.json")
                if set(inf) != INFO_KEYS:
                    problems.append(f"{where}: gt_info keys {sorted(inf)} (BOP: {sorted(INFO_KEYS)})")
                    continue
                if not (_box_ok(inf["bbox_obj"]) and _box_ok(inf["bbox_visib"])):
                    problems.append(f"{where}: boxes must be 4 ints [x, y, w, h] or all -1")
                n_all, n_vis = inf["px_count_all"], inf["px_count_visib"]
                if n_vis > n_all or inf["px_count_valid"] > n_all:
                    problems.append(f"{where}: px_count_visib/valid above px_count_all")
                expected = n_vis / n_all if n_all else 0.0
                if abs(inf["visib_fract"] - expected) > 1e-6:
                    problems.append(f"{where}: visib_fract {inf['visib_fract']} != px_count_visib / px_count_all")
                if not (scene / "mask_visib" / f"{name}_{k:06d}.png").exists():
                    problems.append(f"{where}: mask_visib/{name}_{k:06d}.png missing")
        if len(problems) >= max_problems:
            break
    targets = root / "test_targets_bop19.json"
    if split.startswith("test") and targets.exists():
        for t in json.loads(targets.read_text()):
            if (t["scene_id"], t["im_id"]) not in images or t["obj_id"] not in ids or t.get("inst_count", 0) < 1:
                problems.append(f"{targets}: entry {t} names no image/object of {split}")
                break
    return problems[:max_problems]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Check a dataset folder against the BOP format")
    p.add_argument("root")
    p.add_argument("--split", default="test")
    args = p.parse_args(argv)
    problems = check_split(args.root, args.split)
    for line in problems:
        print(line)
    print(f"{args.root} {args.split}: " + ("conforms to the BOP format" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
