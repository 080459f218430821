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
from rendering.raster import Fragments


def _edge_planes(clip_vertices, triangles, tri_ids):
    """Homogeneous edge-function coefficients (B, ..., 3, 3) of the given triangles,
    sign-normalised so that inside is >= 0, and the sign of det (facing)."""
    vidx = jnp.asarray(triangles, jnp.int32)[jnp.maximum(tri_ids, 0)]
    v = jax.vmap(lambda c, i: c[i])(clip_vertices, vidx)[..., (0, 1, 3)]
    h0, h1, h2 = v[..., 0, :], v[..., 1, :], v[..., 2, :]
    e = jnp.stack([jnp.cross(h1, h2), jnp.cross(h2, h0), jnp.cross(h0, h1)], axis=-2)
    det = jnp.sum(h0 * e[..., 0, :], -1)
    s = jnp.where(det < 0, -1.0, 1.0)
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
    ids = fragments.triangle_id
    depth = jnp.where(ids >= 0, jax.lax.stop_gradient(fragments.ndc_depth), jnp.inf)
    # Facing of every triangle (stop-gradient; only used to classify edges).
    planes_all, facing = _edge_planes(jax.lax.stop_gradient(clip_vertices), triangles,
                                      jnp.broadcast_to(jnp.arange(triangles.shape[0]), (b, triangles.shape[0])))
    del planes_all
    x = (jnp.arange(w, dtype=image.dtype) + 0.5) * (2.0 / w) - 1.0
    y = 1.0 - (jnp.arange(h, dtype=image.dtype) + 0.5) * (2.0 / h)
    px = jnp.broadcast_to(x[None, :], (h, w))
    py = jnp.broadcast_to(y[:, None], (h, w))

    def pair_deltas(axis):
        """Colour deltas for pairs (p, q = p + 1 along ``axis``): (dp, dq) images."""
        sl_p = [slice(None)] * 3
        sl_q = [slice(None)] * 3
        sl_p[axis + 1] = slice(0, -1)
        sl_q[axis + 1] = slice(1, None)
        sl_p, sl_q = tuple(sl_p), tuple(sl_q)
        ia, ib = ids[sl_p], ids[sl_q]
        da, db = depth[sl_p], depth[sl_q]
        a_front = da <= db
        front = jnp.where(a_front, ia, ib)
        active = (ia != ib) & (front >= 0)
        planes, fsign = _edge_planes(clip_vertices, triangles, front)  # (B, h', w', 3, 3)
        pa = jnp.stack([px[sl_p[1:]], py[sl_p[1:]], jnp.ones_like(px[sl_p[1:]])], -1)
        pb = jnp.stack([px[sl_q[1:]], py[sl_q[1:]], jnp.ones_like(px[sl_q[1:]])], -1)
        pf = jnp.where(a_front[..., None], pa, pb)  # front pixel centre
        po = jnp.where(a_front[..., None], pb, pa)
        ef = jnp.sum(planes * pf[..., None, :], -1)  # (B, h', w', 3)
        eo = jnp.sum(planes * po[..., None, :], -1)
        crosses = (ef >= 0) & (eo < 0)
        denom = jnp.where(crosses, ef - eo, 1.0)
        t_k = jnp.where(crosses, ef / denom, jnp.inf)
        k = jnp.argmin(jax.lax.stop_gradient(t_k), -1)
        t = jnp.take_along_axis(t_k, k[..., None], -1)[..., 0]
        has_edge = jnp.any(crosses, -1)
        # Steepness: horizontal pairs take edges whose normal is mostly along x.
        coef = jnp.take_along_axis(planes, k[..., None, None], -2)[..., 0, :]
        gx = jnp.abs(coef[..., 0]) * (2.0 / w)
        gy = jnp.abs(coef[..., 1]) * (2.0 / h)
        steep_ok = (gx >= gy) if axis == 1 else (gy > gx)
        # Silhouette: boundary edge, or the neighbour across it faces the other way.
        nb = neighbors[jnp.maximum(front, 0)]
        nb_k = jnp.take_along_axis(nb, k[..., None], -1)[..., 0]
        nb_face = jax.vmap(lambda fc, i: fc[i])(facing, jnp.maximum(nb_k, 0))
        silhouette = (nb_k < 0) | (nb_face != fsign)
        use = active & has_edge & steep_ok & silhouette
        t = jnp.where(use, t, 0.5)
        ca, cb = image[sl_p], image[sl_q]
        cf = jnp.where(a_front[..., None], ca, cb)
        co = jnp.where(a_front[..., None], cb, ca)
        # Edge inside the other pixel: it takes (t - 0.5) of the front colour;
        # edge inside the front pixel: it takes (0.5 - t) of the other colour.
        to_other = jnp.maximum(t - 0.5, 0.0)[..., None] * (cf - co)
        to_front = jnp.maximum(0.5 - t, 0.0)[..., None] * (co - cf)
        d_a = jnp.where(a_front[..., None], to_front, to_other)
        d_b = jnp.where(a_front[..., None], to_other, to_front)
        pad_a = [(0, 0)] * 4
        pad_b = [(0, 0)] * 4
        pad_a[axis + 1] = (0, 1)
        pad_b[axis + 1] = (1, 0)
        return jnp.pad(d_a, pad_a) + jnp.pad(d_b, pad_b)

    return image + pair_deltas(1) + pair_deltas(0)
