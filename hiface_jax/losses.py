"""The loss library: pure, batched functions shared by fitting and training.

Every function maps arrays with leading batch axes to a scalar (the batch mean), is
jit- and vmap-friendly, and takes its weights as arguments; the configs hold the
weights. Formulas are in each docstring. Landmarks are in pixels and are normalised by
the image size, so weights do not depend on resolution.
"""

from __future__ import annotations

import jax.numpy as jnp

# iBUG-68 index pairs whose distance measures how open an eye / the lips are:
# upper and lower eyelids (37-41, 38-40 right; 43-47, 44-46 left), inner lips (61-67, 62-66, 63-65).
EYE_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
# The corners of each EYE_PAIRS pair's eye, left to right in an upright face.
EYE_CORNERS = ((36, 39), (36, 39), (42, 45), (42, 45))


def landmark_loss(predicted: jnp.ndarray, target: jnp.ndarray, weights: jnp.ndarray, image_size: float) -> jnp.ndarray:
    """Weighted mean squared 2D landmark distance, in units of the image size.

        L = mean_b sum_i w_i |p_bi - q_bi|^2 / (S^2 sum_i w_i)

    Args:
      predicted: (..., L, 2) projected model landmarks, pixels.
      target: (..., L, 2) detected landmarks, pixels.
      weights: (L,) or (..., L) per-landmark weights (0 switches a landmark off).
      image_size: S, the crop side in pixels.
    """
    sq = jnp.sum((predicted - target) ** 2, axis=-1)
    w = jnp.broadcast_to(weights, sq.shape)
    return jnp.mean(jnp.sum(w * sq, axis=-1) / jnp.maximum(jnp.sum(w, axis=-1), 1e-8)) / image_size**2


def _pair_gaps(points: jnp.ndarray, pairs: tuple[tuple[int, int], ...]) -> jnp.ndarray:
    """(..., P, 2) vector from the second to the first landmark of each pair."""
    a = jnp.asarray([p[0] for p in pairs])
    b = jnp.asarray([p[1] for p in pairs])
    return jnp.take(points, a, axis=-2) - jnp.take(points, b, axis=-2)


def closure_loss(
    predicted: jnp.ndarray,
    target: jnp.ndarray,
    pairs: tuple[tuple[int, int], ...],
    image_size: float,
    target_shift: jnp.ndarray | None = None,
) -> jnp.ndarray:
    """Eye- or lip-closure term: the gaps between paired landmarks must match.

        L = mean |(p_a - p_b) - (q_a - q_b + t)|^2 / S^2 over pairs (a, b)

    Plain landmark distances barely see a blink (a few pixels); matching the gaps
    directly makes closed eyes and lips reachable (as in Deep3DFaceRecon / DECA).
    ``target_shift``: t, (..., P, 2) pixels added to the target's gaps (a known detector
    bias, ``eye_gap_shift``), or None.
    """
    gaps = _pair_gaps(target, pairs)
    if target_shift is not None:
        gaps = gaps + target_shift
    diff = _pair_gaps(predicted, pairs) - gaps
    return jnp.mean(jnp.sum(diff**2, axis=-1)) / image_size**2


def _eye_axes(points: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(..., 4) width and (..., 4, 2) unit downward normal (image y points down) of the eye of
    each ``EYE_PAIRS`` pair, from its corners in (..., 68, 2) iBUG points."""
    left = jnp.take(points, jnp.asarray([c[0] for c in EYE_CORNERS]), axis=-2)
    right = jnp.take(points, jnp.asarray([c[1] for c in EYE_CORNERS]), axis=-2)
    across = right - left
    width = jnp.linalg.norm(across, axis=-1)
    down = jnp.stack([-across[..., 1], across[..., 0]], axis=-1) / jnp.maximum(width, 1e-6)[..., None]
    return width, down


def lid_gaps(points: jnp.ndarray, frame: jnp.ndarray | None = None) -> jnp.ndarray:
    """(..., 4) how open each ``EYE_PAIRS`` pair says its eye is: lower minus upper lid point
    along the eye's downward normal, in eye widths (0: shut; about 0.3 for ICT's open eye).

    Args:
      points: (..., 68, 2) iBUG points, pixels.
      frame: (..., 68, 2) the points whose eye corners give the width and normal (default
        ``points``): two point sets measured in one frame differ by their gaps in pixels.
    """
    width, down = _eye_axes(points if frame is None else frame)
    return -jnp.sum(_pair_gaps(points, EYE_PAIRS) * down, axis=-1) / jnp.maximum(width, 1e-6)


def eye_gap_shift(target: jnp.ndarray, bias: jnp.ndarray) -> jnp.ndarray:
    """(..., 4, 2) pixels that make each ``EYE_PAIRS`` gap of ``target`` ``bias`` eye widths
    less open: ``closure_loss``'s ``target_shift`` for a detector that reads eyes more open
    than the model's lid points are.

    Args:
      target: (..., 68, 2) detected iBUG points, pixels.
      bias: (4,) detected minus true ``lid_gaps``.
    """
    width, down = _eye_axes(target)
    return (bias * width)[..., None] * down


def photometric_loss(rendered: jnp.ndarray, image: jnp.ndarray, mask: jnp.ndarray, eps: float = 1e-6) -> jnp.ndarray:
    """Robust masked colour error: the L2 norm over channels, averaged over the mask.

        L = sum_p m_p sqrt(|I_p - R_p|^2 + eps) / sum_p m_p

    The per-pixel norm (an L2,1 norm over the image) is less dominated by outliers
    (hair, occluders, specular highlights) than a squared error.

    Args:
      rendered: (..., H, W, 3) in [0, 1].
      image: (..., H, W, 3) in [0, 1].
      mask: (..., H, W) in [0, 1]: face pixels that the render covers.
    """
    err = jnp.sqrt(jnp.sum((rendered - image) ** 2, axis=-1) + eps)
    return jnp.sum(mask * err) / jnp.maximum(jnp.sum(mask), 1.0)


def gaussian_prior(coefficients: jnp.ndarray) -> jnp.ndarray:
    """Negative log-density of N(0, I) up to a constant, per sample: mean_b |c_b|^2 / 2."""
    return 0.5 * jnp.mean(jnp.sum(coefficients**2, axis=-1))


def expression_prior(weights: jnp.ndarray) -> jnp.ndarray:
    """Sparsity prior on ARKit weights: mean_b sum_k |psi_bk| plus a penalty outside [0, 1].

    ARKit shapes are authored for weights in [0, 1]; negative or over-driven weights
    produce implausible meshes, so they cost 10x more.
    """
    outside = jnp.maximum(-weights, 0.0) + jnp.maximum(weights - 1.0, 0.0)
    return jnp.mean(jnp.sum(jnp.abs(weights) + 10.0 * outside, axis=-1))


def lighting_prior(sh_coeffs: jnp.ndarray) -> jnp.ndarray:
    """Prefer near-white light: penalise each colour's deviation from the mean colour.

        L = mean_b sum_k sum_c (L_bkc - mean_c' L_bkc')^2

    Without it, albedo and light colour trade off freely (the classic ambiguity).

    Args:
      sh_coeffs: (..., 9, 3).
    """
    grey = jnp.mean(sh_coeffs, axis=-1, keepdims=True)
    return jnp.mean(jnp.sum((sh_coeffs - grey) ** 2, axis=(-2, -1)))


def smoothness_loss(texture: jnp.ndarray, mask: jnp.ndarray | None = None) -> jnp.ndarray:
    """Squared finite differences of a per-texel map (total-variation-like smoothness).

        L = mean over texel pairs (x, x+1) and (y, y+1) of |A_x+1 - A_x|^2

    Args:
      texture: (..., H, W, C).
      mask: optional (H, W) weights; a difference counts where both texels are valid.
    """
    dx2 = jnp.sum((texture[..., :, 1:, :] - texture[..., :, :-1, :]) ** 2, axis=-1)
    dy2 = jnp.sum((texture[..., 1:, :, :] - texture[..., :-1, :, :]) ** 2, axis=-1)
    if mask is None:
        return jnp.mean(dx2) + jnp.mean(dy2)
    mx = mask[:, 1:] * mask[:, :-1]
    my = mask[1:, :] * mask[:-1, :]
    per_x = jnp.sum(mx * dx2, axis=(-2, -1)) / jnp.maximum(jnp.sum(mx), 1.0)
    per_y = jnp.sum(my * dy2, axis=(-2, -1)) / jnp.maximum(jnp.sum(my), 1.0)
    return jnp.mean(per_x + per_y)
