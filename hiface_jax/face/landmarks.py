"""Landmarks: the face model's 68 Multi-PIE landmark vertices, in 3D and in the image."""

from __future__ import annotations

import jax.numpy as jnp


def landmarks_3d(vertices: jnp.ndarray, landmark_indices: jnp.ndarray) -> jnp.ndarray:
    """(..., L, 3) landmark positions gathered from vertices (..., V, 3)."""
    return jnp.take(vertices, landmark_indices, axis=-2)
