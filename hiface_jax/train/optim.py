"""The optimiser: AdamW on a warm-up + cosine learning-rate schedule, gradients clipped
by their global norm (one bad batch then moves the weights a bounded amount)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import ml_collections
import optax


def learning_rate(config: ml_collections.ConfigDict) -> optax.Schedule:
    """Linear warm-up from 0 over ``warmup_steps``, then cosine decay to ``lr * end_factor`` at ``steps``.

    Args:
      config: the ``train`` section: lr, warmup_steps, steps, lr_end_factor.
    """
    warmup = min(config.warmup_steps, max(config.steps - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.lr,
        warmup_steps=warmup,
        decay_steps=max(config.steps, warmup + 1),
        end_value=config.lr * config.lr_end_factor,
    )


def make_optimizer(
    config: ml_collections.ConfigDict, labels: Callable | None = None, detail_map_lr_scale: float = 1.0
) -> optax.GradientTransformation:
    """AdamW with the schedule of ``learning_rate`` and global-norm clipping (``grad_clip`` <= 0: none).

    Weight decay applies to parameters with two or more axes (kernels), not to biases or
    norm scales, the usual choice for ResNets.

    Args:
      config: the ``train`` section.
      labels: optional ``params -> tree of 'default' | 'detail_maps'`` (``hiface.parameter_labels``).
        SD-DeTail's learned maps are displacements in cm (about 0.01): a code-sized Adam step or
        weight decay wipes them out, so they get plain Adam at ``detail_map_lr_scale`` of the rate.
    """
    schedule = learning_rate(config)
    tx = optax.adamw(
        schedule,
        b1=config.b1,
        b2=config.b2,
        weight_decay=config.weight_decay,
        mask=lambda params: jax.tree.map(lambda p: p.ndim > 1, params),
    )
    if labels is not None:
        maps = optax.adam(lambda step: schedule(step) * detail_map_lr_scale, b1=config.b1, b2=config.b2)
        tx = optax.multi_transform({"default": tx, "detail_maps": maps}, labels)
    if config.grad_clip > 0:
        tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), tx)
    return tx
