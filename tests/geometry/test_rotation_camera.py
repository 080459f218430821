"""Rotations against SciPy, round trips, and cameras against analytic projections."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hiface_jax.geometry import camera, rotation


@pytest.fixture
def rotvecs() -> np.ndarray:
    rng = np.random.default_rng(0)
    axes = rng.normal(size=(64, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0, np.pi * 0.999, size=(64, 1))
    return (axes * angles).astype(np.float32)


def test_axis_angle_matches_scipy_and_round_trips(rotvecs):
    r = np.asarray(rotation.axis_angle_to_matrix(jnp.asarray(rotvecs)))
    np.testing.assert_allclose(r, Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-5)
    np.testing.assert_allclose(rotation.matrix_to_axis_angle(r), rotvecs, atol=2e-4)


def test_axis_angle_is_smooth_at_zero():
    r = rotation.axis_angle_to_matrix(jnp.zeros(3))
    np.testing.assert_allclose(r, np.eye(3), atol=1e-7)
    # d R / d w at w = 0 is the cross-product generator: finite and exact.
    jac = jax.jacfwd(rotation.axis_angle_to_matrix)(jnp.zeros(3))
    assert np.isfinite(jac).all()
    np.testing.assert_allclose(jac[2, 1, 0], 1.0, atol=1e-6)  # d R[2,1] / d w_x = +1
    np.testing.assert_allclose(jac[1, 2, 0], -1.0, atol=1e-6)


def test_euler_matches_scipy_and_round_trips():
    rng = np.random.default_rng(1)
    angles = rng.uniform([-1.5, -1.4, -3.0], [1.5, 1.4, 3.0], size=(64, 3)).astype(np.float32)
    r = np.asarray(rotation.euler_to_matrix(jnp.asarray(angles)))
    # Pitch first, then yaw, then roll == SciPy's extrinsic "xyz".
    np.testing.assert_allclose(r, Rotation.from_euler("xyz", angles).as_matrix(), atol=1e-5)
    np.testing.assert_allclose(rotation.matrix_to_euler(r), angles, atol=1e-4)


def test_quaternion_matches_scipy_and_round_trips(rotvecs):
    q_xyzw = Rotation.from_rotvec(rotvecs).as_quat()
    q = np.concatenate([q_xyzw[:, 3:], q_xyzw[:, :3]], 1)  # (w, x, y, z)
    r = np.asarray(rotation.quaternion_to_matrix(jnp.asarray(q)))
    np.testing.assert_allclose(r, Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-5)
    back = np.asarray(rotation.matrix_to_quaternion(r))
    np.testing.assert_allclose(np.abs((back * q).sum(1)), 1.0, atol=1e-5)  # same up to sign


def test_rotations_are_orthonormal(rotvecs):
    r = np.asarray(rotation.axis_angle_to_matrix(jnp.asarray(rotvecs)))
    np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-5)


def test_perspective_projection_analytic():
    # A point 1 cm right, 2 cm up, 50 cm in front of the camera; f = 1000 px, c = (112, 112).
    p = jnp.array([[[1.0, 2.0, -50.0]]])
    px = camera.perspective_project(p, jnp.array([1000.0]), jnp.array([[112.0, 112.0]]))
    np.testing.assert_allclose(px, [[[112 + 20.0, 112 - 40.0]]], atol=1e-4)
    # The principal axis hits the principal point whatever the depth.
    on_axis = camera.perspective_project(jnp.array([[0.0, 0.0, -7.0]]), jnp.array(500.0), jnp.array([3.0, 4.0]))
    np.testing.assert_allclose(on_axis, [[3.0, 4.0]])


def test_focal_from_fov():
    # 90 degrees across 224 px: the image edge is at 45 degrees, f = 112.
    np.testing.assert_allclose(camera.focal_from_fov(90.0, 224), 112.0, rtol=1e-6)


def test_weak_perspective_projection_analytic():
    p = jnp.array([[0.0, 0.0, 5.0], [1.0, 1.0, -3.0]])
    px = camera.weak_perspective_project(p, jnp.array(0.5), jnp.array([0.0, 0.0]), (100, 200))
    # NDC (0,0) -> image centre; NDC (0.5, 0.5) -> 3/4 across, 1/4 down. Depth is ignored.
    np.testing.assert_allclose(px, [[100.0, 50.0], [150.0, 25.0]], atol=1e-5)


def test_rigid_transform():
    r = rotation.axis_angle_to_matrix(jnp.array([0.0, 0.0, np.pi / 2]))
    out = camera.rigid_transform(jnp.array([[1.0, 0.0, 0.0]]), r, jnp.array([0.0, 0.0, -10.0]))
    np.testing.assert_allclose(out, [[0.0, 1.0, -10.0]], atol=1e-6)


def test_pinhole_agrees_with_the_rasterizers_projection():
    """camera.perspective_project (fitting, landmarks) and rendering.perspective (the
    rasterizer's clip space) put a point on the same pixel."""
    import rendering

    pts = jnp.array([[[3.0, -2.0, -120.0], [-5.0, 7.0, -140.0], [0.0, 0.0, -100.0]]])
    size, fov = 224, 12.0
    px = camera.perspective_project(pts, camera.focal_from_fov(fov, size), jnp.full((1, 2), size / 2))
    clip = rendering.transform(pts, rendering.perspective(np.radians(fov), 1.0, 10.0, 1000.0))
    ndc = clip[..., :2] / clip[..., 3:4]
    np.testing.assert_allclose(rendering.ndc_to_pixel(ndc, size, size), px, atol=1e-3)
