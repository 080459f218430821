"""The loss library against hand-computed values and finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

from hiface_jax import losses


def test_landmark_loss_analytic():
    target = jnp.zeros((2, 68, 2))
    pred = target.at[:, :, 0].set(3.0).at[:, :, 1].set(4.0)  # every landmark 5 px off
    np.testing.assert_allclose(losses.landmark_loss(pred, target, jnp.ones(68), 100.0), 25.0 / 100.0**2, rtol=1e-6)
    # Zero weight switches landmarks off: only landmark 0 is wrong and it is ignored.
    pred = target.at[:, 0].set(10.0)
    w = jnp.ones(68).at[0].set(0.0)
    assert float(losses.landmark_loss(pred, target, w, 100.0)) == 0.0


def test_closure_loss_sees_a_blink_and_ignores_translation():
    rng = np.random.default_rng(0)
    open_eyes = jnp.asarray(rng.uniform(0, 200, size=(68, 2)), jnp.float32)
    assert float(losses.closure_loss(open_eyes + 7.0, open_eyes, losses.EYE_PAIRS, 200.0)) < 1e-10
    closed = open_eyes
    for a, b in losses.EYE_PAIRS:  # upper lid onto lower lid
        closed = closed.at[a].set(open_eyes[b])
    gaps = np.stack([open_eyes[a] - open_eyes[b] for a, b in losses.EYE_PAIRS])
    want = np.mean(np.sum(gaps**2, -1)) / 200.0**2
    np.testing.assert_allclose(losses.closure_loss(closed, open_eyes, losses.EYE_PAIRS, 200.0), want, rtol=1e-5)


def _eyes(gap: float, roll_degrees: float) -> jnp.ndarray:
    """(68, 2) iBUG points: two 20 px wide eyes whose lid pairs sit ``gap`` eye widths apart,
    the face rolled by ``roll_degrees`` about (100, 100)."""
    points = np.zeros((68, 2))
    for outer_x, corners, pairs in ((60, (36, 39), ((37, 41), (38, 40))), (120, (42, 45), ((43, 47), (44, 46)))):
        points[corners[0]], points[corners[1]] = (outer_x, 100), (outer_x + 20, 100)
        for k, (upper, lower) in enumerate(pairs):
            points[upper], points[lower] = (outer_x + 7 + 6 * k, 100 - 10 * gap), (outer_x + 7 + 6 * k, 100 + 10 * gap)
    t = np.radians(roll_degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return jnp.asarray((points - 100) @ rot.T + 100, jnp.float32)


def test_lid_gaps_in_eye_widths_whatever_the_roll_and_the_shift_closes_them():
    for roll in (0.0, 25.0, -40.0):
        np.testing.assert_allclose(losses.lid_gaps(_eyes(0.3, roll)), 0.3, atol=1e-5)
        # Measured in another point set's frame: the gaps in pixels over that set's widths.
        np.testing.assert_allclose(losses.lid_gaps(_eyes(0.3, roll), 2 * _eyes(0.3, roll) - 100), 0.15, atol=1e-5)
    # A detector that reads eyes 0.05 widths more open: the shifted target asks for the true gap.
    detected, true = _eyes(0.35, 30.0), _eyes(0.30, 30.0)
    bias = jnp.full(4, 0.05)
    assert float(losses.closure_loss(true, detected, losses.EYE_PAIRS, 200.0)) > 1e-5
    shift = losses.eye_gap_shift(detected, bias)
    assert float(losses.closure_loss(true, detected, losses.EYE_PAIRS, 200.0, shift)) < 1e-10


def test_photometric_loss_analytic_and_masked():
    image = jnp.zeros((1, 4, 4, 3))
    rendered = image.at[..., :].set(jnp.array([0.3, 0.4, 0.0]))  # |diff| = 0.5 everywhere
    mask = jnp.zeros((1, 4, 4)).at[:, :2].set(1.0)
    np.testing.assert_allclose(losses.photometric_loss(rendered, image, mask, eps=0.0), 0.5, rtol=1e-6)
    # Errors outside the mask do not count.
    rendered = rendered.at[:, 2:].set(10.0)
    np.testing.assert_allclose(losses.photometric_loss(rendered, image, mask, eps=0.0), 0.5, rtol=1e-6)


def test_priors_analytic():
    np.testing.assert_allclose(losses.gaussian_prior(jnp.full((3, 4), 2.0)), 0.5 * 16.0)
    np.testing.assert_allclose(losses.expression_prior(jnp.array([[0.5, 0.25]])), 0.75)
    np.testing.assert_allclose(
        losses.expression_prior(jnp.array([[-0.1, 1.2]])), 0.1 + 10 * 0.1 + 1.2 + 10 * 0.2, rtol=1e-6
    )
    white = jnp.ones((9, 3))
    assert float(losses.lighting_prior(white)) == 0.0
    tinted = white.at[0].set(jnp.array([1.3, 1.0, 0.7]))
    np.testing.assert_allclose(losses.lighting_prior(tinted), 0.09 + 0.0 + 0.09, rtol=1e-5)


def test_smoothness_on_a_ramp():
    # A ramp rising by 0.1 per texel in x only: mean dx^2 = 0.01, dy = 0.
    ramp = jnp.broadcast_to((0.1 * jnp.arange(8.0))[None, :, None], (8, 8, 1))
    np.testing.assert_allclose(losses.smoothness_loss(ramp), 0.01, rtol=1e-5)
    mask = jnp.ones((8, 8)).at[:, 4:].set(0.0)
    np.testing.assert_allclose(losses.smoothness_loss(ramp, mask), 0.01, rtol=1e-5)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    target = jnp.asarray(rng.uniform(0, 64, (2, 68, 2)))
    image = jnp.asarray(rng.uniform(size=(2, 5, 5, 3)))
    mask = jnp.asarray(rng.uniform(size=(2, 5, 5)))
    with jax.enable_x64():
        target, image, mask = (x.astype(jnp.float64) for x in (target, image, mask))
        pred = target + jnp.asarray(rng.normal(size=target.shape))
        check_grads(lambda p: losses.landmark_loss(p, target, jnp.ones(68), 64.0), (pred,), order=1, modes="rev")
        check_grads(lambda p: losses.closure_loss(p, target, losses.LIP_PAIRS, 64.0), (pred,), order=1, modes="rev")
        rendered = image + 0.1 * jnp.asarray(rng.normal(size=image.shape))
        check_grads(lambda r: losses.photometric_loss(r, image, mask), (rendered,), order=1, modes="rev")
        check_grads(losses.smoothness_loss, (image,), order=1, modes="rev")
        check_grads(losses.lighting_prior, (jnp.asarray(rng.normal(size=(2, 9, 3))),), order=1, modes="rev")


def test_losses_vmap_and_jit():
    pred = jnp.zeros((4, 68, 2))
    per_sample = jax.vmap(lambda p: losses.landmark_loss(p[None], p[None] + 1.0, jnp.ones(68), 10.0))(pred)
    np.testing.assert_allclose(per_sample, 2.0 / 100.0)
    assert (
        jax.jit(losses.photometric_loss)(jnp.zeros((1, 2, 2, 3)), jnp.zeros((1, 2, 2, 3)), jnp.ones((1, 2, 2))) < 1e-2
    )
