"""Shading: SH Lambertian lighting, a specular lobe, tangent-space normal maps, compositing.

SH lighting itself lives in :mod:`rendering.sh` (``sh_shading``); this module
wires it to images.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rendering._sharding import batch_parallel
from rendering.normals import face_normals, safe_normalize
from rendering.sh import sh_shading


@batch_parallel
@jax.jit
def shade_sh(albedo: jnp.ndarray, normals: jnp.ndarray, sh_coeffs: jnp.ndarray) -> jnp.ndarray:
    """Lambertian colour under SH lighting.

    Args:
      albedo: (B, H, W, 3).
      normals: (B, H, W, 3) unit normals (view or world space, matching the SH frame).
      sh_coeffs: (B, 9, 3) or (9, 3) radiance coefficients (see :mod:`rendering.sh`).
    Returns:
      (B, H, W, 3) ``albedo * E(n) / pi``.
    """
    sh = jnp.asarray(sh_coeffs)
    if sh.shape[-2:] != (9, 3):
        raise ValueError(f"sh_coeffs must be (..., 9, 3), got shape {tuple(sh.shape)}")
    if sh.ndim == 3:
        sh = sh[:, None, None]
    return albedo * sh_shading(normals, sh)


@jax.jit
def specular_blinn_phong(
    normals: jnp.ndarray, view_dirs: jnp.ndarray, light_dirs: jnp.ndarray, shininess: jnp.ndarray | float
) -> jnp.ndarray:
    """Energy-normalised Blinn-Phong lobe times the cosine term (elementwise, any batch).

        f(n, v, l) = (s + 8) / (8 pi) * max(n . h, 0)^s * max(n . l, 0),   h = (v + l) / |v + l|

    The (s + 8) / (8 pi) factor keeps the lobe's reflected energy about constant as the
    shininess s changes (Akenine-Moeller et al., Real-Time Rendering, 3rd ed., 7.6), so
    ``ks * E * f`` is the outgoing radiance of a surface with specular reflectance ``ks``
    under a directional light of irradiance ``E`` (at normal incidence).

    Args:
      normals: (..., 3) unit normals.
      view_dirs: (..., 3) unit vectors from the surface toward the camera.
      light_dirs: (..., 3) unit vectors from the surface toward the light.
      shininess: exponent s >= 0, broadcastable to (...).
    Returns:
      (...) the lobe value; 0 where the light is behind the surface.
    """
    h = safe_normalize(view_dirs + light_dirs)
    n_h = jnp.maximum(jnp.sum(normals * h, -1), 0.0)
    n_l = jnp.maximum(jnp.sum(normals * light_dirs, -1), 0.0)
    s = jnp.asarray(shininess, n_h.dtype)
    # n_h ** s with a finite gradient at n_h = 0 (where the lobe is 0 anyway).
    lobe = jnp.where(n_h > 0, jnp.exp(s * jnp.log(jnp.maximum(n_h, 1e-30))), 0.0)
    return (s + 8.0) / (8.0 * jnp.pi) * lobe * n_l


@batch_parallel
@jax.jit
def vertex_tangents(
    vertices: jnp.ndarray, triangles: jnp.ndarray, uv: jnp.ndarray, uv_triangles: jnp.ndarray
) -> jnp.ndarray:
    """Per-vertex tangent frames from UV parameterization (MikkTSpace-like, area weighted).

    Args:
      vertices: (..., V, 3); triangles: (F, 3).
      uv: (T, 2) per-corner UV table; uv_triangles: (F, 3) indices into it.
    Returns:
      (..., V, 4): unit tangent (along +u, orthogonal to the vertex normal) and
      handedness ``w`` in {-1, 1}; the bitangent is ``w * cross(n, t)``.
    """
    tri = jnp.asarray(triangles, jnp.int32)
    uvt = jnp.asarray(uv)[jnp.asarray(uv_triangles, jnp.int32)]  # (F, 3, 2)
    p = jnp.take(vertices, tri, axis=-2)  # (..., F, 3, 3)
    dp1, dp2 = p[..., 1, :] - p[..., 0, :], p[..., 2, :] - p[..., 0, :]
    duv1, duv2 = uvt[:, 1] - uvt[:, 0], uvt[:, 2] - uvt[:, 0]
    det = duv1[:, 0] * duv2[:, 1] - duv2[:, 0] * duv1[:, 1]
    r = jnp.where(jnp.abs(det) > 1e-12, 1.0 / jnp.where(det == 0, 1.0, det), 0.0)[:, None]
    t = (dp1 * duv2[:, 1:2] - dp2 * duv1[:, 1:2]) * r
    bt = (dp2 * duv1[:, 0:1] - dp1 * duv2[:, 0:1]) * r
    num_v = vertices.shape[-2]

    def scatter(x):  # (..., F, 3) -> (..., V, 3), summed over each face's corners
        xs = jnp.repeat(x, 3, axis=-2)
        moved = jnp.moveaxis(xs, -2, 0)
        return jnp.moveaxis(jax.ops.segment_sum(moved, tri.reshape(-1), num_segments=num_v), 0, -2)

    n = scatter(face_normals(vertices, tri, normalize=False))
    n = safe_normalize(n)
    t = scatter(t)
    bt = scatter(bt)
    t = safe_normalize(t - n * jnp.sum(n * t, -1, keepdims=True))
    w = jnp.where(jnp.sum(jnp.cross(n, t) * bt, -1, keepdims=True) < 0, -1.0, 1.0)
    return jnp.concatenate([t, w], -1)


@batch_parallel
@jax.jit
def perturb_normals(normals: jnp.ndarray, tangents: jnp.ndarray, normal_map: jnp.ndarray) -> jnp.ndarray:
    """Applies a tangent-space normal map.

    Args:
      normals: (..., 3) interpolated normals (need not be unit).
      tangents: (..., 4) interpolated tangents with handedness (from :func:`vertex_tangents`).
      normal_map: (..., 3) tangent-space normals in [-1, 1] (x along +u, y along +v,
        z along the normal); a texture stored in [0, 1] maps by ``2 t - 1``.
    Returns:
      (..., 3) unit shading normals.
    """
    n = safe_normalize(normals)
    t = safe_normalize(tangents[..., :3] - n * jnp.sum(n * tangents[..., :3], -1, keepdims=True))
    sign = jnp.where(tangents[..., 3:4] < 0, -1.0, 1.0)
    b = sign * jnp.cross(n, t)
    return safe_normalize(normal_map[..., 0:1] * t + normal_map[..., 1:2] * b + normal_map[..., 2:3] * n)


@jax.jit
def composite(color: jnp.ndarray, alpha: jnp.ndarray, background: jnp.ndarray | float = 0.0) -> jnp.ndarray:
    """``color * alpha + background * (1 - alpha)``.

    Args:
      color: (B, H, W, C); alpha: (B, H, W) or (B, H, W, 1) coverage;
      background: scalar, (C,), or (B, H, W, C).
    """
    if alpha.ndim == color.ndim - 1:
        alpha = alpha[..., None]
    return color * alpha + jnp.asarray(background, color.dtype) * (1.0 - alpha)
