"""Analysis-by-synthesis: fitting the face model to photos through our rasterizer.

Two stages, each one jitted ``lax.scan`` over optax steps, batched over images:

1. **Landmarks**: pose, identity and expression from the 68 detected landmarks
   (``losses.landmark_loss`` + eye / lip closure + priors).
2. **Photometric**: everything, albedo, SH lighting and the skin's specular strength
   included, through the soft rasterizer (``losses.photometric_loss``), keeping the landmark
   term.

The camera is a fixed pinhole (``FitCamera``): with a 12-degree field of view a face
fills a 224 px crop at about 1.4 m, close to the weak-perspective regime in which one
photo cannot separate focal length from distance, so the focal length is not fitted.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from hiface_jax import losses
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import face_model as fm
from hiface_jax.face import face_render
from hiface_jax.face.landmarks import landmarks_3d
from hiface_jax.fit import dense_landmarks as dl
from hiface_jax.fit import landmark_calibration
from hiface_jax.geometry import camera, rotation
from hiface_jax.photo import landmark_detector as ld

# Where the photometric stage starts the skin's specular reflectance (the synthetic generator
# draws 0.02-0.08).
INITIAL_SPECULAR = 0.03


@dataclasses.dataclass(frozen=True)
class FitCamera:
    """Pinhole camera of a square crop. Principal point at the crop centre."""

    image_size: int = 224
    fov_degrees: float = 12.0

    @property
    def focal(self) -> float:
        return 0.5 * self.image_size / math.tan(math.radians(self.fov_degrees) / 2.0)

    @property
    def principal_point(self) -> jnp.ndarray:
        return np.full((2,), self.image_size / 2.0, np.float32)


@struct.dataclass
class FaceParams:
    """Everything the fit estimates, batched over B images.

    Attributes:
      identity: (B, K_id) beta.
      expression: (B, K_exp) psi.
      rotation: (B, 3) axis-angle of the head in camera space.
      translation: (B, 3) cm, camera space (z < 0 in front of the camera).
      sh: (B, 9, 3) SH radiance (``rendering.sh`` convention).
      albedo_base, albedo_lips, albedo_brows: (B, 3) linear RGB (``albedo`` module).
      albedo_grid: (B, g, g, 3) relative albedo variation.
      specular: (B,) the skin's specular reflectance ks (``face_render.render``).
    """

    identity: jnp.ndarray
    expression: jnp.ndarray
    rotation: jnp.ndarray
    translation: jnp.ndarray
    sh: jnp.ndarray
    albedo_base: jnp.ndarray
    albedo_lips: jnp.ndarray
    albedo_brows: jnp.ndarray
    albedo_grid: jnp.ndarray
    specular: jnp.ndarray


@struct.dataclass
class DenseTargets:
    """MediaPipe's detected points and their embedding on the mesh (``dense_landmarks``).

    Attributes:
      points: (B, N, 2) detected points, crop pixels (the embedded MediaPipe ids only).
      local: the face model restricted to the R vertices the points use (gathered once, not
        at every optimiser step).
      vertices, weights: (N, 3) each, the embedding's triangles (indices into ``local``) and
        barycentric weights.
      point_weights: (N,) per-point weights of the landmark term.
      contour_rows: (M,) rows of the face-oval points, matched to the silhouette.
      candidates: (M, C) their candidate vertices (indices into ``local``).
      lid_gap_bias: (4,) the embedding's ``lid_gap_bias`` (the eye-closure targets' correction).
    """

    points: jnp.ndarray
    local: fm.FaceModel
    vertices: jnp.ndarray
    weights: jnp.ndarray
    point_weights: jnp.ndarray
    contour_rows: jnp.ndarray
    candidates: jnp.ndarray
    lid_gap_bias: jnp.ndarray


def dense_targets(
    model: fm.FaceModel,
    landmarks_478: np.ndarray,
    contour_weight: float = 0.5,
    embedding: dl.DenseEmbedding | None = None,
) -> DenseTargets:
    """``DenseTargets`` of (B, 478, 2) MediaPipe landmarks in crop pixels on ``model``, placed by
    ``embedding`` (default: ``dense_landmarks.dense_embedding``, MediaPipe's canonical face)."""
    emb = dl.dense_embedding(model) if embedding is None else embedding
    rows = np.nonzero(emb.contour)[0]
    used, index = np.unique(np.concatenate([emb.vertices.ravel(), emb.candidates[rows].ravel()]), return_inverse=True)
    local = model.replace(
        mean_shape=jnp.asarray(np.asarray(model.mean_shape)[used]),
        identity_basis=jnp.asarray(np.asarray(model.identity_basis)[:, used]),
        expression_basis=jnp.asarray(np.asarray(model.expression_basis)[:, used]),
    )
    point_weights = np.where(emb.contour, contour_weight, 1.0).astype(np.float32)
    return DenseTargets(
        points=jnp.asarray(np.asarray(landmarks_478)[:, emb.landmark_ids], jnp.float32),
        local=local,
        vertices=jnp.asarray(index[: emb.vertices.size].reshape(emb.vertices.shape), jnp.int32),
        weights=jnp.asarray(emb.weights, jnp.float32),
        point_weights=jnp.asarray(point_weights),
        contour_rows=jnp.asarray(rows, jnp.int32),
        candidates=jnp.asarray(index[emb.vertices.size :].reshape(len(rows), -1), jnp.int32),
        lid_gap_bias=jnp.asarray(emb.lid_gap_bias, jnp.float32),
    )


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Step counts, learning rates and loss weights (each loss's formula: ``losses``)."""

    landmark_steps: int = 300
    photometric_steps: int = 150
    learning_rate: float = 0.02
    translation_learning_rate: float = 1.0
    w_landmark: float = 1.0
    w_eye_closure: float = 1.0
    w_lip_closure: float = 0.5
    w_photometric: float = 0.1
    # 1e-4 until issue 10's last sweep: 3e-5 lowered REALY error and ARKit weight on people of
    # the out-of-model split no setting was tuned on, and the NME on real photos
    # (docs/ARCHITECTURE.md "Fit accuracy"); 1e-5 and 3e-4 were worse.
    w_identity_prior: float = 3e-5
    w_expression_prior: float = 3e-5
    w_albedo_grid: float = 1e-4
    w_albedo_smoothness: float = 1e-3
    w_lighting_prior: float = 1e-4
    albedo_grid_size: int = 8
    # Identity and expression apart (issue 10): the first steps of the landmark stage move
    # pose and identity only; ARKit weights stay in [0, 1] under an L1 prior 3x the earlier
    # 1e-5 (measured on the out-of-model split: docs/ARCHITECTURE.md "Fit accuracy").
    # MediaPipe's blendshape scores, when used, are the expression's start and a prior; off by
    # default: on the benchmark's neutral renders they read 4.5-5 of ARKit weight.
    identity_first_steps: int = 100
    bounded_expression: bool = True
    w_blendshape_prior: float = 1e-2
    # MediaPipe's dense points (``dense_landmarks``), when given, replace the 68 in the landmark term.
    contour_weight: float = 0.5
    # What ``fit_detected`` uses of a MediaPipe detection besides the 68 points.
    use_dense: bool = True
    # The dense points where MediaPipe puts them on renders of known faces
    # (``landmark_calibration``), rather than where its canonical face says.
    calibrated_landmarks: bool = True
    # The eye-closure term's targets made as much less open as the calibration measured
    # MediaPipe's lid pairs read open eyes (``DenseEmbedding.lid_gap_bias``); without it, that
    # bias became eyeWide on neutral faces (docs/ARCHITECTURE.md "Fit accuracy").
    calibrated_lid_gaps: bool = True
    use_blendshapes: bool = False
    # Resolution of the photometric stage in ``fit_detected`` (None: the crop's); the photo is
    # area-averaged down by an integer factor, the camera keeps its field of view.
    photometric_size: int | None = 112
    # The expression's learning rate in the photometric stage, as a factor of ``learning_rate``
    # (0: held at the landmark stage's result). The photo's pulls on it put 1-1.5 of ARKit weight
    # on neutral faces. With the fitted highlight, holding it leaves them near-zero expression
    # (0.36) and beats the earlier default on them, at 3.5 % on expressive faces; 0.2 is the
    # better setting for expressive faces only (docs/ARCHITECTURE.md "Fit accuracy").
    photometric_expression_rate: float = 0.0
    # Several photos of one person: one identity for the whole batch (pose, expression,
    # light and albedo stay per photo).
    shared_identity: bool = False
    # False: the photos are known to show neutral faces; the expression is held at zero in both
    # stages (from one photo, identity and a subtle expression cannot be told apart).
    fit_expression: bool = True
    # The photometric stage's render adds a highlight of fitted strength (``FaceParams.specular``).
    # Without it the fit bent the face to explain highlights it could not render: on the head
    # scene's out-of-model faces it cost 0.05-0.3 mm REALY (docs/ARCHITECTURE.md "Fit accuracy").
    fit_specular: bool = True


def with_overrides(items: list[str], base: FitConfig = FitConfig()) -> FitConfig:
    """``base`` with ``field=value`` items applied, each value parsed as its field's type
    (``None`` where the field's default is None, ``True`` / ``False`` for flags).

    Raises:
      ValueError: an unknown field or a value of the wrong type, said plainly.
    """
    fields = {f.name for f in dataclasses.fields(FitConfig)}
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in fields:
            raise ValueError(f"{item!r}: need field=value with a FitConfig field ({', '.join(sorted(fields))})")
        default = getattr(FitConfig, name)
        if text == "None":
            values[name] = None
        elif isinstance(default, bool):
            if text not in ("True", "False"):
                raise ValueError(f"{item!r}: {name} is True or False")
            values[name] = text == "True"
        else:
            kind = int if default is None else type(default)
            try:
                values[name] = kind(text)
            except ValueError:
                raise ValueError(f"{item!r}: {name} must be of type {kind.__name__}") from None
    return dataclasses.replace(base, **values)


def posed_vertices(model: fm.FaceModel, p: FaceParams) -> jnp.ndarray:
    """(B, V, 3) camera-space vertices of the face described by ``p``."""
    v = fm.shape(model, p.identity, p.expression)
    return camera.rigid_transform(v, rotation.axis_angle_to_matrix(p.rotation), p.translation)


def project_landmarks(model: fm.FaceModel, p: FaceParams, cam: FitCamera) -> jnp.ndarray:
    """(B, 68, 2) the model's landmark vertices projected to crop pixels."""
    lmk = fm.shape_at(model, p.identity, p.expression, model.landmark_indices)
    lmk = camera.rigid_transform(lmk, rotation.axis_angle_to_matrix(p.rotation), p.translation)
    return camera.perspective_project(lmk, jnp.asarray(cam.focal), cam.principal_point)


def initial_params(model: fm.FaceModel, landmarks: np.ndarray, cam: FitCamera, grid_size: int = 8) -> FaceParams:
    """Mean face, frontal, at the distance and offset that match the landmarks' size.

    Args:
      landmarks: (B, 68, 2) detected landmarks in crop pixels.
    """
    lmk = np.asarray(landmarks, np.float64)
    b = lmk.shape[0]
    mean_lmk = np.asarray(landmarks_3d(model.mean_shape, model.landmark_indices), np.float64)
    centre3 = mean_lmk.mean(0)
    # Distance from the ratio of 3D to 2D spread (weak-perspective estimate).
    spread3 = np.sqrt(((mean_lmk[:, :2] - centre3[:2]) ** 2).sum(-1).mean())
    spread2 = np.sqrt(((lmk - lmk.mean(1, keepdims=True)) ** 2).sum(-1).mean(-1))
    depth = cam.focal * spread3 / np.maximum(spread2, 1e-3)
    offset = (lmk.mean(1) - cam.image_size / 2.0) * depth[:, None] / cam.focal
    translation = (
        np.stack([offset[:, 0], -offset[:, 1], np.zeros(b)], 1)
        - centre3
        + np.stack([np.zeros(b), np.zeros(b), -depth], 1)
    )
    zeros = lambda *s: jnp.zeros((b,) + s, jnp.float32)
    return FaceParams(
        identity=zeros(model.num_identity),
        expression=zeros(model.num_expression),
        rotation=zeros(3),
        translation=jnp.asarray(translation, jnp.float32),
        sh=zeros(9, 3).at[:, 0].set(jnp.asarray(2.0 * np.sqrt(np.pi), jnp.float32)),
        albedo_base=jnp.full((b, 3), 0.5, jnp.float32),
        albedo_lips=zeros(3),
        albedo_brows=zeros(3),
        albedo_grid=zeros(grid_size, grid_size, 3),
        specular=zeros(),
    )


def project_dense(p: FaceParams, dense: DenseTargets, cam: FitCamera) -> jnp.ndarray:
    """(B, N, 2) the embedded dense points projected to crop pixels, the face-oval points
    moved to the silhouette (``dense_landmarks.silhouette_points``)."""
    rot, f, c = rotation.axis_angle_to_matrix(p.rotation), jnp.asarray(cam.focal), cam.principal_point
    posed = camera.rigid_transform(fm.shape(dense.local, p.identity, p.expression), rot, p.translation)  # (B, R, 3)
    points = jnp.einsum("bnkc,nk->bnc", jnp.take(posed, dense.vertices, axis=1), dense.weights)
    pred = camera.perspective_project(points, f, c)
    m, k = dense.candidates.shape
    cand = camera.perspective_project(jnp.take(posed, dense.candidates.reshape(-1), axis=1), f, c)
    cand = cand.reshape(cand.shape[:1] + (m, k, 2))
    target = dense.points[:, dense.contour_rows]
    sil = dl.silhouette_points(cand, target, jnp.mean(target, axis=1))
    return pred.at[:, dense.contour_rows].set(sil)


def landmark_terms(
    model: fm.FaceModel,
    p: FaceParams,
    target: jnp.ndarray,
    weights: jnp.ndarray,
    cam: FitCamera,
    cfg: FitConfig,
    dense: DenseTargets | None = None,
    blendshapes: jnp.ndarray | None = None,
) -> dict[str, jnp.ndarray]:
    """The weighted loss terms of the landmark stage (also used by the photometric one).

    ``dense``: MediaPipe's points replace the 68 in the landmark term (the 68 keep the eye and
    lip closure terms, the eye's corrected by ``dense.lid_gap_bias`` under
    ``cfg.calibrated_lid_gaps``). ``blendshapes``: (B, K_exp) MediaPipe's scores in the model's
    expression order, a quadratic prior on the expression.
    """
    pred = project_landmarks(model, p, cam)
    s = float(cam.image_size)
    if dense is None:
        landmark = losses.landmark_loss(pred, target, weights, s)
    else:
        landmark = losses.landmark_loss(project_dense(p, dense, cam), dense.points, dense.point_weights, s)
    lid_shift = None
    if dense is not None and cfg.calibrated_lid_gaps:
        lid_shift = losses.eye_gap_shift(target, dense.lid_gap_bias)
    terms = {
        "landmark": cfg.w_landmark * landmark,
        "eye_closure": cfg.w_eye_closure * losses.closure_loss(pred, target, losses.EYE_PAIRS, s, lid_shift),
        "lip_closure": cfg.w_lip_closure * losses.closure_loss(pred, target, losses.LIP_PAIRS, s),
        "identity_prior": cfg.w_identity_prior * losses.gaussian_prior(p.identity),
        "expression_prior": cfg.w_expression_prior * losses.expression_prior(p.expression),
    }
    if blendshapes is not None:
        terms["blendshape_prior"] = cfg.w_blendshape_prior * jnp.mean(jnp.sum((p.expression - blendshapes) ** 2, -1))
    return terms


def _optimizer(
    cfg: FitConfig, trainable: tuple[str, ...], factors: dict[str, float] | None = None
) -> optax.GradientTransformation:
    """Adam per field: translation in cm needs a larger step than coefficients; ``factors``
    scale a field's rate."""
    factors = factors or {}
    labels = FaceParams(
        **{f.name: (f.name if f.name in trainable else "frozen") for f in dataclasses.fields(FaceParams)}
    )
    base = lambda name: cfg.translation_learning_rate if name == "translation" else cfg.learning_rate
    rate = lambda name: base(name) * factors.get(name, 1.0)
    transforms = {name: optax.adam(rate(name)) for name in trainable}
    transforms["frozen"] = optax.set_to_zero()
    return optax.multi_transform(transforms, labels)


def bound_expression(p: FaceParams) -> FaceParams:
    """ARKit weights projected onto [0, 1], where the shapes are authored."""
    return p.replace(expression=jnp.clip(p.expression, 0.0, 1.0))


def bound_specular(p: FaceParams) -> FaceParams:
    """A surface reflects no negative light."""
    return p.replace(specular=jnp.maximum(p.specular, 0.0))


def run_stage(
    objective: Callable[[FaceParams], tuple[jnp.ndarray, dict[str, jnp.ndarray]]],
    params: FaceParams,
    steps: int,
    tx: optax.GradientTransformation,
    project: Callable[[FaceParams], FaceParams] | None = None,
) -> tuple[FaceParams, dict[str, jnp.ndarray]]:
    """``steps`` optimiser steps of ``objective`` inside one ``lax.scan``; ``project``
    (optional) maps the parameters back onto their feasible set after each step.

    Returns the final parameters and the history of every loss term, (steps,) each.
    """
    project = project or (lambda p: p)

    def step(carry, _):
        p, state = carry
        (_, terms), grads = jax.value_and_grad(objective, has_aux=True)(p)
        updates, state = tx.update(grads, state, p)
        return (project(optax.apply_updates(p, updates)), state), terms

    (params, _), history = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params, history


def share_identity(p: FaceParams) -> FaceParams:
    """Every row's identity replaced by the batch mean: one person in every photo."""
    return p.replace(identity=jnp.broadcast_to(jnp.mean(p.identity, 0, keepdims=True), p.identity.shape))


def _projection(cfg: FitConfig):
    steps = (
        ([bound_expression] if cfg.bounded_expression else [])
        + ([bound_specular] if cfg.fit_specular else [])
        + ([share_identity] if cfg.shared_identity else [])
    )
    if not steps:
        return None
    return lambda p: functools.reduce(lambda q, f: f(q), steps, p)


def fit_landmarks(
    model: fm.FaceModel,
    landmarks: jnp.ndarray,
    cam: FitCamera,
    cfg: FitConfig = FitConfig(),
    weights: jnp.ndarray | None = None,
    params: FaceParams | None = None,
    dense: DenseTargets | None = None,
    blendshapes: jnp.ndarray | None = None,
) -> tuple[FaceParams, dict[str, jnp.ndarray]]:
    """Stage 1: pose, identity and expression from (B, 68, 2) landmarks in crop pixels.

    ``cfg.identity_first_steps`` steps move pose and identity only (the expression held at
    its start: zero, or ``blendshapes``), then ``cfg.landmark_steps`` move all four.
    ``dense`` (``dense_targets``) and ``blendshapes`` ((B, K_exp) MediaPipe scores in the
    model's expression order, ``landmark_detector.blendshapes_to_expression``) are optional.
    """
    weights = jnp.ones(68) if weights is None else jnp.asarray(weights, jnp.float32)
    params = initial_params(model, np.asarray(landmarks), cam, cfg.albedo_grid_size) if params is None else params
    if blendshapes is not None and cfg.fit_expression:
        blendshapes = jnp.asarray(blendshapes, jnp.float32)
        params = params.replace(expression=blendshapes)
    return _fit_landmarks(model, jnp.asarray(landmarks, jnp.float32), weights, params, dense, blendshapes, cam, cfg)


def per_face_total(terms: dict[str, jnp.ndarray], batch: int) -> jnp.ndarray:
    """The objective that fits every face on its own: the batch means in ``terms`` times the
    batch size, so a face's gradient is that of its own loss whatever else is in the batch
    (with plain means it would shrink as 1/B, and Adam's epsilon would then weigh differently
    with the batch size)."""
    return batch * sum(terms.values())


@functools.partial(jax.jit, static_argnums=(6, 7))
def _fit_landmarks(model, target, weights, params, dense, blendshapes, cam: FitCamera, cfg: FitConfig):
    def objective(p):
        terms = landmark_terms(model, p, target, weights, cam, cfg, dense, blendshapes)
        return per_face_total(terms, target.shape[0]), terms

    history = []
    if cfg.identity_first_steps > 0:
        tx = _optimizer(cfg, ("identity", "rotation", "translation"))
        params, h = run_stage(
            objective, params, cfg.identity_first_steps, tx, share_identity if cfg.shared_identity else None
        )
        history.append(h)
    tx = _optimizer(cfg, ("identity", "rotation", "translation") + (("expression",) if cfg.fit_expression else ()))
    params, h = run_stage(objective, params, cfg.landmark_steps, tx, _projection(cfg))
    history.append(h)
    return params, jax.tree.map(lambda *x: jnp.concatenate(x), *history)


def albedo_of(p: FaceParams, layout: albedo_lib.AlbedoLayout) -> jnp.ndarray:
    """(B, R, R, 3) the albedo map of ``p``."""
    return albedo_lib.albedo_map(p.albedo_base, p.albedo_lips, p.albedo_brows, p.albedo_grid, layout)


def render_params(
    model: fm.FaceModel,
    p: FaceParams,
    renderer: face_render.FaceRenderer,
    layout: albedo_lib.AlbedoLayout,
    background,
    specular: bool = True,
) -> dict[str, jnp.ndarray]:
    """Renders the faces described by ``p`` (linear RGB), with ``p.specular``'s highlight unless
    ``specular`` is False."""
    return face_render.render(
        renderer, posed_vertices(model, p), albedo_of(p, layout), p.sh, background,
        specular=p.specular if specular else None,
    )  # fmt: skip


def fit_photometric(
    model: fm.FaceModel,
    images: jnp.ndarray,
    face_masks: jnp.ndarray,
    landmarks: jnp.ndarray,
    params: FaceParams,
    renderer: face_render.FaceRenderer,
    layout: albedo_lib.AlbedoLayout,
    cfg: FitConfig = FitConfig(),
    weights: jnp.ndarray | None = None,
    dense: DenseTargets | None = None,
    blendshapes: jnp.ndarray | None = None,
) -> tuple[FaceParams, dict[str, jnp.ndarray]]:
    """Stage 2: all parameters against the photos through the soft rasterizer.

    Args:
      images: (B, S, S, 3) linear RGB in [0, 1].
      face_masks: (B, S, S) where the photo shows skin the model explains.
      landmarks: (B, 68, 2) crop pixels.
      params: the landmark stage's result.
      dense, blendshapes: as in ``fit_landmarks``.
    """
    weights = jnp.ones(68) if weights is None else jnp.asarray(weights, jnp.float32)
    # Start the albedo at the photo's mean colour inside the face mask.
    mean_colour = (
        jnp.sum(images * face_masks[..., None], (1, 2)) / jnp.maximum(jnp.sum(face_masks, (1, 2)), 1.0)[:, None]
    )
    specular = jnp.full(params.specular.shape, INITIAL_SPECULAR if cfg.fit_specular else 0.0, jnp.float32)
    params = params.replace(albedo_base=jnp.clip(mean_colour, 0.02, 1.0), specular=specular)
    blendshapes = None if blendshapes is None else jnp.asarray(blendshapes, jnp.float32)
    target = jnp.asarray(landmarks, jnp.float32)
    return _fit_photometric(
        model, images, face_masks, target, weights, params, dense, blendshapes, layout, renderer, cfg
    )


def photometric_objective(
    model: fm.FaceModel,
    p: FaceParams,
    images: jnp.ndarray,
    face_masks: jnp.ndarray,
    target: jnp.ndarray,
    weights: jnp.ndarray,
    renderer: face_render.FaceRenderer,
    layout: albedo_lib.AlbedoLayout,
    cfg: FitConfig,
    dense: DenseTargets | None = None,
    blendshapes: jnp.ndarray | None = None,
) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """The photometric stage's objective (``per_face_total``) and its terms (batch means).

    Each photo's colour error is averaged over its own mask: pooled over the batch, one face's
    weight would depend on the other faces' sizes.
    """
    cam = FitCamera(renderer.image_size, renderer.fov_degrees)
    out = render_params(model, p, renderer, layout, images, cfg.fit_specular)  # the photo as background
    mask = out["mask"] * face_masks
    terms = landmark_terms(model, p, target, weights, cam, cfg, dense, blendshapes)
    terms["photometric"] = cfg.w_photometric * jnp.mean(jax.vmap(losses.photometric_loss)(out["image"], images, mask))
    terms["albedo_grid"] = cfg.w_albedo_grid * jnp.mean(jnp.sum(p.albedo_grid**2, axis=(1, 2, 3)))
    terms["albedo_smoothness"] = cfg.w_albedo_smoothness * losses.smoothness_loss(p.albedo_grid)
    terms["lighting_prior"] = cfg.w_lighting_prior * losses.lighting_prior(p.sh)
    return per_face_total(terms, images.shape[0]), terms


@functools.partial(jax.jit, static_argnums=(9, 10))
def _fit_photometric(
    model, images, face_masks, target, weights, params, dense, blendshapes, layout, renderer, cfg: FitConfig
):
    def objective(p):
        return photometric_objective(
            model, p, images, face_masks, target, weights, renderer, layout, cfg, dense, blendshapes
        )

    rate = cfg.photometric_expression_rate if cfg.fit_expression else 0.0
    held = {"expression"} if rate == 0 else set()
    held |= set() if cfg.fit_specular else {"specular"}
    trainable = tuple(f.name for f in dataclasses.fields(FaceParams) if f.name not in held)
    tx = _optimizer(cfg, trainable, {"expression": rate})
    return run_stage(objective, params, cfg.photometric_steps, tx, _projection(cfg))


def landmark_embedding(model: fm.FaceModel, cfg: FitConfig, ict_dir: str | None = None) -> dl.DenseEmbedding:
    """The dense embedding ``cfg`` asks for: calibrated (``landmark_calibration``; built on the
    first call on a machine, from the generator's ICT-FaceKit at ``ict_dir``) or canonical."""
    if cfg.calibrated_landmarks:
        return landmark_calibration.calibrated_embedding(model, ict_dir)
    return dl.dense_embedding(model)


def fit_detected(
    model: fm.FaceModel,
    landmarks_478: np.ndarray,
    blendshape_scores: np.ndarray | None,
    cam: FitCamera,
    cfg: FitConfig = FitConfig(),
    images: jnp.ndarray | None = None,
    face_masks: jnp.ndarray | None = None,
    renderer: face_render.FaceRenderer | None = None,
    layout: albedo_lib.AlbedoLayout | None = None,
    weights: jnp.ndarray | None = None,
    embedding: dl.DenseEmbedding | None = None,
) -> tuple[FaceParams, dict[str, dict[str, jnp.ndarray]]]:
    """Both stages from MediaPipe detections: what ``launch.fit`` and the evaluation run.

    Args:
      landmarks_478: (B, 478, 2) crop pixels.
      blendshape_scores: (B, 52) the landmarker's scores, or None.
      images, face_masks, renderer, layout: the photometric stage's inputs (skipped when
        ``images`` is None or ``cfg.photometric_steps`` is 0).
      embedding: the dense points on ``model`` (default: ``landmark_embedding(model, cfg)``).
    Returns:
      the parameters and each stage's loss history.
    """
    lmk68 = jnp.asarray(ld.mediapipe_to_ibug68(landmarks_478), jnp.float32)
    weights = jnp.asarray(ld.IBUG68_WEIGHTS if weights is None else weights, jnp.float32)
    dense = None
    if cfg.use_dense:
        embedding = landmark_embedding(model, cfg) if embedding is None else embedding
        dense = dense_targets(model, landmarks_478, cfg.contour_weight, embedding)
    blendshapes = None
    if cfg.use_blendshapes and blendshape_scores is not None:
        blendshapes = jnp.asarray(ld.blendshapes_to_expression(blendshape_scores, model.expression_names))
    params, h = fit_landmarks(model, lmk68, cam, cfg, weights, None, dense, blendshapes)
    history = {"landmark": h}
    if images is not None and cfg.photometric_steps > 0:
        f = _photometric_factor(cam.image_size, cfg.photometric_size)
        if f > 1:
            renderer = _reduced_renderer(renderer, cam.image_size // f)
            images, face_masks, lmk68 = downsample(images, f), downsample(face_masks[..., None], f)[..., 0], lmk68 / f
            dense = None if dense is None else dense.replace(points=dense.points / f)
        params, history["photometric"] = fit_photometric(
            model, images, face_masks, lmk68, params, renderer, layout, cfg, weights, dense, blendshapes
        )
    return params, history


def _photometric_factor(size: int, target: int | None) -> int:
    """The integer factor that takes ``size`` to at least ``target`` pixels (1: keep it)."""
    if target is None or target >= size:
        return 1
    f = size // target
    while size % f:
        f -= 1
    return f


_REDUCED: dict[tuple[int, int], face_render.FaceRenderer] = {}


def _reduced_renderer(renderer: face_render.FaceRenderer, size: int) -> face_render.FaceRenderer:
    """``renderer`` at ``size`` pixels, one object per (renderer, size) so jit compiles it once."""
    key = (id(renderer), size)
    if key not in _REDUCED:
        _REDUCED[key] = dataclasses.replace(renderer, image_size=size)
    return _REDUCED[key]


def downsample(images: jnp.ndarray, factor: int) -> jnp.ndarray:
    """(B, S, S, C) -> (B, S/f, S/f, C) area average: pixel (i, j) of the result covers the
    f x f source pixels it spans, so pixel-corner coordinates scale by 1/f exactly."""
    b, h, w, c = images.shape
    return jnp.mean(jnp.reshape(images, (b, h // factor, factor, w // factor, factor, c)), axis=(2, 4))
