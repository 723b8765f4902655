"""The loop both dataset generators share (raster: data/synthetic.py, path traced: data/pbr.py): images in
ranges, deterministic per (seed, image), resumable, in the BOP layout with BOP's own gt_info, models/ and
models_eval/, and test targets.

A generator supplies `make_frame(rng, index) -> Frame`; everything written about a frame (poses in mm, visible
masks, gt_info, depth) is derived here the same way for both.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .bop_writer import BopWriter, gt_entry
from .gt_info import full_silhouettes, gt_info_entries, visible_inside_silhouettes

MIN_TARGET_VISIB_FRACT = 0.1   # BOP's test targets: objects at least 10% visible
FLUSH_EVERY = 25               # images between json flushes (what an interrupted run can lose)


@dataclass
class Frame:
    """One generated image. instance (H, W) int: index into `objects` (the annotated objects), -1 or any index
    >= len(objects) (distractors, floor) for everything else."""
    rgb: np.ndarray                # (H, W, 3) uint8
    depth: np.ndarray              # (H, W) float metres, 0 = none
    K: np.ndarray                  # (3, 3)
    objects: list                  # [(obj_id, T_cam_obj (4, 4) metres)]
    instance: np.ndarray


def add_dataset_arguments(parser, images_per_scene: int = 1000) -> None:
    """The command-line options both generators share: models, unit, output, split, image range, seed."""
    parser.add_argument("--models", required=True, help="folder with models_info.json and obj_XXXXXX.ply/.obj")
    parser.add_argument("--mesh-unit", default="mm", choices=["mm", "m"])
    parser.add_argument("--out", required=True, help="dataset root to write")
    parser.add_argument("--split", default="train_pbr")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--first-image", type=int, default=0,
                        help="start index (to split generation across processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images-per-scene", type=int, default=images_per_scene)


def annotate(renderer, frame: Frame) -> tuple[list, list, list]:
    """scene_gt entries, scene_gt_info entries and visible masks of a frame (renderer: the project's rasterizer
    holding the objects, for BOP's full silhouettes)."""
    h, w = frame.instance.shape
    large = full_silhouettes(renderer, frame.K, frame.objects, w, h)
    visible = visible_inside_silhouettes([frame.instance == k for k in range(len(frame.objects))], large)
    infos = gt_info_entries(large, visible, frame.depth, w, h)
    gts = [gt_entry(oid, T) for oid, T in frame.objects]
    return gts, infos, visible


EVAL_SAMPLES = 20000  # vertices added evenly over the surface of each models_eval/ mesh


def evaluation_mesh(mesh, n_samples: int = EVAL_SAMPLES, seed: int = 0):
    """The same surface with its vertices spread evenly over it, as BOP's models_eval/ are resampled: BOP's toolkit
    computes ADD(-S) over the vertices, so a box's 8 corners, or the dense rim of a can, would otherwise weigh as
    much as the rest of the surface. Points drawn uniformly over the area are added to the faces they fall in, and
    each face is re-triangulated (Delaunay in its own barycentric plane, wound like the face). Geometry only."""
    import trimesh
    from scipy.spatial import Delaunay

    points, face_index = trimesh.sample.sample_surface(mesh, n_samples, seed=seed)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # v0, v1, v2 of a face in (b1, b2)
    vertices, faces = [], []
    order = np.argsort(face_index, kind="stable")
    bounds = np.searchsorted(face_index[order], np.arange(len(mesh.faces) + 1))
    for f, tri in enumerate(mesh.triangles):
        inside = points[order[bounds[f]:bounds[f + 1]]]
        base = sum(len(v) for v in vertices)
        if len(inside) == 0:
            vertices.append(tri)
            faces.append(np.array([[0, 1, 2]]) + base)
            continue
        bary = trimesh.triangles.points_to_barycentric(np.repeat(tri[None], len(inside), 0), inside)
        uv = np.vstack([corners, np.clip(bary[:, 1:], 0.0, 1.0)])
        simplices = Delaunay(uv, qhull_options="QJ").simplices
        a, b, c = (uv[simplices[:, i]] for i in range(3))
        cw = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) < 0
        simplices[cw] = simplices[cw][:, [0, 2, 1]]
        w = np.column_stack([1.0 - uv.sum(1), uv])
        vertices.append(w @ tri)
        faces.append(simplices + base)
    return trimesh.Trimesh(np.vstack(vertices), np.vstack(faces), process=True)


def copy_models(models_dir, out_root) -> None:
    """The dataset's models/ and models_eval/ (BOP's evaluation scripts read the latter): copies of the source
    models, so the dataset stands alone; models_eval/ holds each mesh as PLY (BOP reads PLY) with its vertices
    spread evenly over the surface (evaluation_mesh)."""
    import trimesh

    src, out_root = Path(models_dir), Path(out_root)
    for name in ("models", "models_eval"):
        dst = out_root / name
        if dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        # one temporary folder per process: parallel workers (--workers) each make one, the first rename wins
        tmp = dst.with_name(f"{dst.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        if name == "models_eval":
            for mesh in sorted(tmp.glob("obj_*.obj")) + sorted(tmp.glob("obj_*.ply")):
                if mesh.suffix == ".obj" and mesh.with_suffix(".ply").exists():
                    continue
                evaluation_mesh(trimesh.load(mesh, force="mesh", process=False)).export(mesh.with_suffix(".ply"))
        try:
            tmp.rename(dst)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)


def refresh_gt_info(root, split: str, mesh_unit: str = "mm", progress: bool = True) -> int:
    """Recompute scene_gt_info.json and mask_visib/ of an existing split from its scene_gt poses and visible
    masks, as this module writes them now (for datasets made by an earlier version; nothing is re-rendered
    but the objects' silhouettes). Returns the number of images."""
    import cv2
    from tqdm import tqdm

    from ..meshes import load_object_library
    from ..render import Renderer
    from .bop import BopDataset

    ds = BopDataset(root, split)
    models = load_object_library(Path(root) / "models", unit=mesh_unit)
    by_image: dict[tuple, list] = {}
    for rec in ds.samples:
        by_image.setdefault((rec.scene_id, rec.im_id), []).append(rec)
    first = next(iter(by_image))
    h, w = ds.load_image(*first).shape[:2]
    renderer = Renderer(models, width=w, height=h)
    try:
        for (scene_id, im_id), recs in tqdm(sorted(by_image.items()), desc=f"gt_info {split}", disable=not progress):
            recs = sorted(recs, key=lambda r: r.gt_index)
            objects = [(r.obj_id, r.T_cam_obj) for r in recs]
            large = full_silhouettes(renderer, recs[0].K, objects, w, h)
            visible = visible_inside_silhouettes([ds.load_mask_visib(scene_id, im_id, r.gt_index) for r in recs],
                                                 large)
            depth = ds.load_depth(scene_id, im_id)
            scene_dir = Path(root) / split / f"{scene_id:06d}"
            for r, m in zip(recs, visible):
                cv2.imwrite(str(scene_dir / "mask_visib" / f"{im_id:06d}_{r.gt_index:06d}.png"), m.astype(np.uint8) * 255)
            info_path = scene_dir / "scene_gt_info.json"
            info = json.loads(info_path.read_text())
            info[str(im_id)] = gt_info_entries(large, visible, depth, w, h)
            info_path.write_text(json.dumps(info))
    finally:
        renderer.release()
    if split.startswith("test"):
        write_test_targets(root, split)
    return len(by_image)


def write_test_targets(out_root, split: str) -> Path:
    """test_targets_bop19.json listing every (scene, image, object) with an instance at least 10% visible,
    rebuilt from the split's json files (so parallel ranges need no coordination)."""
    out_root = Path(out_root)
    counts: dict[tuple, int] = {}
    for scene in sorted(p for p in (out_root / split).iterdir() if p.is_dir()):
        gt_path, info_path = scene / "scene_gt.json", scene / "scene_gt_info.json"
        if not gt_path.exists() or not info_path.exists():
            continue
        gt, info = json.loads(gt_path.read_text()), json.loads(info_path.read_text())
        for im, entries in gt.items():
            for e, inf in zip(entries, info.get(im, [])):
                if inf["visib_fract"] >= MIN_TARGET_VISIB_FRACT:
                    key = (int(scene.name), int(im), int(e["obj_id"]))
                    counts[key] = counts.get(key, 0) + 1
    path = out_root / "test_targets_bop19.json"
    with open(out_root / ".targets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path.write_text(json.dumps([{"scene_id": s, "im_id": i, "obj_id": o, "inst_count": c}
                                    for (s, i, o), c in sorted(counts.items())]))
    return path


def generate_images(out_root, split: str, seed: int, first_image: int, n_images: int, images_per_scene: int,
                    make_frame: Callable, renderer, desc: str, progress: bool = True) -> int:
    """Images [first_image, first_image + n_images) of the split; image i is made by make_frame with the
    generator np.random.default_rng([seed, i]) alone, so any range can run in any process and a rerun skips
    the images already written (resuming). Returns the number of images made now."""
    from tqdm import tqdm

    writer = BopWriter(out_root, split)
    done_by_scene: dict[int, set] = {}
    made = 0
    todo = range(first_image, first_image + n_images)
    with tqdm(todo, desc=desc, disable=not progress, dynamic_ncols=True) as bar:
        for i in bar:
            scene_id, im_id = divmod(i, images_per_scene)
            if scene_id not in done_by_scene:
                done_by_scene[scene_id] = writer.written_images(scene_id)
            if im_id in done_by_scene[scene_id]:
                continue
            frame = make_frame(np.random.default_rng([seed, i]), i)
            gts, infos, masks = annotate(renderer, frame)
            writer.add_image(scene_id, im_id, rgb=frame.rgb, depth=frame.depth, K=frame.K, gts=gts,
                             gt_infos=infos, masks_visib=masks)
            made += 1
            if made % FLUSH_EVERY == 0:
                writer.flush()
    writer.close()
    if split.startswith("test"):
        write_test_targets(out_root, split)
    return made


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Recompute scene_gt_info.json and mask_visib/ of a generated split "
                                            "as the current generators write them (no image is re-rendered)")
    p.add_argument("root")
    p.add_argument("--split", required=True)
    p.add_argument("--mesh-unit", default="mm", choices=["mm", "m"])
    args = p.parse_args(argv)
    n = refresh_gt_info(args.root, args.split, args.mesh_unit)
    print(f"{args.root} {args.split}: gt_info of {n} images recomputed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
