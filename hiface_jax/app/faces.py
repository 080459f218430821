"""From face coefficients to everything a user sees: meshes, detail maps, renders.

``FaceAssets`` holds what is fixed for a run (face model, detail basis, UV geometry,
subdivision, renderer); ``Estimate`` is what a backend infers per face (coarse
``FaceParams`` and SD-DeTail codes); ``evaluate`` turns a batch of estimates into
arrays, all in one jitted call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import rendering
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import face_model as fm
from hiface_jax.face import face_render
from hiface_jax.fit import fitting
from hiface_jax.geometry import camera, rotation
from hiface_jax.sddetail import detail, detail_basis

ALBEDO_RESOLUTION = 256
CLAY = (0.62, 0.60, 0.58)  # linear grey of the detailed render: geometry, not colour
KEY_LIGHT = (-0.55, 0.45, 0.70)  # camera space: from the upper left, in front


def clay_light() -> jnp.ndarray:
    """(9, 3) SH of the clay render: a raking key light plus ambient, whatever the photo's
    lighting, as the detailed render is there to show the detail's relief."""
    key = jnp.asarray(KEY_LIGHT) / jnp.linalg.norm(jnp.asarray(KEY_LIGHT))
    return rendering.ambient_sh(0.35) + 0.9 * rendering.directional_sh(key)[:, None]


@struct.dataclass
class FaceAssets:
    """Fixed parts of a run: a pytree, so jitted functions take its arrays as arguments
    (not as constants baked into each compilation).

    Attributes:
      full: the whole ICT model (coarse OBJ: full topology, original vertex order).
      skin: ``full.submesh()``, the face + head/neck skin the fitter and renderer use.
      basis: SD-DeTail maps (cm) at the UV resolution of ``geometry``.
      geometry: UV raster, triangles and edges of ``skin``.
      subdivision: ``skin`` split once (the dense detailed mesh).
      layout: albedo masks.
      camera: the crop's pinhole camera.
      renderer: ``skin`` at the crop resolution.
      tension_scale, tension_bias: s and b of the SD-DeTail blend.
    """

    full: fm.FaceModel
    skin: fm.FaceModel
    basis: detail.DetailBasis
    geometry: detail.DetailGeometry
    subdivision: detail.Subdivision
    layout: albedo_lib.AlbedoLayout
    camera: fitting.FitCamera = struct.field(pytree_node=False)
    renderer: face_render.FaceRenderer = struct.field(pytree_node=False)
    tension_scale: float = struct.field(pytree_node=False, default=detail.TENSION_SCALE)
    tension_bias: float = struct.field(pytree_node=False, default=0.0)


def load_assets(
    ict_dir: str | None = None,
    image_size: int = 224,
    basis: detail.DetailBasis | None = None,
    tension_scale: float = detail.TENSION_SCALE,
    tension_bias: float = 0.0,
) -> FaceAssets:
    """Loads the face model and builds the constants (a few seconds; the default basis
    is built from procedural scans on first use)."""
    full = fm.load_face_model(ict_dir, progress=False)
    skin = full.submesh()
    if basis is None:
        basis = detail_basis.load_or_build_default_basis(skin)
    tris, uvc, uvt = np.asarray(skin.triangles), np.asarray(skin.uv_coords), np.asarray(skin.uv_triangles)
    return FaceAssets(
        full=full,
        skin=skin,
        basis=basis,
        geometry=detail.detail_geometry(skin, basis.resolution[0]),
        subdivision=detail.subdivide(tris, uvc, uvt, 1, skin.num_vertices),
        layout=albedo_lib.albedo_layout(
            uvc, uvt, tris, np.asarray(skin.landmark_indices), skin.num_vertices, ALBEDO_RESOLUTION
        ),
        camera=fitting.FitCamera(image_size),
        renderer=face_render.make_renderer(skin, image_size, fitting.FitCamera.fov_degrees),
        tension_scale=tension_scale,
        tension_bias=tension_bias,
    )


@struct.dataclass
class Estimate:
    """What a backend infers for B faces: coarse parameters and detail codes (leading B)."""

    params: fitting.FaceParams
    codes: detail.DetailCodes


def mean_codes(basis: detail.DetailBasis, batch: int) -> detail.DetailCodes:
    """Zero codes: the basis's mean static detail and mean wrinkles (what the fitter has)."""
    zeros = lambda k: jnp.zeros((batch, k), jnp.float32)
    return detail.DetailCodes(zeros(basis.num_static), zeros(basis.num_compress), zeros(basis.num_stretch))


def index(tree, k: int):
    """Face k of a batched pytree, as numpy."""
    return jax.tree.map(lambda x: np.asarray(x[k]), tree)


def detail_parts(
    assets: FaceAssets, codes: detail.DetailCodes, identity: jnp.ndarray, expression: jnp.ndarray
) -> tuple[jnp.ndarray, detail.DetailMaps]:
    """(..., V, 3) skin vertices in the model frame and the detail under that expression."""
    skin_v = fm.shape(assets.skin, identity, expression)
    neutral = fm.neutral_shape(assets.skin, identity)
    maps = detail.animate_detail(
        assets.basis, assets.geometry, codes, neutral, skin_v, assets.tension_scale, assets.tension_bias
    )
    return skin_v, maps


def posed(p: fitting.FaceParams, vertices: jnp.ndarray) -> jnp.ndarray:
    """Model-frame (B, V, 3) vertices into camera space."""
    return camera.rigid_transform(vertices, rotation.axis_angle_to_matrix(p.rotation), p.translation)


def render_detailed(
    assets: FaceAssets, p: fitting.FaceParams, skin_v: jnp.ndarray, displacement: jnp.ndarray, background
) -> dict[str, jnp.ndarray]:
    """Clay render of the coarse mesh shaded by the detailed normals (B faces)."""
    cam_v = posed(p, skin_v)
    normals, _ = detail.detailed_normal_map(cam_v, displacement, assets.geometry)
    clay = jnp.broadcast_to(jnp.asarray(CLAY, jnp.float32), normals.shape)
    light = jnp.broadcast_to(clay_light(), p.sh.shape)
    return face_render.render(assets.renderer, cam_v, clay, light, background, normal_map=normals)


@jax.jit
def evaluate(assets: FaceAssets, est: Estimate, photos: jnp.ndarray) -> dict[str, jnp.ndarray]:
    """Every array the output files need, for B faces.

    Args:
      est: the batch's estimates.
      photos: (B, S, S, 3) linear RGB crops (render backgrounds).
    Returns:
      coarse_full (B, Vf, 3) and skin (B, V, 3) model-frame meshes (cm); dense (B, Vd, 3) the
      detailed mesh; displacement / static / dynamic (B, H, W) cm; normal / normal_static /
      normal_dynamic (B, H, W, 3) model frame; albedo (B, R, R, 3) linear; landmarks
      (B, 68, 2) crop pixels; coarse_render / detailed_render (B, S, S, 3) linear;
      render_normals (B, S, S, 3); overflow (B,).
    """
    p = est.params
    skin_v, maps = detail_parts(assets, est.codes, p.identity, p.expression)
    dynamic = maps.displacement - maps.static
    normal = lambda d: detail.detailed_normal_map(skin_v, d, assets.geometry)[0]
    albedo = fitting.albedo_of(p, assets.layout)
    coarse = face_render.render(assets.renderer, posed(p, skin_v), albedo, p.sh, photos, specular=p.specular)
    detailed = render_detailed(assets, p, skin_v, maps.displacement, photos)
    return {
        "coarse_full": fm.shape(assets.full, p.identity, p.expression),
        "skin": skin_v,
        "dense": detail.detailed_mesh(skin_v, assets.geometry.triangles, maps.displacement, assets.subdivision),
        "displacement": maps.displacement,
        "static": maps.static,
        "dynamic": dynamic,
        "normal": normal(maps.displacement),
        "normal_static": normal(maps.static),
        "normal_dynamic": normal(dynamic),
        "albedo": albedo,
        "landmarks": fitting.project_landmarks(assets.skin, p, assets.camera),
        "coarse_render": coarse["image"],
        "detailed_render": detailed["image"],
        "render_normals": detailed["normals"],
        "overflow": coarse["overflow"] + detailed["overflow"],
    }
