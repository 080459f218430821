"""Analysis-by-synthesis: fitting the face model to photos through our rasterizer.

Two stages, each one jitted ``lax.scan`` over optax steps, batched over images:

1. **Landmarks**: pose, identity and expression from the 68 detected landmarks
   (``losses.landmark_loss`` + eye / lip closure + priors).
2. **Photometric**: everything, albedo and SH lighting included, through the soft
   rasterizer (``losses.photometric_loss``), keeping the landmark term.

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
from hiface_jax.geometry import camera, rotation


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
    w_identity_prior: float = 1e-4
    w_expression_prior: float = 1e-5
    w_albedo_grid: float = 1e-4
    w_albedo_smoothness: float = 1e-3
    w_lighting_prior: float = 1e-4
    albedo_grid_size: int = 8


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
    )


def landmark_terms(
    model: fm.FaceModel, p: FaceParams, target: jnp.ndarray, weights: jnp.ndarray, cam: FitCamera, cfg: FitConfig
) -> dict[str, jnp.ndarray]:
    """The weighted loss terms of the landmark stage (also used by the photometric one)."""
    pred = project_landmarks(model, p, cam)
    s = float(cam.image_size)
    return {
        "landmark": cfg.w_landmark * losses.landmark_loss(pred, target, weights, s),
        "eye_closure": cfg.w_eye_closure * losses.closure_loss(pred, target, losses.EYE_PAIRS, s),
        "lip_closure": cfg.w_lip_closure * losses.closure_loss(pred, target, losses.LIP_PAIRS, s),
        "identity_prior": cfg.w_identity_prior * losses.gaussian_prior(p.identity),
        "expression_prior": cfg.w_expression_prior * losses.expression_prior(p.expression),
    }


def _optimizer(cfg: FitConfig, trainable: tuple[str, ...]) -> optax.GradientTransformation:
    """Adam per field: translation in cm needs a larger step than coefficients."""
    labels = FaceParams(
        **{f.name: (f.name if f.name in trainable else "frozen") for f in dataclasses.fields(FaceParams)}
    )
    rate = lambda name: cfg.translation_learning_rate if name == "translation" else cfg.learning_rate
    transforms = {name: optax.adam(rate(name)) for name in trainable}
    transforms["frozen"] = optax.set_to_zero()
    return optax.multi_transform(transforms, labels)


def run_stage(
    objective: Callable[[FaceParams], tuple[jnp.ndarray, dict[str, jnp.ndarray]]],
    params: FaceParams,
    steps: int,
    tx: optax.GradientTransformation,
) -> tuple[FaceParams, dict[str, jnp.ndarray]]:
    """``steps`` optimiser steps of ``objective`` inside one ``lax.scan``.

    Returns the final parameters and the history of every loss term, (steps,) each.
    """

    def step(carry, _):
        p, state = carry
        (_, terms), grads = jax.value_and_grad(objective, has_aux=True)(p)
        updates, state = tx.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), terms

    (params, _), history = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params, history


def fit_landmarks(
    model: fm.FaceModel,
    landmarks: jnp.ndarray,
    cam: FitCamera,
    cfg: FitConfig = FitConfig(),
    weights: jnp.ndarray | None = None,
    params: FaceParams | None = None,
) -> tuple[FaceParams, dict[str, jnp.ndarray]]:
    """Stage 1: pose, identity and expression from (B, 68, 2) landmarks in crop pixels."""
    weights = jnp.ones(68) if weights is None else jnp.asarray(weights, jnp.float32)
    params = initial_params(model, np.asarray(landmarks), cam, cfg.albedo_grid_size) if params is None else params
    return _fit_landmarks(model, jnp.asarray(landmarks, jnp.float32), weights, params, cam, cfg)


@functools.partial(jax.jit, static_argnums=(4, 5))
def _fit_landmarks(model, target, weights, params, cam: FitCamera, cfg: FitConfig):
    def objective(p):
        terms = landmark_terms(model, p, target, weights, cam, cfg)
        return sum(terms.values()), terms

    tx = _optimizer(cfg, ("identity", "expression", "rotation", "translation"))
    return run_stage(objective, params, cfg.landmark_steps, tx)


def albedo_of(p: FaceParams, layout: albedo_lib.AlbedoLayout) -> jnp.ndarray:
    """(B, R, R, 3) the albedo map of ``p``."""
    return albedo_lib.albedo_map(p.albedo_base, p.albedo_lips, p.albedo_brows, p.albedo_grid, layout)


def render_params(
    model: fm.FaceModel, p: FaceParams, renderer: face_render.FaceRenderer, layout: albedo_lib.AlbedoLayout, background
) -> dict[str, jnp.ndarray]:
    """Renders the faces described by ``p`` (linear RGB)."""
    return face_render.render(renderer, posed_vertices(model, p), albedo_of(p, layout), p.sh, background)


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
) -> tuple[FaceParams, dict[str, jnp.ndarray]]:
    """Stage 2: all parameters against the photos through the soft rasterizer.

    Args:
      images: (B, S, S, 3) linear RGB in [0, 1].
      face_masks: (B, S, S) where the photo shows skin the model explains.
      landmarks: (B, 68, 2) crop pixels.
      params: the landmark stage's result.
    """
    weights = jnp.ones(68) if weights is None else jnp.asarray(weights, jnp.float32)
    # Start the albedo at the photo's mean colour inside the face mask.
    mean_colour = (
        jnp.sum(images * face_masks[..., None], (1, 2)) / jnp.maximum(jnp.sum(face_masks, (1, 2)), 1.0)[:, None]
    )
    params = params.replace(albedo_base=jnp.clip(mean_colour, 0.02, 1.0))
    return _fit_photometric(
        model, images, face_masks, jnp.asarray(landmarks, jnp.float32), weights, params, layout, renderer, cfg
    )


@functools.partial(jax.jit, static_argnums=(7, 8))
def _fit_photometric(model, images, face_masks, target, weights, params, layout, renderer, cfg: FitConfig):
    cam = FitCamera(renderer.image_size, renderer.fov_degrees)

    def objective(p):
        out = render_params(model, p, renderer, layout, images)  # the photo as background
        mask = out["mask"] * face_masks
        terms = landmark_terms(model, p, target, weights, cam, cfg)
        terms["photometric"] = cfg.w_photometric * losses.photometric_loss(out["image"], images, mask)
        terms["albedo_grid"] = cfg.w_albedo_grid * jnp.mean(jnp.sum(p.albedo_grid**2, axis=(1, 2, 3)))
        terms["albedo_smoothness"] = cfg.w_albedo_smoothness * losses.smoothness_loss(p.albedo_grid)
        terms["lighting_prior"] = cfg.w_lighting_prior * losses.lighting_prior(p.sh)
        return sum(terms.values()), terms

    tx = _optimizer(cfg, tuple(f.name for f in dataclasses.fields(FaceParams)))
    return run_stage(objective, params, cfg.photometric_steps, tx)
