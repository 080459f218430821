"""Neck and shoulders: a clothed torso below the model's neck, so a synthetic crop ends
in shoulders and a collar like a photo, not in a cut bust.

The torso is a parametric surface around the neck (rest frame of the face model, cm):
a collar ring just outside the neck at ``collar`` height widens within 6 cm to the
shoulders (half-width ``shoulders``, depth ``depth``), then drops 30 cm as the chest.
Cross-sections are superellipses that go from round (collar) to boxy (chest).

Posing: the head turns on the neck, the torso follows by a fraction (35% of yaw, 25%
of pitch, 30% of roll) about a pivot at the base of the neck; the collar hides the
seam. Clothing colour: one or two random colours, with a pattern (plain, stripes,
knit, checks).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax.geometry import rotation

RINGS, SEGMENTS = 14, 48
PIVOT = (0.0, -10.0, -1.0)  # cm, rest frame: base of the neck
FOLLOW = (0.25, 0.35, 0.3)  # fraction of the head's (pitch, yaw, roll) the torso turns by


def grid() -> tuple[np.ndarray, np.ndarray]:
    """The static (u, v) parameters (V, 2) and triangles (F, 3) of the torso surface.

    u in [0, 2 pi) around (0 at +x, pi/2 at the front +z), v in [0, 1] collar to chest;
    triangles are wound counter-clockwise seen from outside.
    """
    u = np.linspace(0.0, 2 * math.pi, SEGMENTS, endpoint=False)
    v = np.linspace(0.0, 1.0, RINGS)
    uu, vv = np.meshgrid(u, v)  # (RINGS, SEGMENTS)
    idx = np.arange(RINGS * SEGMENTS).reshape(RINGS, SEGMENTS)
    a, b = idx[:-1], np.roll(idx[:-1], -1, axis=1)
    c, d = np.roll(idx[1:], -1, axis=1), idx[1:]
    # (a, c, d) and (a, b, c) are counter-clockwise seen from outside: their normals point
    # away from the torso's axis (tests/data/test_synthetic_realism.py checks it).
    tris = np.concatenate([np.stack([a, c, d], -1).reshape(-1, 3), np.stack([a, b, c], -1).reshape(-1, 3)])
    return np.stack([uu.ravel(), vv.ravel()], -1).astype(np.float32), tris.astype(np.int32)


def sample_torso(key: jax.Array, batch: int) -> dict[str, jnp.ndarray]:
    """Random torso shape and clothing: shoulder half-width U(15, 20) cm, depth U(9, 12),
    collar at rest height U(-12.5, -10.5) and 1.0-1.15 times the neck's size, two
    colours (linear, from uniform sRGB-like draws, often muted) and a pattern id."""
    k = jax.random.split(key, 9)
    muted = jax.random.uniform(k[0], (batch, 1), minval=0.2, maxval=1.0)
    grey = jax.random.uniform(k[1], (batch, 1), maxval=0.9)
    colour = lambda kk: (grey + (jax.random.uniform(kk, (batch, 3), maxval=0.9) - grey) * muted) ** 2.2
    first = colour(k[6])
    return {
        "torso_shoulders": jax.random.uniform(k[2], (batch,), minval=15.0, maxval=20.0),
        "torso_depth": jax.random.uniform(k[3], (batch,), minval=9.0, maxval=12.0),
        "torso_collar": jax.random.uniform(k[4], (batch,), minval=-12.5, maxval=-10.5),
        "torso_collar_scale": jax.random.uniform(k[5], (batch,), minval=1.0, maxval=1.15),
        "cloth_colour": first,
        # The pattern's second colour stays near the first (prints are rarely loud).
        "cloth_colour2": first * jax.random.uniform(k[7], (batch, 1), minval=0.4, maxval=1.3) * 0.7
        + 0.3 * colour(jax.random.fold_in(k[7], 1)),
        "cloth_pattern": jax.random.randint(k[8], (batch,), 0, 4),
    }


def torso_rest(uv: jnp.ndarray, torso: dict[str, jnp.ndarray]) -> jnp.ndarray:
    """(B, V, 3) torso vertices in the face model's rest frame."""
    u, v = uv[:, 0], uv[:, 1]
    s = jnp.clip(v / 0.4, 0.0, 1.0) ** 0.6
    s = s * s * (3.0 - 2.0 * s)
    scale = torso["torso_collar_scale"][:, None]
    half_w = 7.2 * scale + (torso["torso_shoulders"][:, None] - 7.2 * scale) * s
    half_d = 7.0 * scale + (torso["torso_depth"][:, None] - 7.0 * scale) * s
    p = 2.0 + 1.5 * s
    cu, su = jnp.cos(u), jnp.sin(u)
    x = half_w * jnp.sign(cu) * jnp.abs(cu) ** (2.0 / p)
    z = -0.8 + half_d * jnp.sign(su) * jnp.abs(su) ** (2.0 / p)
    y = (
        torso["torso_collar"][:, None] - 6.0 * jnp.clip(v / 0.4, 0.0, 1.0)
        - 30.0 * jnp.clip((v - 0.4) / 0.6, 0.0, 1.0) - 1.5 * s * cu**2
    )  # fmt: skip
    return jnp.stack([x, y, z], -1)


def pose_torso(rest: jnp.ndarray, angles: jnp.ndarray, head_rotation: jnp.ndarray, translation: jnp.ndarray) -> jnp.ndarray:
    """(B, V, 3) camera-space torso: turned by a fraction of the head's Euler ``angles``
    (B, 3) about the neck pivot, which itself moves with the head (``head_rotation``
    (B, 3, 3), ``translation`` (B, 3))."""
    r = rotation.euler_to_matrix(angles * jnp.asarray(FOLLOW))
    pivot = jnp.asarray(PIVOT)
    pivot_cam = jnp.einsum("bij,j->bi", head_rotation, pivot) + translation
    return jnp.einsum("bij,bvj->bvi", r, rest - pivot) + pivot_cam[:, None]


def cloth_albedo(coords: jnp.ndarray, torso: dict[str, jnp.ndarray]) -> jnp.ndarray:
    """(B, H, W, 3) clothing albedo at per-pixel (arc length around, height) in cm."""
    x, y = coords[..., 0], coords[..., 1]
    pattern = torso["cloth_pattern"][:, None, None]
    stripes = (jnp.sin(2 * math.pi * y / 2.5) > 0.3).astype(coords.dtype)
    checks = (jnp.sin(2 * math.pi * x / 3.0) * jnp.sin(2 * math.pi * y / 3.0) > 0).astype(coords.dtype)
    knit = 0.5 + 0.5 * jnp.sin(2 * math.pi * x / 0.45) * jnp.sin(2 * math.pi * y / 0.6)
    mix = jnp.select([pattern == 1, pattern == 2, pattern == 3], [stripes, 0.25 * knit, checks], 0.0)
    c1, c2 = torso["cloth_colour"][:, None, None], torso["cloth_colour2"][:, None, None]
    return c1 + (c2 - c1) * mix[..., None]
