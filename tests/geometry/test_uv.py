"""UV rasterise-then-sample round trips on the real ICT UV layout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hiface_jax.geometry import uv


@pytest.fixture(scope="module")
def raster(coarse_model):
    return uv.uv_raster(np.asarray(coarse_model.uv_coords), np.asarray(coarse_model.uv_triangles), 128)


def _fully_covered_footprint(raster, points: np.ndarray) -> np.ndarray:
    """True where all four texels of the bilinear footprint are inside a triangle."""
    h, w = raster.resolution
    x = points[:, 0] * w - 0.5
    y = (1 - points[:, 1]) * h - 0.5
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    ok = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < w) & (y0 + 1 < h)
    cov = np.asarray(raster.covered)
    x0c, y0c = np.clip(x0, 0, w - 2), np.clip(y0, 0, h - 2)
    return ok & cov[y0c, x0c] & cov[y0c, x0c + 1] & cov[y0c + 1, x0c] & cov[y0c + 1, x0c + 1]


def test_linear_function_of_uv_round_trips_exactly(coarse_model, raster):
    """Values linear in (u, v), given per UV corner, come back exactly wherever the
    bilinear footprint is covered (linear interpolation reproduces linear functions)."""
    coords = np.asarray(coarse_model.uv_coords, np.float64)
    f = lambda p: np.stack([p[:, 0], p[:, 1], 2 * p[:, 0] - 3 * p[:, 1] + 0.5], 1)
    uv_map = uv.to_uv_map(jnp.asarray(f(coords), jnp.float32), coarse_model.uv_triangles, raster)
    pts = np.random.default_rng(0).uniform(0.02, 0.98, size=(4000, 2))
    ok = _fully_covered_footprint(raster, pts)
    assert ok.mean() > 0.8
    got = np.asarray(uv.sample_uv_map(uv_map, jnp.asarray(pts[ok], jnp.float32)))
    np.testing.assert_allclose(got, f(pts[ok]), atol=1e-4)


def test_vertex_values_round_trip(coarse_model, raster):
    """Vertex positions rasterised to UV and sampled back at the vertices' UVs."""
    vi = uv.vertex_uvs(coarse_model.triangles, coarse_model.uv_triangles, coarse_model.num_vertices)
    vert_uv = np.asarray(coarse_model.uv_coords)[vi]
    pos_map = uv.to_uv_map(coarse_model.mean_shape, coarse_model.triangles, raster)
    back = np.asarray(uv.sample_uv_map(pos_map, jnp.asarray(vert_uv)))
    inside = (vert_uv.max(1) < 1.0) & _fully_covered_footprint(raster, vert_uv)
    err = np.linalg.norm(back - np.asarray(coarse_model.mean_shape), axis=1)[inside]
    # A texel at 128^2 spans about 0.2 cm of face; most vertices come back within a fraction.
    assert np.median(err) < 0.02 and np.percentile(err, 90) < 0.1


def test_gutter_is_filled_and_map_batches(coarse_model, raster):
    values = jnp.ones((2, coarse_model.num_vertices, 1)) * jnp.array([1.0, 2.0])[:, None, None]
    m = np.asarray(uv.to_uv_map(values, coarse_model.triangles, raster))
    assert m.shape == (2, 128, 128, 1)
    np.testing.assert_allclose(m[0], 1.0, atol=1e-6)  # gutter texels too
    np.testing.assert_allclose(m[1], 2.0, atol=1e-6)


def test_to_uv_map_is_differentiable(coarse_model, raster):
    g = jax.grad(lambda x: uv.to_uv_map(x, coarse_model.triangles, raster).sum())(coarse_model.mean_shape)
    # Each vertex receives the total barycentric weight of the texels it touches.
    assert np.isfinite(np.asarray(g)).all() and float(g.sum()) == pytest.approx(128 * 128 * 3, rel=1e-4)


def test_empty_tile_is_an_error():
    with pytest.raises(ValueError, match="no UV triangle"):
        uv.uv_raster(np.array([[2.0, 2.0], [2.5, 2.0], [2.0, 2.5]]), np.array([[0, 1, 2]]), 16)
