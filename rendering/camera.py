"""Camera helpers: world -> clip space, and the pixel grid convention.

The rasterizer is camera-free: it takes homogeneous clip-space vertices
``(x, y, z, w)`` (OpenGL convention, visible volume ``-w <= x, y, z <= w``).
These helpers build such vertices from a pinhole camera.

Conventions
-----------
* View space is OpenGL's: the camera looks down ``-z``, ``+y`` is up.
* NDC ``x = -1`` is the left image edge, ``y = +1`` the **top** row
  (image row 0). Pixel ``(row j, col i)`` has its centre at
  ``x = (2 (i + 0.5) / W) - 1``, ``y = 1 - 2 (j + 0.5) / H``.
* The clip-space ``w`` of a perspective projection equals the view-space
  depth (distance along the optical axis), reported as ``view_depth``.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def perspective(fov_y: float, aspect: float, near: float, far: float) -> jnp.ndarray:
    """OpenGL perspective projection matrix, (4, 4).

    Args:
      fov_y: vertical field of view in radians.
      aspect: width / height.
      near, far: positive clip distances, ``0 < near < far``.
    """
    if not (0 < near < far):
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    f = 1.0 / jnp.tan(fov_y / 2)
    return jnp.array(
        [
            [f / aspect, 0, 0, 0],
            [0, f, 0, 0],
            [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
            [0, 0, -1, 0],
        ],
        jnp.float32,
    )


def orthographic(half_height: float, aspect: float, near: float, far: float) -> jnp.ndarray:
    """OpenGL orthographic projection matrix, (4, 4); the view spans
    ``[-half_height*aspect, half_height*aspect] x [-half_height, half_height]``."""
    if not (near < far):
        raise ValueError(f"need near < far, got near={near}, far={far}")
    return jnp.array(
        [
            [1 / (half_height * aspect), 0, 0, 0],
            [0, 1 / half_height, 0, 0],
            [0, 0, -2 / (far - near), -(far + near) / (far - near)],
            [0, 0, 0, 1],
        ],
        jnp.float32,
    )


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> jnp.ndarray:
    """World -> view matrix (4, 4) for a camera at ``eye`` looking at ``target``."""
    eye = jnp.asarray(eye, jnp.float32)
    target = jnp.asarray(target, jnp.float32)
    up = jnp.asarray(up, jnp.float32)
    fwd = target - eye
    fwd = fwd / jnp.linalg.norm(fwd)
    right = jnp.cross(fwd, up)
    right = right / jnp.linalg.norm(right)
    true_up = jnp.cross(right, fwd)
    rot = jnp.stack([right, true_up, -fwd])
    trans = -rot @ eye
    top = jnp.concatenate([rot, trans[:, None]], axis=1)
    return jnp.concatenate([top, jnp.array([[0.0, 0.0, 0.0, 1.0]])], axis=0)


def transform(points: jnp.ndarray, matrix: jnp.ndarray) -> jnp.ndarray:
    """Apply a (..., 4, 4) homogeneous matrix to (..., V, 3) points -> (..., V, 4)."""
    points = jnp.asarray(points)
    ones = jnp.ones(points.shape[:-1] + (1,), points.dtype)
    homo = jnp.concatenate([points, ones], axis=-1)
    return jnp.einsum("...ij,...vj->...vi", matrix, homo)


def pixel_centers_ndc(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """NDC coordinates of pixel centres: ``(x (W,), y (H,))`` (numpy, float32)."""
    x = (2.0 * (np.arange(width, dtype=np.float64) + 0.5) / width - 1.0).astype(np.float32)
    y = (1.0 - 2.0 * (np.arange(height, dtype=np.float64) + 0.5) / height).astype(np.float32)
    return x, y


def ndc_to_pixel(xy_ndc: jnp.ndarray, height: int, width: int) -> jnp.ndarray:
    """(..., 2) NDC -> (..., 2) continuous pixel coordinates ``(col, row)``;
    pixel ``(j, i)`` spans ``[i, i+1) x [j, j+1)``."""
    u = (xy_ndc[..., 0] + 1.0) * 0.5 * width
    v = (1.0 - xy_ndc[..., 1]) * 0.5 * height
    return jnp.stack([u, v], axis=-1)
