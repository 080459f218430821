"""Rasterization: a tiled, non-differentiable visibility pass, then a
differentiable recomputation of barycentrics and depth from the chosen ids.

Algorithm (all static shapes, batched over the leading axis)
------------------------------------------------------------
1. **Setup.** Each triangle's clip-space corners ``(x, y, w)`` are treated as
   homogeneous 2D points (Olano & Greer 1997). The edge functions
   ``e_i(p) = p . (v_j x v_k)`` with ``p = (x_ndc, y_ndc, 1)`` are linear in
   the pixel position, and ``b_i = e_i / sum(e)`` are the *perspective-correct*
   barycentrics. A pixel is covered, in front of the camera, iff all
   ``sign(det[v0 v1 v2]) * e_i >= 0``. NDC depth ``z/w = sum z_i e_i / det``
   is linear in the pixel position too. No clipping is needed: triangles that
   cross the camera plane rasterize correctly; fragments outside
   ``-1 <= z/w <= 1`` (near / far planes) are discarded.
2. **Binning.** Each triangle's screen bounding box (of its part in front of
   the near plane) is cut into ``tile_size``-square tiles, giving
   (tile, triangle) pairs, at most ``pair_capacity`` per image. The pairs are
   sorted by tile; each tile keeps at most ``tile_capacity`` triangles.
   Anything that does not fit is counted in ``Fragments.overflow``; nothing is
   dropped silently (see :func:`check_overflow`). To raise the limits pass a
   :class:`RasterConfig` with larger capacities, or use
   :func:`required_capacity` to measure what a scene needs.
3. **Depth test.** Every pixel of a tile tests the tile's triangles and keeps
   the nearest (smallest NDC depth; ties go to the lower triangle id).
4. **Differentiable pass.** From the chosen triangle ids, barycentrics, depth
   and view depth are recomputed from the vertices with plain ``jnp`` ops, so
   gradients flow to vertex positions (inside triangles). Silhouette gradients
   come from :mod:`rendering.antialias`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rendering import camera
from rendering._sharding import batch_parallel

__all__ = [
    "RasterConfig",
    "Fragments",
    "rasterize",
    "visibility",
    "fragments_from_ids",
    "check_overflow",
    "required_capacity",
    "RasterOverflowError",
]


class RasterOverflowError(RuntimeError):
    """A tile or the pair buffer overflowed: the image would be incomplete."""


@dataclasses.dataclass(frozen=True)
class RasterConfig:
    """Static parameters of the visibility pass (hashable; safe as a jit static arg).

    Attributes:
      tile_size: tile edge in pixels.
      tile_capacity: most triangles one tile can hold. Work follows the real
        per-tile counts, so a generous capacity is cheap.
      pair_capacity: most (tile, triangle) pairs per image; ``None`` picks
        ``max(4 * F, 2 * num_tiles) + 1024``.
      cull_backfaces: drop triangles whose projection is clockwise on screen
        (counter-clockwise in NDC with y up is front-facing).
      chunk: triangles a work item tests (unrolled; a performance knob).
      block: work items per step of the item loop (a performance knob).
    """

    tile_size: int = 4
    tile_capacity: int = 1024
    pair_capacity: int | None = None
    cull_backfaces: bool = False
    chunk: int = 8
    block: int = 128

    def pairs_for(self, num_triangles: int, num_tiles: int) -> int:
        if self.pair_capacity is not None:
            return int(self.pair_capacity)
        return int(max(4 * num_triangles, 2 * num_tiles) + 1024)


class Fragments(NamedTuple):
    """Per-pixel rasterization output; images are (B, H, W[, C]).

    Attributes:
      triangle_id: int32, index into ``triangles``; -1 where nothing is drawn.
      barycentrics: float (B, H, W, 3), perspective-correct, w.r.t. the
        triangle's corners in ``triangles`` order; zero on background.
      ndc_depth: float, z/w in [-1, 1] (smaller is nearer); 1 on background.
      view_depth: float, clip-space w (view-space depth for a perspective
        camera); 0 on background.
      mask: float {0, 1} hard coverage.
      overflow: int32 (B,), number of (tile, triangle) pairs that did not fit;
        must be 0 for a complete image (see :func:`check_overflow`).
    """

    triangle_id: jnp.ndarray
    barycentrics: jnp.ndarray
    ndc_depth: jnp.ndarray
    view_depth: jnp.ndarray
    mask: jnp.ndarray
    overflow: jnp.ndarray


# ----------------------------------------------------------------------------
# Input validation (eager, at the API boundary).


def _validate(clip_vertices, triangles, resolution):
    if not (isinstance(resolution, (tuple, list)) and len(resolution) == 2):
        raise ValueError(f"resolution must be (height, width), got {resolution!r}")
    h, w = (int(r) for r in resolution)
    if h <= 0 or w <= 0:
        raise ValueError(f"resolution must be positive, got {resolution!r}")
    if clip_vertices.ndim != 3 or clip_vertices.shape[-1] != 4:
        raise ValueError(
            f"clip_vertices must be (B, V, 4) homogeneous clip-space points, got shape {tuple(clip_vertices.shape)}"
        )
    if not jnp.issubdtype(clip_vertices.dtype, jnp.floating):
        raise TypeError(f"clip_vertices must be floating point, got {clip_vertices.dtype}")
    if triangles.ndim != 2 or triangles.shape[-1] != 3:
        raise ValueError(f"triangles must be (F, 3) vertex indices, got shape {tuple(triangles.shape)}")
    if not jnp.issubdtype(triangles.dtype, jnp.integer):
        raise TypeError(f"triangles must be integer indices, got {triangles.dtype}")
    if not isinstance(triangles, jax.core.Tracer) and triangles.size:
        tri = np.asarray(triangles)
        lo, hi = int(tri.min()), int(tri.max())
        nv = clip_vertices.shape[1]
        if lo < 0 or hi >= nv:
            raise IndexError(f"triangle indices must lie in [0, {nv}), found range [{lo}, {hi}]")
    return h, w


# ----------------------------------------------------------------------------
# Triangle setup.


def edge_planes(corners: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Homogeneous edge functions of triangles from their clip-space corners.

    Args:
      corners: (..., 3, 4) clip-space corners ``(x, y, z, w)``.
    Returns:
      planes: (..., 3, 3): row ``i`` holds ``(a, b, c)`` of
        ``e_i(x, y) = a x + b y + c`` (NDC ``x, y``), the edge opposite corner ``i``;
        perspective-correct barycentrics are ``e_i / sum(e)``.
      det: (...,) ``det[v0 v1 v2]`` of the ``(x, y, w)`` corners; its sign says
        on which side ``e_i >= 0`` means inside (and the facing).
    """
    # Written out per component: fancy indexing (v[..., (0, 1, 3)]) lowers to a
    # gather that is ~30x slower on XLA:CPU than these elementwise ops.
    x0, y0, w0 = corners[..., 0, 0], corners[..., 0, 1], corners[..., 0, 3]
    x1, y1, w1 = corners[..., 1, 0], corners[..., 1, 1], corners[..., 1, 3]
    x2, y2, w2 = corners[..., 2, 0], corners[..., 2, 1], corners[..., 2, 3]
    e0 = jnp.stack([y1 * w2 - w1 * y2, w1 * x2 - x1 * w2, x1 * y2 - y1 * x2], -1)
    e1 = jnp.stack([y2 * w0 - w2 * y0, w2 * x0 - x2 * w0, x2 * y0 - y2 * x0], -1)
    e2 = jnp.stack([y0 * w1 - w0 * y1, w0 * x1 - x0 * w1, x0 * y1 - y0 * x1], -1)
    det = x0 * e0[..., 0] + y0 * e0[..., 1] + w0 * e0[..., 2]
    return jnp.stack([e0, e1, e2], -2), det



def _setup(clip: jnp.ndarray, triangles: jnp.ndarray):
    """Per-triangle edge and depth planes.

    Args:
      clip: (B, V, 4) clip-space vertices.
      triangles: (F, 3).
    Returns:
      edges: (B, F, 3, 3) coefficients (a, b, c) of s*e_i(x, y) = a x + b y + c,
        inside iff all three are >= 0.
      zplane: (B, F, 3) coefficients of z_ndc(x, y).
      det: (B, F) det[v0 v1 v2] of the homogeneous (x, y, w) corners.
      corners: (B, F, 3, 4) clip-space corners.
    """
    v = _gather_corners(clip, triangles)  # (B, F, 3, 4)
    e, det = edge_planes(v)  # (B, F, 3, 3), (B, F)
    s = jnp.sign(det)
    edges = e * s[..., None, None]
    safe_det = jnp.where(det == 0, 1.0, det)
    zplane = jnp.einsum("bfi,bfic->bfc", v[..., 2], e) / safe_det[..., None]
    return edges, zplane, det, v


def _gather_corners(clip: jnp.ndarray, triangles: jnp.ndarray) -> jnp.ndarray:
    """(B, V, 4) x (F, 3) -> (B, F, 3, 4): whole-row gathers of a (V, B*4) table,
    much faster on XLA:CPU than ``clip[:, triangles]``."""
    b, v, _ = clip.shape
    rows = jnp.transpose(clip, (1, 0, 2)).reshape(v, b * 4)[triangles]  # (F, 3, B*4)
    return jnp.transpose(rows.reshape(triangles.shape[0], 3, b, 4), (2, 0, 1, 3))


def _screen_bounds(corners: jnp.ndarray, height: int, width: int):
    """Pixel-index bounding box of each triangle's part in front of the near plane.

    Args:
      corners: (B, F, 3, 4) clip-space corners.
    Returns:
      (i0, i1, j0, j1) int32 (B, F) inclusive column / row ranges, and a bool
      (B, F) ``nonempty``.
    """
    # Per component (B, F) arrays: stacking the 6 candidate points and reducing over
    # them is several times slower on XLA:CPU.
    cx, cy, cz, cw = ([corners[..., k, c] for k in range(3)] for c in range(4))
    d = [cz[k] + cw[k] for k in range(3)]  # z + w >= 0: in front of the near plane
    big = jnp.asarray(1e9, corners.dtype)
    xmin = ymin = big
    xmax = ymax = -big
    any_ok = jnp.zeros(d[0].shape, bool)
    for i in range(3):
        j = (i + 1) % 3
        t = d[i] / jnp.where(d[i] == d[j], 1.0, d[i] - d[j])
        candidates = [
            (cx[i], cy[i], cw[i], d[i] >= 0),
            (cx[i] + t * (cx[j] - cx[i]), cy[i] + t * (cy[j] - cy[i]), cw[i] + t * (cw[j] - cw[i]),
             (d[i] >= 0) != (d[j] >= 0)),
        ]
        for px_, py_, pw_, ok in candidates:
            ok = ok & (pw_ > 0)
            wsafe = jnp.where(ok, pw_, 1.0)
            x, y = px_ / wsafe, py_ / wsafe
            xmin = jnp.minimum(xmin, jnp.where(ok, x, big))
            xmax = jnp.maximum(xmax, jnp.where(ok, x, -big))
            ymin = jnp.minimum(ymin, jnp.where(ok, y, big))
            ymax = jnp.maximum(ymax, jnp.where(ok, y, -big))
            any_ok = any_ok | ok
    # Pixel-centre index ranges (conservative by a small margin), clamped to the image.
    margin = 1e-3
    umin = (xmin + 1) * 0.5 * width
    umax = (xmax + 1) * 0.5 * width
    vmin = (1 - ymax) * 0.5 * height
    vmax = (1 - ymin) * 0.5 * height
    i0 = jnp.ceil(jnp.clip(umin - 0.5 - margin, -1.0, width + 1.0))
    i1 = jnp.floor(jnp.clip(umax - 0.5 + margin, -1.0, width + 1.0))
    j0 = jnp.ceil(jnp.clip(vmin - 0.5 - margin, -1.0, height + 1.0))
    j1 = jnp.floor(jnp.clip(vmax - 0.5 + margin, -1.0, height + 1.0))
    i0 = jnp.maximum(i0, 0).astype(jnp.int32)
    j0 = jnp.maximum(j0, 0).astype(jnp.int32)
    i1 = jnp.minimum(i1, width - 1).astype(jnp.int32)
    j1 = jnp.minimum(j1, height - 1).astype(jnp.int32)
    nonempty = (i0 <= i1) & (j0 <= j1) & any_ok
    return i0, i1, j0, j1, nonempty


# ----------------------------------------------------------------------------
# Binning.


def _expand(counts, capacity):
    """Expands per-owner counts into a flat list of (owner, local index) of static size.

    Args:
      counts: (N,) int32 non-negative counts.
      capacity: static length of the output.
    Returns:
      owner (capacity,) int32, local (capacity,) int32, valid (capacity,) bool,
      total int32 (may exceed ``capacity``; entries past it are dropped).
    """
    ends = jnp.cumsum(counts)
    total = ends[-1]
    starts = ends - counts
    ids = jnp.arange(counts.shape[0], dtype=jnp.int32)
    # Mark each owner's first slot, then a running max gives every slot its owner.
    marks = jnp.full((capacity,), -1, jnp.int32).at[jnp.where(counts > 0, starts, capacity)].max(ids, mode="drop")
    owner = jax.lax.cummax(marks)
    p = jnp.arange(capacity, dtype=jnp.int32)
    valid = (p < total) & (owner >= 0)
    owner = jnp.maximum(owner, 0)
    return owner, p - starts[owner], valid, total


def _bin(i0, i1, j0, j1, live, tile_size, tiles_x, num_tiles, pair_capacity):
    """Bins one image's triangles into tiles.

    Args: (F,) int32 inclusive pixel ranges and bool ``live``; static sizes.
    Returns:
      tri: (pair_capacity,) int32 triangle ids sorted by tile (then by id).
      counts: (num_tiles,) int32 triangles per tile (what fitted in the buffer).
      total: int32 pairs wanted (overflow when > pair_capacity).
    """
    num_tris = i0.shape[0]
    tx0, tx1 = i0 // tile_size, i1 // tile_size
    ty0, ty1 = j0 // tile_size, j1 // tile_size
    nx = tx1 - tx0 + 1
    n = jnp.where(live, nx * (ty1 - ty0 + 1), 0)
    owner, local, valid, total = _expand(n, pair_capacity)
    nxo = jnp.maximum(nx[owner], 1)
    tx = tx0[owner] + local % nxo
    ty = ty0[owner] + local // nxo
    key = jnp.where(valid, ty * tiles_x + tx, num_tiles)
    tri_bits = max(int(num_tris - 1).bit_length(), 1)
    if int(num_tiles).bit_length() + tri_bits <= 31:
        # One packed int32 sort is ~5x faster than sorting (key, payload) pairs on CPU;
        # within a tile it orders triangles by id (the depth test's tie-break).
        packed = jax.lax.sort((key << tri_bits) | owner)
        key, tri = packed >> tri_bits, packed & ((1 << tri_bits) - 1)
    else:
        key, tri = jax.lax.sort((key, owner), num_keys=2, is_stable=False)
    counts = jnp.zeros((num_tiles + 1,), jnp.int32).at[key].add(1)[:num_tiles]
    return tri, counts, total


def _raster_items(tri, counts, table, tile_size, tiles_x, tiles_y, height, width, tile_capacity, chunk, block):
    """Depth test, as a list of work items (tile, chunk of up to ``chunk`` of its triangles).

    Only non-empty tiles make items, and a tile with n triangles makes
    ceil(n / chunk) of them, so the work follows the real triangle density
    instead of the fullest tile. Items run ``block`` at a time in a
    ``while_loop`` that stops after the last item of the fullest image (one
    scalar trip count for the batch: a per-image count would make ``vmap``
    select over the whole carry every step); within an item the slots are an
    unrolled loop that XLA fuses into one pass over the pixels (about 10x faster
    on CPU than an argmin over a (pixels, slots) array).

    Args:
      tri: (B, P) triangle ids sorted by tile; counts: (B, T) per tile.
      table: (B, F, 12) edge planes (3 x (a, b, c)) and depth plane.
    Returns:
      (B, H, W) int32 nearest triangle id (-1 for none), and (B,) int32 overflow
      (triangles beyond ``tile_capacity`` in any tile).
    """
    num_tiles = counts.shape[-1]
    pairs = tri.shape[-1]
    ts = tile_size
    npix = ts * ts
    item_capacity = num_tiles + -(-min(pairs, num_tiles * tile_capacity) // chunk)
    item_capacity = -(-item_capacity // block) * block
    empty = jnp.asarray([0, 0, -1] * 3 + [0, 0, 2], table.dtype)  # never inside, beyond far
    # Pixel offsets inside a tile (static).
    pcol = jnp.asarray(np.tile(np.arange(ts), ts), jnp.int32)
    prow = jnp.asarray(np.repeat(np.arange(ts), ts), jnp.int32)
    sx, sy = 2.0 / width, 2.0 / height

    def items(counts):
        kept = jnp.minimum(counts, tile_capacity)
        tile_start = jnp.cumsum(counts) - counts
        n_items = (kept + chunk - 1) // chunk
        item_tile, item_chunk, item_valid, total_items = _expand(n_items, item_capacity)
        return kept, tile_start, item_tile, item_chunk, item_valid, total_items

    kept, tile_start, item_tile, item_chunk, item_valid, total_items = jax.vmap(items)(counts)

    def run_block(b, tri, table, kept, tile_start, item_tile, item_chunk, item_valid):
        it = b * block + jnp.arange(block, dtype=jnp.int32)
        t = item_tile[it]
        first = item_chunk[it] * chunk
        ok = item_valid[it]
        slot = first[:, None] + jnp.arange(chunk, dtype=jnp.int32)[None, :]  # (block, chunk)
        slot_ok = ok[:, None] & (slot < kept[t][:, None])
        ids = tri[jnp.minimum(tile_start[t][:, None] + slot, pairs - 1)]
        ids = jnp.where(slot_ok, ids, -1)
        planes = jnp.where(slot_ok[..., None], table[jnp.maximum(ids, 0)], empty)  # (block, chunk, 12)
        col = (t % tiles_x)[:, None] * ts + pcol[None, :]
        row = (t // tiles_x)[:, None] * ts + prow[None, :]
        px = (col.astype(table.dtype) + 0.5) * sx - 1.0  # (block, npix)
        py = 1.0 - (row.astype(table.dtype) + 0.5) * sy
        zbest = jnp.full((block, npix), jnp.inf, table.dtype)
        kbest = jnp.full((block, npix), -1, jnp.int32)
        for j in range(chunk):
            q = planes[:, j, :, None]  # (block, 12, 1)
            e0 = q[:, 0] * px + q[:, 1] * py + q[:, 2]
            e1 = q[:, 3] * px + q[:, 4] * py + q[:, 5]
            e2 = q[:, 6] * px + q[:, 7] * py + q[:, 8]
            z = q[:, 9] * px + q[:, 10] * py + q[:, 11]
            hit = (e0 >= 0) & (e1 >= 0) & (e2 >= 0) & (z >= -1) & (z <= 1) & (z < zbest)
            zbest = jnp.where(hit, z, zbest)
            kbest = jnp.where(hit, j, kbest)
        best = jnp.take_along_axis(ids, jnp.maximum(kbest, 0), axis=1)
        return zbest, jnp.where(kbest >= 0, best, -1)

    batched_block = jax.vmap(run_block, in_axes=(None, 0, 0, 0, 0, 0, 0, 0))

    def body(carry):
        b, zout, tout = carry
        zb, tb = batched_block(b, tri, table, kept, tile_start, item_tile, item_chunk, item_valid)
        zero = jnp.int32(0)
        zout = jax.lax.dynamic_update_slice(zout, zb, (zero, b * block, zero))
        tout = jax.lax.dynamic_update_slice(tout, tb, (zero, b * block, zero))
        return b + 1, zout, tout

    n_blocks = (jnp.minimum(jnp.max(total_items), item_capacity) + block - 1) // block
    batch = counts.shape[0]
    init = (
        jnp.int32(0),
        jnp.full((batch, item_capacity, npix), jnp.inf, table.dtype),
        jnp.full((batch, item_capacity, npix), -1, jnp.int32),
    )
    _, zout, tout = jax.lax.while_loop(lambda c: c[0] < n_blocks, body, init)

    def merge(zout, tout, item_tile, item_valid):
        """Merges the items of each tile: nearest depth, ties to the lower triangle id."""
        pix_w = tiles_x * ts
        col = (item_tile % tiles_x)[:, None] * ts + pcol[None, :]
        row = (item_tile // tiles_x)[:, None] * ts + prow[None, :]
        dest = jnp.where(item_valid[:, None] & (tout >= 0), row * pix_w + col, tiles_y * ts * pix_w).reshape(-1)
        size = tiles_y * ts * pix_w + 1
        zbuf = jnp.full((size,), jnp.inf, table.dtype).at[dest].min(zout.reshape(-1))
        win = jnp.where(zout.reshape(-1) == zbuf[dest], tout.reshape(-1), jnp.iinfo(jnp.int32).max)
        ids = jnp.full((size,), jnp.iinfo(jnp.int32).max, jnp.int32).at[dest].min(win)[:-1]
        ids = jnp.where(ids == jnp.iinfo(jnp.int32).max, -1, ids)
        return ids.reshape(tiles_y * ts, pix_w)[:height, :width]

    img = jax.vmap(merge)(zout, tout, item_tile, item_valid)
    overflow = jnp.sum(counts - kept, axis=-1)
    return img, overflow


def _prepare(clip, triangles, height, width, cull_backfaces):
    """Triangle setup and screen bounds: (i0, i1, j0, j1, live) (B, F) and table (B, F, 12)."""
    clip = jax.lax.stop_gradient(clip)
    edges, zplane, det, corners = _setup(clip, triangles)
    i0, i1, j0, j1, nonempty = _screen_bounds(corners, height, width)
    table = jnp.concatenate([edges.reshape(edges.shape[:2] + (9,)), zplane], axis=-1)
    live = nonempty & (det != 0) & jnp.all(jnp.isfinite(table), axis=-1)
    if cull_backfaces:
        live &= det > 0
    return i0, i1, j0, j1, live, table


_prepare_jit = jax.jit(_prepare, static_argnums=(2, 3, 4))


def _visibility_impl(clip, triangles, height, width, config: RasterConfig):
    ts = config.tile_size
    tiles_x, tiles_y = -(-width // ts), -(-height // ts)
    num_tiles = tiles_x * tiles_y
    pairs = config.pairs_for(triangles.shape[0], num_tiles)
    i0, i1, j0, j1, live, table = _prepare(clip, triangles, height, width, config.cull_backfaces)

    def one_bin(i0, i1, j0, j1, live):
        return _bin(i0, i1, j0, j1, live, ts, tiles_x, num_tiles, pairs)

    tri, counts, total = jax.vmap(one_bin)(i0, i1, j0, j1, live)
    ids, tile_overflow = _raster_items(
        tri, counts, table, ts, tiles_x, tiles_y, height, width, config.tile_capacity, config.chunk, config.block
    )
    overflow = (tile_overflow + jnp.maximum(total - pairs, 0)).astype(jnp.int32)
    return ids, overflow, jnp.max(counts, axis=-1), total


@batch_parallel
def visibility(clip_vertices, triangles, resolution, config: RasterConfig = RasterConfig()):
    """Non-differentiable visibility pass.

    Args:
      clip_vertices: (B, V, 4) clip-space vertices.
      triangles: (F, 3) int vertex indices.
      resolution: (H, W).
      config: static :class:`RasterConfig`.
    Returns:
      triangle_id: (B, H, W) int32, -1 where empty.
      overflow: (B,) int32 pairs that did not fit (0 for a complete image).
    """
    h, w = _validate(clip_vertices, triangles, resolution)
    if triangles.shape[0] == 0:
        b = clip_vertices.shape[0]
        return jnp.full((b, h, w), -1, jnp.int32), jnp.zeros((b,), jnp.int32)
    return _visibility_jit(clip_vertices, jnp.asarray(triangles, jnp.int32), h, w, config)[:2]


_visibility_jit = jax.jit(_visibility_impl, static_argnums=(2, 3, 4))


def required_capacity(clip_vertices, triangles, resolution, config: RasterConfig = RasterConfig()):
    """Measures the capacities a scene needs (runs the binning eagerly).

    Returns:
      dict with ``tile_capacity`` (largest tile count over the batch) and
      ``pair_capacity`` (largest pair count), to pass to :class:`RasterConfig`.
    """
    h, w = _validate(clip_vertices, triangles, resolution)
    if triangles.shape[0] == 0:
        return {"tile_capacity": 0, "pair_capacity": 0}
    ts = config.tile_size
    tiles_x = -(-w // ts)
    prep = _prepare_jit(jnp.asarray(clip_vertices), jnp.asarray(triangles, jnp.int32), h, w, config.cull_backfaces)
    i0, i1, j0, j1, live = (np.asarray(a) for a in prep[:5])
    worst_tile, worst_pairs = 0, 0
    for b in range(i0.shape[0]):  # eager numpy: exact per-tile counts
        keep = live[b]
        tx0, tx1, ty0, ty1 = i0[b][keep] // ts, i1[b][keep] // ts, j0[b][keep] // ts, j1[b][keep] // ts
        counts = np.zeros((-(-h // ts) + 1, tiles_x + 1), np.int64)
        # 2D difference array: +1 on each triangle's tile rectangle.
        np.add.at(counts, (ty0, tx0), 1)
        np.add.at(counts, (ty0, tx1 + 1), -1)
        np.add.at(counts, (ty1 + 1, tx0), -1)
        np.add.at(counts, (ty1 + 1, tx1 + 1), 1)
        counts = counts.cumsum(0).cumsum(1)
        worst_tile = max(worst_tile, int(counts.max()))
        worst_pairs = max(worst_pairs, int(((tx1 - tx0 + 1) * (ty1 - ty0 + 1)).sum()))
    return {"tile_capacity": worst_tile, "pair_capacity": worst_pairs}


# ----------------------------------------------------------------------------
# Differentiable pass.


@batch_parallel
@jax.jit
def fragments_from_ids(clip_vertices, triangles, triangle_id, overflow=None) -> Fragments:
    """Differentiable barycentrics and depth for given per-pixel triangle ids.

    Args:
      clip_vertices: (B, V, 4).
      triangles: (F, 3).
      triangle_id: (B, H, W) int32, -1 for background.
      overflow: optional (B,) int32 to carry into the result.
    Returns:
      :class:`Fragments`; gradients flow to ``clip_vertices``.
    """
    b, h, w = triangle_id.shape
    xs, ys = camera.pixel_centers_ndc(h, w)
    dtype = clip_vertices.dtype
    px = jnp.asarray(xs, dtype)[None, None, :]
    py = jnp.asarray(ys, dtype)[None, :, None]
    covered = triangle_id >= 0
    tid = jnp.maximum(triangle_id, 0)
    vidx = jnp.asarray(triangles)[tid]  # (B, H, W, 3)
    v = jax.vmap(lambda c, i: c[i])(clip_vertices, vidx)  # (B, H, W, 3, 4)
    planes, _ = edge_planes(v)  # (B, H, W, 3, 3)
    # Sums over the 3 corners are written out: XLA:CPU reduces tiny minor axes slowly.
    e = [planes[..., i, 0] * px + planes[..., i, 1] * py + planes[..., i, 2] for i in range(3)]
    denom = e[0] + e[1] + e[2]
    denom = jnp.where(covered & (denom != 0), denom, 1.0)
    bary = [jnp.where(covered, ei / denom, 0.0) for ei in e]
    zc = bary[0] * v[..., 0, 2] + bary[1] * v[..., 1, 2] + bary[2] * v[..., 2, 2]
    wc = bary[0] * v[..., 0, 3] + bary[1] * v[..., 1, 3] + bary[2] * v[..., 2, 3]
    bary = jnp.stack(bary, -1)
    wsafe = jnp.where(covered & (wc != 0), wc, 1.0)
    ndc = jnp.where(covered, zc / wsafe, 1.0)
    view_depth = jnp.where(covered, wc, 0.0)
    if overflow is None:
        overflow = jnp.zeros((b,), jnp.int32)
    return Fragments(triangle_id, bary, ndc, view_depth, covered.astype(clip_vertices.dtype), overflow)


def rasterize(clip_vertices, triangles, resolution, config: RasterConfig = RasterConfig()) -> Fragments:
    """Rasterizes a batch of meshes sharing one topology.

    Args:
      clip_vertices: (B, V, 4) clip-space vertices (see :mod:`rendering.camera`);
        a (V, 4) array is treated as a batch of one.
      triangles: (F, 3) int vertex indices (counter-clockwise = front).
      resolution: (H, W) in pixels, any positive sizes.
      config: static :class:`RasterConfig` (tile size and capacities).
    Returns:
      :class:`Fragments`. When called outside ``jit`` an overflow raises
      :class:`RasterOverflowError`; inside ``jit`` check
      ``Fragments.overflow`` (e.g. with :func:`check_overflow` afterwards).
    """
    clip_vertices = jnp.asarray(clip_vertices)
    if clip_vertices.ndim == 2:
        clip_vertices = clip_vertices[None]
    ids, overflow = visibility(clip_vertices, triangles, resolution, config)
    if triangles.shape[0] == 0:
        zero = jnp.zeros(ids.shape, clip_vertices.dtype)
        return Fragments(ids, jnp.zeros(ids.shape + (3,), clip_vertices.dtype), zero + 1, zero, zero, overflow)
    frags = fragments_from_ids(clip_vertices, jnp.asarray(triangles, jnp.int32), ids, overflow)
    if not isinstance(overflow, jax.core.Tracer):
        check_overflow(frags, config)
    return frags


def check_overflow(fragments_or_overflow, config: RasterConfig | None = None) -> None:
    """Raises :class:`RasterOverflowError` if any image overflowed its bins.

    Call it on the result of a jitted render (outside ``jit``), e.g.
    ``check_overflow(frags)`` or ``check_overflow(frags.overflow)``.
    """
    ov = fragments_or_overflow.overflow if isinstance(fragments_or_overflow, Fragments) else fragments_or_overflow
    ov = np.asarray(ov)
    if ov.size and ov.max() > 0:
        cfg = f" (tile_size={config.tile_size}, tile_capacity={config.tile_capacity}, pair_capacity={config.pair_capacity})" if config else ""
        raise RasterOverflowError(
            f"rasterizer bins overflowed{cfg}: {int(ov.max())} (tile, triangle) pairs did not fit in "
            f"{int((ov > 0).sum())} of {ov.size} images, so those images would be incomplete. Raise "
            "RasterConfig(tile_capacity=..., pair_capacity=...); rendering.required_capacity(...) "
            "measures what this scene needs."
        )
