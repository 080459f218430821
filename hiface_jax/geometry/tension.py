"""Mesh tension (Raman et al., WACV 2023): how compressed or stretched each vertex is.

    t_v = 1 - mean over edges e incident to v of (|e| deformed / |e| rest)

t > 0: the surface around v is compressed (wrinkles form); t < 0: stretched (smooths).
The mean is a segment-sum over edges, so it costs O(E) and vectorises over a batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def unique_edges(triangles: np.ndarray) -> np.ndarray:
    """(E, 2) undirected edges of a triangle list, each once, sorted (i < j).

    Runs on host once per topology; the result is a constant for jit.
    """
    tris = np.asarray(triangles)
    e = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]], axis=0)
    e = np.sort(e, axis=1)
    return np.unique(e, axis=0).astype(np.int32)


def edge_lengths(vertices: jnp.ndarray, edges: jnp.ndarray, eps: float = 1e-12) -> jnp.ndarray:
    """(..., E) lengths of edges (E, 2) of vertices (..., V, 3); gradient-safe at 0."""
    d = jnp.take(vertices, edges[:, 0], axis=-2) - jnp.take(vertices, edges[:, 1], axis=-2)
    return jnp.sqrt(jnp.maximum(jnp.sum(d * d, axis=-1), eps))


def tension(deformed: jnp.ndarray, rest: jnp.ndarray, edges: jnp.ndarray) -> jnp.ndarray:
    """Per-vertex tension of ``deformed`` against ``rest``.

    Args:
      deformed: (..., V, 3) expressive mesh.
      rest: (..., V, 3) neutral mesh of the same identity (broadcastable).
      edges: (E, 2) from ``unique_edges``.
    Returns:
      (..., V) tension; 0 where the vertex has no edges.
    """
    num_vertices = deformed.shape[-2]
    ratio = edge_lengths(deformed, edges) / edge_lengths(rest, edges)  # (..., E)
    ratio = jnp.moveaxis(ratio, -1, 0)
    ends = jnp.concatenate([edges[:, 0], edges[:, 1]])
    total = jax.ops.segment_sum(jnp.concatenate([ratio, ratio], 0), ends, num_segments=num_vertices)
    count = jax.ops.segment_sum(jnp.ones(ends.shape, ratio.dtype), ends, num_segments=num_vertices)
    count = count.reshape(count.shape + (1,) * (total.ndim - 1))
    mean_ratio = jnp.where(count > 0, total / jnp.maximum(count, 1), 1.0)
    return jnp.moveaxis(1.0 - mean_ratio, 0, -1)
