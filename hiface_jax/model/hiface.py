"""HiFace: one photo -> face model coefficients, SD-DeTail codes, a posed mesh and its detail.

    images (B, S, S, 3) in [0, 1]  --encoder-->  features (B, C)
      --heads--> FaceParams (identity, expression in [0, 1], pose, translation, SH, albedo)
                 + static detail code + dynamic code residual          (``Output``)
    rest mesh      = face_model.shape(identity, expression)            (B, N, 3) cm, model frame
    vertices       = R(rotation) rest + translation                    camera space (FitCamera)
    landmarks      = pinhole projection of the 68 landmark vertices    (B, 68, 2) pixels
    tension        = tension(rest, neutral(identity)) rasterised to UV (B, H, W)
    displacement   = SD-DeTail(static code, dynamic codes, tension)    (B, H, W) cm
    render(...)    = coarse and detailed renders through ``rendering`` (``face_render``)

Camera: the pinhole ``FitCamera(S, 12 deg)``, the camera of synthetic renders and of the
photo crops ``photo.preprocess`` makes, so one translation head serves both.

Heads are linear layers on the pooled features with zero kernels; their biases hold the
mean prediction, so an untrained model predicts the mean face, front-facing, at
``DEFAULT_DISTANCE``, lit by a white ambient light, with no detail. Expression weights
are ``sigmoid(logit)`` (ARKit weights live in [0, 1]); the bias starts them at
``sigmoid(EXPRESSION_LOGIT0)`` = 0.0025, close to neutral while keeping a gradient.

Variants (``config.model.detail``): 'sddetail' (the paper), 'none' (coarse only: zero
displacement) and 'deca' (``deca_detail``: a detail code decoded with the expression).

Fixed arrays (face model, UV raster, albedo layout) are ``ModelConst`` variables: part
of the module graph, so jit passes them as arguments, but no optimizer over
``nnx.Param`` touches them. SD-DeTail's frozen parts are ``detail.DetailConst``.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct
from ml_collections import ConfigDict

from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import face_model as fm
from hiface_jax.face import face_render
from hiface_jax.face.landmarks import landmarks_3d
from hiface_jax.fit.fitting import FaceParams, FitCamera
from hiface_jax.geometry import camera, rotation
from hiface_jax.model import encoder as encoder_lib
from hiface_jax.model.deca_detail import DecaDetail
from hiface_jax.sddetail import detail, detail_basis

DEFAULT_DISTANCE = 95.0  # cm to the landmark centroid: where photo crops put a face (``config.data_config``)
EXPRESSION_LOGIT0 = -6.0
TRANSLATION_SCALE = (5.0, 5.0, 20.0)  # cm per unit head output (x, y, depth)
ALBEDO_BASE0 = 0.45  # linear grey: the middle of the skin tones' range
SH_AMBIENT0 = 2.0 * math.sqrt(math.pi)  # band-0 light of a white ambient E = pi (as ``fitting.initial_params``)


# SD-DeTail's maps are displacements in cm (about 1e-2): an optimizer step sized for codes
# and kernels would wipe them out in a few steps, and weight decay would flatten them, so
# the optimizer gives them their own group (``parameter_labels``): this fraction of the
# learning rate and no decay.
DETAIL_MAP_NAMES = ("static_mean", "static_basis", "compress_mean", "compress_basis", "stretch_mean", "stretch_basis")
DETAIL_MAP_LR_SCALE = 0.01


def parameter_labels(params):
    """'detail_maps' for SD-DeTail's maps and basis, 'default' for every other leaf of
    ``params`` (``nnx.state(model, nnx.Param)`` or its gradient): labels for
    ``optax.multi_transform``, which also accepts this function itself."""

    def label(path, _):
        names = {getattr(k, "key", getattr(k, "name", None)) for k in path}
        return "detail_maps" if "sddetail" in names and names & set(DETAIL_MAP_NAMES) else "default"

    return jax.tree_util.tree_map_with_path(label, params)


class ModelConst(nnx.Variable):
    """Fixed arrays the forward pass reads (face model, UV geometry, albedo layout): never trained."""


@struct.dataclass
class Output:
    """Everything the model predicts for a batch of B images (a pytree).

    Attributes:
      params: ``FaceParams`` (B, ...): identity, expression, rotation, translation, SH, albedo.
      static_code: (B, K) SD-DeTail static coefficients ((B, 0) for the other variants).
      dynamic_code: (B, Kc + Kt) compress then stretch codes ((B, 0) without SD-DeTail).
      dynamic_residual: (B, Kc + Kt) the image's correction to the codes SD-DeTail regresses
        from identity and static code (its prior keeps it small).
      detail_code: (B, Kd) DECA's detail code ((B, 0) unless detail='deca').
      rest_vertices: (B, N, 3) coarse mesh in the model frame, cm.
      vertices: (B, N, 3) coarse mesh posed in camera space, cm.
      landmarks: (B, 68, 2) projected landmark vertices, pixels of the S x S crop.
      tension: (B, H, W) mesh tension in UV (zeros without SD-DeTail).
      displacement: (B, H, W) detail displacement D, cm along the coarse normal.
      displacement_static: (B, H, W) its static part D_s.
    """

    params: FaceParams
    static_code: jax.Array
    dynamic_code: jax.Array
    dynamic_residual: jax.Array
    detail_code: jax.Array
    rest_vertices: jax.Array
    vertices: jax.Array
    landmarks: jax.Array
    tension: jax.Array
    displacement: jax.Array
    displacement_static: jax.Array


def _head(features: int, size: int, bias: jax.Array | float, rngs: nnx.Rngs) -> nnx.Linear:
    """A linear head with a zero kernel whose output starts at ``bias``."""
    head = nnx.Linear(features, size, kernel_init=nnx.initializers.zeros, rngs=rngs)
    head.bias[...] = jnp.broadcast_to(jnp.asarray(bias, jnp.float32), (size,))
    return head


class HiFace(nnx.Module):
    """The regressor. ``config`` is the full config (``config.model`` is read)."""

    def __init__(self, config: ConfigDict, face_model: fm.FaceModel, *, rngs: nnx.Rngs, basis=None):
        c = config.model
        if c.detail not in ("sddetail", "none", "deca"):
            raise ValueError(f"config.model.detail must be 'sddetail', 'none' or 'deca', got {c.detail!r}")
        self.detail_kind = c.detail
        self.image_size = int(c.image_size)
        self.fov_degrees = float(c.fov_degrees)
        self.uv_resolution = int(c.uv_resolution)
        self.albedo_grid = int(c.albedo_grid)
        self.expression_names = face_model.expression_names
        m = face_model
        self.face = ModelConst(m)
        self.geometry = ModelConst(detail.detail_geometry(m, self.uv_resolution))
        layout = albedo_lib.albedo_layout(
            np.asarray(m.uv_coords), np.asarray(m.uv_triangles), np.asarray(m.triangles),
            np.asarray(m.landmark_indices), m.num_vertices, self.uv_resolution,
        )  # fmt: skip
        self.layout = ModelConst(layout)
        self.renderer = nnx.static(face_render.make_renderer(m, self.image_size, self.fov_degrees))
        self.encoder = encoder_lib.make_encoder(c.encoder, dtype=c.compute_dtype, rngs=rngs)
        f = self.encoder.features
        mean_lmk = np.asarray(landmarks_3d(m.mean_shape, m.landmark_indices)).mean(0)
        t0 = np.array([0.0, 0.0, -DEFAULT_DISTANCE]) - mean_lmk
        self.head_identity = _head(f, m.num_identity, 0.0, rngs)
        self.head_expression = _head(f, m.num_expression, EXPRESSION_LOGIT0, rngs)
        self.head_rotation = _head(f, 3, 0.0, rngs)
        self.head_translation = _head(f, 3, t0 / np.asarray(TRANSLATION_SCALE), rngs)
        self.head_sh = _head(f, 27, jnp.zeros((9, 3)).at[0].set(SH_AMBIENT0).reshape(-1), rngs)
        self.head_albedo = _head(f, 9, jnp.array([ALBEDO_BASE0] * 3 + [0.0] * 6), rngs)
        self.head_albedo_grid = _head(f, self.albedo_grid**2 * 3, 0.0, rngs)
        if c.detail == "sddetail":
            basis = _load_basis(c, m) if basis is None else basis
            if basis.resolution != (self.uv_resolution, self.uv_resolution):
                raise ValueError(f"detail basis is {basis.resolution}, config.model.uv_resolution {self.uv_resolution}")
            dcfg = detail.DetailConfig(
                learn_static=bool(c.learn_static_basis),
                learn_dynamic=bool(c.learn_dynamic_maps),
                learn_head=bool(c.learn_dynamic_head),
            )
            self.sddetail = detail.SDDetail(basis, m.num_identity, dcfg, rngs=rngs)
            self.head_static = _head(f, basis.num_static, 0.0, rngs)
            self.head_dynamic = _head(f, basis.num_compress + basis.num_stretch, 0.0, rngs)
        elif c.detail == "deca":
            self.deca = DecaDetail(
                int(c.deca_code_dim), m.num_expression, self.uv_resolution, float(c.deca_amplitude_cm), rngs=rngs
            )
            self.head_deca = _head(f, int(c.deca_code_dim), 0.0, rngs)

    @property
    def face_model(self) -> fm.FaceModel:
        return self.face.get_value()

    @property
    def camera(self) -> FitCamera:
        return FitCamera(self.image_size, self.fov_degrees)

    def predict_params(self, features: jax.Array) -> FaceParams:
        """Heads: (B, C) features -> ``FaceParams``."""
        b = features.shape[0]
        albedo = self.head_albedo(features)
        return FaceParams(
            identity=self.head_identity(features),
            expression=jax.nn.sigmoid(self.head_expression(features)),
            rotation=self.head_rotation(features),
            translation=self.head_translation(features) * jnp.asarray(TRANSLATION_SCALE),
            sh=self.head_sh(features).reshape(b, 9, 3),
            albedo_base=albedo[:, :3],
            albedo_lips=albedo[:, 3:6],
            albedo_brows=albedo[:, 6:],
            albedo_grid=self.head_albedo_grid(features).reshape(b, self.albedo_grid, self.albedo_grid, 3),
            specular=jnp.zeros((b,), features.dtype),  # the network renders without highlights
        )

    def __call__(self, images: jax.Array, *, train: bool = False) -> Output:
        """Predicts a batch. ``images`` (B, S, S, 3) float in [0, 1] (sRGB, as photos and
        synthetic samples are stored). ``train`` is accepted for the trainer's symmetry:
        nothing in the model (GroupNorm, no dropout) behaves differently."""
        del train
        s = self.image_size
        if images.ndim != 4 or images.shape[1:] != (s, s, 3):
            raise ValueError(f"images must be (B, {s}, {s}, 3), got {images.shape}")
        if not jnp.issubdtype(images.dtype, jnp.floating):
            raise ValueError(f"images must be float in [0, 1], got {images.dtype} (divide uint8 pixels by 255)")
        features = self.encoder(images.astype(jnp.float32))
        return self.decode(features)

    def decode(self, features: jax.Array) -> Output:
        """Everything after the encoder: heads, mesh, landmarks, detail."""
        p = self.predict_params(features)
        return self.geometry_of(p, *self.detail_codes(features))

    def detail_codes(self, features: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(static or DECA code, dynamic residual) from features; zero-width where unused."""
        b = features.shape[0]
        if self.detail_kind == "sddetail":
            return self.head_static(features), self.head_dynamic(features)
        if self.detail_kind == "deca":
            return self.head_deca(features), jnp.zeros((b, 0))
        return jnp.zeros((b, 0)), jnp.zeros((b, 0))

    def geometry_of(self, p: FaceParams, code: jax.Array, dynamic_residual: jax.Array) -> Output:
        """Mesh, landmarks and detail of given parameters and codes (ground truth goes through here too).

        Args:
          p: ``FaceParams`` (B, ...).
          code: (B, K) static code (sddetail) or (B, Kd) detail code (deca); (B, 0) for none.
          dynamic_residual: (B, Kc + Kt) added to SD-DeTail's regressed dynamic codes.
        """
        m, cam = self.face_model, self.camera
        b, r = p.identity.shape[0], self.uv_resolution
        rest = fm.shape(m, p.identity, p.expression)
        vertices = camera.rigid_transform(rest, rotation.axis_angle_to_matrix(p.rotation), p.translation)
        landmarks = camera.perspective_project(
            landmarks_3d(vertices, m.landmark_indices), jnp.asarray(cam.focal), cam.principal_point
        )
        zeros = jnp.zeros((b, r, r), jnp.float32)
        empty = jnp.zeros((b, 0), jnp.float32)
        static_code, dynamic_code, detail_code, residual = empty, empty, empty, empty
        tension, displacement, static = zeros, zeros, zeros
        if self.detail_kind == "sddetail":
            geometry = self.geometry.get_value()
            tension = detail.tension_map(geometry, rest, fm.neutral_shape(m, p.identity))
            codes = self.sddetail.codes(code, p.identity)
            kc = codes.compress.shape[-1]
            codes = codes.replace(
                compress=codes.compress + dynamic_residual[:, :kc], stretch=codes.stretch + dynamic_residual[:, kc:]
            )
            cfg = self.sddetail.config
            maps = detail.evaluate_detail(self.sddetail.basis(), codes, tension, cfg.tension_scale, cfg.tension_bias)
            static_code, dynamic_code = code, jnp.concatenate([codes.compress, codes.stretch], -1)
            residual = dynamic_residual
            displacement, static = maps.displacement, maps.static
        elif self.detail_kind == "deca":
            detail_code = code
            static, displacement = self.deca.static_and_total(code, p.expression)
        return Output(
            params=p,
            static_code=static_code,
            dynamic_code=dynamic_code,
            dynamic_residual=residual,
            detail_code=detail_code,
            rest_vertices=rest,
            vertices=vertices,
            landmarks=landmarks,
            tension=tension,
            displacement=displacement,
            displacement_static=static,
        )


def ground_truth_output(model: HiFace, batch: dict[str, jax.Array]) -> Output:
    """The model's geometry of a synthetic batch's ground truth (its coefficients and
    codes through ``geometry_of``): a perfect prediction, for tests and summaries."""
    albedo = jnp.zeros_like(batch["albedo_base"])
    g = model.albedo_grid
    p = FaceParams(
        identity=batch["identity"],
        expression=batch["expression"],
        rotation=batch["rotation"],
        translation=batch["translation"],
        sh=batch["sh"],
        albedo_base=batch["albedo_base"],
        albedo_lips=batch.get("albedo_lips", albedo),
        albedo_brows=batch.get("albedo_brows", albedo),
        albedo_grid=batch.get("albedo_grid", jnp.zeros(albedo.shape[:1] + (g, g, 3))),
        specular=jnp.zeros(albedo.shape[:1]),
    )
    if model.detail_kind != "sddetail":
        b = albedo.shape[0]
        return model.geometry_of(p, jnp.zeros((b, 0)), jnp.zeros((b, 0)))
    regressed = model.sddetail.codes(batch["static_code"], batch["identity"])
    residual = batch["dynamic_code"] - jnp.concatenate([regressed.compress, regressed.stretch], -1)
    return model.geometry_of(p, batch["static_code"], residual)


def _load_basis(c: ConfigDict, m: fm.FaceModel) -> detail.DetailBasis:
    if c.detail_basis:
        return detail_basis.load_detail_basis(c.detail_basis, int(c.uv_resolution))
    return detail_basis.load_or_build_default_basis(m, int(c.uv_resolution))


def build_model(config: ConfigDict, *, rngs: nnx.Rngs, face_model: fm.FaceModel | None = None) -> HiFace:
    """A HiFace model for the full ``config`` (``config.model``); loads the face model
    (coarse skin, ``face_model.submesh()``) and the detail basis itself when not given."""
    if face_model is None:
        face_model = fm.load_face_model(progress=False).submesh()
    return HiFace(config, face_model, rngs=rngs)


@functools.lru_cache(maxsize=8)
def _renderer_at(renderer: face_render.FaceRenderer, image_size: int) -> face_render.FaceRenderer:
    """``renderer``'s topology at another resolution (image summaries at a larger size)."""
    if image_size == renderer.image_size:
        return renderer
    return face_render.FaceRenderer(
        triangles=renderer.triangles,
        uv_coords=renderer.uv_coords,
        uv_triangles=renderer.uv_triangles,
        neighbors=renderer.neighbors,
        image_size=image_size,
        fov_degrees=renderer.fov_degrees,
        near=renderer.near,
        far=renderer.far,
        raster=renderer.raster,
    )


def render(
    model: HiFace, out: Output, image_size: int | None = None, background: jax.Array | float = 0.0
) -> dict[str, jax.Array]:
    """Coarse and detailed renders of a prediction (linear RGB, ``face_render`` conventions).

    Args:
      model: the model (topology, camera, albedo layout, UV geometry).
      out: its prediction.
      image_size: render side; default the model's input size (a pinhole of the same field
        of view, so predictions carry over to any size).
      background: scalar, (3,) or (B, S, S, 3) linear RGB behind the face.
    Returns:
      ``coarse`` and ``detailed`` (B, S, S, 3) images, ``mask`` (B, S, S) face coverage,
      ``normals`` (B, S, S, 3) detailed shading normals (camera space, 0 off the face),
      ``normal_map`` (B, H, W, 3) detailed normals in UV, ``overflow`` (B,) rasterizer
      overflow counts (must be 0).
    """
    renderer = _renderer_at(model.renderer, int(image_size or model.image_size))
    p = out.params
    albedo = albedo_lib.albedo_map(
        p.albedo_base, p.albedo_lips, p.albedo_brows, p.albedo_grid, model.layout.get_value()
    )
    coverage = face_render.rasterize(renderer, out.vertices)  # one visibility pass for both shadings
    coarse = face_render.render(renderer, out.vertices, albedo, p.sh, background, coverage=coverage)
    normal_map, _ = detail.detailed_normal_map(out.vertices, out.displacement, model.geometry.get_value())
    if model.detail_kind == "none":
        detailed = coarse
    else:
        detailed = face_render.render(
            renderer, out.vertices, albedo, p.sh, background, normal_map=normal_map, coverage=coverage
        )
    return {
        "coarse": coarse["image"],
        "detailed": detailed["image"],
        "mask": coarse["mask"],
        "normals": detailed["normals"],
        "normal_map": normal_map,
        "overflow": jnp.maximum(coarse["overflow"], detailed["overflow"]),
    }


def summary_images(images: jax.Array, rendered: dict[str, jax.Array]) -> jax.Array:
    """(B, S, 4 S, 3) in [0, 1] sRGB: input | coarse render | detailed render | normals (image summaries)."""
    to_srgb = lambda x: albedo_lib.linear_to_srgb(jnp.clip(x, 0.0, 1.0))
    normals = 0.5 + 0.5 * rendered["normals"]
    return jnp.concatenate([images, to_srgb(rendered["coarse"]), to_srgb(rendered["detailed"]), normals], axis=2)
