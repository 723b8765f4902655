"""Render timing: ms per 640x480 render (RGB + depth) of a 20k-face mesh with a 1024^2 texture.

    python bench/render_benchmark.py [--repeats 50] [--faces 20480] [--size 640x480]

Why: the refiner renders every object at every iteration, so render cost bounds the tracking rate; the
target on a 2-core CPU with Mesa llvmpipe is <= 6 ms per render.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_model(n_faces: int = 20480, tex_size: int = 1024):
    """An icosphere (subdivided until >= n_faces) with spherical UVs and a procedural texture."""
    import trimesh

    from deeprm_ros.meshes import ObjectModel

    sub = 0
    while 20 * 4 ** sub < n_faces:
        sub += 1
    mesh = trimesh.creation.icosphere(subdivisions=sub, radius=0.05)
    v = np.asarray(mesh.vertices, np.float32)
    uv = np.stack([(np.arctan2(v[:, 1], v[:, 0]) / (2 * np.pi)) % 1.0,
                   np.arccos(np.clip(v[:, 2] / 0.05, -1, 1)) / np.pi], -1).astype(np.float32)
    yy, xx = np.mgrid[0:tex_size, 0:tex_size]
    tex = np.stack([(xx * 255 // tex_size), (yy * 255 // tex_size),
                    ((xx // 64 + yy // 64) % 2) * 200 + 30], -1).astype(np.uint8)
    return ObjectModel(obj_id=1, name="bench_sphere", vertices=v, faces=np.asarray(mesh.faces, np.int32),
                       normals=np.asarray(mesh.vertex_normals, np.float32), uv=uv, texture=tex,
                       diameter=0.1, points=v[:100])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--faces", type=int, default=20480)
    p.add_argument("--size", default="640x480")
    args = p.parse_args(argv)
    w, h = (int(s) for s in args.size.split("x"))

    from deeprm_ros.render import Renderer

    model = make_model(args.faces)
    r = Renderer({1: model}, width=w, height=h)
    K = np.array([[600.0, 0, w / 2 - 0.5], [0, 600.0, h / 2 - 0.5], [0, 0, 1]])
    rng = np.random.default_rng(0)

    def pose(i):
        from scipy.spatial.transform import Rotation
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(rng.normal(size=3)).as_matrix()
        T[:3, 3] = [rng.uniform(-0.05, 0.05), rng.uniform(-0.04, 0.04), rng.uniform(0.25, 0.4)]
        return T

    poses = np.stack([pose(i) for i in range(8)])
    r.render_each(K, [1], poses[:1])  # warm up: shaders, buffers, metering gain
    r.render_scene(K, [(1, poses[0])])

    def timeit(fn):
        """Median and p90 over repeats; call k uses pose k % 8, so all rows see the same 8 poses."""
        times = []
        for k in range(args.repeats):
            t0 = time.perf_counter()
            fn(k % 8)
            times.append((time.perf_counter() - t0) * 1e3)
        return float(np.median(times)), float(np.percentile(times, 90))

    Ks = np.repeat(K[None], 8, 0)
    rows = [
        ("render_each, 1 object", *timeit(lambda k: r.render_each(K[None], [1], poses[k:k + 1])), 1),
        ("render_scene, 1 object (rgb+depth+instance)", *timeit(lambda k: r.render_scene(K, [(1, poses[k])])), 1),
        ("render_each, 8 objects (one call)", *timeit(lambda k: r.render_each(Ks, [1] * 8, poses)), 8),
    ]
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores visible, load average {os.getloadavg()[0]:.2f})")
    print(f"GL_RENDERER: {r.gl_renderer}")
    print(f"LP_NUM_THREADS: {os.environ.get('LP_NUM_THREADS', '(unset)')}")
    print(f"mesh: {len(model.faces)} faces, texture {model.texture.shape[1]}x{model.texture.shape[0]}, "
          f"image {w}x{h}, {args.repeats} repeats")
    print(f"| {'call':<46} | {'median ms':>9} | {'p90 ms':>7} | {'ms/render':>9} |")
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 9}|{'-' * 11}|")
    for name, med, p90, n in rows:
        print(f"| {name:<46} | {med:9.2f} | {p90:7.2f} | {med / n:9.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
