"""One mesh for a whole synthetic head: skin, eye and mouth shells, hair shell and torso,
rendered in one rasterizer pass with a material id per triangle and procedural shading
per pixel.

Vertex layout: ``[head model (skin first, then shells) | hair shell | torso]``; the
first ``num_skin`` vertices are exactly the coarse skin's, so every ground truth about
the coarse model reads off them unchanged. The triangle list starts with the coarse
skin's triangles in their order.

Shading per pixel (linear RGB):

    colour = albedo(material) * E(n) / pi * AO  +  ks(material) * pi * E_l * f_spec(n, v, l, s(material)) * AO

* albedo: skin from the UV albedo map (designed and / or photo-derived), eyes, teeth,
  mouth, hair and clothing procedural (``eyes_mouth``, ``hair``, ``torso``);
* n: the detail normal map on the face UV tile, interpolated vertex normals elsewhere;
* E: the SH lighting; AO: per-vertex ambient occlusion baked on the mean head with the
  mouth closed and open (``occlusion``), interpolated by ``jawOpen``;
* f_spec: ``rendering.specular_blinn_phong`` toward the SH's dominant light direction
  (``rendering.dominant_light``); hair uses the Kajiya-Kay trick (the normal is the
  half vector's component across the strand), which gives hair its highlight band.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

import rendering
from hiface_jax.data import eyes_mouth, hair, occlusion, torso
from hiface_jax.data.eyes_mouth import Segment
from hiface_jax.face import face_model as fm

# Specular reflectance and shininess by material (skin's are sampled per face).
SPECULAR = {
    Segment.SCLERA: (0.12, 150.0),  # wet cornea: a small, bright catchlight
    Segment.TEETH: (0.08, 40.0),
    Segment.MOUTH: (0.12, 60.0),
    Segment.EYE_SOCKET: (0.1, 60.0),
    Segment.HAIR: (0.0, 60.0),  # strength sampled (hair_shine)
    Segment.CLOTHING: (0.02, 8.0),
}
AMBIENT_FLOOR = {Segment.TEETH: 0.35, Segment.MOUTH: 0.15, Segment.EYE_SOCKET: 0.3}  # bounce light in cavities


@dataclasses.dataclass(frozen=True, eq=False)
class HeadScene:
    """Static topology and per-vertex data of the synthetic head (build with ``build_head_scene``).

    Compared and hashed by identity, like ``face_render.FaceRenderer``.
    """

    model: fm.FaceModel  # skin + eye / mouth shells
    num_skin: int  # the coarse skin's vertices come first ...
    num_skin_triangles: int  # ... and so do its triangles
    triangles: np.ndarray  # (F, 3) over [head | hair shell | torso] vertices
    materials: np.ndarray  # (F,) Segment
    uv_coords: np.ndarray  # (T + 1, 2): the skin's, then a dummy
    uv_triangles: np.ndarray  # (F, 3)
    neighbors: np.ndarray
    eyes: eyes_mouth.EyeGeometry
    hair_vertices: np.ndarray  # (N,) skin vertex under each hair-shell vertex
    hair_rest: np.ndarray  # (N, 3) hair.rest_coordinates
    torso_uv: np.ndarray  # (T, 2) torso.grid parameters
    aux: np.ndarray  # (V, 3) static per-vertex shading coordinates
    ambient_occlusion: np.ndarray  # (2, V_head) mouth closed, open
    image_size: int
    fov_degrees: float
    near: float = 10.0
    far: float = 1000.0
    raster: rendering.RasterConfig = rendering.RasterConfig(cull_backfaces=True)

    @property
    def num_head(self) -> int:
        return self.model.num_vertices

    @property
    def num_vertices(self) -> int:
        return self.num_head + self.hair_vertices.size + self.torso_uv.shape[0]

    @property
    def projection(self) -> jnp.ndarray:
        return rendering.perspective(math.radians(self.fov_degrees), 1.0, self.near, self.far)


def build_head_scene(full: fm.FaceModel, image_size: int, fov_degrees: float) -> HeadScene:
    """Assembles the head mesh and bakes (or loads) its ambient occlusion.

    Args:
      full: the full published face model (``face_model.load_face_model``).
      image_size, fov_degrees: the camera.
    """
    model, head_tris, head_mats = eyes_mouth.head_model(full)
    coarse = full.submesh()
    n_skin, n_head = coarse.num_vertices, model.num_vertices
    skin_tris = np.asarray(coarse.triangles)
    hair_idx, hair_tris, hair_src = hair.shell_topology(np.asarray(coarse.mean_shape), skin_tris)
    torso_uv, torso_tris = torso.grid()
    n_hair = hair_idx.size
    dummy = np.asarray(coarse.uv_coords).shape[0]
    skin_uv_tris = np.asarray(coarse.uv_triangles)
    triangles = np.concatenate([head_tris, hair_tris + n_head, torso_tris + n_head + n_hair]).astype(np.int32)
    materials = np.concatenate(
        [head_mats, np.full(len(hair_tris), Segment.HAIR), np.full(len(torso_tris), Segment.CLOTHING)]
    ).astype(np.int32)
    uv_triangles = np.concatenate(
        [skin_uv_tris, np.full((len(head_tris) - len(skin_uv_tris), 3), dummy), skin_uv_tris[hair_src],
         np.full((len(torso_tris), 3), dummy)]
    ).astype(np.int32)  # fmt: skip
    uv_coords = np.concatenate([np.asarray(coarse.uv_coords), np.zeros((1, 2), np.float32)]).astype(np.float32)

    eyes = eyes_mouth.EyeGeometry(model)
    hair_rest = hair.rest_coordinates(np.asarray(coarse.mean_shape)[hair_idx])
    aux = np.zeros((n_head + n_hair + torso_uv.shape[0], 3), np.float32)
    for e in range(2):
        aux[eyes.sclera[e], :2] = eyes.polar[e]
        aux[eyes.sclera[e], 2] = e  # which eye: 0 left, 1 right
    aux[n_head : n_head + n_hair, :2] = hair_rest[:, :2]
    mean_radius = 12.0  # cm: arc length around the torso for the cloth pattern's scale
    aux[n_head + n_hair :, 0] = torso_uv[:, 0] * mean_radius
    aux[n_head + n_hair :, 1] = -torso_uv[:, 1] * 36.0

    mean = np.asarray(model.mean_shape)
    jaw = np.asarray(model.expression_basis)[model.expression_index("jawOpen")]
    ao = np.stack([occlusion.cached_ambient_occlusion(m, head_tris) for m in (mean, mean + jaw)])
    return HeadScene(
        model=model, num_skin=n_skin, num_skin_triangles=len(skin_tris), triangles=triangles, materials=materials, uv_coords=uv_coords,
        uv_triangles=uv_triangles, neighbors=rendering.triangle_neighbors(triangles), eyes=eyes,
        hair_vertices=hair_idx, hair_rest=hair_rest, torso_uv=torso_uv, aux=aux, ambient_occlusion=ao,
        image_size=image_size, fov_degrees=fov_degrees,
    )  # fmt: skip


def assemble(
    scene: HeadScene,
    head: jnp.ndarray,
    expression: jnp.ndarray,
    hair_style: dict[str, jnp.ndarray],
    torso_cam: jnp.ndarray,
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """All vertices of the scene in camera space, with their shading coordinates and AO.

    Args:
      head: (B, V_head, 3) camera-space head-model vertices (eyes already turned).
      expression: (B, K) the expression weights (for the AO of the mouth).
      hair_style: ``hair.sample_hair`` output.
      torso_cam: (B, T, 3) camera-space torso vertices.
    Returns:
      vertices (B, V, 3), aux (B, V, 3), ao (B, V).
    """
    b = head.shape[0]
    skin_tris = jnp.asarray(scene.triangles[: scene.num_skin_triangles])
    skin_normals = rendering.vertex_normals(head[:, : scene.num_skin], skin_tris)
    idx = jnp.asarray(scene.hair_vertices)
    offset, density = hair.hair_offsets(jnp.asarray(scene.hair_rest), hair_style)
    shell = head[:, idx] + skin_normals[:, idx] * offset[..., None]
    vertices = jnp.concatenate([head, shell, torso_cam], 1)
    aux = jnp.broadcast_to(jnp.asarray(scene.aux), (b,) + scene.aux.shape)
    aux = aux.at[:, scene.num_head : scene.num_head + idx.size, 2].set(density)
    jaw = jnp.clip(expression[:, scene.model.expression_index("jawOpen")], 0.0, 1.0)[:, None]
    ao_closed, ao_open = jnp.asarray(scene.ambient_occlusion[0]), jnp.asarray(scene.ambient_occlusion[1])
    ao_head = ao_closed + (ao_open - ao_closed) * jaw
    # Hair: the AO of the skin below it, lifted (hair is lit from outside); torso: the neck shades the collar.
    ao_hair = 0.55 + 0.45 * ao_head[:, idx]
    v = jnp.asarray(scene.torso_uv[:, 1])
    ao_torso = jnp.broadcast_to(0.55 + 0.45 * jnp.clip(v / 0.3, 0.0, 1.0), (b, v.size))
    return vertices, aux, jnp.concatenate([ao_head, ao_hair, ao_torso], 1)


def _select(material: jnp.ndarray, values: dict[int, jnp.ndarray], default: jnp.ndarray) -> jnp.ndarray:
    """Per-pixel choice among (B, H, W, C) candidates by (B, H, W) material id."""
    out = default
    for m, v in values.items():
        out = jnp.where((material == m)[..., None], v, out)
    return out


def render_scene(
    scene: HeadScene,
    vertices: jnp.ndarray,
    aux: jnp.ndarray,
    ao: jnp.ndarray,
    albedo_map: jnp.ndarray,
    normal_map: jnp.ndarray | None,
    look: dict[str, jnp.ndarray],
    sh: jnp.ndarray,
    light_direction: jnp.ndarray,
    light_colour: jnp.ndarray,
    down: jnp.ndarray,
    background: jnp.ndarray,
) -> dict[str, jnp.ndarray]:
    """Renders assembled scenes (linear RGB).

    Args:
      scene: the static head.
      vertices, aux, ao: ``assemble`` output.
      albedo_map: (B, R, R, 3) skin albedo over the face UV tile.
      normal_map: optional (B, R', R', 3) camera-space detail normals over the face tile.
      look: per-sample appearance: ``eyes_mouth.sample_eye_appearance``,
        ``hair.sample_hair`` and ``torso.sample_torso`` outputs merged, plus
        ``skin_specular`` (B,), ``skin_shininess`` (B,), ``lash_cover`` (B, 2) and
        ``mouth_closed`` (B,) (``eyes_mouth``).
      sh: (B, 9, 3) SH radiance in camera space.
      light_direction, light_colour: (B, 3) dominant light (unit, toward the light) and
        its irradiance for the specular term.
      down: (B, 3) the head's -y axis in camera space (hair strand direction).
      background: (B, S, S, 3).
    Returns:
      dict with ``image`` (B, S, S, 3), ``mask`` (B, S, S) visible skin, ``segmentation``
      (B, S, S) int32 ``Segment``, ``normals``, ``depth`` and ``overflow``.
    """
    s = scene.image_size
    tris = jnp.asarray(scene.triangles)
    clip = rendering.transform(vertices, scene.projection)
    frags = rendering.rasterize(clip, tris, (s, s), scene.raster)
    hit = frags.triangle_id >= 0
    material = jnp.where(hit, jnp.asarray(scene.materials)[jnp.maximum(frags.triangle_id, 0)], Segment.BACKGROUND)
    vn = rendering.vertex_normals(vertices, tris)
    attrs = rendering.interpolate(jnp.concatenate([vn, vertices, ao[..., None], aux], -1), frags, tris)
    n_geo = rendering.safe_normalize(attrs[..., :3])
    position, ao_px, coords = attrs[..., 3:6], attrs[..., 6], attrs[..., 7:10]
    uv = rendering.interpolate(jnp.asarray(scene.uv_coords), frags, jnp.asarray(scene.uv_triangles))
    skin = rendering.sample(albedo_map, uv)
    n = n_geo
    if normal_map is not None:
        # The detail map covers the face tile only; head, neck and ears keep vertex normals.
        in_tile = jnp.all((uv >= 0.0) & (uv <= 1.0), -1) & (material == Segment.SKIN)
        n = jnp.where(in_tile[..., None], rendering.safe_normalize(rendering.sample(normal_map, uv)), n_geo)
    b = lambda x: x[:, None, None]
    eye, iris = eyes_mouth.eye_albedo(coords[..., :2], look)
    cover = b(look["lash_cover"][:, 0]) + (b(look["lash_cover"][:, 1]) - b(look["lash_cover"][:, 0])) * coords[..., 2]
    lashes = (material == Segment.SCLERA) & (cover > 0.5)
    eye = eye + (b(look["hair_colour"]) * 0.4 - eye) * cover[..., None]
    closed = b(look["mouth_closed"])
    teeth = b(look["teeth_colour"]) * (1.0 - 0.9 * closed)[..., None]
    albedo = _select(
        material,
        {
            Segment.SCLERA: eye,
            Segment.TEETH: jnp.broadcast_to(teeth, skin.shape),
            Segment.MOUTH: jnp.broadcast_to(b(look["mouth_colour"]), skin.shape),
            Segment.EYE_SOCKET: jnp.broadcast_to(b(look["mouth_colour"]) * 1.4, skin.shape),
            Segment.HAIR: hair.hair_albedo(coords, look, skin),
            Segment.CLOTHING: torso.cloth_albedo(coords[..., :2], look),
        },
        skin,
    )
    floor = jnp.zeros_like(ao_px)
    for m, f in AMBIENT_FLOOR.items():
        floor = jnp.where(material == m, f, floor)
    occl = floor + (1.0 - floor) * jnp.clip(ao_px, 0.0, 1.0)
    diffuse = albedo * jnp.maximum(rendering.sh_shading(n, sh[:, None, None]), 0.0) * occl[..., None]

    view = -rendering.safe_normalize(position)
    light = jnp.broadcast_to(b(light_direction), n.shape)
    # Kajiya-Kay for hair: the normal is the half vector's component across the strand.
    strand = rendering.safe_normalize(b(down) - jnp.sum(b(down) * n, -1, keepdims=True) * n)
    half = rendering.safe_normalize(view + light)
    across = rendering.safe_normalize(half - jnp.sum(half * strand, -1, keepdims=True) * strand)
    n_spec = jnp.where((material == Segment.HAIR)[..., None], across, n)
    ks = jnp.broadcast_to(b(look["skin_specular"]), ao_px.shape)
    shininess = jnp.broadcast_to(b(look["skin_shininess"]), ao_px.shape)
    for m, (k_m, s_m) in SPECULAR.items():
        k_m = b(look["hair_shine"]) if m == Segment.HAIR else k_m
        ks = jnp.where(material == m, k_m, ks)
        shininess = jnp.where(material == m, s_m, shininess)
    ks = jnp.where(lashes, 0.01, ks)
    ks = jnp.where(material == Segment.TEETH, ks * (1.0 - closed), ks)
    lobe = rendering.specular_blinn_phong(n_spec, view, light, shininess)
    tint = jnp.where((material == Segment.HAIR)[..., None], 0.5 + 0.5 * albedo / (jnp.max(albedo, -1, keepdims=True) + 1e-3), 1.0)
    specular = (math.pi * ks * lobe * occl)[..., None] * b(light_colour) * tint
    colour = diffuse + specular
    image = rendering.composite(colour, frags.mask, background)
    image = rendering.antialias(image, frags, clip, tris, scene.neighbors)
    segmentation = jnp.where((material == Segment.SCLERA) & iris, Segment.IRIS, material)
    segmentation = jnp.where(lashes, Segment.EYELASHES, segmentation)
    segmentation = jnp.where((material == Segment.TEETH) & (closed > 0.5), Segment.MOUTH, segmentation)
    return {
        "image": image,
        "mask": ((material == Segment.SKIN) & hit).astype(image.dtype),
        "segmentation": segmentation.astype(jnp.int32),
        "normals": n * hit[..., None],
        "depth": frags.view_depth,
        "overflow": frags.overflow,
    }
