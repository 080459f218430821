"""Face and vertex normals of triangle meshes, batched over leading dimensions."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def face_normals(vertices: jnp.ndarray, triangles: jnp.ndarray, normalize: bool = True) -> jnp.ndarray:
    """Per-triangle normals, counter-clockwise winding is front-facing.

    Args:
      vertices: (..., V, 3) positions.
      triangles: (F, 3) int vertex indices.
      normalize: if False, return the cross product, whose length is twice the area.
    Returns:
      (..., F, 3) normals.
    """
    v0 = jnp.take(vertices, triangles[:, 0], axis=-2)
    v1 = jnp.take(vertices, triangles[:, 1], axis=-2)
    v2 = jnp.take(vertices, triangles[:, 2], axis=-2)
    n = jnp.cross(v1 - v0, v2 - v0)
    return safe_normalize(n) if normalize else n


def vertex_normals(vertices: jnp.ndarray, triangles: jnp.ndarray) -> jnp.ndarray:
    """Area-weighted unit vertex normals (the sum of incident face cross products).

    Args:
      vertices: (..., V, 3) positions.
      triangles: (F, 3) int vertex indices.
    Returns:
      (..., V, 3) unit normals; isolated vertices get a zero vector.
    """
    n = face_normals(vertices, triangles, normalize=False)  # (..., F, 3)
    num_vertices = vertices.shape[-2]
    # Scatter each face's normal to its three corners with one segment-sum.
    corner_n = jnp.repeat(n, 3, axis=-2)  # (..., 3F, 3), faces' corners in order
    seg = triangles.reshape(-1)
    summed = jnp.moveaxis(
        jax.ops.segment_sum(jnp.moveaxis(corner_n, -2, 0), seg, num_segments=num_vertices), 0, -2
    )
    return safe_normalize(summed)


def safe_normalize(v: jnp.ndarray, eps: float = 1e-12) -> jnp.ndarray:
    """Unit vectors along the last axis with a finite gradient at zero length."""
    sq = jnp.sum(v * v, axis=-1, keepdims=True)
    return v * jax.lax.rsqrt(jnp.maximum(sq, eps * eps))
