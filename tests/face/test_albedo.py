"""The designed UV albedo: colour space, layout placement, evaluation and sampling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hiface_jax.face import albedo
from hiface_jax.geometry import uv


@pytest.fixture(scope="module")
def layout(coarse_model):
    m = coarse_model
    return albedo.albedo_layout(
        np.asarray(m.uv_coords),
        np.asarray(m.uv_triangles),
        np.asarray(m.triangles),
        np.asarray(m.landmark_indices),
        m.num_vertices,
        128,
    )


def test_srgb_round_trip_and_reference_values():
    x = np.linspace(0, 1, 101)
    np.testing.assert_allclose(albedo.linear_to_srgb(jnp.asarray(albedo.srgb_to_linear(x))), x, atol=1e-5)
    # sRGB 0.5 is linear 0.2140 (IEC 61966-2-1).
    np.testing.assert_allclose(albedo.srgb_to_linear(0.5), 0.21404, atol=1e-4)


def test_lip_and_brow_masks_sit_at_their_landmarks(coarse_model, layout):
    vi = uv.vertex_uvs(coarse_model.triangles, coarse_model.uv_triangles, coarse_model.num_vertices)
    lmk = np.asarray(coarse_model.uv_coords)[vi[np.asarray(coarse_model.landmark_indices)]]
    r = 128

    def centroid(mask):
        m = np.asarray(mask)
        rows, cols = np.mgrid[0:r, 0:r]
        return np.array([(m * (cols + 0.5)).sum() / m.sum() / r, 1 - (m * (rows + 0.5)).sum() / m.sum() / r])

    np.testing.assert_allclose(centroid(layout.lips), lmk[48:60].mean(0), atol=0.02)
    np.testing.assert_allclose(centroid(layout.brows), lmk[17:27].mean(0), atol=0.03)
    assert 0 < float(layout.lips.mean()) < 0.05 and 0 < float(layout.brows.mean()) < 0.05


def test_albedo_map_formula(layout):
    base = jnp.array([0.4, 0.3, 0.2])
    zero = jnp.zeros(3)
    a = albedo.albedo_map(base, zero, zero, jnp.zeros((4, 4, 3)), layout)
    np.testing.assert_allclose(a, np.broadcast_to(base, a.shape), atol=1e-6)
    lips = jnp.array([0.1, -0.1, -0.1])
    grid = jnp.full((4, 4, 3), 0.5)  # +50% everywhere
    a = np.asarray(albedo.albedo_map(base, lips, zero, grid, layout))
    want = np.clip(np.asarray(base) * 1.5 + np.asarray(lips) * np.asarray(layout.lips)[..., None], 0, 1)
    np.testing.assert_allclose(a, want, atol=1e-6)


def test_sampled_albedo_is_plausible_and_deterministic(layout):
    p = albedo.sample_albedo(jax.random.key(0), 16)
    q = albedo.sample_albedo(jax.random.key(0), 16)
    for k in p:
        np.testing.assert_array_equal(p[k], q[k])
    a = np.asarray(albedo.albedo_map(**p, layout=layout))
    assert a.shape == (16, 128, 128, 3) and (a >= 0).all() and (a <= 1).all()
    # Skin is redder than it is blue, lips redder than skin relative to green.
    mean = a.reshape(16, -1, 3).mean(1)
    assert (mean[:, 0] > mean[:, 2]).all()
    lips = (a * np.asarray(layout.lips)[..., None]).sum((1, 2)) / float(layout.lips.sum())
    assert (lips[:, 0] / lips[:, 1] > mean[:, 0] / mean[:, 1]).all()
