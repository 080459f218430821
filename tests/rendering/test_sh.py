"""Spherical-harmonic lighting against SciPy's SH and against the irradiance integral."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

import rendering
from rendering import sh

LM = [(0, 0), (1, -1), (1, 0), (1, 1), (2, -2), (2, -1), (2, 0), (2, 1), (2, 2)]


def real_sh_scipy(l: int, m: int, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Real orthonormal SH from SciPy's complex ones (theta polar from +z, phi azimuth from +x)."""
    y = special.sph_harm_y(l, abs(m), theta, phi)
    if m == 0:
        return y.real
    # Without the Condon-Shortley phase, matching the graphics convention.
    sign = (-1) ** m
    return np.sqrt(2) * sign * (y.real if m > 0 else y.imag)


def random_directions(n: int, seed: int = 0) -> np.ndarray:
    d = np.random.default_rng(seed).normal(size=(n, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def test_basis_matches_scipy():
    n = random_directions(500)
    theta = np.arccos(np.clip(n[:, 2], -1, 1))
    phi = np.arctan2(n[:, 1], n[:, 0])
    ours = np.asarray(sh.sh_basis(jnp.asarray(n, jnp.float32)))
    for k, (l, m) in enumerate(LM):
        np.testing.assert_allclose(ours[:, k], real_sh_scipy(l, m, theta, phi), atol=1e-5, err_msg=f"Y_{l}{m}")


def _sphere_quadrature(n_theta: int = 400, n_phi: int = 800):
    theta = (np.arange(n_theta) + 0.5) * np.pi / n_theta
    phi = (np.arange(n_phi) + 0.5) * 2 * np.pi / n_phi
    t, p = np.meshgrid(theta, phi, indexing="ij")
    w = np.sin(t) * (np.pi / n_theta) * (2 * np.pi / n_phi)
    dirs = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1)
    return dirs.reshape(-1, 3), w.reshape(-1)


def test_shading_equals_cosine_weighted_integral_of_radiance():
    """E(n)/pi = (1/pi) * integral of L(w) max(0, n.w) dw, by brute-force quadrature."""
    rng = np.random.default_rng(3)
    coeffs = rng.normal(size=(9, 3))
    dirs, w = _sphere_quadrature()
    radiance = np.asarray(sh.sh_basis(jnp.asarray(dirs))) @ coeffs  # (N, 3)
    for n in random_directions(5, seed=4):
        cos = np.maximum(dirs @ n, 0.0)
        want = (radiance * (cos * w)[:, None]).sum(0) / np.pi
        got = np.asarray(sh.sh_shading(jnp.asarray(n, jnp.float32), jnp.asarray(coeffs, jnp.float32)))
        np.testing.assert_allclose(got, want, atol=2e-3)


def test_basis_is_orthonormal_on_the_sphere():
    dirs, w = _sphere_quadrature(200, 400)
    y = np.asarray(sh.sh_basis(jnp.asarray(dirs)), np.float64)
    gram = (y * w[:, None]).T @ y
    np.testing.assert_allclose(gram, np.eye(9), atol=1e-3)


def test_ambient_environment_shades_to_one():
    n = jnp.asarray(random_directions(10), jnp.float32)
    np.testing.assert_allclose(sh.sh_shading(n, sh.ambient_sh(1.0)), np.ones((10, 3)), atol=1e-6)


def test_dominant_light_recovers_the_sampled_lobe():
    """``dominant_light`` inverts ``directional_sh`` (any strength, ambient added); an SH with
    no directional part has a zero light and a finite gradient (a fit starts from ambient light)."""
    d = jnp.asarray(np.array([[0.3, 0.5, 0.8], [-0.6, 0.2, 0.77]]))
    d = d / jnp.linalg.norm(d, axis=-1, keepdims=True)
    strength = jnp.array([[0.5, 0.4, 0.3], [0.2, 0.2, 0.25]])
    sh = rendering.directional_sh(d)[..., None] * strength[:, None]
    sh = sh.at[:, 0].add(1.7)
    got_d, got_s = rendering.dominant_light(sh)
    np.testing.assert_allclose(got_d, d, atol=1e-5)
    np.testing.assert_allclose(got_s, strength, atol=1e-5)
    grad = jax.grad(lambda c: jnp.sum(rendering.dominant_light(c)[1]))(jnp.zeros((9, 3)).at[0].set(1.0))
    assert np.isfinite(np.asarray(grad)).all()
