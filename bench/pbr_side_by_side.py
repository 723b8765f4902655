"""Raster and path-traced training images side by side, and the seconds each generator takes per image.

python bench/pbr_side_by_side.py --images 3 --out docs/results/pbr_side_by_side.jpg

Row k: the raster generator's image k (data/synthetic.py), the PBR generator's image k (data/pbr.py), and the
PBR image with the outlines of its ground-truth visible masks (what training and evaluation read).
Prints a table of seconds per 640x480 image (one process, this machine).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def outlined(frame) -> np.ndarray:
    vis = frame.rgb.copy()
    for k in range(len(frame.objects)):
        contours, _ = cv2.findContours((frame.instance == k).astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(vis, contours, -1, (0, 255, 0), 1)
    return vis


def main(argv=None) -> int:
    import torch  # noqa: F401  (before any GL context)

    from deeprm_ros.data.pbr import PbrConfig, PbrSceneMaker, texture_images
    from deeprm_ros.data.synthetic import SceneConfig, make_frame
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.render import Renderer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=str(ROOT / "data/demo/models"))
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spp", type=int, default=PbrConfig.spp)
    p.add_argument("--textures", default="bundled", help="as data/pbr.py: bundled, procedural or a folder")
    p.add_argument("--stack-probability", type=float, default=PbrConfig.stack_probability)
    p.add_argument("--out", default=str(ROOT / "docs/results/pbr_side_by_side.jpg"))
    args = p.parse_args(argv)

    models = load_object_library(args.models)
    raster_cfg = SceneConfig()
    rows, t_raster = [], []
    maker = PbrSceneMaker(models, PbrConfig(spp=args.spp, stack_probability=args.stack_probability),
                          texture_images(args.textures))
    raster = Renderer(models, width=raster_cfg.width, height=raster_cfg.height)
    for i in range(args.images):
        t0 = time.perf_counter()
        r = make_frame(raster, models, np.random.default_rng([args.seed, i]), raster_cfg)
        t_raster.append(time.perf_counter() - t0)
        f = maker.make_frame(np.random.default_rng([args.seed, i]), i)
        rows.append(np.hstack([r.rgb, f.rgb, outlined(f)]))
    pbr_times = maker.seconds_per_image
    sheet = cv2.resize(np.vstack(rows), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {args.out}")
    print("| generator | seconds per 640x480 image (mean, min..max) |")
    print("|---|---|")
    print(f"| raster (data/synthetic.py) | {np.mean(t_raster):.3f} ({min(t_raster):.3f}..{max(t_raster):.3f}) |")
    print(f"| PBR, {maker.mi.variant()}, {args.spp} spp + denoiser (data/pbr.py) | {np.mean(pbr_times):.2f} "
          f"({min(pbr_times):.2f}..{max(pbr_times):.2f}) |")
    raster.release()
    maker.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
