"""UV space: per-vertex values rasterised into a UV map, and UV maps sampled back.

Texel (i, j) of an H x W map covers u in [j/W, (j+1)/W] and v in [1-(i+1)/H, 1-i/H]:
row 0 is the top of the image, v = 1 (OBJ/Blender convention, v points up). Only the
UV tile [0, 1]^2 is mapped (ICT-FaceKit puts the face skin there; other shells live in
tiles u >= 1).

The triangle covering each texel and its barycentrics depend only on the topology, so
``uv_raster`` computes them once on the host; moving values into UV space is then a
differentiable gather and weighted sum. Texels outside every triangle (the gutter
between UV islands) copy their nearest covered texel, so bilinear sampling near seams
never blends in empty texels.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct
from scipy import ndimage


@struct.dataclass
class UVRaster:
    """Which triangle covers each texel of a UV map, and where.

    Attributes:
      triangle: (H, W) int32 triangle index, clamped to 0 in the gutter.
      barycentric: (H, W, 3) float32 weights of the triangle's corners.
      covered: (H, W) bool, True inside a triangle.
      fill_index: (H*W,) int32 flat index of the nearest covered texel (itself if covered).
    """

    triangle: jnp.ndarray
    barycentric: jnp.ndarray
    covered: jnp.ndarray
    fill_index: jnp.ndarray

    @property
    def resolution(self) -> tuple[int, int]:
        return tuple(self.covered.shape)


def uv_raster(uv_coords: np.ndarray, uv_triangles: np.ndarray, resolution: int | tuple[int, int] = 256) -> UVRaster:
    """Scan-converts the UV triangles that lie in tile [0, 1]^2 (host, numpy).

    Args:
      uv_coords: (T, 2) texture coordinates.
      uv_triangles: (F, 3) indices into uv_coords.
      resolution: H (= W) or (H, W).
    """
    h, w = (resolution, resolution) if np.isscalar(resolution) else resolution
    uv = np.asarray(uv_coords, np.float64)
    tri_uv = uv[np.asarray(uv_triangles)]  # (F, 3, 2)
    in_tile = np.all((tri_uv >= 0.0) & (tri_uv <= 1.0), axis=(1, 2))
    tri_ids = np.nonzero(in_tile)[0]
    # Texel-space corners: x = u W - 0.5, y = (1 - v) H - 0.5, so texel centres are integers.
    px = np.stack([tri_uv[tri_ids, :, 0] * w - 0.5, (1.0 - tri_uv[tri_ids, :, 1]) * h - 0.5], -1)
    lo = np.clip(np.ceil(px.min(1)), 0, [w - 1, h - 1]).astype(np.int64)
    hi = np.clip(np.floor(px.max(1)), 0, [w - 1, h - 1]).astype(np.int64)
    nx = np.maximum(hi[:, 0] - lo[:, 0] + 1, 0)
    ny = np.maximum(hi[:, 1] - lo[:, 1] + 1, 0)
    counts = nx * ny
    # All (triangle, texel-in-bbox) candidate pairs, without a Python loop.
    owner = np.repeat(np.arange(tri_ids.size), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cx = lo[owner, 0] + local % nx[owner]
    cy = lo[owner, 1] + local // nx[owner]
    a, b, c = px[owner, 0], px[owner, 1], px[owner, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    ok = np.abs(area) > 1e-12
    safe = np.where(ok, area, 1.0)
    w0 = ((b[:, 0] - cx) * (c[:, 1] - cy) - (b[:, 1] - cy) * (c[:, 0] - cx)) / safe
    w1 = ((c[:, 0] - cx) * (a[:, 1] - cy) - (c[:, 1] - cy) * (a[:, 0] - cx)) / safe
    w2 = 1.0 - w0 - w1
    inside = ok & (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
    tri_map = np.full((h, w), -1, np.int64)
    bary = np.zeros((h, w, 3), np.float64)
    sel = np.nonzero(inside)[0]
    tri_map[cy[sel], cx[sel]] = tri_ids[owner[sel]]
    bary[cy[sel], cx[sel]] = np.stack([w0[sel], w1[sel], w2[sel]], -1)
    covered = tri_map >= 0
    if not covered.any():
        raise ValueError("no UV triangle lies in the tile [0, 1]^2")
    _, (iy, ix) = ndimage.distance_transform_edt(~covered, return_indices=True)
    return UVRaster(
        triangle=jnp.asarray(np.maximum(tri_map, 0).astype(np.int32)),
        barycentric=jnp.asarray(bary.astype(np.float32)),
        covered=jnp.asarray(covered),
        fill_index=jnp.asarray((iy * w + ix).reshape(-1).astype(np.int32)),
    )


def to_uv_map(values: jnp.ndarray, triangles: jnp.ndarray, raster: UVRaster) -> jnp.ndarray:
    """Rasterises per-vertex (or per-UV-corner) values into a UV map.

    Args:
      values: (..., N, C) values per vertex (with ``triangles`` the mesh triangles) or
        per UV coordinate (with ``triangles`` the UV triangles).
      triangles: (F, 3) indices into N, the same triangles ``raster`` was built from.
      raster: from ``uv_raster``.
    Returns:
      (..., H, W, C) map, gutter filled from the nearest covered texel.
    """
    h, w = raster.resolution
    corners = jnp.take(triangles, raster.triangle.reshape(-1), axis=0)  # (HW, 3)
    gathered = jnp.take(values, corners.reshape(-1), axis=-2)  # (..., HW*3, C)
    gathered = gathered.reshape(values.shape[:-2] + (h * w, 3, values.shape[-1]))
    texels = jnp.einsum("...tkc,tk->...tc", gathered, raster.barycentric.reshape(h * w, 3))
    texels = jnp.take(texels, raster.fill_index, axis=-2)
    return texels.reshape(values.shape[:-2] + (h, w, values.shape[-1]))


def sample_uv_map(uv_map: jnp.ndarray, uv: jnp.ndarray) -> jnp.ndarray:
    """Bilinear lookup of a UV map at texture coordinates (edge texels clamp).

    Args:
      uv_map: (..., H, W, C).
      uv: (N, 2) or (..., N, 2) coordinates (v up).
    Returns:
      (..., N, C).
    """
    h, w = uv_map.shape[-3], uv_map.shape[-2]
    x = uv[..., 0] * w - 0.5
    y = (1.0 - uv[..., 1]) * h - 0.5
    x0, y0 = jnp.floor(x), jnp.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0i = jnp.clip(x0.astype(jnp.int32), 0, w - 1)
    x1i = jnp.clip(x0.astype(jnp.int32) + 1, 0, w - 1)
    y0i = jnp.clip(y0.astype(jnp.int32), 0, h - 1)
    y1i = jnp.clip(y0.astype(jnp.int32) + 1, 0, h - 1)
    flat = uv_map.reshape(uv_map.shape[:-3] + (h * w, uv_map.shape[-1]))
    batch = jnp.broadcast_shapes(flat.shape[:-2], uv.shape[:-2])
    flat = jnp.broadcast_to(flat, batch + flat.shape[-2:])

    def at(yi, xi):
        idx = jnp.broadcast_to(yi * w + xi, batch + uv.shape[-2:-1])
        return jnp.take_along_axis(flat, idx[..., None], axis=-2)

    top = at(y0i, x0i) * (1 - fx) + at(y0i, x1i) * fx
    bottom = at(y1i, x0i) * (1 - fx) + at(y1i, x1i) * fx
    return top * (1 - fy) + bottom * fy


def vertex_uvs(triangles: np.ndarray, uv_triangles: np.ndarray, num_vertices: int) -> np.ndarray:
    """(V,) index of one UV coordinate per vertex (the first corner that uses it).

    Vertices on a UV seam have several; any of them samples the same surface point.
    Vertices in no triangle get index 0.
    """
    tris = np.asarray(triangles).reshape(-1)
    uvt = np.asarray(uv_triangles).reshape(-1)
    first = np.zeros(num_vertices, np.int64)
    order = np.argsort(tris, kind="stable")
    uniq, start = np.unique(tris[order], return_index=True)
    first[uniq] = uvt[order[start]]
    return first.astype(np.int32)
