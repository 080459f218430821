"""Random pose, lighting and backgrounds for synthetic images.

Ranges (documented defaults of ``SceneDistribution``):
* head pose: yaw U(-55, 55) deg, pitch U(-20, 20), roll U(-12, 12) — the range where
  the 68 landmarks stay mostly visible, which covers typical in-the-wild photos;
* distance 120..150 cm under the 12-degree fitting camera, lateral jitter +-2 cm;
* SH radiance: a white ambient term L00 = 2 sqrt(pi) * U(0.35, 0.85) plus one random
  directional lobe (bands 1 and 2 of a clamped-cosine light from a random upper-front
  direction, strength U(0.3, 1.6)), tinted by a colour temperature jitter of +-8%.
  (The first generator used U(0.6, 1.0) and U(0, 0.9): its faces were flatter than
  photographs, luminance sd over the face 0.034 against 0.171 in the packaged photos);
* backgrounds (``sample_backgrounds``, the first generator's): smooth colour gradients,
  band-limited noise and stripes; the realistic generator draws real photographs
  instead (``backgrounds``).

The directional lobe is ``rendering.directional_sh``; ``rendering.dominant_light`` recovers
it from any SH (its band 1) for the specular term.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from rendering.sh import AMBIENT_L00, directional_sh


@dataclasses.dataclass(frozen=True)
class SceneDistribution:
    """Ranges of the random scene parameters (degrees, centimetres)."""

    max_yaw: float = 55.0
    max_pitch: float = 20.0
    max_roll: float = 12.0
    min_distance: float = 120.0
    max_distance: float = 150.0
    lateral_jitter: float = 2.0
    min_ambient: float = 0.35
    max_ambient: float = 0.85
    min_directional: float = 0.3
    max_directional: float = 1.6
    tint: float = 0.08


def sample_pose(key: jax.Array, batch: int, dist: SceneDistribution) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(batch, 3) Euler angles (pitch, yaw, roll) in radians and (batch, 3) translation offsets.

    The translation offset is added to the translation that centres the face; z is
    minus the distance.
    """
    k1, k2, k3 = jax.random.split(key, 3)
    lim = jnp.deg2rad(jnp.array([dist.max_pitch, dist.max_yaw, dist.max_roll]))
    angles = jax.random.uniform(k1, (batch, 3), minval=-1.0, maxval=1.0) * lim
    xy = jax.random.uniform(k2, (batch, 2), minval=-1.0, maxval=1.0) * dist.lateral_jitter
    z = -jax.random.uniform(k3, (batch, 1), minval=dist.min_distance, maxval=dist.max_distance)
    return angles, jnp.concatenate([xy, z], axis=-1)


def sample_lighting(key: jax.Array, batch: int, dist: SceneDistribution) -> jnp.ndarray:
    """(batch, 9, 3) SH radiance: ambient plus one directional lobe, slightly tinted."""
    k = jax.random.split(key, 5)
    ambient = jax.random.uniform(k[0], (batch,), minval=dist.min_ambient, maxval=dist.max_ambient) * AMBIENT_L00
    # Light from the upper-front hemisphere (z > 0 faces the camera, y up).
    d = jax.random.normal(k[1], (batch, 3)) * jnp.array([0.8, 0.5, 0.4]) + jnp.array([0.0, 0.4, 1.0])
    d = d / jnp.linalg.norm(d, axis=-1, keepdims=True)
    strength = jax.random.uniform(k[2], (batch, 1), minval=dist.min_directional, maxval=dist.max_directional)
    coeffs = directional_sh(d) * strength
    coeffs = coeffs.at[:, 0].add(ambient)
    tint = 1.0 + dist.tint * jax.random.uniform(k[3], (batch, 1, 3), minval=-1.0, maxval=1.0)
    return coeffs[..., None] * tint


def sample_backgrounds(key: jax.Array, batch: int, size: int) -> jnp.ndarray:
    """(batch, size, size, 3) linear-RGB backgrounds: gradients, noise or stripes."""
    k = jax.random.split(key, 6)
    yy, xx = jnp.meshgrid(jnp.linspace(0, 1, size), jnp.linspace(0, 1, size), indexing="ij")
    c0 = jax.random.uniform(k[0], (batch, 1, 1, 3), maxval=0.8)
    c1 = jax.random.uniform(k[1], (batch, 1, 1, 3), maxval=0.8)
    angle = jax.random.uniform(k[2], (batch, 1, 1), maxval=2 * math.pi)
    t = (jnp.cos(angle) * xx + jnp.sin(angle) * yy)[..., None]
    gradient = c0 + (c1 - c0) * jnp.clip(t, 0, 1)
    coarse = jax.random.uniform(k[3], (batch, 8, 8, 3), maxval=0.8)
    noise = jax.image.resize(coarse, (batch, size, size, 3), method="cubic")
    freq = jax.random.uniform(k[4], (batch, 1, 1, 1), minval=4.0, maxval=20.0)
    stripes = c0 + (c1 - c0) * (0.5 + 0.5 * jnp.sin(2 * math.pi * freq * t))
    kind = jax.random.randint(k[5], (batch, 1, 1, 1), 0, 3)
    return jnp.clip(jnp.where(kind == 0, gradient, jnp.where(kind == 1, noise, stripes)), 0.0, 1.0)
