"""The training objective: weighted loss terms of a mixed synthetic / real batch.

    out      = model(batch['image'])                 (``hiface.Output``)
    rendered = hiface.render(model, out, background=linear(batch['image']))
    terms    = {name: term(out, rendered, batch)}    unweighted, scalars
    total    = sum_name config.loss[name] * terms[name]

Three groups (names in ``config.TERMS``):

* synthetic supervision, averaged over synthetic samples only (``is_synthetic``):
  ``coefficients`` L1 on identity, expression, rotation (rad), translation (dm), SH (as
  exposed), base albedo and the SD-DeTail codes (mean over each group's entries, summed
  over groups); ``vertex`` L1 of the rest mesh against the ground truth's (mean over
  vertices of the per-axis absolute error, mm); ``landmark_synthetic`` against the exact
  projected landmarks; ``static_detail`` and ``dynamic_detail`` L1 of D_s and D - D_s
  (mm, over covered UV texels).
* image self-supervision, every sample (a synthetic image is an image too, so a run
  without real photos still trains these): robust masked ``photometric_coarse`` and
  ``photometric_detail`` (``losses.photometric_loss`` in linear RGB, where the render
  covers the sample's face mask), ``landmark``, ``eye_closure`` and ``lip_closure``
  (``losses``) against the sample's landmarks.
* priors: Gaussian on identity, static code and dynamic residual codes, ARKit sparsity
  on expression, near-white light, albedo grid L2; detail smoothness (squared finite
  differences of D in mm over covered texels) and soft left-right symmetry of D_s (the
  ICT UV layout is mirror-symmetric about u = 0.5: L1 between D_s and its mirror, mm).

Every term is a mean or a ratio of sums over the batch axis, so a batch sharded over
devices gives the same numbers as one device (no per-shard normalisation).

Perceptual and identity losses (VGG features, ArcFace) are left out: they need
pretrained weights, and none can be downloaded here; a network trained from scratch on
our own data would not be the independent judge those terms are for.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from hiface_jax import losses
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import face_model as fm
from hiface_jax.model import hiface

CM_TO_MM = 10.0
TRANSLATION_UNIT_CM = 10.0  # translation enters the coefficient L1 in dm: 1 cm of depth ~ 0.1 of a code


def masked_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    """sum_b w_b v_b / max(sum_b w_b, 1): a batch mean over the weighted samples (0 if none)."""
    return jnp.sum(weights * values) / jnp.maximum(jnp.sum(weights), 1.0)


def coefficient_l1(out: hiface.Output, batch: dict[str, jax.Array]) -> jax.Array:
    """(B,) sum over coefficient groups of the mean absolute error of each group."""
    p = out.params
    pairs = [
        (p.identity, batch["identity"]),
        (p.expression, batch["expression"]),
        (p.rotation, batch["rotation"]),
        (p.translation / TRANSLATION_UNIT_CM, batch["translation"] / TRANSLATION_UNIT_CM),
        (p.sh.reshape(p.sh.shape[0], -1), batch["sh"].reshape(p.sh.shape[0], -1)),
        (p.albedo_base, batch["albedo_base"]),
    ]
    if out.static_code.shape[-1]:  # SD-DeTail codes only exist for the SD-DeTail variant
        pairs += [(out.static_code, batch["static_code"]), (out.dynamic_code, batch["dynamic_code"])]
    return sum(jnp.mean(jnp.abs(a - b), axis=-1) for a, b in pairs)


def vertex_l1_mm(rest: jax.Array, target: jax.Array) -> jax.Array:
    """(B,) mean over vertices and axes of |rest - target|, both (B, N, 3) cm, in mm."""
    return CM_TO_MM * jnp.mean(jnp.abs(rest - target), axis=(-2, -1))


def map_l1_mm(predicted: jax.Array, target: jax.Array, covered: jax.Array) -> jax.Array:
    """(B,) mean |predicted - target| (mm) over covered texels of (B, H, W) cm maps."""
    w = covered.astype(jnp.float32)
    return CM_TO_MM * jnp.sum(w * jnp.abs(predicted - target), axis=(-2, -1)) / jnp.maximum(jnp.sum(w), 1.0)


def landmark_per_sample(predicted: jax.Array, target: jax.Array, image_size: float) -> jax.Array:
    """(B,) ``losses.landmark_loss`` of each sample (unit weights)."""
    return jnp.mean(jnp.sum((predicted - target) ** 2, axis=-1), axis=-1) / image_size**2


def detail_smoothness(displacement: jax.Array, covered: jax.Array) -> jax.Array:
    """Squared finite differences of D (mm) over covered texel pairs (``losses.smoothness_loss``)."""
    return losses.smoothness_loss(CM_TO_MM * displacement[..., None], covered.astype(jnp.float32))


def detail_symmetry(displacement: jax.Array, covered: jax.Array) -> jax.Array:
    """Mean |D(u, v) - D(1 - u, v)| (mm) where both texels are covered."""
    w = (covered & covered[:, ::-1]).astype(jnp.float32)
    diff = jnp.abs(displacement - displacement[..., ::-1])
    return CM_TO_MM * jnp.mean(jnp.sum(w * diff, axis=(-2, -1))) / jnp.maximum(jnp.sum(w), 1.0)


def loss_terms(
    model: hiface.HiFace, out: hiface.Output, rendered: dict[str, jax.Array] | None, batch: dict[str, jax.Array]
) -> dict[str, jax.Array]:
    """Every unweighted term (``config.TERMS``) of a prediction against a batch (``rendered``
    None: the photometric terms are 0)."""
    m = model.face_model
    s = float(model.image_size)
    covered = model.geometry.get_value().raster.covered
    synthetic = batch["is_synthetic"].astype(jnp.float32)
    p = out.params
    target_rest = fm.shape(m, batch["identity"], batch["expression"])
    terms = {
        "coefficients": masked_mean(coefficient_l1(out, batch), synthetic),
        "vertex": masked_mean(vertex_l1_mm(out.rest_vertices, target_rest), synthetic),
        "landmark_synthetic": masked_mean(landmark_per_sample(out.landmarks, batch["landmarks"], s), synthetic),
        "static_detail": masked_mean(
            map_l1_mm(out.displacement_static, batch["displacement_static"], covered), synthetic
        ),
        "dynamic_detail": masked_mean(
            map_l1_mm(out.displacement - out.displacement_static, batch["displacement_dynamic"], covered), synthetic
        ),
    }
    lmk = batch["landmarks"]
    if rendered is None:
        terms |= {name: jnp.zeros((), jnp.float32) for name in RENDERED_TERMS}
    else:
        image = albedo_lib.srgb_to_linear_jax(batch["image"])
        mask = rendered["mask"] * batch["mask"]
        terms |= {
            "photometric_coarse": losses.photometric_loss(rendered["coarse"], image, mask),
            "photometric_detail": losses.photometric_loss(rendered["detailed"], image, mask),
        }
    terms |= {
        "landmark": losses.landmark_loss(out.landmarks, lmk, jnp.ones(68), s),
        "eye_closure": losses.closure_loss(out.landmarks, lmk, losses.EYE_PAIRS, s),
        "lip_closure": losses.closure_loss(out.landmarks, lmk, losses.LIP_PAIRS, s),
    }
    terms |= {
        "identity_prior": losses.gaussian_prior(p.identity),
        "expression_prior": losses.expression_prior(p.expression),
        "lighting_prior": losses.lighting_prior(p.sh),
        "albedo_prior": jnp.mean(jnp.sum(p.albedo_grid**2, axis=(1, 2, 3))),
        "static_prior": losses.gaussian_prior(out.static_code),
        "dynamic_prior": losses.gaussian_prior(out.dynamic_residual),
        "detail_smoothness": detail_smoothness(out.displacement, covered),
        "detail_symmetry": detail_symmetry(out.displacement_static, covered),
    }
    return terms


def weighted_total(terms: dict[str, jax.Array], weights: ConfigDict) -> jax.Array:
    """sum_name weights[name] * terms[name]; every term must have a weight."""
    missing = sorted(set(terms) - set(weights.keys()))
    if missing:
        raise KeyError(f"config.loss has no weight for {missing}")
    return sum(float(weights[name]) * value for name, value in terms.items())


RENDERED_TERMS = ("photometric_coarse", "photometric_detail")  # the terms that need the renders


def needs_render(weights: ConfigDict) -> bool:
    """Whether any term that needs the coarse / detailed renders has a non-zero weight."""
    return any(float(weights[name]) for name in RENDERED_TERMS)


def loss_fn(
    model: hiface.HiFace, batch: dict[str, jax.Array], config: ConfigDict, *, render: bool | None = None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Total loss (scalar, weighted by ``config.loss``) and each unweighted term by name.

    Args:
      model: the model.
      batch: ``batches.BATCH_KEYS`` (``batches.training_batch``): 'image' (B, S, S, 3) in
        [0, 1], 'is_synthetic' (B,), 'mask', 'landmarks' and the ground truth (zeros where
        absent).
      config: the full config (``config.loss`` holds the weights).
      render: render and score the photometric terms; None (default): only when one of
        them has a weight (``needs_render``). The renders are most of a CPU step, so a
        run with the photometric weights at 0 (synthetic supervision alone) skips them,
        and its photometric terms read 0; held-out evaluation passes True.
    """
    out = model(batch["image"], train=True)
    if render if render is not None else needs_render(config.loss):
        rendered = hiface.render(model, out, background=albedo_lib.srgb_to_linear_jax(batch["image"]))
    else:
        rendered = None
    terms = loss_terms(model, out, rendered, batch)
    return weighted_total(terms, config.loss), terms
