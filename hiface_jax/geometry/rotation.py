"""Rotations as 3x3 matrices from axis-angle, Euler angles and quaternions, and back.

All functions are batched over leading axes, jit-able and differentiable (axis-angle is
safe at zero angle). Rotation matrices act on column vectors: p' = R @ p.
"""

from __future__ import annotations

import jax.numpy as jnp


def _skew(v: jnp.ndarray) -> jnp.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrix [v]x."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = jnp.zeros_like(x)
    return jnp.stack([jnp.stack([o, -z, y], -1), jnp.stack([z, o, -x], -1), jnp.stack([-y, x, o], -1)], -2)


def axis_angle_to_matrix(axis_angle: jnp.ndarray) -> jnp.ndarray:
    """Rodrigues' formula. (..., 3) rotation vector (axis * angle in radians) -> (..., 3, 3).

    Uses Taylor series for sin(t)/t and (1 - cos t)/t^2 near t = 0 so that the value
    and the gradient stay finite at the identity.
    """
    theta2 = jnp.sum(axis_angle * axis_angle, axis=-1)[..., None, None]
    small = theta2 < 1e-8
    safe2 = jnp.where(small, 1.0, theta2)
    theta = jnp.sqrt(safe2)
    a = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
    b = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / safe2)
    k = _skew(axis_angle)
    eye = jnp.broadcast_to(jnp.eye(3, dtype=axis_angle.dtype), k.shape)
    return eye + a * k + b * (k @ k)


def matrix_to_axis_angle(matrix: jnp.ndarray) -> jnp.ndarray:
    """(..., 3, 3) rotation -> (..., 3) rotation vector with angle in [0, pi].

    Goes through the quaternion, which is stable for all angles including pi.
    """
    q = matrix_to_quaternion(matrix)
    w, xyz = q[..., :1], q[..., 1:]
    # Pick the quaternion with w >= 0 so the angle is in [0, pi].
    sign = jnp.where(w < 0, -1.0, 1.0)
    w, xyz = w * sign, xyz * sign
    s = jnp.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * jnp.arctan2(s, w)
    scale = jnp.where(s < 1e-8, 2.0, angle / jnp.where(s < 1e-8, 1.0, s))
    return xyz * scale


def euler_to_matrix(angles: jnp.ndarray) -> jnp.ndarray:
    """(..., 3) angles (pitch about x, yaw about y, roll about z), radians -> (..., 3, 3).

    R = Rz(roll) @ Ry(yaw) @ Rx(pitch): pitch is applied first.
    """
    cx, cy, cz = jnp.cos(angles[..., 0]), jnp.cos(angles[..., 1]), jnp.cos(angles[..., 2])
    sx, sy, sz = jnp.sin(angles[..., 0]), jnp.sin(angles[..., 1]), jnp.sin(angles[..., 2])
    row0 = jnp.stack([cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx], -1)
    row1 = jnp.stack([sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx], -1)
    row2 = jnp.stack([-sy, cy * sx, cy * cx], -1)
    return jnp.stack([row0, row1, row2], -2)


def matrix_to_euler(matrix: jnp.ndarray) -> jnp.ndarray:
    """Inverse of ``euler_to_matrix`` for yaw in (-pi/2, pi/2). (..., 3, 3) -> (..., 3)."""
    pitch = jnp.arctan2(matrix[..., 2, 1], matrix[..., 2, 2])
    yaw = jnp.arcsin(jnp.clip(-matrix[..., 2, 0], -1.0, 1.0))
    roll = jnp.arctan2(matrix[..., 1, 0], matrix[..., 0, 0])
    return jnp.stack([pitch, yaw, roll], -1)


def quaternion_to_matrix(quaternion: jnp.ndarray) -> jnp.ndarray:
    """(..., 4) quaternion (w, x, y, z), normalised here -> (..., 3, 3)."""
    q = quaternion / jnp.linalg.norm(quaternion, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    row0 = jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1)
    row1 = jnp.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1)
    row2 = jnp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)
    return jnp.stack([row0, row1, row2], -2)


def matrix_to_quaternion(matrix: jnp.ndarray) -> jnp.ndarray:
    """(..., 3, 3) rotation -> (..., 4) unit quaternion (w, x, y, z), sign arbitrary.

    Evaluates the four candidate formulas and keeps, per matrix, the one with the
    largest denominator (Shepperd's method), which is well conditioned everywhere.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    cands = jnp.stack(
        [
            jnp.stack(
                [
                    1 + m00 + m11 + m22,
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            jnp.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    1 + m00 - m11 - m22,
                    m[..., 0, 1] + m[..., 1, 0],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            jnp.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 0, 1] + m[..., 1, 0],
                    1 - m00 + m11 - m22,
                    m[..., 1, 2] + m[..., 2, 1],
                ],
                -1,
            ),
            jnp.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 1, 2] + m[..., 2, 1],
                    1 - m00 - m11 + m22,
                ],
                -1,
            ),
        ],
        -2,
    )  # (..., 4 candidates, 4)
    diag = jnp.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = jnp.argmax(diag, axis=-1)
    q = jnp.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    return q / jnp.linalg.norm(q, axis=-1, keepdims=True)
