"""Mesh loading: units and their sanity warning, BOP models_info symmetries, textures, named errors."""
import json
import warnings

import cv2
import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from deeprm_ros.meshes import MeshError, load_mesh, load_models_info, load_object_library, symmetry_transforms

BOX_MM = (100.0, 60.0, 40.0)


def write_box(path, size, binary=True):
    trimesh.creation.box(size).export(path, encoding="binary" if binary else "ascii")
    return path


def write_textured_ply(path, vertices, faces, uv, texture_rgb, texture_name=None):
    """A BOP-style textured PLY: x y z texture_u texture_v + `comment TextureFile`, the PNG next to it."""
    texture_name = texture_name or path.stem + ".png"
    cv2.imwrite(str(path.parent / texture_name), cv2.cvtColor(texture_rgb, cv2.COLOR_RGB2BGR))
    header = (f"ply\nformat binary_little_endian 1.0\ncomment TextureFile {texture_name}\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property float texture_u\nproperty float texture_v\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    fdata = np.zeros(len(faces), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    fdata["n"] = 3
    fdata["i"] = faces
    with open(path, "wb") as f:
        f.write(header.encode())
        f.write(np.hstack([vertices, uv]).astype("<f4").tobytes())
        f.write(fdata.tobytes())
    return path


def three_colour_texture():
    tex = np.zeros((32, 48, 3), np.uint8)
    tex[:, :16] = (255, 0, 0)      # R, G, B columns: a BGR/RGB swap or a mirror would show
    tex[:, 16:32] = (0, 255, 0)
    tex[:, 32:] = (0, 0, 255)
    tex[:8] = (250, 250, 10)       # top rows yellow: a vertical flip would show
    return tex


def test_mm_and_m_give_the_same_metres(tmp_path):
    mm = write_box(tmp_path / "box_mm.ply", BOX_MM)
    m = write_box(tmp_path / "box_m.ply", [s / 1000 for s in BOX_MM])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # right units: no warning
        a = load_mesh(mm, unit="mm")
        b = load_mesh(m, unit="m")
    assert a.vertices.dtype == np.float32 and a.faces.dtype == np.int32
    np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-7)
    np.testing.assert_allclose(a.vertices.max(0) - a.vertices.min(0), [0.1, 0.06, 0.04], atol=1e-7)
    assert a.diameter == pytest.approx(np.sqrt(0.1 ** 2 + 0.06 ** 2 + 0.04 ** 2), rel=1e-6)
    with pytest.raises(MeshError, match="unit"):
        load_mesh(mm, unit="cm")


def test_unit_warnings_name_the_file(tmp_path):
    mm = write_box(tmp_path / "in_mm.ply", BOX_MM)
    m = write_box(tmp_path / "in_m.ply", [s / 1000 for s in BOX_MM])
    with pytest.warns(UserWarning, match=r"in_mm\.ply.*mm but loaded with unit='m'"):
        load_mesh(mm, unit="m")  # 123 "m"
    with pytest.warns(UserWarning, match=r"in_m\.ply.*m but loaded with unit='mm'"):
        load_mesh(m, unit="mm")  # 0.12 mm


def test_sampled_points_deterministic_on_surface_area_weighted(tmp_path):
    path = write_box(tmp_path / "obj_000003.ply", BOX_MM)
    a = load_mesh(path, obj_id=3, n_points=6000)
    b = load_mesh(path, obj_id=3, n_points=6000)
    assert a.points.shape == (6000, 3) and a.points.dtype == np.float32
    np.testing.assert_array_equal(a.points, b.points)
    half = np.array(BOX_MM) / 2000
    on_face = np.abs(np.abs(a.points) - half) < 1e-6  # (P, 3): on the +-x, +-y, +-z faces
    assert on_face.any(1).all() and (np.abs(a.points) <= half + 1e-6).all()
    x, y, z = BOX_MM
    areas = np.array([y * z, x * z, x * y])
    frac = on_face.mean(0)
    np.testing.assert_allclose(frac, areas / areas.sum(), atol=0.025)


def test_models_info_units_and_symmetries(tmp_path):
    info = {"1": {"diameter": 123.0,
                  "symmetries_discrete": [[-1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 10.0, 0, 0, 0, 1]],
                  "symmetries_continuous": [{"axis": [0, 0, 2], "offset": [5, 0, 0]}]}}
    (tmp_path / "models_info.json").write_text(json.dumps(info))
    got = load_models_info(tmp_path / "models_info.json", 1e-3)[1]
    assert got["diameter"] == pytest.approx(0.123)
    np.testing.assert_allclose(got["symmetries_discrete"][0][:3, 3], [0, 0, 0.01])
    np.testing.assert_allclose(got["symmetries_discrete"][0][:3, :3], np.diag([-1, -1, 1]))
    axis, offset = got["symmetries_continuous"][0]
    np.testing.assert_allclose(axis, [0, 0, 1])
    np.testing.assert_allclose(offset, [0.005, 0, 0])
    write_box(tmp_path / "obj_000001.ply", BOX_MM)
    lib = load_object_library(tmp_path)
    assert lib[1].diameter == pytest.approx(0.123) and lib[1].is_symmetric
    assert len(lib[1].symmetry_transforms(8)) == 16  # (identity + 1 discrete) x 8 continuous steps


def test_continuous_symmetry_transforms_fix_the_axis():
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    offset = np.array([0.01, -0.02, 0.005])
    n = 24
    S = symmetry_transforms(np.zeros((0, 4, 4)), [(axis, offset)], n)
    assert S.shape == (n, 4, 4)
    np.testing.assert_allclose(S[0], np.eye(4))
    on_axis = offset + np.outer([-0.1, 0.0, 0.03, 0.2], axis)
    off_axis = np.array([[0.05, 0.0, 0.0], [0.0, 0.03, -0.04]])
    angles = []
    for T in S:
        np.testing.assert_allclose(on_axis @ T[:3, :3].T + T[:3, 3], on_axis, atol=1e-12)  # the axis stays put
        moved = off_axis @ T[:3, :3].T + T[:3, 3]
        # distance to the axis and position along it are preserved (a rotation about that axis)
        for p, q in zip(off_axis, moved):
            assert np.dot(q - offset, axis) == pytest.approx(np.dot(p - offset, axis), abs=1e-12)
            assert np.linalg.norm(np.cross(q - offset, axis)) == pytest.approx(np.linalg.norm(np.cross(p - offset, axis)))
        rv = Rotation.from_matrix(T[:3, :3]).as_rotvec()
        ang = np.linalg.norm(rv)
        if ang > 1e-9:
            assert abs(abs(np.dot(rv / ang, axis)) - 1) < 1e-9
        angles.append(np.degrees(np.arctan2(np.dot(np.cross(off_axis[0] - offset, moved[0] - offset), axis),
                                            np.dot(off_axis[0] - offset - np.dot(off_axis[0] - offset, axis) * axis,
                                                   moved[0] - offset))) % 360)
    np.testing.assert_allclose(sorted(angles), np.arange(n) * 360.0 / n, atol=1e-9)


def test_discrete_only_and_none():
    assert symmetry_transforms(np.zeros((0, 4, 4)), [], 64).shape == (1, 4, 4)
    R = np.eye(4)
    R[:3, :3] = np.diag([-1, -1, 1])
    S = symmetry_transforms(np.stack([np.eye(4), R]), [], 64)  # an identity entry in the file is not doubled
    assert S.shape == (2, 4, 4) and np.allclose(S[0], np.eye(4)) and np.allclose(S[1], R)


def test_bop_textured_ply_loads_texture_and_uv(tmp_path):
    v = np.array([[0, 0, 0], [60, 0, 0], [60, 40, 0], [0, 40, 0]], np.float64)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    tex = three_colour_texture()
    path = write_textured_ply(tmp_path / "obj_000007.ply", v, f, uv, tex)
    m = load_mesh(path, unit="mm", obj_id=7)
    assert m.texture is not None and m.texture.dtype == np.uint8
    np.testing.assert_array_equal(m.texture, tex)  # RGB, upright
    np.testing.assert_allclose(m.uv, uv)
    np.testing.assert_allclose(m.vertices, v / 1000, atol=1e-7)
    assert m.vertex_colors is None


def test_obj_with_material_texture(tmp_path):
    tex = three_colour_texture()
    cv2.imwrite(str(tmp_path / "tex.png"), cv2.cvtColor(tex, cv2.COLOR_RGB2BGR))
    (tmp_path / "m.mtl").write_text("newmtl mat\nKd 1 1 1\nmap_Kd tex.png\n")
    (tmp_path / "quad.obj").write_text(
        "mtllib m.mtl\nv 0 0 0\nv 0.06 0 0\nv 0.06 0.04 0\nv 0 0.04 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nusemtl mat\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n")
    m = load_mesh(tmp_path / "quad.obj", unit="m")
    np.testing.assert_array_equal(m.texture, tex)
    # each vertex keeps its own uv (whatever order trimesh stores them in)
    expected = {(0.0, 0.0): (0, 0), (0.06, 0.0): (1, 0), (0.06, 0.04): (1, 1), (0.0, 0.04): (0, 1)}
    for p, t in zip(m.vertices, m.uv):
        np.testing.assert_allclose(t, expected[(round(float(p[0]), 4), round(float(p[1]), 4))], atol=1e-6)


def test_vertex_colours_ply(tmp_path):
    box = trimesh.creation.box(BOX_MM)
    colours = np.random.default_rng(1).integers(0, 256, (len(box.vertices), 3)).astype(np.uint8)
    box.visual = trimesh.visual.ColorVisuals(box, vertex_colors=np.hstack([colours, np.full((8, 1), 255, np.uint8)]))
    box.export(tmp_path / "c.ply")
    m = load_mesh(tmp_path / "c.ply", unit="mm")
    assert m.texture is None and m.uv is None
    np.testing.assert_array_equal(m.vertex_colors, colours)


def test_file_normals_are_kept(tmp_path):
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    box.export(tmp_path / "n.ply", encoding="ascii", vertex_normal=True)
    m = load_mesh(tmp_path / "n.ply", unit="m")
    np.testing.assert_allclose(m.normals, np.sign(m.vertices) / np.sqrt(3), atol=1e-6)


def test_broken_files_raise_named_errors(tmp_path):
    bad = tmp_path / "obj_000002.ply"
    bad.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 100\nproperty float x\nend_header\n\x00\x01")
    with pytest.raises(MeshError, match="obj_000002.ply"):
        load_mesh(bad)
    with pytest.raises(MeshError, match="not found"):
        load_mesh(tmp_path / "missing.ply")
    junk = tmp_path / "junk.obj"
    junk.write_text("this is not a mesh\n")
    with pytest.raises(MeshError, match="junk.obj"):
        load_mesh(junk)
    v = np.array([[0, 0, 0], [60, 0, 0], [60, 40, 0]], np.float64)
    path = write_textured_ply(tmp_path / "t.ply", v, np.array([[0, 1, 2]]), np.zeros((3, 2)), three_colour_texture())
    (tmp_path / "t.png").unlink()
    (tmp_path / "t.png").write_bytes(b"not a png")
    with pytest.raises(MeshError, match=r"t\.ply.*t\.png"):
        load_mesh(path)
    (tmp_path / "info").mkdir()
    (tmp_path / "info" / "models_info.json").write_text("{not json")
    with pytest.raises(MeshError, match="models_info.json"):
        load_object_library(tmp_path / "info")


def test_library_layout(tmp_path):
    write_box(tmp_path / "obj_000001.ply", BOX_MM)
    write_box(tmp_path / "obj_000012.ply", (50, 50, 50))
    write_box(tmp_path / "something_else.ply", (50, 50, 50))
    lib = load_object_library(tmp_path, n_points=100)
    assert sorted(lib) == [1, 12]
    assert lib[12].obj_id == 12 and lib[12].points.shape == (100, 3)
    assert lib[12].diameter == pytest.approx(0.05 * np.sqrt(3), rel=1e-6)  # computed: no models_info.json
    assert not lib[1].is_symmetric and lib[1].symmetry_transforms().shape == (1, 4, 4)
    (tmp_path / "models_info.json").write_text(json.dumps({"1": {"diameter": 123}, "5": {"diameter": 10}}))
    with pytest.raises(MeshError, match=r"\[5\]"):
        load_object_library(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeshError, match="no obj_"):
        load_object_library(tmp_path / "empty")
    with pytest.raises(MeshError, match="not found"):
        load_object_library(tmp_path / "nowhere")
