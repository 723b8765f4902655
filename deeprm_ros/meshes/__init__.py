"""Object models: meshes in metres with texture or vertex colours, BOP models_info, sampled points."""
from .library import ObjectModel, load_object_library, load_mesh, MeshError
from .models_info import load_models_info, symmetry_transforms

__all__ = ["ObjectModel", "load_object_library", "load_mesh", "MeshError", "load_models_info", "symmetry_transforms"]
