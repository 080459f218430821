"""Texture sampling: bilinear, with a mip pyramid for minification (trilinear).

Conventions: ``uv`` in [0, 1]; ``u`` runs left to right, ``v`` bottom to top
(OBJ / OpenGL), so ``v = 1`` is row 0 of the texture image. Addressing clamps
to the edge. Textures are (Ht, Wt, C) shared by the batch or (B, Ht, Wt, C).

The pyramid is packed into one flat array so that a lookup gathers from two
levels only, whatever their count. Level ``l+1`` is the 2x2 box filter of
level ``l`` (edge-padded when odd), down to 1x1. Everything is
differentiable: gradients flow to the texture (all levels, since they are
averages of level 0) and to ``uv``.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from rendering._sharding import batch_parallel


@functools.partial(jax.tree_util.register_dataclass, data_fields=["texels"], meta_fields=["shapes"])
@dataclasses.dataclass(frozen=True)
class MipPyramid:
    """A packed mip pyramid (a pytree; ``shapes`` is static, so it passes through ``jit``).

    Attributes:
      texels: (N, C) or (B, N, C) all levels, row-major, concatenated.
      shapes: static tuple of (height, width) per level.
    """

    texels: jnp.ndarray
    shapes: tuple


def _downsample(img: jnp.ndarray) -> jnp.ndarray:
    """2x2 box filter of (..., H, W, C); odd sizes are edge-padded first."""
    h, w = img.shape[-3], img.shape[-2]
    pad = [(0, 0)] * (img.ndim - 3) + [(0, h % 2), (0, w % 2), (0, 0)]
    if h % 2 or w % 2:
        img = jnp.pad(img, pad, mode="edge")
    h2, w2 = img.shape[-3] // 2, img.shape[-2] // 2
    img = img.reshape(img.shape[:-3] + (h2, 2, w2, 2, img.shape[-1]))
    return img.mean(axis=(-4, -2))


def mipmap(texture: jnp.ndarray, max_levels: int | None = None) -> MipPyramid:
    """Builds a packed :class:`MipPyramid` from (Ht, Wt, C) or (B, Ht, Wt, C)."""
    texture = jnp.asarray(texture)
    if texture.ndim not in (3, 4):
        raise ValueError(f"texture must be (Ht, Wt, C) or (B, Ht, Wt, C), got shape {tuple(texture.shape)}")
    texels, shapes = _mipmap(texture, max_levels)
    return MipPyramid(texels, shapes)


@functools.partial(jax.jit, static_argnums=1)
def _mipmap_texels(texture, max_levels):
    return _build(texture, max_levels)[0]


def _mipmap(texture, max_levels):
    shapes = _build(jax.ShapeDtypeStruct(texture.shape, texture.dtype), max_levels, shapes_only=True)
    return _mipmap_texels(texture, max_levels), shapes


def _build(texture, max_levels, shapes_only=False):
    if shapes_only:
        h, w = texture.shape[-3], texture.shape[-2]
        shapes = [(h, w)]
        while shapes[-1] != (1, 1) and (max_levels is None or len(shapes) < max_levels):
            h, w = -(-shapes[-1][0] // 2), -(-shapes[-1][1] // 2)
            shapes.append((h, w))
        return tuple(shapes)
    levels = [texture]
    while levels[-1].shape[-3] > 1 or levels[-1].shape[-2] > 1:
        if max_levels is not None and len(levels) >= max_levels:
            break
        levels.append(_downsample(levels[-1]))
    shapes = tuple((int(l.shape[-3]), int(l.shape[-2])) for l in levels)
    flat = jnp.concatenate([l.reshape(l.shape[:-3] + (-1, l.shape[-1])) for l in levels], axis=-2)
    return flat, shapes


def _bilinear_level(texels, shapes, level, uv):
    """Bilinear lookup at integer ``level`` (per pixel).

    Args:
      texels: (N, C); shapes: static; level: (...,) int32; uv: (..., 2).
    Returns: (..., C).
    """
    offsets = np.concatenate([[0], np.cumsum([h * w for h, w in shapes])[:-1]]).astype(np.int32)
    hs = jnp.asarray(np.array([h for h, _ in shapes], np.int32))[level]
    ws = jnp.asarray(np.array([w for _, w in shapes], np.int32))[level]
    off = jnp.asarray(offsets)[level]
    x = uv[..., 0] * ws - 0.5
    y = (1.0 - uv[..., 1]) * hs - 0.5
    x0 = jnp.floor(x)
    y0 = jnp.floor(y)
    fx = x - x0
    fy = y - y0
    x0 = x0.astype(jnp.int32)
    y0 = y0.astype(jnp.int32)

    def index(yy, xx):
        return off + jnp.clip(yy, 0, hs - 1) * ws + jnp.clip(xx, 0, ws - 1)

    idx = [index(y0, x0), index(y0, x0 + 1), index(y0 + 1, x0), index(y0 + 1, x0 + 1)]
    weights = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]
    channels = texels.shape[-1]
    if channels > 16:
        return sum(w[..., None] * texels[i] for w, i in zip(weights, idx))
    # Channel-planar gathers: XLA:CPU otherwise re-gathers each (..., C) tap per channel.
    return jnp.stack([sum(w * texels[:, c][i] for w, i in zip(weights, idx)) for c in range(channels)], -1)


def _weighted_sum(weights, values):
    """sum_k weights[k][..., None] * values[k], channel by channel for few channels.

    Broadcasting a per-pixel weight over channels makes its gradient a reduction
    over a tiny minor axis, which XLA:CPU runs very slowly; per-channel products
    turn it into plain adds.
    """
    channels = values[0].shape[-1]
    if channels > 16:
        return sum(w[..., None] * v for w, v in zip(weights, values))
    return jnp.stack([sum(w * v[..., c] for w, v in zip(weights, values)) for c in range(channels)], -1)


@batch_parallel
def sample(
    texture: jnp.ndarray | MipPyramid,
    uv: jnp.ndarray,
    uv_derivatives: jnp.ndarray | None = None,
    lod_bias: float = 0.0,
) -> jnp.ndarray:
    """Samples a texture at per-pixel ``uv``.

    Args:
      texture: (Ht, Wt, C), (B, Ht, Wt, C), or a :class:`MipPyramid` (build it
        once with :func:`mipmap` when the texture is reused).
      uv: (B, H, W, 2).
      uv_derivatives: optional (B, H, W, 2, 2) d(u, v)/d(column, row) from
        :func:`rendering.interpolate_derivatives`. With it, the mip level is
        ``log2`` of the longer screen-space footprint in texels (isotropic
        trilinear filtering); without it, plain bilinear on level 0.
      lod_bias: added to the level (positive blurs).
    Returns:
      (B, H, W, C).
    """
    if uv.ndim != 4 or uv.shape[-1] != 2:
        raise ValueError(f"uv must be (B, H, W, 2), got shape {tuple(uv.shape)}")
    if isinstance(texture, MipPyramid):
        pyr = texture
    else:
        texture = jnp.asarray(texture)
        if texture.ndim not in (3, 4):
            raise ValueError(f"texture must be (Ht, Wt, C) or (B, Ht, Wt, C), got shape {tuple(texture.shape)}")
        pyr = mipmap(texture, max_levels=None if uv_derivatives is not None else 1)
    return _sample(pyr.texels, pyr.shapes, uv, uv_derivatives, lod_bias)


@functools.partial(jax.jit, static_argnums=1)
def _sample(texels, shapes, uv, uv_derivatives, lod_bias):
    pyr = MipPyramid(texels, shapes)
    th, tw = pyr.shapes[0]
    if uv_derivatives is None:
        level = jnp.zeros(uv.shape[:-1], jnp.int32)
        lo = hi = level
        frac = jnp.zeros(uv.shape[:-1], uv.dtype)
    else:
        d = uv_derivatives * jnp.asarray([tw, th], uv.dtype)[:, None]  # texels per pixel
        footprint = jnp.maximum(d[..., 0, 0] ** 2 + d[..., 1, 0] ** 2, d[..., 0, 1] ** 2 + d[..., 1, 1] ** 2)
        lod = 0.5 * jnp.log2(jnp.maximum(footprint, 1e-12)) + lod_bias
        lod = jnp.clip(lod, 0.0, len(pyr.shapes) - 1)
        lo = jnp.floor(jax.lax.stop_gradient(lod)).astype(jnp.int32)
        hi = jnp.minimum(lo + 1, len(pyr.shapes) - 1)
        frac = lod - lo

    def one(texels, uv_b, lo_b, hi_b, frac_b):
        a = _bilinear_level(texels, pyr.shapes, lo_b, uv_b)
        if uv_derivatives is None:
            return a
        b = _bilinear_level(texels, pyr.shapes, hi_b, uv_b)
        return _weighted_sum([1 - frac_b, frac_b], [a, b])

    if pyr.texels.ndim == 2:
        return jax.vmap(lambda u, l, h, f: one(pyr.texels, u, l, h, f))(uv, lo, hi, frac)
    return jax.vmap(one)(pyr.texels, uv, lo, hi, frac)
