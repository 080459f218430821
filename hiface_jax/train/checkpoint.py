"""Checkpoints that a run resumes from by itself, with a fall-back past a corrupt one.

Layout (``WORKDIR/checkpoints/<step>/``, orbax ``CheckpointManager``, one ``Composite``):
  state/   the train state (model and optimizer variables, and the run's RNG key) as a
           flat dict ``{"model/encoder/.../kernel": array}`` (readable names, no nnx types)
  meta/    JSON: step, a SHA-256 of the state's bytes, the non-finite streak
  data_<name>/  each grain iterator's position (real photos, synthetic shards; none when
           every sample is drawn on the device)

Saving is synchronous: the step that follows may donate (overwrite) the state's buffers,
and a checkpoint costs little next to training at the sizes we run. Orbax writes into a
temporary folder and renames it when complete, so a run killed while saving leaves no
half checkpoint behind. A checkpoint that fails to restore, or whose bytes do not hash to
the value saved with them, is moved to ``WORKDIR/corrupt_checkpoints/<step>`` with a
message and the next older one is tried. A checkpoint whose arrays are intact but shaped
for another model (the code or the config changed since it was written) is not corrupt:
``IncompatibleCheckpointError`` says which array differs, and nothing is moved.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grain
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

PyTree = Any


def _name(path) -> str:
    parts = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts).removesuffix("/value")  # nnx Variables hold their array in .value


def flatten(state: PyTree) -> dict[str, jax.Array]:
    """A pytree -> ``{"a/b/c": leaf}``; PRNG key arrays become their raw uint32 data."""
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        flat[_name(path)] = leaf
    return flat


def unflatten(like: PyTree, flat: dict[str, jax.Array]) -> PyTree:
    """Inverse of ``flatten``, with ``like`` giving the tree structure and key types."""
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(like)
    leaves = []
    for path, leaf in leaves_with_path:
        value = flat[_name(path)]
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            value = jax.random.wrap_key_data(value, impl=jax.random.key_impl(leaf))
        leaves.append(value)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _abstract(flat: dict[str, jax.Array]) -> dict[str, jax.ShapeDtypeStruct]:
    return {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=v.sharding) for k, v in flat.items()}


def checksum(flat: dict[str, jax.Array]) -> str:
    """SHA-256 over names, shapes, dtypes and bytes of a replicated flat state (any process)."""
    digest = hashlib.sha256()
    for key in sorted(flat):
        value = flat[key]
        if isinstance(value, jax.Array) and not value.is_fully_addressable:
            value = value.addressable_data(0)  # replicated: every process holds all of it
        host = np.ascontiguousarray(np.asarray(value))
        digest.update(f"{key}|{host.shape}|{host.dtype}|".encode())
        digest.update(host.tobytes())
    return digest.hexdigest()


CONFIG_FILE = "config.json"  # the config a workdir was started with (written by launch/train.py)


def load_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """The config a training workdir was started with."""
    path = Path(workdir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{workdir} is not a training workdir (no {CONFIG_FILE})")
    return ml_collections.ConfigDict(json.loads(path.read_text()))


class CorruptCheckpointError(RuntimeError):
    """A checkpoint that restores with an error or with bytes other than those saved."""


class IncompatibleCheckpointError(ValueError):
    """A checkpoint written by a model of other shapes than the one restoring it."""


class Checkpointer:
    """Saves and restores the train state of one workdir (see the module docstring).

    Args:
      workdir: the run's folder; checkpoints live in ``workdir/checkpoints``.
      every: save when ``step % every == 0`` (and whenever ``save(..., force=True)``).
      keep: how many recent checkpoints to keep (>= 2 leaves one to fall back to).
      read_only: only restore (inference); nothing in the workdir is created or moved.
    """

    def __init__(self, workdir: str | Path, *, every: int = 1, keep: int | None = None, read_only: bool = False):
        self.workdir = Path(workdir).absolute()
        self.read_only = read_only
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=every, max_to_keep=keep, enable_async_checkpointing=False, create=not read_only,
            read_only=read_only,
        )  # fmt: skip
        self.manager = ocp.CheckpointManager(self.workdir / "checkpoints", options=options)

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(self, step: int, state: PyTree, meta: dict, data: dict | None = None, *, force: bool = False) -> bool:
        """Saves ``state`` (a pytree of jax arrays), ``meta`` (JSON-able) and the grain
        iterators ``data`` ({name: iterator}) at ``step``.

        Returns whether it saved (not at a step off the interval unless ``force``, never twice).
        """
        if step in self.manager.all_steps() or not (force or self.manager.should_save(step)):
            return False
        flat = flatten(state)
        items = {
            "state": ocp.args.StandardSave(flat),
            "meta": ocp.args.JsonSave({**meta, "step": int(step), "checksum": checksum(flat)}),
        }
        items |= {f"data_{name}": grain.checkpoint.CheckpointSave(it) for name, it in (data or {}).items()}
        self.manager.save(step, args=ocp.args.Composite(**items), force=True)
        self.manager.wait_until_finished()
        return True

    def restore(self, step: int, like: PyTree, data: dict | None = None) -> tuple[PyTree, dict]:
        """(state, meta) of checkpoint ``step``; raises ``CorruptCheckpointError`` if it is not intact."""
        if step not in self.manager.all_steps():
            raise FileNotFoundError(f"no checkpoint at step {step} in {self.workdir / 'checkpoints'}")
        return self._restore(step, like, data)

    def _stored_shapes(self, step: int) -> dict[str, tuple[int, ...]] | None:
        """Shapes of checkpoint ``step``'s state arrays from its metadata; None if unreadable."""
        try:
            stored = ocp.StandardCheckpointer().metadata(self.workdir / "checkpoints" / str(step) / "state")
            return {k: tuple(m.shape) for k, m in dict(stored.item_metadata).items()}
        except Exception:  # noqa: BLE001 unreadable metadata: the restore itself reports it as corrupt
            return None

    def _check_shapes(self, step: int, flat_like: dict[str, jax.Array]) -> None:
        stored = self._stored_shapes(step)
        if stored is None:
            return
        differ = [k for k in sorted(set(stored) & set(flat_like)) if stored[k] != tuple(flat_like[k].shape)]
        if differ:
            k = differ[0]
            raise IncompatibleCheckpointError(
                f"the checkpoint at step {step} in {self.workdir / 'checkpoints'} was written by another model: "
                f"{k} is {stored[k]} there and {tuple(flat_like[k].shape)} here ({len(differ)} arrays differ). "
                "The code or the config changed since; train in a new workdir, or use the code that wrote it."
            )

    def _restore(self, step: int, like: PyTree, data: dict | None) -> tuple[PyTree, dict]:
        flat_like = flatten(like)
        self._check_shapes(step, flat_like)
        items = {"state": ocp.args.StandardRestore(_abstract(flat_like)), "meta": ocp.args.JsonRestore()}
        items |= {f"data_{name}": grain.checkpoint.CheckpointRestore(it) for name, it in (data or {}).items()}
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as e:  # any failure to read means: not usable
            raise CorruptCheckpointError(f"it does not restore: {type(e).__name__}: {str(e)[:300]}") from e
        flat, meta = dict(restored["state"]), dict(restored["meta"])
        if set(flat) != set(flat_like):
            differ = sorted(set(flat) ^ set(flat_like))[:5]
            raise CorruptCheckpointError(f"its variables differ from the model's: {differ}")
        found = checksum(flat)
        if found != meta.get("checksum"):
            saved = str(meta.get("checksum"))[:12]
            raise CorruptCheckpointError(f"its bytes hash to {found[:12]}, not to the {saved} saved")
        return unflatten(like, flat), meta

    def restore_latest(
        self, like: PyTree, data: dict | None = None, log: Callable[[str], None] = print, *, move_corrupt: bool = True
    ) -> tuple[int, PyTree, dict] | None:
        """The newest checkpoint that restores intact, as (step, state, meta); None if there is none.

        ``like`` is the freshly initialised state: it gives structure, dtypes and shardings.
        ``data`` ({name: grain iterator}) is restored in place. Corrupt checkpoints are
        skipped with a message and, if ``move_corrupt``, moved aside (so training can save
        that step again); readers (``predict``) leave the workdir as it is. Raises
        ``IncompatibleCheckpointError`` for a checkpoint of another model (nothing moved).
        """
        for step in reversed(self.steps()):
            try:
                state, meta = self._restore(step, like, data)
            except CorruptCheckpointError as e:
                if not move_corrupt or self.read_only:
                    log(f"checkpoint at step {step} is corrupt ({e}); trying the previous one")
                    continue
                destination = self.workdir / "corrupt_checkpoints" / str(step)
                log(f"checkpoint at step {step} is corrupt ({e}); moved to {destination}; trying the previous one")
                if jax.process_index() == 0:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.rmtree(destination, ignore_errors=True)
                    shutil.move(str(self.workdir / "checkpoints" / str(step)), destination)
                multihost_utils.sync_global_devices(f"corrupt checkpoint {step} moved")
                self.manager.reload()
                continue
            return step, state, meta
        return None

    def close(self) -> None:
        self.manager.close()
