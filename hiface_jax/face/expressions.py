"""Sparse, plausible ARKit expression combinations for synthetic faces.

Real expressions recruit a few shapes together (FACS action units co-occur), so a
sample is one archetype with a random intensity, optionally asymmetric, plus a couple
of small random extra shapes. Strong expressions (intensity near 1) are included.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Archetypes as {shape: relative weight}; L/R pairs are listed once as "name_*".
ARCHETYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"mouthSmile_*": 1.0, "cheekSquint_*": 0.6, "eyeSquint_*": 0.3},
    "broad_smile": {"mouthSmile_*": 1.0, "cheekSquint_*": 0.9, "eyeSquint_*": 0.6, "jawOpen": 0.35, "mouthUpperUp_*": 0.3},
    "surprise": {"browInnerUp_*": 1.0, "browOuterUp_*": 1.0, "eyeWide_*": 0.8, "jawOpen": 0.6},
    "brow_raise": {"browInnerUp_*": 1.0, "browOuterUp_*": 0.9},
    "frown": {"browDown_*": 1.0, "mouthFrown_*": 0.6, "mouthShrugLower": 0.4},
    "anger": {"browDown_*": 1.0, "eyeSquint_*": 0.5, "noseSneer_*": 0.5, "mouthPress_*": 0.6},
    "disgust": {"noseSneer_*": 1.0, "mouthUpperUp_*": 0.7, "browDown_*": 0.4, "cheekSquint_*": 0.4},
    "squint": {"eyeSquint_*": 1.0, "cheekSquint_*": 0.7, "browDown_*": 0.3},
    "blink": {"eyeBlink_*": 1.0},
    "jaw_open": {"jawOpen": 1.0, "mouthLowerDown_*": 0.4},
    "pucker": {"mouthPucker": 1.0, "mouthFunnel": 0.4},
    "mouth_stretch": {"mouthStretch_*": 1.0, "jawOpen": 0.3},
    "sadness": {"browInnerUp_*": 0.8, "mouthFrown_*": 0.8, "mouthShrugLower": 0.5},
}


def archetype_matrix(expression_names: tuple[str, ...]) -> np.ndarray:
    """(A, K_exp) weights of each archetype over the model's shapes."""
    index = {n: i for i, n in enumerate(expression_names)}
    out = np.zeros((len(ARCHETYPES), len(expression_names)), np.float32)
    for a, shapes in enumerate(ARCHETYPES.values()):
        for name, w in shapes.items():
            for side in ("_L", "_R") if name.endswith("_*") else ("",):
                key = name[:-2] + side if side else name
                if key not in index:
                    raise KeyError(f"archetype shape {key} is not in the face model")
                out[a, index[key]] = w
    return out


def sample_expressions(key: jax.Array, batch: int, expression_names: tuple[str, ...], extra_shapes: int = 2) -> jnp.ndarray:
    """(batch, K_exp) ARKit weights in [0, 1].

    Intensity ~ U(0.2, 1); left/right halves scaled independently by U(0.6, 1) for
    asymmetry; ``extra_shapes`` random shapes added at U(0, 0.3).
    """
    arche = jnp.asarray(archetype_matrix(expression_names))
    names = np.array(expression_names)
    left = jnp.asarray(np.char.endswith(names, "_L"), jnp.float32)
    right = jnp.asarray(np.char.endswith(names, "_R"), jnp.float32)
    k = jax.random.split(key, 6)
    which = jax.random.randint(k[0], (batch,), 0, arche.shape[0])
    intensity = jax.random.uniform(k[1], (batch, 1), minval=0.2, maxval=1.0)
    side = jax.random.uniform(k[2], (batch, 2), minval=0.6, maxval=1.0)
    asym = 1.0 + left * (side[:, :1] - 1.0) + right * (side[:, 1:] - 1.0)
    psi = arche[which] * intensity * asym
    extra_idx = jax.random.randint(k[3], (batch, extra_shapes), 0, len(expression_names))
    extra_w = jax.random.uniform(k[4], (batch, extra_shapes), maxval=0.3)
    psi = psi + jnp.zeros_like(psi).at[jnp.arange(batch)[:, None], extra_idx].add(extra_w)
    return jnp.clip(psi, 0.0, 1.0)
