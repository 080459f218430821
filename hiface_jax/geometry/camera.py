"""Cameras: rigid pose, perspective and weak-perspective projection to pixels.

Conventions (one for the whole project, docs/ARCHITECTURE.md):
* Camera space follows OpenGL and the face model: x right, y up, the camera looks down
  -z, so visible points have z < 0. The ICT face looks along +z, so a face at the
  origin seen from (0, 0, d) needs only the translation (0, 0, -d).
* Pixel coordinates: (0, 0) is the top-left corner of the top-left pixel, x right,
  y down; pixel (i, j) has its centre at (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import jax.numpy as jnp


def rigid_transform(points: jnp.ndarray, rotation: jnp.ndarray, translation: jnp.ndarray) -> jnp.ndarray:
    """Rigid transform p' = R p + t.

    Args:
      points: (..., N, 3).
      rotation: (..., 3, 3).
      translation: (..., 3).
    Returns:
      (..., N, 3).
    """
    return jnp.einsum("...ij,...nj->...ni", rotation, points) + translation[..., None, :]


def perspective_project(
    points_cam: jnp.ndarray, focal: jnp.ndarray, principal_point: jnp.ndarray, eps: float = 1e-6
) -> jnp.ndarray:
    """Pinhole projection of camera-space points to pixels.

    Args:
      points_cam: (..., N, 3) camera-space points (z < 0 in front of the camera).
      focal: (...,) or (..., 2) focal length in pixels (fx, fy).
      principal_point: (..., 2) principal point in pixels (cx, cy).
    Returns:
      (..., N, 2) pixel coordinates (x right, y down).
    """
    focal = jnp.asarray(focal)
    f = jnp.broadcast_to(focal[..., None] if focal.shape[-1:] != (2,) else focal, principal_point.shape)
    depth = -points_cam[..., 2]
    depth = jnp.where(jnp.abs(depth) < eps, eps, depth)
    x = points_cam[..., 0] / depth
    y = points_cam[..., 1] / depth
    u = principal_point[..., None, 0] + f[..., None, 0] * x
    v = principal_point[..., None, 1] - f[..., None, 1] * y
    return jnp.stack([u, v], -1)


def focal_from_fov(fov_degrees: float | jnp.ndarray, image_size: int) -> jnp.ndarray:
    """Focal length in pixels of a square image with the given full field of view."""
    return 0.5 * image_size / jnp.tan(jnp.deg2rad(jnp.asarray(fov_degrees)) / 2.0)


def weak_perspective_project(
    points: jnp.ndarray, scale: jnp.ndarray, translation_2d: jnp.ndarray, image_size: tuple[int, int]
) -> jnp.ndarray:
    """Scaled orthographic projection (DECA's camera) to pixels.

    Normalised device coordinates are s * (x, y) + t, in [-1, 1] across the image.

    Args:
      points: (..., N, 3) posed points (x right, y up).
      scale: (...,) s.
      translation_2d: (..., 2) t in NDC units.
      image_size: (H, W).
    Returns:
      (..., N, 2) pixels.
    """
    h, w = image_size
    ndc = scale[..., None, None] * points[..., :2] + translation_2d[..., None, :]
    return jnp.stack([(ndc[..., 0] + 1.0) * 0.5 * w, (1.0 - ndc[..., 1]) * 0.5 * h], -1)
