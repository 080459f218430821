"""Second-order spherical-harmonic (SH) lighting: 9 coefficients per colour, 27 values.

Conventions (Ramamoorthi & Hanrahan, "An Efficient Representation for Irradiance
Environment Maps", SIGGRAPH 2001):

* ``sh_basis`` is the real, orthonormal SH basis Y_lm on the unit sphere, ordered
  (l, m) = (0,0), (1,-1), (1,0), (1,1), (2,-2), (2,-1), (2,0), (2,1), (2,2)::

      Y00  = 1/(2 sqrt(pi))                     = 0.282095
      Y1-1 = sqrt(3)/(2 sqrt(pi)) * y           = 0.488603 y
      Y10  = sqrt(3)/(2 sqrt(pi)) * z
      Y11  = sqrt(3)/(2 sqrt(pi)) * x
      Y2-2 = sqrt(15)/(2 sqrt(pi)) * x y        = 1.092548 x y
      Y2-1 = sqrt(15)/(2 sqrt(pi)) * y z
      Y20  = sqrt(5)/(4 sqrt(pi)) * (3 z^2 - 1) = 0.315392 (3 z^2 - 1)
      Y21  = sqrt(15)/(2 sqrt(pi)) * x z
      Y22  = sqrt(15)/(4 sqrt(pi)) * (x^2 - y^2) = 0.546274 (x^2 - y^2)

* The SH coefficients L_lm describe incoming *radiance* L(w) = sum L_lm Y_lm(w).
  The irradiance at a surface of normal n is E(n) = sum A_l L_lm Y_lm(n) with the
  clamped-cosine convolution weights A_0 = pi, A_1 = 2 pi / 3, A_2 = pi / 4.
* ``sh_shading`` returns E(n) / pi, the factor that multiplies albedo for a
  Lambertian surface (outgoing radiance = albedo * E / pi). A constant environment
  of radiance 1 (L_00 = 2 sqrt(pi)) therefore shades to exactly 1.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from rendering.normals import safe_normalize

_C0 = 1.0 / (2.0 * math.sqrt(math.pi))
_C1 = math.sqrt(3.0) / (2.0 * math.sqrt(math.pi))
_C2 = math.sqrt(15.0) / (2.0 * math.sqrt(math.pi))
_C20 = math.sqrt(5.0) / (4.0 * math.sqrt(math.pi))
_C22 = math.sqrt(15.0) / (4.0 * math.sqrt(math.pi))

# A_l / pi for the 9 coefficients, in basis order.
LAMBERT_BAND_WEIGHTS = (1.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 0.25, 0.25, 0.25, 0.25, 0.25)

# Radiance L_00 of a uniform white environment: shades to exactly 1.
AMBIENT_L00 = 2.0 * math.sqrt(math.pi)


def sh_basis(normals: jnp.ndarray) -> jnp.ndarray:
    """Real orthonormal SH basis up to l = 2.

    Args:
      normals: (..., 3) unit vectors (x, y, z).
    Returns:
      (..., 9) basis values Y_lm(n) in the order documented above.
    """
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    return jnp.stack(
        [
            jnp.full_like(x, _C0),
            _C1 * y,
            _C1 * z,
            _C1 * x,
            _C2 * x * y,
            _C2 * y * z,
            _C20 * (3.0 * z * z - 1.0),
            _C2 * x * z,
            _C22 * (x * x - y * y),
        ],
        axis=-1,
    )


def sh_shading(normals: jnp.ndarray, sh_coeffs: jnp.ndarray) -> jnp.ndarray:
    """Lambertian shading E(n)/pi under SH radiance.

    Args:
      normals: (..., 3) unit normals.
      sh_coeffs: (..., 9, 3) radiance coefficients L_lm per colour channel,
        broadcastable against ``normals``' leading dimensions.
    Returns:
      (..., 3) shading factor; multiply by albedo for outgoing radiance.
    """
    weighted = sh_basis(normals) * jnp.asarray(LAMBERT_BAND_WEIGHTS, normals.dtype)
    return jnp.einsum("...k,...kc->...c", weighted, sh_coeffs)


def ambient_sh(intensity: float | jnp.ndarray = 1.0, dtype=jnp.float32) -> jnp.ndarray:
    """(9, 3) coefficients of a uniform environment that shades to ``intensity``."""
    coeffs = jnp.zeros((9, 3), dtype)
    return coeffs.at[0].set(AMBIENT_L00 * jnp.asarray(intensity, dtype))


def directional_sh(direction: jnp.ndarray) -> jnp.ndarray:
    """(..., 9) SH radiance coefficients of a clamped-cosine lobe around ``direction``.

    The projection of max(0, d . w) onto Y_lm is A_l Y_lm(d) / pi with A_0 = pi,
    A_1 = 2 pi / 3, A_2 = pi / 4 (Ramamoorthi & Hanrahan 2001); scaled so that the
    lobe's peak radiance is about 1.
    """
    weights = jnp.array([1.0, 2 / 3, 2 / 3, 2 / 3, 0.25, 0.25, 0.25, 0.25, 0.25])
    return sh_basis(direction) * weights * (2.0 * math.sqrt(math.pi))


LOBE_BAND1 = 2.0 / 3.0 * 2.0 * math.sqrt(math.pi) * math.sqrt(3.0) / (2.0 * math.sqrt(math.pi))  # = 2 / sqrt(3)


def dominant_light(sh: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Direction (..., 3) and per-channel strength (..., 3) of the SH's directional part.

    Band 1 of SH radiance is a vector field: (L_1-1, L_10, L_11) is proportional to
    (y, z, x) of the mean light direction. For ``directional_sh(d) * strength`` it is
    exactly ``LOBE_BAND1 * strength * d``, so both are recovered exactly for the sampled
    lights; for any other SH this is the usual dominant-direction estimate. Where the SH has no
    directional part the direction is 0 and the strength 0.

    Args:
      sh: (..., 9, 3) SH radiance.
    """
    band1 = sh[..., 1:4, :]  # (..., (y, z, x), 3)
    lum = jnp.einsum("...kc,c->...k", band1, jnp.array([0.2126, 0.7152, 0.0722], sh.dtype))
    d = jnp.stack([lum[..., 2], lum[..., 0], lum[..., 1]], -1)
    d = safe_normalize(d)  # a finite gradient where the SH has no directional part
    along = jnp.stack([d[..., 1], d[..., 2], d[..., 0]], -1)  # d in band order (y, z, x)
    strength = jnp.einsum("...kc,...k->...c", band1, along) / LOBE_BAND1
    return d, jnp.maximum(strength, 0.0)
