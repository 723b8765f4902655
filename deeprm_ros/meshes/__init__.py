"""Object models: meshes in metres with texture or vertex colours, BOP models_info, sampled points."""
from .library import ObjectModel, load_object_library
from .loading import MeshError, load_mesh, mesh_diameter
from .models_info import load_models_info, symmetry_transforms

__all__ = ["ObjectModel", "load_object_library", "load_mesh", "MeshError", "mesh_diameter", "load_models_info",
           "symmetry_transforms"]
