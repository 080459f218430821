"""Shape evaluation, identity scaling, regions and bad coefficients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hiface_jax.face import face_model as fm
from hiface_jax.face.landmarks import landmarks_3d


def test_shape_is_the_linear_model(face_model):
    rng = np.random.default_rng(0)
    beta = rng.normal(size=(2, 100)).astype(np.float32)
    psi = rng.uniform(size=(2, 53)).astype(np.float32)
    got = np.asarray(jax.jit(fm.shape)(face_model, beta, psi))
    mean = np.asarray(face_model.mean_shape, np.float64)
    ident = np.asarray(face_model.identity_basis, np.float64).reshape(100, -1)
    expr = np.asarray(face_model.expression_basis, np.float64).reshape(53, -1)
    want = mean.reshape(-1) + beta @ ident + psi @ expr
    np.testing.assert_allclose(got.reshape(2, -1), want, atol=2e-4)


def test_shape_gradient_matches_basis(coarse_model):
    # d(sum of vertex 0's x) / d beta_k = identity_basis[k, 0, 0]: linear model, exact.
    g = jax.grad(lambda b: fm.shape(coarse_model, b, jnp.zeros(53))[0, 0])(jnp.zeros(100))
    np.testing.assert_allclose(g, coarse_model.identity_basis[:, 0, 0], rtol=1e-6)


def test_batched_leading_axes(coarse_model):
    beta = jnp.zeros((3, 4, 100))
    psi = jnp.zeros((3, 4, 53))
    assert fm.shape(coarse_model, beta, psi).shape == (3, 4, coarse_model.num_vertices, 3)


def test_random_faces_spread_as_the_stored_modes_predict(face_model):
    """beta ~ N(0, I) must be a plausible face (upstream's own sampling convention).

    The per-vertex standard deviation of random faces must equal the analytic
    sqrt(sum_k |mode_k(v)|^2), and face size must stay within human ranges.
    """
    face = face_model.submesh("face")
    key = jax.random.key(0)
    beta = jax.random.normal(key, (2000, 100))
    verts = np.asarray(fm.shape(face, beta, jnp.zeros((2000, 53))))
    empirical = np.sqrt(((verts - verts.mean(0)) ** 2).sum(-1).mean(0))
    analytic = np.sqrt((np.asarray(face.identity_basis, np.float64) ** 2).sum(axis=(0, 2)))
    np.testing.assert_allclose(empirical, analytic, rtol=0.08)
    # Outer eye corners (landmarks 36, 45): adult biocular width is about 8-11 cm.
    lmk = landmarks_3d(verts, face.landmark_indices)
    width = np.linalg.norm(lmk[:, 36] - lmk[:, 45], axis=-1)
    assert 7.5 < np.percentile(width, 1) and np.percentile(width, 99) < 12.0
    # Random faces vary by millimetres to a centimetre, not by tens of centimetres.
    assert 0.2 < np.median(analytic) < 1.5


def test_regions_and_submesh(face_model, coarse_model):
    assert coarse_model.num_vertices == 11248
    assert len(face_model.region_vertices("narrow_face")) == 6706
    # Landmarks refer to the same points after remapping.
    np.testing.assert_array_equal(
        coarse_model.mean_shape[coarse_model.landmark_indices], face_model.mean_shape[face_model.landmark_indices]
    )
    assert int(coarse_model.triangles.max()) < coarse_model.num_vertices
    assert coarse_model.uv_triangles.shape == coarse_model.triangles.shape
    with pytest.raises(KeyError, match="unknown region"):
        face_model.region_vertices("ears")
    with pytest.raises(ValueError, match="landmark"):
        face_model.submesh("teeth")


@pytest.mark.parametrize(
    "beta, psi, error, match",
    [
        (
            np.zeros((2, 99), np.float32),
            np.zeros((2, 53), np.float32),
            ValueError,
            r"identity must have shape \(\.\.\., 100\)",
        ),
        (np.zeros((2, 100), np.float32), np.zeros((53, 2), np.float32), ValueError, "expression must have shape"),
        (np.zeros((2, 100), np.int32), np.zeros((2, 53), np.float32), TypeError, "floating-point"),
        (np.full((2, 100), np.nan, np.float32), np.zeros((2, 53), np.float32), ValueError, "non-finite"),
        ([0.0] * 100, np.zeros(53, np.float32), TypeError, "must be an array"),
    ],
)
def test_bad_coefficients_fail_clearly(coarse_model, beta, psi, error, match):
    with pytest.raises(error, match=match):
        fm.shape(coarse_model, beta, psi)


def test_shape_checks_also_under_jit(coarse_model):
    with pytest.raises(ValueError, match="identity must have shape"):
        jax.jit(fm.shape)(coarse_model, jnp.zeros(50), jnp.zeros(53))


def test_unknown_expression_name(coarse_model):
    assert coarse_model.expression_names[coarse_model.expression_index("jawOpen")] == "jawOpen"
    with pytest.raises(KeyError, match="unknown expression"):
        coarse_model.expression_index("smile")


def test_shape_at_equals_the_rows_of_shape(coarse_model):
    beta = jax.random.normal(jax.random.key(1), (2, 100))
    psi = jax.random.uniform(jax.random.key(2), (2, 53))
    idx = coarse_model.landmark_indices
    full = fm.shape(coarse_model, beta, psi)[:, idx]
    np.testing.assert_allclose(fm.shape_at(coarse_model, beta, psi, idx), full, atol=1e-4)
