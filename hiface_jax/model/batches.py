"""The training batch as the step sees it: synthetic and real samples, mixed, in one dict.

Where samples come from (``config.data``):

* synthetic, ``synthetic_source='device'``: drawn inside the jitted step from per-sample
  keys by ``SyntheticSampler.sample(keys)`` (``sampler(config)`` builds it for the model's
  image size, UV resolution, camera and detail basis); nothing crosses from the host but
  the keys;
* synthetic, ``synthetic_source='shards'``: ``hiface_synthetic`` TFDS shards read by
  ``data_loader.make_loader`` (``make_loaders``), made by ``make_dataset`` with the same
  image size and UV resolution;
* real: ``face_images`` crops (``photo.preprocess``) read by ``data_loader.make_loader``,
  augmented by ``RandomSimilarity`` / ``ColourJitter`` when ``augment_real``.

Mixing: a global batch of B holds ``split(B, real_ratio)`` = (real, synthetic) samples,
real first. ``training_batch(host, keys, sampler, shapes)`` turns this step's host batch
(``{'real': face_images batch, 'synthetic': shard batch}``, either absent) and keys
(for on-device synthetic samples, or None) into the dict ``objective.loss_fn`` takes:

    image (B, S, S, 3) float32 in [0, 1] (sRGB)   is_synthetic (B,) bool
    mask (B, S, S) float32 in [0, 1]              landmarks (B, 68, 2) pixels
    identity (B, K_id)  expression (B, K_exp)  rotation (B, 3)  translation (B, 3)
    sh (B, 9, 3)  albedo_base (B, 3)  static_code (B, K)  dynamic_code (B, Kc + Kt)
    displacement_static (B, R, R)  displacement_dynamic (B, R, R)   (cm)

Real samples carry zeros for the ground truth (the loss masks it with ``is_synthetic``);
``mask`` is the crop's face mask for real samples and the visible skin for synthetic
ones. The function is traceable, so the trainer calls it inside the jitted step, where
sharding the inputs over the batch axis shards the result.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from hiface_jax.data import data_loader, synthetic
from hiface_jax.model import hiface

GROUND_TRUTH_KEYS = (
    "identity",
    "expression",
    "rotation",
    "translation",
    "sh",
    "albedo_base",
    "static_code",
    "dynamic_code",
    "displacement_static",
    "displacement_dynamic",
)
BATCH_KEYS = ("image", "is_synthetic", "mask", "landmarks") + GROUND_TRUTH_KEYS


def split(batch_size: int, real_ratio: float) -> tuple[int, int]:
    """(real, synthetic) sample counts of a batch: round(B * real_ratio) real ones."""
    if not 0.0 <= real_ratio <= 1.0:
        raise ValueError(f"real_ratio must be in [0, 1], got {real_ratio}")
    real = round(batch_size * real_ratio)
    return real, batch_size - real


def ground_truth_shapes(model: hiface.HiFace) -> dict[str, tuple[int, ...]]:
    """Per-sample shapes of the ground truth keys for ``model`` (zeros for real samples)."""
    m, r = model.face_model, model.uv_resolution
    k = kd = 0
    if model.detail_kind == "sddetail":
        k = model.sddetail.static_basis.shape[0]
        kd = model.sddetail.compress_basis.shape[0] + model.sddetail.stretch_basis.shape[0]
    return {
        "identity": (m.num_identity,),
        "expression": (m.num_expression,),
        "rotation": (3,),
        "translation": (3,),
        "sh": (9, 3),
        "albedo_base": (3,),
        "static_code": (k,),
        "dynamic_code": (kd,),
        "displacement_static": (r, r),
        "displacement_dynamic": (r, r),
    }


def _unit(x: Any) -> jax.Array:
    """uint8 0..255 -> float32 [0, 1]; floats are taken as already in [0, 1]."""
    x = jnp.asarray(x)
    return x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)


def synthetic_batch(samples: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> dict[str, jax.Array]:
    """Synthetic samples (``SyntheticSampler.sample`` output or a shard batch) -> ``BATCH_KEYS``.

    Codes of a basis the model does not use (coarse-only / DECA variants) are dropped to
    the model's (zero) widths. ``sh`` is the light as the exposed image shows it (the
    generator's SH times 2^camera_exposure).
    """
    b = jnp.asarray(samples["image"]).shape[0]
    out = {
        "image": _unit(samples["image"]),
        "is_synthetic": jnp.ones((b,), bool),
        "mask": _unit(samples["mask"]),
        "landmarks": jnp.asarray(samples["landmarks_2d"], jnp.float32),
    }
    for key in GROUND_TRUTH_KEYS:
        value = jnp.asarray(samples[key], jnp.float32)
        if value.shape[1:] != shapes[key]:
            if key in ("static_code", "dynamic_code") and shapes[key] == (0,):
                value = value[:, :0]
            else:
                raise ValueError(f"synthetic '{key}' is {value.shape[1:]} per sample, the model needs {shapes[key]}")
        out[key] = value
    if "camera_exposure" in samples:
        # The image is the render times 2^exposure: the light the photo shows is brighter or
        # darker by that factor, and the photometric terms can only see that light.
        out["sh"] = out["sh"] * (2.0 ** jnp.asarray(samples["camera_exposure"], jnp.float32))[:, None, None]
    return out


def real_batch(crops: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> dict[str, jax.Array]:
    """``face_images`` crops (image uint8, mask, landmarks_68) -> ``BATCH_KEYS`` with zero ground truth."""
    b = jnp.asarray(crops["image"]).shape[0]
    out = {
        "image": _unit(crops["image"]),
        "is_synthetic": jnp.zeros((b,), bool),
        "mask": _unit(crops["mask"]),
        "landmarks": jnp.asarray(crops["landmarks_68"], jnp.float32),
    }
    return out | {key: jnp.zeros((b,) + shape, jnp.float32) for key, shape in shapes.items()}


def concat(*parts: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Batches with the same keys, stacked along the batch axis (empty parts skipped)."""
    parts = [p for p in parts if p is not None]
    return {key: jnp.concatenate([p[key] for p in parts]) for key in BATCH_KEYS}


def training_batch(
    host: dict[str, dict[str, Any]] | None,
    keys: jax.Array | None,
    sampler: synthetic.SyntheticSampler | None,
    shapes: dict[str, tuple[int, ...]],
) -> dict[str, jax.Array]:
    """This step's batch: real crops, then synthetic samples (shards, or drawn from ``keys``).

    Args:
      host: ``{'real': ..., 'synthetic': ...}`` numpy / jax batches from the loaders;
        either key may be absent.
      keys: (Bs,) per-sample keys for on-device synthetic samples (None with shards).
      sampler: the on-device sampler (``sampler(config)``); needed when ``keys`` is given.
      shapes: ``ground_truth_shapes(model)``.
    """
    host = host or {}
    parts = []
    if host.get("real") is not None:
        parts.append(real_batch(host["real"], shapes))
    if host.get("synthetic") is not None:
        parts.append(synthetic_batch(host["synthetic"], shapes))
    if keys is not None:
        if sampler is None:
            raise ValueError("keys for on-device synthetic samples need a sampler")
        parts.append(synthetic_batch(sampler.sample(keys), shapes))
    if not parts:
        raise ValueError("an empty batch: no real crops, no synthetic shards and no keys")
    return concat(*parts)


def synthetic_config(config: ConfigDict) -> synthetic.SyntheticConfig:
    """The sampler settings that agree with the model: image size, UV resolution, camera,
    basis, and faces at the distance photo crops frame them (``config.data_config``)."""
    m, d = config.model, config.data
    return synthetic.SyntheticConfig(
        seed=int(d.synthetic_seed),
        image_size=int(m.image_size),
        fov_degrees=float(m.fov_degrees),
        uv_resolution=int(m.uv_resolution),
        detail_basis=m.detail_basis,
        min_distance=float(d.synthetic_min_distance),
        max_distance=float(d.synthetic_max_distance),
        store_detailed_vertices=False,
        backgrounds=d.backgrounds,
        photo_albedo=d.photo_albedo,
    )


def sampler(config: ConfigDict) -> synthetic.SyntheticSampler:
    """The on-device synthetic sampler of ``config`` (cached per settings and process)."""
    return synthetic.sampler(synthetic_config(config))


def make_loaders(config: ConfigDict, batch_size: int, *, seed: int = 0, **loader_kwargs) -> dict[str, Any]:
    """grain loaders of this config's host-side sources: 'real' (face_images) when
    ``real_ratio > 0``, 'synthetic' (shards) when ``synthetic_source == 'shards'``.

    Each yields its share of the global ``batch_size`` (``split``); ``loader_kwargs`` go
    to ``data_loader.make_loader`` (process index / count, num_epochs, ...).
    """
    d = config.data
    if d.synthetic_source not in ("device", "shards"):
        raise ValueError(f"config.data.synthetic_source must be 'device' or 'shards', got {d.synthetic_source!r}")
    real, synth = split(batch_size, float(d.real_ratio))
    loader_kwargs.setdefault("num_epochs", None)
    loaders = {}
    if real:
        source = data_loader.open_source(d.data_dir, d.real_name)
        loaders["real"] = data_loader.make_loader(
            source, batch_size=real, seed=seed, worker_count=int(d.worker_count), augment=bool(d.augment_real),
            **loader_kwargs,
        )  # fmt: skip
    if synth and d.synthetic_source == "shards":
        source = data_loader.open_source(d.data_dir, d.synthetic_name)
        loaders["synthetic"] = data_loader.make_loader(
            source, batch_size=synth, seed=seed + 1, worker_count=int(d.worker_count), **loader_kwargs
        )
    return loaders


def synthetic_keys(config: ConfigDict, step: int, count: int, offset: int = 0) -> jax.Array:
    """(count,) keys of step ``step``'s on-device synthetic samples: fold_in(key(seed), step * count + offset + i),
    so every step draws new samples and a resumed run draws the same ones."""
    base = jax.random.key(int(config.data.synthetic_seed))
    first = np.int64(step) * count + offset
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(count) + first)
