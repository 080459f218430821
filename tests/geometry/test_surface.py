"""Normals against trimesh, tension on analytic patches, displacement along normals."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import trimesh

from hiface_jax.geometry.displacement import displace_along_normals
from hiface_jax.geometry.tension import tension, unique_edges
from rendering.normals import face_normals, vertex_normals


def test_normals_match_trimesh(coarse_model):
    v = np.asarray(coarse_model.mean_shape, np.float64)
    f = np.asarray(coarse_model.triangles)
    mesh = trimesh.Trimesh(v, f, process=False)
    fn = np.asarray(face_normals(jnp.asarray(v, jnp.float32), f))
    np.testing.assert_allclose(fn, mesh.face_normals, atol=1e-4)
    # Area-weighted vertex normals, summed by trimesh's own sparse incidence matrix.
    want = trimesh.geometry.mean_vertex_normals(len(v), f, mesh.face_normals * mesh.area_faces[:, None])
    got = np.asarray(vertex_normals(jnp.asarray(v, jnp.float32), f))
    used = np.linalg.norm(want, axis=1) > 0.5
    np.testing.assert_allclose(got[used], want[used], atol=1e-4)


def test_vertex_normals_batched():
    sphere = trimesh.creation.icosphere(2)
    v = jnp.stack([jnp.asarray(sphere.vertices), 2.0 * jnp.asarray(sphere.vertices)])
    n = np.asarray(vertex_normals(v, sphere.faces))
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    for b in range(2):
        assert (np.sum(n[b] * radial, axis=1) > 0.99).all()


def grid_patch(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Unit-spaced n x n grid in the z = 0 plane, each square split along (0,0)-(1,1)."""
    ys, xs = np.mgrid[0:n, 0:n]
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], 1).astype(np.float64)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    return v, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def test_tension_sign_and_value_on_analytic_patches():
    v, f = grid_patch()
    edges = jnp.asarray(unique_edges(f))
    interior = np.array([i for i in range(len(v)) if 0 < v[i, 0] < 5 and 0 < v[i, 1] < 5])
    # Uniform stretch by 1.25: every edge ratio is 1.25, t = -0.25 everywhere.
    t = np.asarray(tension(jnp.asarray(v * 1.25), jnp.asarray(v), edges))
    np.testing.assert_allclose(t, -0.25, atol=1e-6)
    # Uniform compression to 0.8: t = +0.2.
    t = np.asarray(tension(jnp.asarray(v * 0.8), jnp.asarray(v), edges))
    np.testing.assert_allclose(t, 0.2, atol=1e-6)
    # Compress x by a only: an interior vertex has 2 horizontal edges (ratio a), 2 vertical
    # (ratio 1) and 2 diagonal (ratio sqrt(a^2 + 1) / sqrt(2)).
    a = 0.6
    t = np.asarray(tension(jnp.asarray(v * [a, 1, 1]), jnp.asarray(v), edges))
    want = 1 - (2 * a + 2 * 1 + 2 * np.sqrt(a * a + 1) / np.sqrt(2)) / 6
    np.testing.assert_allclose(t[interior], want, atol=1e-6)
    assert want > 0


def test_tension_is_zero_for_rigid_motion_and_batches():
    v, f = grid_patch()
    edges = jnp.asarray(unique_edges(f))
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    moved = np.stack([v @ rot.T + [3, 1, 2], v * 0.5])
    t = np.asarray(tension(jnp.asarray(moved), jnp.asarray(v), edges))
    assert t.shape == (2, len(v))
    np.testing.assert_allclose(t[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(t[1], 0.5, atol=1e-6)


def test_smile_compresses_the_cheeks(coarse_model):
    """On the real model: a smile's tension is positive around the mouth corners' cheeks."""
    from hiface_jax.face import face_model as fm

    psi = jnp.zeros(53).at[coarse_model.expression_index("mouthSmile_L")].set(1.0)
    psi = psi.at[coarse_model.expression_index("mouthSmile_R")].set(1.0)
    smile = fm.shape(coarse_model, jnp.zeros(100), psi)
    t = np.asarray(tension(smile, coarse_model.mean_shape, jnp.asarray(unique_edges(coarse_model.triangles))))
    assert np.isfinite(t).all()
    assert t.max() > 0.05 and t.min() < -0.05  # both compressed and stretched skin


def test_displacement_along_normals_on_plane_and_sphere():
    v, f = grid_patch()
    out = np.asarray(displace_along_normals(jnp.asarray(v), f, jnp.full(len(v), 0.3)))
    np.testing.assert_allclose(out[:, 2], 0.3, atol=1e-6)  # counter-clockwise: normals +z
    np.testing.assert_allclose(out[:, :2], v[:, :2], atol=1e-6)
    sphere = trimesh.creation.icosphere(3)
    out = np.asarray(
        displace_along_normals(jnp.asarray(sphere.vertices), sphere.faces, jnp.full(len(sphere.vertices), 0.1))
    )
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.1, atol=1e-3)
