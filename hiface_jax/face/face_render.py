"""Image formation for faces: the face model's mesh through ``rendering``.

    clip = P (camera-space vertices)          pinhole P of the crop (FitCamera)
    fragments = rasterize(clip)                tiled visibility + differentiable barycentrics
    albedo = A(uv(pixel)),  n = N(pixel)       UV albedo map; vertex normals or a UV normal map
    colour = albedo * E(n) / pi                SH lighting in camera space
           + ks * pi * E_l * f(n, v, l)         optional Blinn-Phong highlight toward the SH's dominant light
    image = antialias(composite(colour, coverage, background))

Everything is linear RGB in [0, 1]; photos are compared after ``srgb_to_linear``.
Lighting lives in camera space, so SH coefficients describe light as the camera sees it
(head rotation does not rotate the light).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

import rendering
from flax import struct
from hiface_jax.face.face_model import FaceModel

# Blinn-Phong exponent of skin highlights: the middle of the synthetic generator's 10-35.
SKIN_SHININESS = 20.0


@dataclasses.dataclass(frozen=True, eq=False)
class FaceRenderer:
    """Static topology and camera for rendering one face model at one resolution.

    Build with ``make_renderer``. Compared and hashed by identity (``eq=False``), so one
    renderer can be a static argument of ``jax.jit`` and is compiled for once.
    """

    triangles: np.ndarray
    uv_coords: np.ndarray
    uv_triangles: np.ndarray
    neighbors: np.ndarray
    image_size: int
    fov_degrees: float
    near: float = 10.0
    far: float = 1000.0
    raster: rendering.RasterConfig = rendering.RasterConfig(cull_backfaces=True)
    interior_albedo: tuple[float, float, float] | None = None

    @property
    def projection(self) -> jnp.ndarray:
        """(4, 4) OpenGL projection matching ``camera.perspective_project`` with
        focal ``focal_from_fov(fov, S)`` and the principal point at the crop centre."""
        return rendering.perspective(math.radians(self.fov_degrees), 1.0, self.near, self.far)


def make_renderer(model: FaceModel, image_size: int, fov_degrees: float, **kwargs) -> FaceRenderer:
    """A renderer for ``model``'s triangles and UVs (computes the edge adjacency once).

    ``interior_albedo=(r, g, b)`` draws the inside of the skin (seen through the eye and
    mouth openings, where the skin mesh has holes) in that dark colour instead of culling
    it: what photos show there is a dark socket, not the background. The ``mask`` output
    still covers the outside of the skin only.
    """
    if kwargs.get("interior_albedo") is not None:
        kwargs.setdefault("raster", rendering.RasterConfig(cull_backfaces=False))
    tris = np.asarray(model.triangles)
    return FaceRenderer(
        triangles=tris,
        uv_coords=np.asarray(model.uv_coords),
        uv_triangles=np.asarray(model.uv_triangles),
        neighbors=rendering.triangle_neighbors(tris),
        image_size=image_size,
        fov_degrees=fov_degrees,
        **kwargs,
    )


@struct.dataclass
class Coverage:
    """What rasterising a batch gives, shared by every shading of the same mesh.

    Attributes:
      clip: (B, V, 4) clip-space vertices.
      fragments: ``rendering`` fragments (triangle ids, barycentrics, depth, overflow).
      uv: (B, S, S, 2) interpolated UV coordinates.
    """

    clip: jnp.ndarray
    fragments: rendering.Fragments
    uv: jnp.ndarray


def rasterize(renderer: FaceRenderer, vertices: jnp.ndarray) -> Coverage:
    """Visibility and UVs of (B, V, 3) camera-space vertices (cm): the costly half of ``render``."""
    s = renderer.image_size
    tris = jnp.asarray(renderer.triangles)
    clip = rendering.transform(vertices, renderer.projection)
    frags = rendering.rasterize(clip, tris, (s, s), renderer.raster)
    uv_img = rendering.interpolate(jnp.asarray(renderer.uv_coords), frags, jnp.asarray(renderer.uv_triangles))
    return Coverage(clip, frags, uv_img)


def render(
    renderer: FaceRenderer,
    vertices: jnp.ndarray,
    albedo_map: jnp.ndarray,
    sh: jnp.ndarray,
    background: jnp.ndarray | float = 0.0,
    normal_map: jnp.ndarray | None = None,
    coverage: Coverage | None = None,
    specular: jnp.ndarray | None = None,
    shininess: float = SKIN_SHININESS,
) -> dict[str, jnp.ndarray]:
    """Renders faces.

    Args:
      renderer: topology and camera.
      vertices: (B, V, 3) camera-space vertices (cm; z < 0 in front).
      albedo_map: (B, R, R, 3) linear RGB albedo over the face UV tile.
      sh: (B, 9, 3) SH radiance in camera space.
      background: scalar, (3,) or (B, S, S, 3) linear RGB.
      normal_map: optional (B, R', R', 3) unit normals in camera space over the UV
        tile (e.g. ``detail.detailed_normal_map`` of the camera-space mesh); pixels use
        the interpolated vertex normals without it.
      coverage: ``rasterize(renderer, vertices)`` when the caller already has it (a coarse
        and a detailed render of one mesh share the visibility pass).
      specular: optional (B,) specular reflectance ks: adds a Blinn-Phong lobe of ``shininess``
        lit by the SH's dominant directional light (``rendering.dominant_light``), the highlight
        that Lambertian SH shading cannot make.
    Returns:
      dict with ``image`` (B, S, S, 3), ``mask`` (B, S, S) hard coverage, ``normals``
      (B, S, S, 3) shading normals, ``depth`` (B, S, S) view depth (cm, 0 on
      background), ``overflow`` (B,) rasterizer overflow counts (must be 0).
    """
    tris = jnp.asarray(renderer.triangles)
    cov = rasterize(renderer, vertices) if coverage is None else coverage
    clip, frags, uv_img = cov.clip, cov.fragments, cov.uv
    albedo = rendering.sample(albedo_map, uv_img)
    if normal_map is None:
        normals = rendering.interpolate(rendering.vertex_normals(vertices, tris), frags, tris)
    else:
        normals = rendering.sample(normal_map, uv_img)
    normals = rendering.safe_normalize(normals)
    colour = rendering.shade_sh(albedo, normals, sh)
    if specular is not None or renderer.interior_albedo is not None:
        position = rendering.interpolate(vertices, frags, tris)  # camera space; the camera is at the origin
    if specular is not None:
        view = rendering.safe_normalize(-position)
        light, strength = rendering.dominant_light(sh)
        lobe = rendering.specular_blinn_phong(normals, view, light[:, None, None], shininess)
        colour = colour + (math.pi * specular[:, None, None] * lobe)[..., None] * strength[:, None, None]
    mask = frags.mask
    if renderer.interior_albedo is not None:
        # A pixel sees the inside when its triangle faces away from the camera.
        face_n = rendering.face_normals(vertices, tris)
        facing = jax.vmap(lambda n, t: n[t])(face_n, jnp.maximum(frags.triangle_id, 0))
        inside = (jnp.sum(facing * position, axis=-1) > 0) & (frags.triangle_id >= 0)
        interior = jnp.asarray(renderer.interior_albedo, colour.dtype) * jnp.maximum(
            rendering.sh_shading(-normals, sh[:, None, None]), 0.0
        )
        colour = jnp.where(inside[..., None], interior, colour)
        normals = jnp.where(inside[..., None], -normals, normals)
        mask = mask * (1.0 - inside)
    image = rendering.composite(colour, frags.mask, background)
    image = rendering.antialias(image, frags, clip, tris, renderer.neighbors)
    return {
        "image": image,
        "mask": mask,
        "normals": normals * mask[..., None],
        "depth": frags.view_depth,
        "overflow": frags.overflow,
    }
