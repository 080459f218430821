"""Attribute interpolation over rasterized fragments (differentiable).

Vertex attributes use the mesh ``triangles``; per-corner attributes (UVs of a
mesh with seams) use their own index array of the same (F, 3) shape, e.g.
``uv_triangles``. Both go through :func:`interpolate`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rendering._sharding import batch_parallel

from rendering.raster import Fragments


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
    out = jnp.einsum("bhwk,bhwkc->bhwc", fragments.barycentrics.astype(corners.dtype), corners)
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
    v = jax.vmap(lambda c, i: c[i])(clip_vertices, vidx)[..., (0, 1, 3)]  # (B, H, W, 3, 3)
    h0, h1, h2 = v[..., 0, :], v[..., 1, :], v[..., 2, :]
    planes = jnp.stack([jnp.cross(h1, h2), jnp.cross(h2, h0), jnp.cross(h0, h1)], axis=-2)  # (..., 3, 3)
    # e_i = A x + B y + C with NDC x, y; b_i = e_i / S, S = sum e.
    e = jnp.sum(planes * jnp.stack([_ndc_grid(h, w)[..., 0], _ndc_grid(h, w)[..., 1], jnp.ones((h, w))], -1)[:, :, None, :], -1)
    s = jnp.sum(e, -1, keepdims=True)
    s = jnp.where(s == 0, 1.0, s)
    da = planes[..., 0] - e / s * jnp.sum(planes[..., 0], -1, keepdims=True)
    db = planes[..., 1] - e / s * jnp.sum(planes[..., 1], -1, keepdims=True)
    ddx = da / s * (2.0 / w)  # d/d column
    ddy = -db / s * (2.0 / h)  # d/d row (rows go down, NDC y up)
    out = jnp.stack([ddx, ddy], -1)
    return jnp.where((fragments.triangle_id >= 0)[..., None, None], out, 0.0)


@batch_parallel
@jax.jit
def interpolate_derivatives(
    attributes: jnp.ndarray, fragments: Fragments, triangles: jnp.ndarray, bary_derivatives: jnp.ndarray
) -> jnp.ndarray:
    """Screen-space derivatives of interpolated attributes: (B, H, W, C, 2) (per column, per row)."""
    corners = _corner_values(jnp.asarray(attributes), triangles, fragments.triangle_id)
    return jnp.einsum("bhwkd,bhwkc->bhwcd", bary_derivatives.astype(corners.dtype), corners)


def _ndc_grid(h: int, w: int) -> jnp.ndarray:
    x = (jnp.arange(w, dtype=jnp.float32) + 0.5) * (2.0 / w) - 1.0
    y = 1.0 - (jnp.arange(h, dtype=jnp.float32) + 0.5) * (2.0 / h)
    return jnp.stack(jnp.meshgrid(x, y), -1)  # (H, W, 2)
