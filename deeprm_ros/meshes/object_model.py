"""What the rest of the package knows about an object: the ObjectModel record, its symmetry transforms and
MeshError. A leaf module (numpy only), so loading, models_info and library import it and not one another."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class MeshError(ValueError):
    """A mesh (or models_info) that cannot be used; the message names the file and the problem."""


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' formula (numpy only, so this module stays free of torch)."""
    a = axis / np.linalg.norm(axis)
    Kx = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * Kx + (1 - np.cos(angle)) * Kx @ Kx


# Rotations sampled about a continuous symmetry axis: every 5.6 degrees, the BOP toolkit's 64 (losses, metrics,
# the node's symmetry-aware state).
N_CONTINUOUS_SYMMETRIES = 64


def symmetry_transforms(discrete, continuous: list, n_continuous: int = N_CONTINUOUS_SYMMETRIES) -> np.ndarray:
    """All symmetry transforms (S, 4, 4), identity first, as the BOP toolkit's `get_symmetry_transformations`:
    [identity] + discrete ones, each composed (T_cont @ T_disc) with the n_continuous rotations
    (k * 360/n, k = 0..n-1) about every continuous axis through its offset."""
    discrete = np.asarray(discrete, dtype=np.float64).reshape(-1, 4, 4)
    discrete_all = [np.eye(4)] + [T for T in discrete if not np.allclose(T, np.eye(4))]
    cont = [np.eye(4)]
    for axis, offset in continuous:
        axis = np.asarray(axis, dtype=np.float64)
        offset = np.asarray(offset, dtype=np.float64)
        for k in range(1, n_continuous):
            R = _rotation_about(axis, 2 * np.pi * k / n_continuous)
            T = np.eye(4)
            T[:3, :3] = R
            T[:3, 3] = offset - R @ offset  # rotation about the axis through `offset`
            cont.append(T)
    return np.stack([Tc @ Td for Td in discrete_all for Tc in cont])


@dataclass
class ObjectModel:
    """Everything the renderer, losses and metrics need about one object, in metres."""
    obj_id: int
    name: str
    vertices: np.ndarray                 # (N, 3) float32 metres
    faces: np.ndarray                    # (F, 3) int32
    normals: np.ndarray                  # (N, 3) float32
    uv: np.ndarray | None = None         # (N, 2) float32, v = 0 at the texture's bottom row
    texture: np.ndarray | None = None    # (H, W, 3) uint8
    vertex_colors: np.ndarray | None = None  # (N, 3) uint8
    diameter: float = 0.0                # metres
    symmetries_discrete: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))  # (S, 4, 4) metres
    symmetries_continuous: list = field(default_factory=list)  # [(axis (3,), offset (3,) metres)]
    points: np.ndarray | None = None     # (P, 3) float32 sampled surface points (losses, metrics)
    path: str = ""

    @property
    def is_symmetric(self) -> bool:
        return len(self.symmetries_discrete) > 0 or len(self.symmetries_continuous) > 0

    def symmetry_transforms(self, n_continuous: int = N_CONTINUOUS_SYMMETRIES) -> np.ndarray:
        """(S, 4, 4) float64, identity first: the poses T @ S look the same as T (BOP convention)."""
        return symmetry_transforms(self.symmetries_discrete, self.symmetries_continuous, n_continuous)
