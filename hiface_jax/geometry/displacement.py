"""Displacing a surface along its normals (the detail D moves the coarse surface)."""

from __future__ import annotations

import jax.numpy as jnp

from rendering.normals import vertex_normals


def displace_along_normals(vertices: jnp.ndarray, triangles: jnp.ndarray, displacement: jnp.ndarray) -> jnp.ndarray:
    """Moves each vertex by ``displacement`` along its area-weighted unit normal.

    Args:
      vertices: (..., V, 3) coarse surface.
      triangles: (F, 3).
      displacement: (..., V) signed distance, same unit as vertices (outwards > 0).
    Returns:
      (..., V, 3) displaced vertices.
    """
    return vertices + displacement[..., None] * vertex_normals(vertices, triangles)
