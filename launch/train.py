"""Trains HiFace: one photo -> a detailed, animatable face (issue 8).

    python -m launch.train --config launch/configs/hiface.py:tiny --workdir DIR [--config.train.steps=300 ...]

The workdir is the run: ``config.json`` (what it was started with), ``checkpoints/``,
``metrics.jsonl``, ``tensorboard/``. Rerunning the same command resumes from the newest
intact checkpoint; on a finished workdir it says so and exits 0. SIGTERM (a scheduler's
pre-emption notice) saves a checkpoint and exits. Multi-host: ``--config.train.distributed``
calls ``jax.distributed.initialize()`` (SLURM and TPU pods find their peers;
``launch/cluster/``); every process runs this same file.

Sections: config checks, workdir, data, the run (model, optimizer, restore, loop, save), main.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import jax
import ml_collections
import numpy as np
from absl import app, flags
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec
from ml_collections import config_flags

# ----------------------------------------------------------------------- config checks


class ConfigError(ValueError):
    """A config value, workdir or data folder the run cannot use (said in one sentence)."""


# Fields a resumed run may change; any other difference from the workdir's config.json is refused.
RESUMABLE = {
    "train.steps", "train.progress", "train.log_every", "train.image_every", "train.eval_every",
    "train.checkpoint_every", "train.keep_checkpoints", "train.max_nonfinite_steps",
    "train.inject_nonfinite_steps", "train.distributed", "train.coordinator_address", "train.num_processes",
    "train.process_id", "data.worker_count",
}  # fmt: skip


def inject_steps(config: ml_collections.ConfigDict) -> set[int]:
    """The fault-injection steps of ``train.inject_nonfinite_steps`` ("3,4,5")."""
    text = str(config.train.inject_nonfinite_steps or "").strip()
    try:
        return {int(s) for s in text.split(",") if s.strip()}
    except ValueError:
        raise ConfigError(f"config.train.inject_nonfinite_steps must be comma-separated steps, got {text!r}") from None


def validate(config: ml_collections.ConfigDict, device_count: int, process_count: int) -> None:
    """Raises ``ConfigError`` naming the first field the run cannot use."""
    from hiface_jax.model import batches
    from hiface_jax.model import config as model_config

    t, m, d = config.train, config.model, config.data

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    for name in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every", "max_nonfinite_steps"):
        need(int(t[name]) >= 1, f"config.train.{name} must be >= 1, got {t[name]}")
    for name in ("warmup_steps", "image_every", "eval_every"):
        need(int(t[name]) >= 0, f"config.train.{name} must be >= 0, got {t[name]}")
    need(np.isfinite(t.lr) and t.lr > 0, f"config.train.lr must be a positive number, got {t.lr}")
    need(0 <= t.lr_end_factor <= 1, f"config.train.lr_end_factor must be in [0, 1], got {t.lr_end_factor}")
    need(0 <= t.b1 < 1 and 0 <= t.b2 < 1, f"config.train.b1 / b2 must be in [0, 1), got {t.b1} / {t.b2}")
    need(t.weight_decay >= 0, f"config.train.weight_decay must be >= 0, got {t.weight_decay}")
    need(
        m.encoder in model_config.ENCODERS,
        f"config.model.encoder must be one of {model_config.ENCODERS}, got {m.encoder!r}",
    )
    need(
        m.detail in model_config.DETAIL_KINDS,
        f"config.model.detail must be one of {model_config.DETAIL_KINDS}, got {m.detail!r}",
    )
    need(
        m.compute_dtype in ("float32", "bfloat16"),
        f"config.model.compute_dtype must be float32 or bfloat16, got {m.compute_dtype!r}",
    )
    need(int(m.image_size) >= 16, f"config.model.image_size must be >= 16, got {m.image_size}")
    need(
        d.synthetic_source in ("device", "shards"),
        f"config.data.synthetic_source must be 'device' or 'shards', got {d.synthetic_source!r}",
    )
    need(0.0 <= d.real_ratio <= 1.0, f"config.data.real_ratio must be in [0, 1], got {d.real_ratio}")
    real, synthetic = batches.split(int(t.batch_size), float(d.real_ratio))
    for part, count in (("real", real), ("synthetic", synthetic)):
        need(
            count % device_count == 0,
            f"config.train.batch_size {t.batch_size} x real_ratio {d.real_ratio} gives {real} real and {synthetic} "
            f"synthetic samples; each must divide over the {device_count} devices ({part}: {count})",
        )
    need(
        t.batch_size % process_count == 0,
        f"config.train.batch_size {t.batch_size} must divide over {process_count} processes",
    )
    if t.eval_every:
        chunk = min(int(t.batch_size), int(t.eval_samples))
        need(
            t.eval_samples >= 1 and t.eval_samples % chunk == 0 and chunk % device_count == 0,
            f"config.train.eval_samples {t.eval_samples} must be a multiple of min(batch_size, eval_samples) "
            f"= {chunk}, "
            f"itself a multiple of the {device_count} devices",
        )
    inject_steps(config)
    needed = ([d.real_name] if real else []) + (
        [d.synthetic_name] if synthetic and d.synthetic_source == "shards" else []
    )
    for name in needed:
        need(bool(d.data_dir), f"config.data.data_dir is empty, but this config reads the {name!r} dataset from it")
        need(Path(d.data_dir).is_dir(), f"config.data.data_dir {d.data_dir!r} does not exist")
        need(
            (Path(d.data_dir) / name).is_dir(),
            f"config.data.data_dir {d.data_dir!r} has no {name!r} dataset; build it with "
            f"python -m launch.make_dataset ... --output {d.data_dir}",
        )


# ----------------------------------------------------------------------- workdir


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def record_config(workdir: Path, config: ml_collections.ConfigDict) -> None:
    """Writes ``workdir/config.json``, or checks that a resumed run's config differs only in ``RESUMABLE``."""
    from hiface_jax.train.checkpoint import CONFIG_FILE

    path = workdir / CONFIG_FILE
    now = json.loads(config.to_json_best_effort())
    if path.exists():
        before = _flat(json.loads(path.read_text()))
        after = _flat(now)
        changed = sorted(
            k for k in before.keys() | after.keys() if before.get(k) != after.get(k) and k not in RESUMABLE
        )
        if changed:
            raise ConfigError(
                f"workdir {workdir} holds a run with another config (differs in {', '.join(changed[:5])}; e.g. "
                f"{changed[0]} was {before.get(changed[0])!r}, now {after.get(changed[0])!r}); use a new workdir"
            )
    if jax.process_index() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(now, indent=2, sort_keys=True))
        tmp.replace(path)


# ----------------------------------------------------------------------- data


class Data:
    """Where each step's batch comes from: grain loaders on the host (real crops,
    synthetic shards) and keys of the samples drawn on the device."""

    def __init__(self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh):
        from hiface_jax.model import batches

        self.config, self.mesh = config, mesh
        self.sharded = NamedSharding(mesh, PartitionSpec("data"))
        _, synthetic = batches.split(int(config.train.batch_size), float(config.data.real_ratio))
        self.device_samples = synthetic if config.data.synthetic_source == "device" else 0
        loaders = batches.make_loaders(config, int(config.train.batch_size), seed=int(config.train.seed))
        self.iterators = {name: iter(loader) for name, loader in loaders.items()}

    def host_batch(self) -> dict:
        """This step's host batches as global arrays sharded over ``data`` ({} when all is drawn on device)."""
        from hiface_jax.data import data_loader

        return {name: data_loader.to_global_batch(next(it), self.mesh) for name, it in self.iterators.items()}

    def keys(self, step: int) -> jax.Array | None:
        """(Bs, 2) uint32 key data of step ``step``'s on-device samples, sharded over ``data``."""
        if not self.device_samples:
            return None
        from hiface_jax.model import batches

        data = np.asarray(jax.random.key_data(batches.synthetic_keys(self.config, step, self.device_samples)))
        return jax.make_array_from_callback(data.shape, self.sharded, lambda index: data[index])


def eval_keys(config: ml_collections.ConfigDict, chunk: int, mesh: jax.sharding.Mesh) -> list[jax.Array]:
    """Key data of the held-out synthetic split (seed ``train.eval_seed``, never a training seed), in chunks."""
    base = jax.random.key(int(config.train.eval_seed))
    n = int(config.train.eval_samples)
    data = np.asarray(jax.random.key_data(jax.vmap(lambda i: jax.random.fold_in(base, i))(np.arange(n))))
    sharded = NamedSharding(mesh, PartitionSpec("data"))
    return [
        jax.make_array_from_callback((chunk, 2), sharded, lambda index, c=data[i : i + chunk]: c[index])
        for i in range(0, n, chunk)
    ]


# ----------------------------------------------------------------------- the run


class _StopSignal:
    """Turns SIGTERM into a flag the loop reads between steps (then: save and exit)."""

    def __init__(self):
        self.received = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: no handler, the run just is not pre-emptible
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.received = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _host(tree) -> dict:
    return {k: np.asarray(v) for k, v in jax.device_get(tree).items()}


# Fields that change what a run does but not what it computes: runs differing only in these share one Program.
RUN_ONLY = RESUMABLE - {"train.steps"}


class Program:
    """What a config compiles to: the model's graph and constants, the initial state (host
    copy), the batch builder and the jitted train step, held-out evaluation and image
    summary. Built once per config and process (``program``), so repeated runs in one
    process (a notebook, the tests) trace and compile once."""

    def __init__(self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh):
        from hiface_jax.model import batches, hiface, objective
        from hiface_jax.train import step as step_lib
        from hiface_jax.train import train_state

        replicated = NamedSharding(mesh, PartitionSpec())
        self.mesh = mesh
        self.graphdef, constants, state = train_state.create(config)
        self.constants = jax.device_put(constants, replicated)
        self.initial = jax.device_get(state)  # a fresh run starts from a copy (the step donates its input)
        self.replicated = replicated
        shapes = batches.ground_truth_shapes(train_state.merge(self.graphdef, constants, state)[0])
        _, synthetic = batches.split(int(config.train.batch_size), float(config.data.real_ratio))
        self.sampler = batches.sampler(config) if synthetic and config.data.synthetic_source == "device" else None

        def build_batch(host, key_data):
            keys = None if key_data is None else jax.random.wrap_key_data(key_data)
            return batches.training_batch(host, keys, self.sampler, shapes)

        def loss(model, batch):
            return objective.loss_fn(model, batch, config)

        self.train_step = step_lib.make_train_step(self.graphdef, build_batch, loss, mesh)

        # Held-out faces are drawn on the device whatever the training source (stored shards
        # included): without a training sampler, one is built (outside the trace) at the first evaluation.
        self.eval_sampler = self.sampler

        @jax.jit
        def eval_terms(state, constants, key_data):
            batch = batches.training_batch({}, jax.random.wrap_key_data(key_data), self.eval_sampler, shapes)
            model, _ = train_state.merge(self.graphdef, constants, state)
            return objective.loss_fn(model, batch, config, render=True)[1]

        def eval_chunk(state, constants, key_data):
            self.eval_sampler = self.eval_sampler or batches.sampler(config)
            return eval_terms(state, constants, key_data)

        @jax.jit
        def summary(state, constants, host, key_data):
            model, _ = train_state.merge(self.graphdef, constants, state)
            batch = build_batch(host, key_data)
            return hiface.summary_images(batch["image"], hiface.render(model, model(batch["image"])))[:4]

        self.eval_chunk, self.summary = eval_chunk, summary

    def initial_state(self):
        return jax.device_put(self.initial, self.replicated)


_PROGRAMS: dict[tuple, Program] = {}


def program(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> Program:
    """The ``Program`` of ``config`` on ``mesh`` (built on first use; the last one is kept)."""
    fields = {k: v for k, v in _flat(json.loads(config.to_json_best_effort())).items() if k not in RUN_ONLY}
    key = (json.dumps(fields, sort_keys=True), mesh.devices.shape, tuple(d.id for d in mesh.devices.flat))
    if key not in _PROGRAMS:
        _PROGRAMS.clear()  # one at a time: a program holds the model's constants on every device
        _PROGRAMS[key] = Program(config, mesh)
    return _PROGRAMS[key]


def train(config: ml_collections.ConfigDict, workdir: str | Path, log: Callable[[str], None] | None = None) -> dict:
    """Runs (or resumes) training in ``workdir``. Returns a summary: ``step`` reached,
    ``status`` ('finished', 'already finished', 'stopped by SIGTERM'), ``eval`` (the last
    held-out evaluation, if any) and ``eval_initial`` (at step 0, for a fresh run).

    Raises ``ConfigError`` for unusable settings and ``step.NonFiniteError`` when the guard stops the run.
    """
    from hiface_jax.train import checkpoint, metrics, optim
    from hiface_jax.train import step as step_lib

    log = log or (lambda message: print(message, flush=True) if jax.process_index() == 0 else None)
    workdir = Path(workdir).absolute()
    t = config.train
    validate(config, jax.device_count(), jax.process_count())
    record_config(workdir, config)

    # Mesh and state: data parallel, the state replicated on every device. Auto (GSPMD) axes:
    # the sampler and renderer index with sharded arrays, which explicit axes make ambiguous.
    mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    saver = checkpoint.Checkpointer(workdir, every=int(t.checkpoint_every), keep=int(t.keep_checkpoints))
    prog = program(config, mesh)
    state, constants = prog.initial_state(), prog.constants
    data = Data(config, mesh)

    # Restore: the newest intact checkpoint of this workdir, if any.
    restored = saver.restore_latest({"state": state}, data.iterators, log=log)
    start, streak = 0, 0
    if restored is not None:
        start, tree, meta = restored
        state, streak = tree["state"], int(meta.get("nonfinite_streak", 0))
        log(f"resumed from step {start} ({workdir / 'checkpoints' / str(start)})")
    if start >= t.steps:
        log(f"workdir {workdir} already finished: step {start} of train.steps = {t.steps}; nothing to do")
        saver.close()
        return {"step": start, "status": "already finished"}

    # Held-out evaluation (the same samples every time, drawn from a seed training never uses).
    chunk = min(int(t.batch_size), int(t.eval_samples))

    def evaluate(state) -> dict[str, float]:
        terms = [_host(prog.eval_chunk(state, constants, k)) for k in eval_keys(config, chunk, mesh)]
        return {f"eval/{name}": float(np.mean([x[name] for x in terms])) for name in terms[0]}

    writer = metrics.MetricWriter(workdir)
    result = {"eval_initial": None, "eval": None}
    if t.eval_every and start == 0:
        result["eval_initial"] = evaluate(state)
        writer.scalars(0, result["eval_initial"])

    schedule = optim.learning_rate(t)
    guard = step_lib.NonFiniteGuard(int(t.max_nonfinite_steps), streak)
    poisoned = inject_steps(config)
    progress = metrics.Progress(start, int(t.steps), int(t.batch_size), enabled=bool(t.progress))
    pending = None  # (step, out) read one step late, so the host does not stall the device

    def settle():
        nonlocal pending
        if pending is None:
            return
        number, out = pending
        pending = None
        out = _host(out)
        message = guard.check(number, out)  # raises NonFiniteError at K in a row
        if message:
            log(message)
        progress.update(number)
        if number % t.log_every == 0 or number == t.steps:
            writer.scalars(number, {**out, "lr": float(schedule(number - 1)), **progress.rates(number)})

    def save(number: int, force: bool = False) -> None:
        settle()
        if saver.save(number, {"state": state}, {"nonfinite_streak": guard.streak}, data.iterators, force=force):
            writer.flush()

    status = "finished"
    try:
        with _StopSignal() as stop:
            for index in range(start, int(t.steps)):
                number = index + 1  # steps completed after this one
                host, keys = data.host_batch(), data.keys(index)
                state, out = prog.train_step(state, constants, host, keys, number in poisoned)
                settle()
                pending = (number, out)
                if t.image_every and (number % t.image_every == 0 or number == t.steps):
                    # a global array: every process gathers it (collective), process 0 writes it
                    strip = multihost_utils.process_allgather(prog.summary(state, constants, host, keys), tiled=True)
                    writer.image(number, "input_coarse_detailed_normals", np.concatenate(list(strip), axis=0))
                if t.eval_every and (number % t.eval_every == 0 or number == t.steps):
                    settle()
                    result["eval"] = evaluate(state)
                    writer.scalars(number, result["eval"])
                save(number, force=number == t.steps)
                received = stop.received
                if jax.process_count() > 1:  # every process stops at the same step
                    received = bool(multihost_utils.process_allgather(np.array(received)).any())
                if received:
                    save(number, force=True)
                    status = "stopped by SIGTERM"
                    log(f"SIGTERM: saved step {number} in {workdir}; run the same command to resume")
                    break
            settle()
    finally:
        progress.close()
        writer.close()
        final = max(saver.steps(), default=start)
        saver.close()
    if status == "finished":
        log(f"finished: step {final} of {t.steps} in {workdir}")
    return {"step": final, "status": status, **result}


# ----------------------------------------------------------------------- main

_CONFIG = config_flags.DEFINE_config_file("config", None, "A config file and preset: launch/configs/hiface.py:tiny.")
_WORKDIR = flags.DEFINE_string("workdir", None, "The run's folder (created; resumed if it holds a run).")


def _none_from_flags(config: ml_collections.ConfigDict) -> None:
    """``--config.x=None`` sets the string 'None' in a string field: make it None (in place)."""
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            _none_from_flags(value)
        elif value == "None":
            config[key] = None


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from hiface_jax.train.checkpoint import IncompatibleCheckpointError
    from hiface_jax.train.step import NonFiniteError

    config = _CONFIG.value
    if config is None or not _WORKDIR.value:
        sys.exit(
            "error: --config and --workdir are required (e.g. --config launch/configs/hiface.py:tiny --workdir DIR)"
        )
    _none_from_flags(config)
    t = config.train
    if t.distributed:  # explicit peers for hand-made launches; SLURM and TPU pods find them themselves
        jax.distributed.initialize(
            t.coordinator_address or None,
            num_processes=t.num_processes if t.num_processes > 0 else None,
            process_id=t.process_id if t.process_id >= 0 else None,
        )
    try:
        train(config, _WORKDIR.value)
    except (ConfigError, NonFiniteError, IncompatibleCheckpointError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    app.run(main)
