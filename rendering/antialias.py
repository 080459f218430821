"""Analytic antialiasing of silhouettes (nvdiffrast-style): the soft edge term.

The rasterized image is piecewise constant in the vertex positions at
silhouettes, so it has no gradient there. This pass makes it continuous:

* For every horizontally or vertically adjacent pixel pair whose triangle
  ids differ, the *front* triangle is the nearer of the two (background is
  farthest). If the segment between the two pixel centres leaves the front
  triangle through a **silhouette edge** (a boundary edge, or one whose
  neighbour faces the other way), the point ``t`` in [0, 1] where it crosses
  is found from the triangle's edge function (exact in screen space, no
  clipping needed).
* The pixel footprints are the half-segments ``[0, 0.5]`` and ``[0.5, 1]``.
  If ``t > 0.5`` the edge reaches into the other pixel, which takes
  ``t - 0.5`` of the front colour; if ``t < 0.5`` the front pixel takes
  ``0.5 - t`` of the other colour.
* Horizontal pairs handle edges steeper than 45 degrees, vertical pairs the
  rest, so each edge is blended once.

Parameters: none to tune. The blend width is one pixel by construction; the
gradient reaches vertex positions through ``t`` (silhouette and occlusion
edges) and both pixel colours. Only edge pixels are affected, so interior
gradients are those of the hard rasterization.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rendering import topology as _topology
from rendering._sharding import batch_parallel
from rendering.raster import Fragments, edge_planes
from rendering.texture import _weighted_sum


def _edge_planes(clip_vertices, triangles, tri_ids):
    """Edge-function coefficients (B, ..., 3, 3) of the given triangles, sign-normalised
    so that inside is >= 0, and that sign (+-1, the facing) (B, ...)."""
    vidx = jnp.asarray(triangles, jnp.int32)[jnp.maximum(tri_ids, 0)]
    v = jax.vmap(lambda c, i: c[i])(clip_vertices, vidx)
    e, det = edge_planes(v)
    s = jnp.where(det < 0, -1.0, 1.0).astype(e.dtype)
    return e * s[..., None, None], s


def antialias(
    image: jnp.ndarray,
    fragments: Fragments,
    clip_vertices: jnp.ndarray,
    triangles,
    neighbors: np.ndarray | jnp.ndarray | None = None,
) -> jnp.ndarray:
    """Blends colours across silhouette edges (differentiable).

    Args:
      image: (B, H, W, C) shaded image, already composited over the background.
      fragments: from :func:`rendering.rasterize` with the same vertices.
      clip_vertices: (B, V, 4).
      triangles: (F, 3).
      neighbors: (F, 3) from :func:`rendering.topology.triangle_neighbors`;
        computed here when ``None`` (then ``triangles`` must be concrete).
    Returns:
      (B, H, W, C) antialiased image.
    """
    if neighbors is None:
        if isinstance(triangles, jax.core.Tracer):
            raise ValueError("antialias: pass neighbors=triangle_neighbors(triangles) when triangles is traced")
        neighbors = _topology.triangle_neighbors(np.asarray(triangles))
    return _antialias(image, fragments, clip_vertices, jnp.asarray(triangles, jnp.int32), jnp.asarray(neighbors, jnp.int32))


@batch_parallel
@jax.jit
def _antialias(image, fragments, clip_vertices, triangles, neighbors):
    b, h, w = fragments.triangle_id.shape
    dtype = image.dtype
    ids = fragments.triangle_id
    depth = jnp.where(ids >= 0, jax.lax.stop_gradient(fragments.ndc_depth), jnp.inf)
    # Per-triangle edge planes, sign-normalised (inside >= 0), and facing: one table,
    # differentiable, gathered per pixel pair below.
    planes_all, det = edge_planes(clip_vertices[:, triangles])  # (B, F, 3, 3), (B, F)
    sign = jax.lax.stop_gradient(jnp.where(det < 0, -1.0, 1.0).astype(dtype))
    table = (planes_all * sign[..., None, None]).reshape(b, -1, 9)
    x = (jnp.arange(w, dtype=dtype) + 0.5) * (2.0 / w) - 1.0
    y = 1.0 - (jnp.arange(h, dtype=dtype) + 0.5) * (2.0 / h)

    def pair_weights(axis):
        """Blend weights (alpha_p, alpha_q) for pairs (p, q = p + 1 along image ``axis``
        (1 rows, 2 columns)): p gains alpha_p (c_q - c_p), q gains alpha_q (c_p - c_q)."""
        n = ids.shape[axis]
        ia, ib = jax.lax.slice_in_dim(ids, 0, n - 1, axis=axis), jax.lax.slice_in_dim(ids, 1, n, axis=axis)
        da, db = jax.lax.slice_in_dim(depth, 0, n - 1, axis=axis), jax.lax.slice_in_dim(depth, 1, n, axis=axis)
        a_front = da <= db
        front = jnp.where(a_front, ia, ib)
        fsafe = jnp.maximum(front, 0)
        active = (ia != ib) & (front >= 0)
        planes = jax.vmap(lambda t, i: t[i])(table, fsafe)  # (B, h', w', 9)
        fsign = jax.vmap(lambda s_, i: s_[i])(sign, fsafe)
        if axis == 2:  # horizontal pairs: same row, columns i and i + 1
            xa, xb = x[None, None, :-1], x[None, None, 1:]
            ya = yb = y[None, :, None]
        else:
            xa = xb = x[None, None, :]
            ya, yb = y[None, :-1, None], y[None, 1:, None]
        xf, yf = jnp.where(a_front, xa, xb), jnp.where(a_front, ya, yb)  # front pixel centre
        xo, yo = jnp.where(a_front, xb, xa), jnp.where(a_front, yb, ya)
        # Per edge k: value at the front and the other centre, and the crossing t_k.
        # (Components written out: tiny minor-axis reductions are slow on XLA:CPU.)
        t = jnp.full(front.shape, jnp.inf, dtype)
        kA = jnp.zeros(front.shape, dtype)
        kB = jnp.zeros(front.shape, dtype)
        k_sel = jnp.full(front.shape, -1, jnp.int32)
        for k in range(3):
            a_, b_, c_ = planes[..., 3 * k], planes[..., 3 * k + 1], planes[..., 3 * k + 2]
            ef = a_ * xf + b_ * yf + c_
            eo = a_ * xo + b_ * yo + c_
            crosses = (ef >= 0) & (eo < 0)
            tk = jnp.where(crosses, ef / jnp.where(crosses, ef - eo, 1.0), jnp.inf)
            better = jax.lax.stop_gradient(tk) < jax.lax.stop_gradient(t)
            t = jnp.where(better, tk, t)
            kA = jnp.where(better, a_, kA)
            kB = jnp.where(better, b_, kB)
            k_sel = jnp.where(better, k, k_sel)
        has_edge = k_sel >= 0
        # Steepness: horizontal pairs take edges whose normal is mostly along x.
        gx = jnp.abs(kA) * (2.0 / w)
        gy = jnp.abs(kB) * (2.0 / h)
        steep_ok = (gx >= gy) if axis == 2 else (gy > gx)
        # Silhouette: boundary edge, or the neighbour across it faces the other way.
        nb = neighbors[fsafe]  # (B, h', w', 3)
        nb_k = jnp.where(k_sel == 0, nb[..., 0], jnp.where(k_sel == 1, nb[..., 1], nb[..., 2]))
        nb_face = jax.vmap(lambda s_, i: s_[i])(sign, jnp.maximum(nb_k, 0))
        silhouette = (nb_k < 0) | (nb_face != fsign)
        use = active & has_edge & steep_ok & silhouette
        t = jnp.where(use, t, 0.5)
        # Edge inside the other pixel: it takes (t - 0.5) of the front colour;
        # edge inside the front pixel: it takes (0.5 - t) of the other colour.
        into_other = jnp.maximum(t - 0.5, 0.0)
        into_front = jnp.maximum(0.5 - t, 0.0)
        return jnp.where(a_front, into_front, into_other), jnp.where(a_front, into_other, into_front)

    # Materialise the per-pixel weights before touching colour channels; otherwise
    # XLA fuses (and recomputes) all of the above once per channel and neighbour
    # (3x slower on CPU). A conditional is a fusion boundary that XLA keeps
    # (optimization_barrier is dropped before fusion on CPU); its predicate is always true.
    (ha, hb), (va, vb) = jax.lax.cond(
        jnp.any(ids >= -1),
        lambda: (pair_weights(2), pair_weights(1)),
        lambda: jax.tree.map(jnp.zeros_like, jax.eval_shape(lambda: (pair_weights(2), pair_weights(1)))),
    )
    # Each pixel moves toward its right / left / lower / upper neighbour by a weight.
    w_right = jnp.pad(ha, ((0, 0), (0, 0), (0, 1)))
    w_left = jnp.pad(hb, ((0, 0), (0, 0), (1, 0)))
    w_down = jnp.pad(va, ((0, 0), (0, 1), (0, 0)))
    w_up = jnp.pad(vb, ((0, 0), (1, 0), (0, 0)))
    right = jnp.concatenate([image[:, :, 1:], image[:, :, -1:]], axis=2)
    left = jnp.concatenate([image[:, :, :1], image[:, :, :-1]], axis=2)
    down = jnp.concatenate([image[:, 1:], image[:, -1:]], axis=1)
    up = jnp.concatenate([image[:, :1], image[:, :-1]], axis=1)
    keep = 1.0 - w_right - w_left - w_down - w_up
    # Per channel (see texture._weighted_sum): keeps the weight gradients free of
    # tiny-axis reductions.
    return _weighted_sum([keep, w_right, w_left, w_down, w_up], [image, right, left, down, up])
