"""The objective: analytic values of the new terms, perfect predictions, masking, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hiface_jax.face import albedo as albedo_lib
from hiface_jax.model import batches, config, hiface, objective

SUPERVISED = ("coefficients", "vertex", "landmark_synthetic", "static_detail", "dynamic_detail")


def test_term_names_match_the_loss_weights():
    assert set(config.TERMS) == set(config.loss_config("tiny").keys())
    weights = config.loss_config("tiny")
    del weights["vertex"]
    with pytest.raises(KeyError, match="no weight for \\['vertex'\\]"):
        objective.weighted_total({"vertex": jnp.ones(())}, weights)


def test_analytic_values():
    covered = jnp.ones((4, 6), bool).at[0].set(False)
    # A uniform 0.1 cm shift along x: mean over 3 axes of |0.1 cm| = 1/3 mm.
    v = jnp.zeros((2, 5, 3))
    np.testing.assert_allclose(objective.vertex_l1_mm(v.at[..., 0].add(0.1), v), [1 / 3, 1 / 3], rtol=1e-6)
    # A 0.05 cm offset on covered texels only (uncovered ones differ by 10 cm, ignored).
    target = jnp.zeros((1, 4, 6)).at[:, 0].set(10.0)
    np.testing.assert_allclose(objective.map_l1_mm(jnp.full((1, 4, 6), 0.05), target, covered), [0.5], rtol=1e-6)
    np.testing.assert_allclose(objective.masked_mean(jnp.array([1.0, 3.0, 10.0]), jnp.array([1, 1, 0.0])), 2.0)
    assert objective.masked_mean(jnp.array([5.0]), jnp.array([0.0])) == 0.0
    # A ramp of 0.01 cm per column: squared step 0.01 mm^2... in mm: (0.1 mm)^2 along x, 0 along y.
    ramp = jnp.broadcast_to(0.01 * jnp.arange(6.0), (1, 4, 6))
    np.testing.assert_allclose(objective.detail_smoothness(ramp, covered), 0.01, rtol=1e-5)
    # Symmetry: a mirror-symmetric map costs 0; x - mean(x) costs mean |2 (x - 2.5)| * 0.01 cm.
    sym = ramp * ramp[..., ::-1]
    assert float(objective.detail_symmetry(sym, covered)) < 1e-9
    expected = 10 * 0.01 * np.mean(np.abs(2 * (np.arange(6) - 2.5)))
    np.testing.assert_allclose(objective.detail_symmetry(ramp, covered), expected, rtol=1e-5)


@pytest.fixture(scope="module")
def terms_of():
    @nnx.jit
    def terms_of(model, out, batch):
        rendered = hiface.render(model, out, background=albedo_lib.srgb_to_linear_jax(batch["image"]))
        return objective.loss_terms(model, out, rendered, batch)

    return terms_of


def test_perfect_prediction_has_zero_supervised_loss(hiface_model, synthetic_batch, terms_of):
    gt = hiface.ground_truth_output(hiface_model, synthetic_batch)
    terms = terms_of(hiface_model, gt, synthetic_batch)
    for name in SUPERVISED + ("landmark", "eye_closure", "lip_closure"):
        assert float(terms[name]) < 1e-6, (name, float(terms[name]))
    # ... and the untrained model's prediction is far from it.
    out = nnx.jit(lambda m, x: m(x))(hiface_model, synthetic_batch["image"])
    wrong = terms_of(hiface_model, out, synthetic_batch)
    assert float(wrong["vertex"]) > 0.5 and float(wrong["landmark_synthetic"]) > 1e-4
    assert float(wrong["static_detail"]) > 1e-3 and float(wrong["dynamic_detail"]) > 1e-4
    # The ground truth explains the synthetic image better than the mean face does.
    assert float(terms["photometric_coarse"]) < float(wrong["photometric_coarse"])


def test_real_samples_do_not_enter_the_supervised_terms(hiface_model, synthetic_batch, synthetic_samples, terms_of):
    """A real crop's zero ground truth is masked out: a batch of [real A, synthetic B] has
    the supervised terms of [synthetic B, synthetic B]; image terms use both samples."""
    shapes = batches.ground_truth_shapes(hiface_model)
    take = lambda d, i: jax.tree.map(lambda x: x[i : i + 1], d)
    real = batches.real_batch(
        {"image": synthetic_samples["image"][:1], "mask": synthetic_samples["mask"][:1],
         "landmarks_68": synthetic_samples["landmarks_2d"][:1]}, shapes,
    )  # fmt: skip
    np.testing.assert_array_equal(real["identity"], 0.0)
    mixed = batches.concat(real, take(synthetic_batch, 1))
    assert mixed["is_synthetic"].tolist() == [False, True]
    out = nnx.jit(lambda m, x: m(x))(hiface_model, mixed["image"])
    both = terms_of(hiface_model, out, mixed)
    twice = lambda d: jax.tree.map(lambda x: jnp.concatenate([x[1:2], x[1:2]]), d)
    alone = terms_of(hiface_model, twice(out), twice(mixed))
    for name in SUPERVISED:
        np.testing.assert_allclose(both[name], alone[name], rtol=1e-5, err_msg=name)
    assert float(both["landmark"]) != pytest.approx(float(alone["landmark"]), rel=1e-3)


def test_every_term_has_a_finite_gradient(hiface_model, model_config, synthetic_batch):
    graphdef, params, rest = nnx.split(hiface_model, nnx.Param, ...)
    batch = jax.tree.map(lambda x: x[:1], synthetic_batch)

    def terms(params):
        model = nnx.merge(graphdef, params, rest)
        _, t = objective.loss_fn(model, batch, model_config)
        return t

    # Start away from the zero-kernel init, so every head and the encoder get gradients.
    params = jax.tree.map(lambda x: x + 0.01 * jnp.cos(jnp.arange(x.size).reshape(x.shape)), params)

    # One compiled gradient of a weighted sum, evaluated with one-hot weights: term by term.
    @jax.jit
    def check(p, w):
        value, grads = jax.value_and_grad(lambda p: sum(w[k] * v for k, v in terms(p).items()))(p)
        leaves = jax.tree.leaves(grads)
        finite = jnp.isfinite(value) & jnp.all(jnp.stack([jnp.isfinite(g).all() for g in leaves]))
        return finite, sum(jnp.sum(g**2) for g in leaves)

    zero_at_start = {"albedo_prior", "lighting_prior"}  # zero grid and white light are their minima
    for name in config.TERMS:
        finite, norm = check(params, {k: jnp.float32(k == name) for k in config.TERMS})
        assert bool(finite), name
        assert float(norm) > 0 or name in zero_at_start, name


def test_renders_are_skipped_only_when_no_photometric_term_weighs(hiface_model, model_config, synthetic_batch):
    batch = jax.tree.map(lambda x: x[:1], synthetic_batch)
    config = model_config.copy_and_resolve_references()
    full = nnx.jit(lambda m, b: objective.loss_fn(m, b, config))(hiface_model, batch)[1]
    assert float(full["photometric_coarse"]) > 0 and objective.needs_render(config.loss)
    config.loss.photometric_coarse = config.loss.photometric_detail = 0.0
    assert not objective.needs_render(config.loss)
    skipped = nnx.jit(lambda m, b: objective.loss_fn(m, b, config))(hiface_model, batch)[1]
    forced = nnx.jit(lambda m, b: objective.loss_fn(m, b, config, render=True))(hiface_model, batch)[1]
    for name in objective.RENDERED_TERMS:
        assert float(skipped[name]) == 0.0
        np.testing.assert_allclose(forced[name], full[name], rtol=1e-6, err_msg=name)
    for name in set(full) - set(objective.RENDERED_TERMS):  # every other term is computed as before
        np.testing.assert_allclose(skipped[name], full[name], rtol=1e-5, atol=1e-8, err_msg=name)
