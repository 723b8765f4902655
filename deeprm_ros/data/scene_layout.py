"""Where things are in a physically plausible scene: objects resting on a floor in their stable poses, some
stacked on others, a camera on a shell looking at them. Pure numpy and trimesh (no renderer), so it is tested on its own.

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


def surface_heights(xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Height (N, M) of each triangle (M, 3, 3) straight above or below each point xy (N, 2); nan where the
    vertical line through the point misses the triangle (and for vertical triangles)."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    e0, e1 = b[:, :2] - a[:, :2], c[:, :2] - a[:, :2]
    den = e0[:, 0] * e1[:, 1] - e1[:, 0] * e0[:, 1]                      # (M,)
    ok = np.abs(den) > 1e-15
    d = xy[:, None, :] - a[None, :, :2]                                  # (N, M, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (d[..., 0] * e1[:, 1] - e1[:, 0] * d[..., 1]) / den
        v = (e0[:, 0] * d[..., 1] - d[..., 0] * e0[:, 1]) / den
        inside = ok & (u >= -1e-12) & (v >= -1e-12) & (u + v <= 1 + 1e-12)
        z = a[:, 2] + u * (b[:, 2] - a[:, 2]) + v * (c[:, 2] - a[:, 2])
    return np.where(inside, z, np.nan)


def _overlapping(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points and triangles whose xy bounding boxes overlap the other set's (the rest cannot meet)."""
    lo, hi = points[:, :2].min(0), points[:, :2].max(0)
    tlo, thi = triangles[..., :2].min(1), triangles[..., :2].max(1)
    tri = triangles[np.all((thi >= lo) & (tlo <= hi), axis=1)]
    if len(tri) == 0:
        return points[:0], tri
    lo, hi = tri[..., :2].min((0, 1)), tri[..., :2].max((0, 1))
    return points[np.all((points[:, :2] >= lo) & (points[:, :2] <= hi), axis=1)], tri


def edge_points(vertices, faces, step: float = 0.002) -> np.ndarray:
    """The vertices and points every `step` (metres) along every edge of a mesh: where two meshes meet edge on
    edge (two boxes turned against each other), neither one's vertices lie over the other's faces, but these do."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces)
    edges = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0)
    a, b = v[edges[:, 0]], v[edges[:, 1]]
    n = np.maximum(1, np.ceil(np.linalg.norm(b - a, axis=1) / step).astype(int))
    t = np.concatenate([np.arange(1, k) / k for k in n]) if n.max() > 1 else np.zeros(0)
    rep = np.repeat(np.arange(len(edges)), n - 1)
    return np.concatenate([v, a[rep] + t[:, None] * (b[rep] - a[rep])])


def drop_distance(moving_vertices, moving_faces, below_vertices, below_faces, chunk: int = 4096,
                  step: float = 0.002) -> float:
    """How far a mesh held above another (both world coordinates, z up) can move straight down before they touch:
    the smallest vertical gap from a point of either mesh (vertices and points along edges, edge_points) to the
    other mesh's surface; inf where nothing is below. Where edges cross between two edge points, the meshes may
    overlap by a fraction of a millimetre."""
    mv, bv = np.asarray(moving_vertices, np.float64), np.asarray(below_vertices, np.float64)
    gap = np.inf
    for points, tris, sign in ((edge_points(mv, moving_faces, step), bv[np.asarray(below_faces)], 1.0),
                               (edge_points(bv, below_faces, step), mv[np.asarray(moving_faces)], -1.0)):
        points, tris = _overlapping(points, tris)
        for i in range(0, len(points), chunk):
            p = points[i:i + chunk]
            z = surface_heights(p[:, :2], tris)                         # (n, M)
            # a moving point down to the surface below it, or a point below up to the moving surface above it
            dz = p[:, 2:3] - z if sign > 0 else z - p[:, 2:3]
            dz = np.where(np.isnan(dz) | (dz < -1e-9), np.inf, dz)
            gap = min(gap, float(dz.min(initial=np.inf)))
    return gap


def stack_some(rng, poses: list[np.ndarray], meshes: list[tuple[np.ndarray, np.ndarray]],
               rest_poses: list[StablePoses], probability: float, spread: float = 0.3) -> list[bool]:
    """Put some objects on top of others, as in a heap: each object after the first, with `probability`, is
    lifted from its place on the floor, set in one of its stable poses turned about z over a random object
    already placed (its centre within `spread` of that object's footprint radius of the object's centre), and
    lowered straight down until it touches whatever is under it (objects or the floor). No physics: it may
    rest on an edge. Changes `poses` (world, z up, floor z = 0) in place; returns which objects were stacked.
    meshes[i] = (vertices, faces) in the object's frame."""
    stacked = [False] * len(poses)
    for i in range(1, len(poses)):
        if rng.random() >= probability:
            continue
        j = int(rng.integers(i))
        k = int(rng.choice(len(rest_poses[i].probabilities), p=rest_poses[i].probabilities))
        T = rotation_z(rng.uniform(0, 2 * np.pi)) @ rest_poses[i].transforms[k]
        others = {m: _world(meshes[m][0], poses[m]) for m in range(len(poses)) if m != i}
        radius_j = float(np.max(np.linalg.norm(others[j][:, :2] - poses[j][:2, 3], axis=1)))
        T[:2, 3] = poses[j][:2, 3] + rng.uniform(-1, 1, size=2) * spread * radius_j
        top = max(float(v[:, 2].max()) for v in others.values())
        T[2, 3] += top + 0.01       # resting pose lifted above everything
        vi = _world(meshes[i][0], T)
        fall = float(vi[:, 2].min())  # the floor
        for m, vm in others.items():
            fall = min(fall, drop_distance(vi, meshes[i][1], vm, meshes[m][1]))
        T[2, 3] -= fall
        poses[i] = T
        stacked[i] = T[2, 3] - rest_poses[i].transforms[k][2, 3] > 1e-6
    return stacked


def _world(vertices, T) -> np.ndarray:
    return np.asarray(vertices, np.float64) @ T[:3, :3].T + T[:3, 3]
