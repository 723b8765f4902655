"""Batched against one-at-a-time refinement: the throughput of N objects refined in one batched pass
(what the node does with all objects of a frame) against the same N objects refined in N calls.
Prints a table and writes a bar chart.

    python bench/batching_benchmark.py                                  # B0-LSTM, 8 objects, 4 iterations
    python bench/batching_benchmark.py --phi 3 --objects 8 --backends torch onnx --iterations 4

Untrained networks of the paper's sizes at 240x320 (weights do not change the cost).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import numpy as np

from deeprm_ros.geometry.crop import CROP_SIZE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refiner_benchmark import machine, make_model, new_plot, save_plot, scene  # noqa: E402


def time_batched(refiner, image, K, obj, poses, iterations, repeats) -> float:
    """Median ms to refine all objects in one call."""
    n = len(obj)
    args = (image[None], np.repeat(K[None], n, 0), poses, obj, iterations)
    refiner.run(*args, image_index=np.zeros(n, dtype=np.int64))  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        refiner.run(*args, image_index=np.zeros(n, dtype=np.int64))
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def time_sequential(refiner, image, K, obj, poses, iterations, repeats) -> float:
    """Median ms to refine the same objects one call each."""
    one = np.zeros(1, dtype=np.int64)
    refiner.run(image[None], K[None], poses[:1], obj[:1], iterations, image_index=one)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(len(obj)):
            refiner.run(image[None], K[None], poses[i:i + 1], obj[i:i + 1], iterations, image_index=one)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phi", type=int, default=0)
    p.add_argument("--kind", default="lstm", choices=["lstm", "gru", "mlp"])
    p.add_argument("--objects", type=int, default=8)
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument("--backends", nargs="+", default=None, help="torch onnx openvino (CPU default: torch onnx) / torch (GPU default)")
    p.add_argument("--input", type=int, nargs=2, default=list(CROP_SIZE))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default="outputs/bench")
    args = p.parse_args(argv)
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.refiner import Refiner
    from deeprm_ros.render import Renderer
    from deeprm_ros.ros.resources import default_models_dir

    device = "cuda" if torch.cuda.is_available() else "cpu"
    backends = args.backends or (["torch"] if device == "cuda" else ["torch", "onnx"])
    models = load_object_library(default_models_dir())
    renderer = Renderer(models, 640, 480)
    K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])
    obj, poses = scene(models, args.objects, K)
    image = renderer.render_scene(K, list(zip(obj, poses))).rgb
    print(f"machine: {machine()}; renderer: {renderer.gl_renderer}; crop {args.input[0]}x{args.input[1]}; "
          f"B{args.phi}-{args.kind.upper()}, {args.objects} objects, {args.iterations} iterations")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            model = make_model(args.phi, args.kind, backend, tuple(args.input), device, tmp)
            refiner = Refiner(model, renderer, models, device if backend not in ("onnx", "onnx_trt", "openvino") else "cpu")
            batched = time_batched(refiner, image, K, obj, poses, args.iterations, args.repeats)
            sequential = time_sequential(refiner, image, K, obj, poses, args.iterations, args.repeats)
            rows.append((backend, batched, sequential))
            print(f"{backend}: one batch {batched:.0f} ms, one at a time {sequential:.0f} ms, "
                  f"speed-up {sequential / batched:.2f}x", flush=True)
    n = args.objects
    print(f"\n| backend | {n} objects in one batch (ms) | {n} one at a time (ms) | objects/s batched | "
          "objects/s one at a time | speed-up |")
    print("|---|---|---|---|---|---|")
    for backend, b, s in rows:
        print(f"| {backend} | {b:.0f} | {s:.0f} | {n * 1e3 / b:.1f} | {n * 1e3 / s:.1f} | {s / b:.2f}x |")
    fig, ax = new_plot((6, 3.5))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [n * 1e3 / b for _, b, _ in rows], 0.4, label="one batch")
    ax.bar(x + 0.2, [n * 1e3 / s for _, _, s in rows], 0.4, label="one at a time")
    ax.set_xticks(x, [r[0] for r in rows])
    ax.set_ylabel(f"objects per second ({args.iterations} iterations)")
    ax.legend()
    save_plot(fig, ax, Path(args.out) / "batching.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
