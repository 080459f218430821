"""Ambient occlusion baked per vertex: the soft shadowing of creases, eye corners, nostrils
and the mouth interior that SH lighting alone does not produce.

    AO(v) = sum_d vis(v, d) max(0, n_v . d) / sum_d max(0, n_v . d)

over directions d on a Fibonacci sphere: the cosine-weighted fraction of the hemisphere
from which vertex v sees the sky. Visibility comes from depth maps: the mesh is
rendered orthographically along every direction with ``rendering`` (no extra
dependency), and a vertex is visible along d when nothing lies in front of it in that
map. This is the classic depth-map AO bake; it is global (any occluder counts), which is
what a single head in open space needs.

Bakes run once per topology on the host and are cached under ``~/.cache/hiface``
(they derive from ICT-FaceKit, so they are never part of the repository).
"""

from __future__ import annotations

import hashlib
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

import rendering
from hiface_jax.face.ict_facekit import cache_dir

CACHE_FORMAT = 1


def fibonacci_directions(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread evenly over the sphere (golden-angle spiral)."""
    k = np.arange(count) + 0.5
    z = 1.0 - 2.0 * k / count
    r = np.sqrt(1.0 - z * z)
    phi = math.pi * (3.0 - math.sqrt(5.0)) * k
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], -1)


def _view_matrices(directions: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """(D, 4, 4) orthographic projection @ view for cameras looking at ``centre`` from ``directions``."""
    mats = []
    proj = np.asarray(rendering.orthographic(radius, 1.0, 0.1, 4.0 * radius))
    for d in directions:
        up = (0.0, 1.0, 0.0) if abs(d[1]) < 0.9 else (1.0, 0.0, 0.0)
        view = np.asarray(rendering.look_at(centre + 2.0 * radius * d, centre, up))
        mats.append(proj @ view)
    return np.stack(mats).astype(np.float32)


def bake_ambient_occlusion(
    vertices: np.ndarray,
    triangles: np.ndarray,
    num_directions: int = 96,
    resolution: int = 256,
    bias: float = 0.004,
    chunk: int = 8,
) -> np.ndarray:
    """(V,) per-vertex ambient occlusion in [0, 1] (1: unoccluded) of one mesh.

    Args:
      vertices: (V, 3) positions; triangles: (F, 3) vertex indices.
      num_directions: sphere directions (half of them light any one vertex).
      resolution: side of each depth map.
      bias: depth tolerance, as a fraction of the mesh's bounding radius.
      chunk: depth maps rendered per call.
    """
    v = np.asarray(vertices, np.float32)
    tris = jnp.asarray(triangles, jnp.int32)
    centre = 0.5 * (v.min(0) + v.max(0))
    radius = float(np.linalg.norm(v - centre, axis=1).max()) * 1.02
    dirs = fibonacci_directions(num_directions)
    normals = np.asarray(rendering.vertex_normals(jnp.asarray(v), tris))
    mats = _view_matrices(dirs, centre, radius)
    config = rendering.RasterConfig(pair_capacity=8 * triangles.shape[0] + 65536, tile_capacity=4096)
    visible = np.zeros((num_directions, v.shape[0]), bool)
    for start in range(0, num_directions, chunk):
        m = jnp.asarray(mats[start : start + chunk])
        # NDC depth spans 2 over the projection's depth range of 3.9 radii.
        visible[start : start + chunk] = np.asarray(_visibility(jnp.asarray(v), tris, m, resolution, config, bias * 2 / 3.9))
    cos = np.maximum(normals @ dirs.T, 0.0).T  # (D, V)
    return (np.sum(visible * cos, 0) / np.maximum(np.sum(cos, 0), 1e-9)).astype(np.float32)


def _visibility(vertices, triangles, matrices, resolution: int, config, bias: float) -> jnp.ndarray:
    """(D, V) whether each vertex is in front in each direction's depth map."""
    clip = rendering.transform(jnp.broadcast_to(vertices, matrices.shape[:1] + vertices.shape), matrices)
    frags = rendering.rasterize(clip, triangles, (resolution, resolution), config)
    depth = jnp.where(frags.triangle_id >= 0, frags.ndc_depth, jnp.inf)  # (D, R, R); orthographic: w = 1
    # The farthest surface over each 2x2 footprint, so grazing neighbours do not shadow a vertex.
    pad = jnp.pad(depth, ((0, 0), (0, 1), (0, 1)), mode="edge")
    far = jnp.maximum(jnp.maximum(pad[:, :-1, :-1], pad[:, 1:, :-1]), jnp.maximum(pad[:, :-1, 1:], pad[:, 1:, 1:]))
    ndc = clip[..., :2] / clip[..., 3:4]
    col = jnp.clip(jnp.floor((ndc[..., 0] + 1.0) * 0.5 * resolution - 0.5), 0, resolution - 1).astype(jnp.int32)
    row = jnp.clip(jnp.floor((1.0 - ndc[..., 1]) * 0.5 * resolution - 0.5), 0, resolution - 1).astype(jnp.int32)
    at = jax.vmap(lambda d, r, c: d[r, c])(far, row, col)
    return clip[..., 2] <= at + bias


_visibility = jax.jit(_visibility, static_argnums=(3, 4))


def cached_ambient_occlusion(vertices: np.ndarray, triangles: np.ndarray, **kwargs) -> np.ndarray:
    """``bake_ambient_occlusion`` through a cache keyed by the mesh and the settings."""
    h = hashlib.sha256()
    for a in (np.asarray(vertices, np.float32), np.asarray(triangles, np.int32)):
        h.update(a.tobytes())
    h.update(repr((CACHE_FORMAT, sorted(kwargs.items()))).encode())
    path = cache_dir() / f"ambient_occlusion_{h.hexdigest()[:16]}.npy"
    if path.is_file():
        try:
            ao = np.load(path)
            if ao.shape == (np.asarray(vertices).shape[0],):
                return ao
        except (OSError, ValueError):
            pass  # unreadable: bake again
    ao = bake_ambient_occlusion(vertices, triangles, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, ao)
    os.replace(tmp, path)
    return ao
