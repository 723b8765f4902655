"""Refinement speed, laid out like the paper's Table 3: per-iteration latency split into render, crop,
network and update, and frames per second at 2, 4, 6 and 8 iterations, per backbone, recurrent type,
object count and network backend (torch, torch.compile, onnxruntime). Prints tables, writes a PNG.

    python bench/refiner_benchmark.py                                   # B0/B2/B3 x LSTM/GRU/MLP, 1/4/8 objects
    python bench/refiner_benchmark.py --phis 0 --kinds lstm --objects 1 8 --backends torch onnx --input 240 320

Untrained networks of the paper's sizes (weights do not change the cost). Runs on CUDA when available
(the renderer then uses the GPU's EGL). One GPU run covers all of (a).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch
import numpy as np

from deeprm_ros.geometry.crop import CROP_SIZE


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, {gpu}, load {os.getloadavg()[0]:.1f}"


def new_plot(size):
    """A matplotlib figure and axes drawn off-screen (no display on these machines)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=size)


def save_plot(fig, ax, path: Path) -> None:
    """Title the plot with the machine it was measured on, write the PNG and say where."""
    ax.set_title(machine()[:90], fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def scene(models, n, K):
    ids = sorted(models)
    poses = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        poses[i, :3, 3] = [-0.15 + 0.3 * (i % 4) / 3, -0.08 + 0.16 * (i // 4), 0.6]
    obj = np.array([ids[i % len(ids)] for i in range(n)])
    return obj, poses


def make_model(phi, kind, backend, input_size, device, tmp):
    from deeprm_ros.export import OnnxStepModel, export_onnx
    from deeprm_ros.model import create_model

    model = create_model(phi, kind, with_flow=False, input_size=input_size).to(device).eval()
    if backend == "onnx":
        path = export_onnx(model, Path(tmp) / f"b{phi}_{kind}.onnx")
        return OnnxStepModel(path, model.config, device=str(device))  # the CUDA provider on a GPU machine
    if backend == "onnx_trt":  # onnxruntime's TensorRT provider in fp16 (engines cached in tmp), CUDA as fallback
        path = export_onnx(model, Path(tmp) / f"b{phi}_{kind}.onnx")
        trt = ("TensorrtExecutionProvider", {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                                             "trt_engine_cache_path": str(tmp)})
        return OnnxStepModel(path, model.config, providers=[trt, "CUDAExecutionProvider", "CPUExecutionProvider"])
    if backend == "cudagraphs":  # torch.compile's reduce-overhead mode: the step replayed as a CUDA graph
        compiled = torch.compile(model, mode="reduce-overhead")
        compiled.config = model.config
        compiled.recurrent = model.recurrent
        return compiled
    if backend == "openvino":  # CPU, bf16 where the CPU has it natively (OpenVINO reads the ONNX file itself)
        from deeprm_ros.openvino_step import OpenVinoStepModel
        return OpenVinoStepModel(export_onnx(model, Path(tmp) / f"b{phi}_{kind}.onnx"), model.config)
    if backend == "compile":
        compiled = torch.compile(model)
        compiled.config = model.config
        compiled.recurrent = model.recurrent
        return compiled
    return model


def measure(refiner, image, K, obj, poses, iterations, repeats):
    n = len(obj)
    Ks = np.repeat(K[None], n, 0)
    idx = np.zeros(n, dtype=np.int64)
    refiner.run(image[None], Ks, poses, obj, 2, image_index=idx)  # warm-up (metering, compile, caches)
    stages = {"render": [], "crop": [], "network": [], "update": [], "total": []}
    for _ in range(repeats):
        out = refiner.run(image[None], Ks, poses, obj, iterations, image_index=idx)
        for k in stages:
            stages[k].append(out.timings_ms[k] / (iterations if k != "total" else 1))
    return {k: float(np.median(v)) for k, v in stages.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phis", type=int, nargs="+", default=[0, 2, 3])
    p.add_argument("--kinds", nargs="+", default=["lstm", "gru", "mlp"])
    p.add_argument("--objects", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--backends", nargs="+", default=None, help="torch compile cudagraphs onnx onnx_trt openvino (default: torch compile [onnx on the CPU])")
    p.add_argument("--input", type=int, nargs=2, default=list(CROP_SIZE), help="crop size (the paper: 240 320)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default="outputs/bench")
    args = p.parse_args(argv)
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.refiner import Refiner
    from deeprm_ros.render import Renderer
    from deeprm_ros.ros.resources import default_models_dir

    device = "cuda" if torch.cuda.is_available() else "cpu"
    backends = args.backends or (["torch", "compile"] if device == "cuda" else ["torch", "compile", "onnx"])
    models = load_object_library(default_models_dir())
    renderer = Renderer(models, 640, 480)
    K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])
    obj_all, poses_all = scene(models, max(args.objects), K)
    image = renderer.render_scene(K, list(zip(obj_all, poses_all))).rgb
    print(f"machine: {machine()}; renderer: {renderer.gl_renderer}; crop {args.input[0]}x{args.input[1]}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for phi in args.phis:
            for kind in args.kinds:
                for backend in backends:
                    try:
                        model = make_model(phi, kind, backend, tuple(args.input), device, tmp)
                    except Exception as e:  # e.g. torch.compile without a compiler
                        print(f"B{phi}-{kind} {backend}: skipped ({type(e).__name__}: {str(e)[:80]})")
                        continue
                    refiner = Refiner(model, renderer, models, device if backend not in ("onnx", "onnx_trt", "openvino") else "cpu")
                    for n in args.objects:
                        obj, poses = obj_all[:n], poses_all[:n]
                        per_iter = measure(refiner, image, K, obj, poses, 4, args.repeats)
                        fps = {it: 1000.0 / (per_iter["total"] / 4 * it) for it in (2, 4, 6, 8)}
                        rows.append((phi, kind, backend, n, per_iter, fps))
                        print(f"B{phi}-{kind:4s} {backend:7s} {n} obj: per iteration render {per_iter['render']:.1f} "
                              f"crop {per_iter['crop']:.1f} network {per_iter['network']:.1f} update "
                              f"{per_iter['update']:.2f} ms; FPS@2/4/6/8 " +
                              "/".join(f"{fps[i]:.1f}" for i in (2, 4, 6, 8)), flush=True)
    print("\nTable 3 layout (frames per second of the whole refinement, one frame = all objects):")
    print("| backbone | FC | backend | objects | render | crop | network | update (ms/iter) | FPS 2 | 4 | 6 | 8 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for phi, kind, backend, n, s, fps in rows:
        print(f"| B{phi} | {kind.upper()} | {backend} | {n} | {s['render']:.1f} | {s['crop']:.1f} | {s['network']:.1f} "
              f"| {s['update']:.2f} | {fps[2]:.1f} | {fps[4]:.1f} | {fps[6]:.1f} | {fps[8]:.1f} |")
    fig, ax = new_plot((7, 4.5))
    for phi, kind, backend, n, s, fps in rows:
        ax.plot([2, 4, 6, 8], [fps[i] for i in (2, 4, 6, 8)], marker="o", label=f"B{phi}-{kind} {backend} {n} obj")
    ax.set_xlabel("iterations")
    ax.set_ylabel("frames per second")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    save_plot(fig, ax, Path(args.out) / "refiner_fps.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
