"""The demo objects: four textured objects made by code, deterministically, in the BOP model layout.

`python -m deeprm_ros.data.demo_objects --out data/demo/models`

1 box (100x60x40 mm), 2 drill-like L shape, 3 mug (cylinder + handle): asymmetric shapes and textures;
4 can (cylinder, stripes around its axis only): a continuous symmetry about z, for ADD-S.
Made by code (no downloads) so that the demo, the tests and a demo training run need nothing but this
repository; the committed copy in data/demo/models is checked against a fresh build by the tests.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

TEXTURE_SIZE = 256


def _noise_texture(rng, size, base):
    low = rng.uniform(-40, 40, size=(8, 8, 3)).astype(np.float32)
    img = np.asarray(base, np.float32)[None, None] + cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    return img


def _asymmetric_texture(rng, base, label: str) -> np.ndarray:
    """Colour noise, random marks and a label per atlas cell: no two views look alike."""
    img = np.clip(_noise_texture(rng, TEXTURE_SIZE, base), 0, 255).astype(np.uint8)
    cell = TEXTURE_SIZE // 4
    for i in range(16):
        r, c = divmod(i, 4)
        color = rng.uniform(0, 255, 3).tolist()
        x0, y0 = c * cell, r * cell
        kind = i % 3
        if kind == 0:
            cv2.circle(img, (x0 + int(rng.integers(10, cell - 10)), y0 + int(rng.integers(10, cell - 10))),
                       int(rng.integers(5, 18)), color, -1)
        elif kind == 1:
            cv2.rectangle(img, (x0 + int(rng.integers(2, 20)), y0 + int(rng.integers(2, 20))),
                          (x0 + int(rng.integers(30, cell - 2)), y0 + int(rng.integers(30, cell - 2))), color, -1)
        else:
            cv2.line(img, (x0, y0 + int(rng.integers(0, cell))), (x0 + cell, y0 + int(rng.integers(0, cell))), color, 4)
        cv2.putText(img, f"{label}{i}", (x0 + 4, y0 + cell - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    [int(255 - b) for b in base], 2, cv2.LINE_AA)
    return img


def _atlas_uv(vertices, faces, normals):
    """Per-face UVs: each face projects along its dominant normal axis into one of 6 atlas cells, so
    opposite sides get different texture cells (no accidental symmetry)."""
    lo, hi = vertices.min(0), vertices.max(0)
    span = np.maximum(hi - lo, 1e-9)
    uv = np.zeros((len(faces), 3, 2), np.float32)
    for f, face in enumerate(faces):
        n = normals[f]
        axis = int(np.argmax(np.abs(n)))
        sign = int(n[axis] > 0)
        cell = axis * 2 + sign                 # 0..5
        others = [a for a in range(3) if a != axis]
        p = (vertices[face][:, others] - lo[others]) / span[others]
        cu, cv_ = cell % 4, cell // 4
        uv[f] = (np.stack([cu + 0.05 + 0.9 * p[:, 0], cv_ + 0.05 + 0.9 * p[:, 1]], -1)) / 4.0
    return uv


def _cylinder_uv(vertices, faces, normals, height):
    """Side: u = angle, v = height (texture rows); caps: a fixed texel row, so the can stays symmetric."""
    uv = np.zeros((len(faces), 3, 2), np.float32)
    for f, face in enumerate(faces):
        v3 = vertices[face]
        if abs(normals[f][2]) > 0.9:
            uv[f] = [0.5, 0.985]
            continue
        ang = (np.arctan2(v3[:, 1], v3[:, 0]) / (2 * np.pi)) % 1.0
        if ang.max() - ang.min() > 0.5:
            ang[ang < 0.5] += 1.0
        uv[f, :, 0] = ang
        uv[f, :, 1] = 0.03 + 0.9 * (v3[:, 2] / height + 0.5)
    return uv


def _stripe_texture(rng) -> np.ndarray:
    """Rows vary, columns do not: the texture is invariant to rotation about the can's axis."""
    rows = np.zeros((TEXTURE_SIZE, 3), np.float32)
    y = 0
    while y < TEXTURE_SIZE:
        h = int(rng.integers(6, 30))
        rows[y:y + h] = rng.uniform(20, 240, 3)
        y += h
    rows[-8:] = (180, 180, 190)  # the cap band
    return np.repeat(rows[:, None], TEXTURE_SIZE, axis=1).astype(np.uint8)


def _unmerged(mesh):
    v = mesh.vertices[mesh.faces].reshape(-1, 3)
    f = np.arange(len(v)).reshape(-1, 3)
    return v, f, mesh.face_normals


def _write_ply(path: Path, vertices, faces, uv, texture_name: str):
    """Binary PLY as BOP ships textured models: x y z nx ny nz texture_u texture_v + comment TextureFile."""
    import trimesh
    normals = trimesh.Trimesh(vertices, faces, process=False).vertex_normals
    header = (f"ply\nformat binary_little_endian 1.0\ncomment TextureFile {texture_name}\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property float nx\nproperty float ny\nproperty float nz\n"
              "property float texture_u\nproperty float texture_v\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    vdata = np.hstack([vertices, normals, uv]).astype("<f4")
    fdata = np.zeros(len(faces), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    fdata["n"] = 3
    fdata["i"] = faces
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vdata.tobytes())
        f.write(fdata.tobytes())


def build_demo_objects():
    """[(obj_id, vertices (N,3) mm, faces, uv (N,2), texture RGB, symmetric)], the same on every run.

    Meshes are unmerged (3 vertices per face) so that every face carries its own texture coordinates;
    sizes (bounding-box extents) are 60 to 150 mm, like the household objects of the BOP datasets."""
    import trimesh

    rng = np.random.default_rng(2026)
    objects = []
    # 1: box
    box = trimesh.creation.box((100, 60, 40))
    objects.append((1, box, _asymmetric_texture(rng, (200, 80, 60), "B"), "atlas"))
    # 2: drill-like L shape (body + handle + chuck)
    body = trimesh.creation.box((120, 40, 40))
    handle = trimesh.creation.box((35, 85, 35))
    handle.apply_translation((-30, -60, 0))
    chuck = trimesh.creation.cylinder(radius=12, height=30, sections=24)
    chuck.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))
    chuck.apply_translation((75, 0, 0))
    drill = trimesh.util.concatenate([body, handle, chuck])
    objects.append((2, drill, _asymmetric_texture(rng, (60, 160, 70), "D"), "atlas"))
    # 3: mug (cylinder + handle)
    cup = trimesh.creation.cylinder(radius=40, height=90, sections=48)
    mug_handle = trimesh.creation.box((30, 12, 55))
    mug_handle.apply_translation((52, 0, 0))
    mug = trimesh.util.concatenate([cup, mug_handle])
    objects.append((3, mug, _asymmetric_texture(rng, (70, 90, 200), "M"), "atlas"))
    # 4: can, continuous symmetry about z
    can = trimesh.creation.cylinder(radius=33, height=120, sections=64)
    objects.append((4, can, _stripe_texture(rng), "cylinder"))
    out = []
    for oid, mesh, tex, mapping in objects:
        v, f, n = _unmerged(mesh)
        if mapping == "atlas":
            uv = _atlas_uv(mesh.vertices, mesh.faces, n)
        else:
            uv = _cylinder_uv(mesh.vertices, mesh.faces, n, 120.0)
        out.append((oid, v, f, uv.reshape(-1, 2), tex, mapping == "cylinder"))
    return out


def write_demo_models(out_dir) -> Path:
    """Write obj_00000N.ply/.png and models_info.json (mm, BOP layout) into out_dir."""
    from ..meshes import mesh_diameter as _diameter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {}
    for oid, v, f, uv, tex, symmetric in build_demo_objects():
        name = f"obj_{oid:06d}"
        cv2.imwrite(str(out_dir / f"{name}.png"), cv2.cvtColor(tex, cv2.COLOR_RGB2BGR))
        _write_ply(out_dir / f"{name}.ply", v, f, uv, f"{name}.png")
        lo, hi = v.min(0), v.max(0)
        entry = {"diameter": round(_diameter(v), 4), "min_x": float(lo[0]), "min_y": float(lo[1]), "min_z": float(lo[2]),
                 "size_x": float(hi[0] - lo[0]), "size_y": float(hi[1] - lo[1]), "size_z": float(hi[2] - lo[2])}
        if symmetric:
            entry["symmetries_continuous"] = [{"axis": [0, 0, 1], "offset": [0, 0, 0]}]
        info[str(oid)] = entry
    (out_dir / "models_info.json").write_text(json.dumps(info, indent=2))
    return out_dir


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Write the demo objects (BOP model layout, mm)")
    p.add_argument("--out", default="data/demo/models")
    args = p.parse_args(argv)
    print(f"wrote {write_demo_models(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
