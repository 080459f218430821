"""Scenes shared by the tests and the benchmark (not needed for rendering).

Meshes are numpy arrays; ``trimesh`` is imported lazily for icospheres.
"""
from __future__ import annotations

import math

import numpy as np

from rendering import camera


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """(3, 3) rotation, angles in degrees: yaw about +y, pitch about +x, roll about +z."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return (ry @ rx @ rz).astype(np.float32)


def icosphere(subdivisions: int, radius: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Icosphere ``(vertices (V, 3) float32, triangles (F, 3) int32)``, F = 20 * 4**subdivisions."""
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.int32)


def subdivide(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One 1-to-4 midpoint subdivision (shared edge midpoints), numpy only."""
    f = np.asarray(triangles, np.int64)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = np.sort(edges, axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    mids = 0.5 * (vertices[uniq[:, 0]] + vertices[uniq[:, 1]])
    nv = len(vertices)
    m01, m12, m20 = (inv[i * len(f) : (i + 1) * len(f)] + nv for i in range(3))
    a, b, c = f[:, 0], f[:, 1], f[:, 2]
    new = np.concatenate(
        [np.stack(t, 1) for t in ((a, m01, m20), (m01, b, m12), (m20, m12, c), (m01, m12, m20))]
    )
    return np.concatenate([vertices, mids]).astype(np.float32), new.astype(np.int32)


def view_camera(distance: float, fov_y_deg: float, aspect: float, near: float = 1.0, far: float = 1000.0):
    """A camera on +z looking at the origin: ``(view (4, 4), proj (4, 4))`` as numpy."""
    view = np.asarray(camera.look_at((0.0, 0.0, distance), (0.0, 0.0, 0.0)))
    proj = np.asarray(camera.perspective(math.radians(fov_y_deg), aspect, near, far))
    return view, proj


def posed_clip(vertices: np.ndarray, poses, view: np.ndarray, proj: np.ndarray, center=None) -> np.ndarray:
    """Clip-space vertices (B, V, 4) of a mesh rotated about ``center`` by each (yaw, pitch, roll)."""
    c = np.mean(vertices, 0) if center is None else np.asarray(center)
    out = []
    for pose in poses:
        v = (vertices - c) @ rotation(*pose).T
        out.append(np.asarray(camera.transform(v, proj @ view)))
    return np.stack(out).astype(np.float32)
