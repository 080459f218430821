"""The Blinn-Phong specular term against closed forms, a quadrature and finite differences."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads
from scipy import integrate

import rendering


def _unit(theta: float, phi: float = 0.0) -> np.ndarray:
    return np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)])


def test_lobe_matches_the_closed_form():
    n = np.array([0.0, 0.0, 1.0])
    for s in (1.0, 10.0, 60.0):
        for theta in (0.0, 0.4, 1.2):
            # Mirror configuration: h = n, so f = (s + 8) / (8 pi) cos(theta).
            l, v = _unit(theta), _unit(theta, math.pi)
            f = float(rendering.specular_blinn_phong(jnp.asarray(n), jnp.asarray(v), jnp.asarray(l), s))
            np.testing.assert_allclose(f, (s + 8) / (8 * math.pi) * math.cos(theta), rtol=1e-5)
            # View = light at angle a: h = l, so f = (s + 8) / (8 pi) cos(a)^s cos(a).
            f = float(rendering.specular_blinn_phong(jnp.asarray(n), jnp.asarray(l), jnp.asarray(l), s))
            np.testing.assert_allclose(f, (s + 8) / (8 * math.pi) * math.cos(theta) ** (s + 1), rtol=1e-4, atol=1e-12)
    # A light behind the surface contributes nothing.
    assert float(rendering.specular_blinn_phong(jnp.asarray(n), jnp.asarray(n), jnp.asarray(_unit(2.0)), 10.0)) == 0.0


def test_hemisphere_integral_matches_quadrature():
    """With l = n, the integral of f over view directions has the closed form
    (s + 8) (1 - cos(pi/4)^(s + 2)) / (s + 2) (h = n . v halves the angle); the
    renderer's values, summed on a quadrature grid, must reproduce it."""
    n = jnp.array([0.0, 0.0, 1.0])
    for s in (4.0, 32.0):
        def integrand(theta, phi):
            v = jnp.asarray(_unit(theta, phi))
            return float(rendering.specular_blinn_phong(n, v, n, s)) * math.sin(theta)

        thetas = np.linspace(0, math.pi / 2, 401)
        values = np.array([integrand(t, 0.0) for t in thetas])  # symmetric in phi
        numeric = 2 * math.pi * integrate.simpson(values, x=thetas)
        closed = (s + 8) * (1 - math.cos(math.pi / 4) ** (s + 2)) / (s + 2)
        np.testing.assert_allclose(numeric, closed, rtol=1e-4)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    n = jnp.asarray(rendering.safe_normalize(jnp.asarray(rng.normal(size=(5, 3)) * 0.2 + [0, 0, 1])))
    v = jnp.asarray(rendering.safe_normalize(jnp.asarray(rng.normal(size=(5, 3)) * 0.3 + [0, 0, 1])))
    l = jnp.asarray(rendering.safe_normalize(jnp.asarray(rng.normal(size=(5, 3)) * 0.3 + [0.3, 0.3, 1])))
    f = lambda n_, v_, l_, s_: rendering.specular_blinn_phong(n_, v_, l_, s_)
    check_grads(f, (n, v, l, jnp.full((5,), 12.0)), order=1, modes=("rev",), eps=1e-3, atol=2e-3, rtol=2e-3)
    g = jax.grad(lambda x: jnp.sum(f(x, v, l, 12.0)))(n)
    assert np.isfinite(np.asarray(g)).all()
