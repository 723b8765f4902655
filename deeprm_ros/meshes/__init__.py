"""Object models: meshes in metres with texture or vertex colours, BOP models_info, sampled points."""
from .library import load_object_library
from .loading import load_mesh, mesh_diameter
from .models_info import load_models_info
from .object_model import N_CONTINUOUS_SYMMETRIES, MeshError, ObjectModel, symmetry_transforms

__all__ = ["ObjectModel", "load_object_library", "load_mesh", "MeshError", "mesh_diameter", "load_models_info",
           "symmetry_transforms", "N_CONTINUOUS_SYMMETRIES"]
