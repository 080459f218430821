"""Attribute interpolation over rasterized fragments (differentiable).

Vertex attributes use the mesh ``triangles``; per-corner attributes (UVs of a
mesh with seams) use their own index array of the same (F, 3) shape, e.g.
``uv_triangles``. Both go through :func:`interpolate`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rendering._sharding import batch_parallel
from rendering.raster import Fragments, edge_planes
from rendering.texture import _weighted_sum


def _corner_values(attributes, triangles, triangle_id):
    """Gathers (B, H, W, 3, C) corner attributes of each pixel's triangle."""
    tid = jnp.maximum(triangle_id, 0)
    corner_idx = jnp.asarray(triangles, jnp.int32)[tid]  # (B, H, W, 3)
    if attributes.ndim == 2:
        return attributes[corner_idx]
    return jax.vmap(lambda a, i: a[i])(attributes, corner_idx)


@batch_parallel
@jax.jit
def interpolate(attributes: jnp.ndarray, fragments: Fragments, triangles: jnp.ndarray) -> jnp.ndarray:
    """Perspective-correct interpolation of attributes.

    Args:
      attributes: (N, C) shared by the batch, or (B, N, C) per image.
      fragments: from :func:`rendering.rasterize`.
      triangles: (F, 3) indices into ``attributes`` (the mesh triangles for
        vertex attributes, or e.g. ``uv_triangles`` for per-corner UVs).
    Returns:
      (B, H, W, C); zero on background. Gradients flow to ``attributes`` and,
      through the barycentrics, to the vertex positions.
    """
    attributes = jnp.asarray(attributes)
    if attributes.ndim not in (2, 3):
        raise ValueError(f"attributes must be (N, C) or (B, N, C), got shape {tuple(attributes.shape)}")
    corners = _corner_values(attributes, triangles, fragments.triangle_id)
    b = fragments.barycentrics.astype(corners.dtype)
    # Written out per corner and channel: an einsum (or a broadcast weight) becomes a
    # tiny-axis dot / reduction in the gradient, which XLA:CPU runs very slowly.
    out = _weighted_sum([b[..., k] for k in range(3)], [corners[..., k, :] for k in range(3)])
    return jnp.where((fragments.triangle_id >= 0)[..., None], out, 0.0)


@batch_parallel
@jax.jit
def barycentric_derivatives(clip_vertices: jnp.ndarray, triangles: jnp.ndarray, fragments: Fragments) -> jnp.ndarray:
    """Screen-space derivatives of the barycentrics, per pixel step.

    Args:
      clip_vertices: (B, V, 4).
      triangles: (F, 3).
      fragments: rasterized with the same vertices.
    Returns:
      (B, H, W, 3, 2): d b_i / d column and d b_i / d row (pixels); zero on background.
    """
    b, h, w = fragments.triangle_id.shape
    tid = jnp.maximum(fragments.triangle_id, 0)
    vidx = jnp.asarray(triangles, jnp.int32)[tid]
    v = jax.vmap(lambda c, i: c[i])(clip_vertices, vidx)  # (B, H, W, 3, 4)
    planes, _ = edge_planes(v)  # (..., 3, 3)
    # e_i = A x + B y + C with NDC x, y; b_i = e_i / S, S = sum e.
    grid = _ndc_grid(h, w)
    gx, gy = grid[None, :, :, 0], grid[None, :, :, 1]
    # Per-corner components written out (see interpolate).
    e = [planes[..., k, 0] * gx + planes[..., k, 1] * gy + planes[..., k, 2] for k in range(3)]
    s = e[0] + e[1] + e[2]
    s = jnp.where(s == 0, 1.0, s)
    sa = planes[..., 0, 0] + planes[..., 1, 0] + planes[..., 2, 0]
    sb = planes[..., 0, 1] + planes[..., 1, 1] + planes[..., 2, 1]
    covered = fragments.triangle_id >= 0
    rows = []
    for k in range(3):
        ddx = (planes[..., k, 0] - e[k] / s * sa) / s * (2.0 / w)  # d/d column
        ddy = -(planes[..., k, 1] - e[k] / s * sb) / s * (2.0 / h)  # d/d row (rows go down, NDC y up)
        rows.append(jnp.stack([jnp.where(covered, ddx, 0.0), jnp.where(covered, ddy, 0.0)], -1))
    return jnp.stack(rows, -2)


@batch_parallel
@jax.jit
def interpolate_derivatives(
    attributes: jnp.ndarray, fragments: Fragments, triangles: jnp.ndarray, bary_derivatives: jnp.ndarray
) -> jnp.ndarray:
    """Screen-space derivatives of interpolated attributes: (B, H, W, C, 2) (per column, per row)."""
    corners = _corner_values(jnp.asarray(attributes), triangles, fragments.triangle_id)
    d = bary_derivatives.astype(corners.dtype)
    values = [corners[..., k, :] for k in range(3)]
    return jnp.stack([_weighted_sum([d[..., k, j] for k in range(3)], values) for j in range(2)], -1)


def _ndc_grid(h: int, w: int) -> jnp.ndarray:
    x = (jnp.arange(w, dtype=jnp.float32) + 0.5) * (2.0 / w) - 1.0
    y = 1.0 - (jnp.arange(h, dtype=jnp.float32) + 0.5) * (2.0 / h)
    return jnp.stack(jnp.meshgrid(x, y), -1)  # (H, W, 2)
