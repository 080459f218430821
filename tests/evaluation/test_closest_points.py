"""Closest points on a triangle surface (Open3D) against brute force and trimesh; rays."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from hiface_jax.evaluation.surface import Surface


def closest_on_triangle(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Exact closest point of p on triangle abc (Ericson, Real-Time Collision Detection 5.1.5)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = ab @ ap, ac @ ap
    if d1 <= 0 and d2 <= 0:
        return a
    bp = p - b
    d3, d4 = ab @ bp, ac @ bp
    if d3 >= 0 and d4 <= d3:
        return b
    vc = d1 * d4 - d3 * d2
    if vc <= 0 and d1 >= 0 and d3 <= 0:
        return a + d1 / (d1 - d3) * ab
    cp = p - c
    d5, d6 = ab @ cp, ac @ cp
    if d6 >= 0 and d5 <= d6:
        return c
    vb = d5 * d2 - d1 * d6
    if vb <= 0 and d2 >= 0 and d6 <= 0:
        return a + d2 / (d2 - d6) * ac
    va = d3 * d6 - d5 * d4
    if va <= 0 and d4 - d3 >= 0 and d5 - d6 >= 0:
        return b + (d4 - d3) / ((d4 - d3) + (d5 - d6)) * (c - b)
    denom = 1.0 / (va + vb + vc)
    return a + ab * vb * denom + ac * vc * denom


def brute_force_distance(query: np.ndarray, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    return np.array([min(np.linalg.norm(q - closest_on_triangle(q, *vertices[t])) for t in triangles) for q in query])


@pytest.fixture(scope="module")
def bumpy_sphere():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=10.0)
    rng = np.random.default_rng(0)
    v = sphere.vertices * (1.0 + 0.15 * rng.uniform(-1, 1, (len(sphere.vertices), 1)))
    return v, np.asarray(sphere.faces)


def test_closest_points_match_brute_force_point_to_triangle(bumpy_sphere):
    v, f = bumpy_sphere
    rng = np.random.default_rng(1)
    query = rng.normal(size=(60, 3)) * 8.0  # inside, on and outside the surface
    found = Surface(v, f).closest_points(query)
    dist = np.linalg.norm(found.points - query, axis=1)
    np.testing.assert_allclose(dist, brute_force_distance(query, v, f), atol=2e-5)
    # The reported triangle and barycentric weights give the reported point.
    np.testing.assert_allclose(np.einsum("nk,nkc->nc", found.weights, v[f[found.triangles]]), found.points, atol=1e-6)
    assert (found.weights >= -1e-6).all()


def test_closest_points_match_trimesh_on_a_face_sized_mesh(coarse_gt):
    """trimesh's exact point-triangle routine, every query against all 22k triangles."""
    rng = np.random.default_rng(2)
    query = coarse_gt.vertices[rng.choice(len(coarse_gt.vertices), 60)] + rng.normal(size=(60, 3)) * 2.0
    found = Surface(coarse_gt.vertices, coarse_gt.triangles).closest_points(query)
    corners = coarse_gt.vertices[coarse_gt.triangles]
    for q, p in zip(query, found.points):
        on_each = trimesh.triangles.closest_point(corners, np.broadcast_to(q, (len(corners), 3)))
        assert np.isclose(np.linalg.norm(p - q), np.linalg.norm(on_each - q, axis=1).min(), atol=1e-4)


def test_rays_hit_with_barycentrics_and_report_misses(bumpy_sphere):
    v, f = bumpy_sphere
    origins = np.array([[0.0, 0.0, 50.0], [0.0, 50.0, 0.0], [100.0, 100.0, 100.0]])
    directions = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    hits = Surface(v, f).cast_rays(origins, directions)
    assert hits.triangles[2] == -1 and np.isnan(hits.points[2]).all()
    for k in range(2):
        assert np.isclose(np.linalg.norm(hits.points[k]), 10.0, rtol=0.16)
        np.testing.assert_allclose(hits.weights[k] @ v[f[hits.triangles[k]]], hits.points[k], atol=1e-5)
        # The hit lies on the ray.
        along = hits.points[k] - origins[k]
        np.testing.assert_allclose(np.cross(along, directions[k]), 0.0, atol=1e-4)


def test_bad_surfaces_are_clear_errors():
    with pytest.raises(ValueError, match="triangle indices"):
        Surface(np.zeros((3, 3)), np.array([[0, 1, 3]]))
    with pytest.raises(ValueError, match="non-finite"):
        Surface(np.array([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]]), np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="at least one triangle"):
        Surface(np.zeros((3, 3)), np.zeros((0, 3), np.int64))
