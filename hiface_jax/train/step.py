"""The train step: loss and gradients, the optimizer update, and a guard against non-finite values.

    step = make_train_step(graphdef, build_batch, loss_fn, mesh)
    state, out = step(state, constants, host_batch, key_data, poison)

``state`` is what training changes (``train_state.create``: parameters, optimizer moments)
and ``constants`` what it reads (face model, UV geometry, frozen detail basis), both
replicated over the mesh. ``host_batch`` is a dict of arrays sharded over the mesh's
``data`` axis (real photos from ``data_loader.to_global_batch``; may be empty);
``key_data`` (Bs, 2) uint32 are the keys of the faces drawn on the device, sharded like the
batch (each device draws its own), the same values on every device count (None when
nothing is drawn). The step is one ``jax.jit`` over the global batch: XLA inserts the
gradient all-reduce, and every loss term is a mean over the global batch (GroupNorm, no
batch statistics), so 8 devices compute what 1 device does (to float rounding).

Guard: the update is applied only if the total loss, every term, every gradient and every
updated variable are finite; otherwise the old state (parameters, optimizer moments and
step) is returned unchanged and ``out["finite"]`` is False. The host names the
non-finite terms (``nonfinite_names``) and stops after K such steps in a row
(``NonFiniteGuard``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hiface_jax.train import train_state

PyTree = Any
BuildBatch = Callable[[dict[str, jax.Array], jax.Array | None], dict[str, jax.Array]]
LossFn = Callable[[nnx.Module, dict[str, jax.Array]], tuple[jax.Array, dict[str, jax.Array]]]


def all_finite(tree: PyTree) -> jax.Array:
    """() bool: every floating leaf of ``tree`` is finite."""
    inexact = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    leaves = [jnp.all(jnp.isfinite(x)) for x in inexact]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def poison_images(batch: dict[str, jax.Array], poison: jax.Array) -> dict[str, jax.Array]:
    """Fault injection for the guard's tests and drills: NaN images where ``poison`` is True."""
    if "image" not in batch:
        return batch
    image = batch["image"]
    image = image if jnp.issubdtype(image.dtype, jnp.floating) else image.astype(jnp.float32)
    return {**batch, "image": jnp.where(poison, jnp.nan, image).astype(image.dtype)}


def make_train_step(
    graphdef: nnx.GraphDef, build_batch: BuildBatch, loss_fn: LossFn, mesh: Mesh, *, donate: bool = True
) -> Callable:
    """A jitted ``(state, constants, host_batch, key_data, poison) -> (state, out)`` (module docstring).

    Args:
      graphdef: from ``train_state.create``.
      build_batch: (host batch, key data) -> the batch ``loss_fn`` takes; runs inside the step.
      loss_fn: (model, batch) -> (total, {term: unweighted value}).
      mesh: a mesh with a ``data`` axis; the state is replicated over it.
      donate: let XLA reuse the old state's buffers for the new state.

    ``out`` holds ``loss``, every term (prefixed ``loss/``), ``grad_norm``, ``finite`` and
    ``grads_finite`` (scalars).
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    sharded = NamedSharding(mesh, PartitionSpec("data"))

    def step(state, constants, host_batch, key_data, poison):
        old = jax.tree.leaves(state)  # the arrays before the update (merge shares the Variables it mutates)
        model, optimizer = train_state.merge(graphdef, constants, state)
        batch = poison_images(build_batch(host_batch, key_data), poison)
        (total, terms), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch)
        grads_finite = all_finite(grads)
        optimizer.update(model, grads)
        new_state = train_state.split(model, optimizer)[2]
        finite = jnp.isfinite(total) & all_finite(terms) & grads_finite & all_finite(new_state)
        # Where anything went non-finite keep every old variable: parameters, moments, batch statistics.
        new, treedef = jax.tree.flatten(new_state)
        kept = jax.tree.unflatten(treedef, [jnp.where(finite, n, o) for n, o in zip(new, old)])
        out = {"loss": total, **{f"loss/{k}": v for k, v in terms.items()}}
        out |= {"grad_norm": _global_norm(grads), "finite": finite, "grads_finite": grads_finite}
        return kept, out

    return jax.jit(
        step,
        in_shardings=(replicated, replicated, sharded, sharded, replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=(0,) if donate else (),
    )


def _global_norm(tree: PyTree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))


def nonfinite_names(out: dict[str, Any]) -> list[str]:
    """The terms of a step's output that are not finite (``loss/`` stripped); "gradients" when
    only the gradients or the update are, "loss" when only the weighted total is."""
    names = [k.removeprefix("loss/") for k, v in out.items() if k.startswith("loss/") and not np.isfinite(v)]
    if names:
        return names
    if not np.isfinite(out["loss"]):
        return ["loss"]
    return ["gradients" if not bool(out["grads_finite"]) else "updated variables"]


class NonFiniteError(RuntimeError):
    """K steps in a row produced non-finite values: training stops (state left clean)."""


class NonFiniteGuard:
    """Counts consecutive skipped steps; raises ``NonFiniteError`` at ``limit``.

    ``check(step, out)`` returns a message for a skipped step, or None.
    """

    def __init__(self, limit: int, streak: int = 0):
        self.limit, self.streak = limit, streak

    def check(self, step: int, out: dict[str, Any]) -> str | None:
        if bool(out["finite"]):
            self.streak = 0
            return None
        self.streak += 1
        message = (
            f"step {step}: non-finite {', '.join(nonfinite_names(out))}; update skipped "
            f"({self.streak} in a row, the run stops at {self.limit})"
        )
        if self.streak >= self.limit:
            raise NonFiniteError(
                f"{message}. Stopping: {self.limit} steps in a row went non-finite; the last checkpoint holds the "
                "last good state. Lower train.lr, check the data, or raise train.max_nonfinite_steps."
            )
        return message
