"""Where things are in a physically plausible scene: objects resting on a floor in their stable poses, a camera
on a shell looking at them. Pure numpy and trimesh (no renderer), so it is tested on its own.

World frame: z up, the floor is the plane z = 0. Stable poses come from trimesh's `poses.compute_stable_poses`
(the faces of the convex hull the object can rest on, with the probability of landing on each when dropped), so
no physics engine is needed: an object in a stable pose touches the floor with its lowest point and does not
sink into it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class StablePoses:
    """The resting poses of one object: transforms (S, 4, 4) that put the mesh on z = 0, and their
    probabilities (S,) (summing to 1)."""
    transforms: np.ndarray
    probabilities: np.ndarray


def stable_poses(vertices, faces, max_poses: int = 12) -> StablePoses:
    """The most likely resting poses of a mesh (metres) on the plane z = 0."""
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces), process=True)
    transforms, probs = trimesh.poses.compute_stable_poses(mesh, n_samples=1, threshold=0.0)
    transforms, probs = np.asarray(transforms, np.float64), np.asarray(probs, np.float64)
    if len(transforms) == 0:  # a degenerate hull: lay it on its lowest point, unrotated
        T = np.eye(4)
        T[2, 3] = -float(np.min(mesh.vertices[:, 2]))
        return StablePoses(T[None], np.ones(1))
    order = np.argsort(-probs)[:max_poses]
    transforms, probs = transforms[order], probs[order]
    for T in transforms:  # exactly on the floor (the hull's lowest vertex at z = 0)
        T[2, 3] -= float(np.min(mesh.vertices @ T[:3, :3].T[:, 2] + T[2, 3]))
    return StablePoses(transforms, probs / probs.sum())


def rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    T = np.eye(4)
    T[:2, :2] = [[c, -s], [s, c]]
    return T


def footprint_radius(vertices, T_rest) -> float:
    """Radius about the vertical axis through the object origin of the object resting in T_rest."""
    v = np.asarray(vertices, np.float64) @ T_rest[:3, :3].T + T_rest[:3, 3]
    return float(np.max(np.linalg.norm(v[:, :2] - T_rest[:2, 3], axis=1)))


def scatter_on_floor(rng, rest_poses: list[StablePoses], radii: list[list[float]], area_radius: float,
                     tries: int = 50) -> list[np.ndarray]:
    """World poses (4, 4) for objects resting on the floor without interpenetrating: each in one of its stable
    poses (drawn by probability), turned by a random angle about z, at a random place in a disc of
    `area_radius` where its footprint circle (radii[i][pose]) stays clear of those already placed. An object
    that finds no free place within `tries` goes to the edge of the cluster."""
    placed: list[tuple[np.ndarray, float]] = []
    poses = []
    for stable, rad in zip(rest_poses, radii):
        k = int(rng.choice(len(stable.probabilities), p=stable.probabilities))
        r = rad[k]
        for attempt in range(tries):
            grow = 1.0 + attempt / tries  # the disc widens when it is crowded
            xy = rng.uniform(-1, 1, size=2) * area_radius * grow
            if np.linalg.norm(xy) > area_radius * grow:
                continue
            if all(np.linalg.norm(xy - p) >= r + q for p, q in placed):
                break
        else:
            far = max((np.linalg.norm(p) + q for p, q in placed), default=0.0)
            angle = rng.uniform(0, 2 * np.pi)
            xy = np.array([np.cos(angle), np.sin(angle)]) * (far + r)
        placed.append((xy, r))
        T = rotation_z(rng.uniform(0, 2 * np.pi)) @ stable.transforms[k]
        T[:2, 3] += xy
        poses.append(T)
    return poses


def look_at(eye, target, up=(0.0, 0.0, 1.0), roll: float = 0.0) -> np.ndarray:
    """T_world_cam of an OpenCV camera (x right, y down, z forward) at `eye` looking at `target`, the image's
    up direction along `up`, then turned by `roll` radians about its optical axis."""
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking straight along `up`
        x = np.cross(z, [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = np.cos(roll), np.sin(roll)
    x, y = c * x + s * y, -s * x + c * y
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def camera_on_shell(rng, target, distance_range, elevation_deg_range, roll_deg: float = 0.0) -> np.ndarray:
    """T_world_cam on a spherical shell around `target`: distance, elevation above the floor's horizon and
    azimuth drawn uniformly, looking at the target, with a random roll of up to `roll_deg`."""
    d = rng.uniform(*distance_range)
    el = np.radians(rng.uniform(*elevation_deg_range))
    az = rng.uniform(0, 2 * np.pi)
    eye = np.asarray(target, np.float64) + d * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    return look_at(eye, target, roll=np.radians(rng.uniform(-roll_deg, roll_deg)))
