import numpy as np
import pytest


def make_model(obj_id, vertices, faces, uv=None, texture=None, vertex_colors=None, normals=None, name=None):
    """An ObjectModel straight from arrays (metres), without files."""
    import trimesh

    from deeprm_ros.meshes import ObjectModel
    v = np.asarray(vertices, np.float32)
    f = np.asarray(faces, np.int32)
    if normals is None:
        normals = trimesh.Trimesh(v, f, process=False).vertex_normals
    return ObjectModel(obj_id=obj_id, name=name or f"obj{obj_id}", vertices=v, faces=f,
                       normals=np.asarray(normals, np.float32), uv=uv, texture=texture,
                       vertex_colors=vertex_colors, diameter=float(np.linalg.norm(v.max(0) - v.min(0))),
                       points=v)


@pytest.fixture(scope="session")
def model_factory():
    return make_model
