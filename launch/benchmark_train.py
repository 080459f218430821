"""Training speed: a table of the train step and its parts, device scaling, and the GPU row.

    python -m launch.benchmark_train                          # CPU rows: tiny's step and its parts
    python -m launch.benchmark_train --rows scaling           # 1 -> 8 simulated CPU devices (a subprocess)
    python -m launch.benchmark_train --rows gpu               # on a GPU: ResNet-50, batch 256, 224 px, bf16

Rows:
* ``parts``: the ``tiny`` preset (or ``--preset``), one device: the synthetic batch drawn on
  device, the encoder forward, the model forward (encoder, heads, mesh, tension, detail),
  forward + renders + losses, and the full step (+ backward and the AdamW update); images/s
  of the full step. Backward = full step - forward with losses - batch.
* ``scaling``: the same global batch on 1, 2, 4, 8 simulated CPU devices
  (``--xla_force_host_platform_device_count=8``, in a subprocess): ms per step, and the loss's
  difference from 1 device (correctness). On one CPU the devices share the same cores, so
  this measures the sharding's overhead, not a speed-up.
* ``gpu``: the ``base`` preset's full step (ResNet-50, ``--gpu_batch`` 256, 224 px, bf16) against
  the encoder-only step (ResNet-50 forward + backward + AdamW on a feature loss) in the same
  process; throughput ratio (target >= 60 %) and peak device memory per image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from absl import app, flags

_ROWS = flags.DEFINE_list("rows", ["parts"], "Which rows: parts, scaling, gpu.")
_PRESET = flags.DEFINE_string("preset", "tiny", "Preset of the parts row.")
_BATCH = flags.DEFINE_integer("batch", 8, "Global batch of the parts and scaling rows.")
_SIZE = flags.DEFINE_integer("image_size", None, "Image size of the parts and scaling rows (default: the preset's).")
_GPU_BATCH = flags.DEFINE_integer("gpu_batch", 256, "Batch of the gpu row.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats (median) after one warm-up.")
_SCALING_CHILD = flags.DEFINE_string("scaling_child", None, "Internal: run the scaling row for this many devices.")


def _config(preset: str, batch: int, image_size: int | None):
    from launch.configs import hiface

    config = hiface.get_config(preset)
    config.train.batch_size = batch
    config.data.real_ratio = 0.0  # no photo folders here: synthetic faces drawn on the device
    config.data.photo_albedo = None
    if image_size:
        config.model.image_size = image_size
    return config


def _mesh(n: int):
    import jax

    return jax.make_mesh((n,), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=jax.devices()[:n])


def _table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")


class _Setup:
    """A config's program on ``n`` devices with a non-donating step (one state timed repeatedly)."""

    def __init__(self, config, n: int, donate: bool = False):
        import jax

        from hiface_jax.model import batches, objective
        from hiface_jax.train import step as step_lib
        from hiface_jax.train import train_state
        from launch import train

        self.config, self.mesh = config, _mesh(n)
        self.prog, data = train.Program(config, self.mesh), train.Data(config, self.mesh)
        self.state, self.host, self.keys = self.prog.initial_state(), data.host_batch(), data.keys(0)
        model = train_state.merge(self.prog.graphdef, self.prog.constants, self.state)[0]
        shapes = batches.ground_truth_shapes(model)

        def build(host, key_data):
            return batches.training_batch(host, jax.random.wrap_key_data(key_data), self.prog.sampler, shapes)

        def loss(model, batch):
            return objective.loss_fn(model, batch, config)

        self.build, self.loss = build, loss
        self.step = step_lib.make_train_step(self.prog.graphdef, build, loss, self.mesh, donate=donate)

    def model(self, state):
        from hiface_jax.train import train_state

        return train_state.merge(self.prog.graphdef, self.prog.constants, state)[0]

    def run_step(self):
        return self.step(self.state, self.prog.constants, self.host, self.keys, False)


def parts_row() -> None:
    import jax

    from launch import timing

    config = _config(_PRESET.value, _BATCH.value, _SIZE.value)
    s = _Setup(config, 1)
    build = jax.jit(s.build)
    batch = build(s.host, s.keys)
    encoder = jax.jit(lambda state, images: s.model(state).encoder(images))
    forward = jax.jit(lambda state, images: s.model(state)(images))
    losses = jax.jit(lambda state, batch: s.loss(s.model(state), batch)[0])
    r = _REPEATS.value
    t_batch = timing.median_seconds(lambda: build(s.host, s.keys), r)
    t_encoder = timing.median_seconds(lambda: encoder(s.state, batch["image"]), r)
    t_forward = timing.median_seconds(lambda: forward(s.state, batch["image"]), r)
    t_losses = timing.median_seconds(lambda: losses(s.state, batch), r)
    t_full = timing.median_seconds(s.run_step, r)
    rows = [
        ["synthetic batch (drawn on device)", f"{1000 * t_batch:.0f}", ""],
        ["encoder forward", f"{1000 * t_encoder:.0f}", ""],
        ["model forward (encoder, heads, mesh, tension, detail)", f"{1000 * t_forward:.0f}", ""],
        ["forward + coarse and detailed renders + losses", f"{1000 * t_losses:.0f}", ""],
        ["backward + update (full - forward with losses - batch)", f"{1000 * (t_full - t_losses - t_batch):.0f}", ""],
        ["full step", f"{1000 * t_full:.0f}", f"{_BATCH.value / t_full:.1f}"],
    ]
    c = config.model
    _table(
        f"{_PRESET.value}: {c.encoder} encoder, {c.image_size} px, UV {c.uv_resolution}, batch {_BATCH.value}, "
        f"{c.compute_dtype}, {jax.devices()[0].device_kind}",
        ["part", "ms", "images/s"],
        rows,
    )


def scaling_child(n: int) -> None:
    import numpy as np

    from launch import timing

    s = _Setup(_config(_PRESET.value, _BATCH.value, _SIZE.value), n)
    seconds = timing.median_seconds(s.run_step, _REPEATS.value)
    loss = float(np.asarray(s.run_step()[1]["loss"]))
    print("RESULT" + json.dumps({"devices": n, "seconds": seconds, "loss": loss}))


def scaling_row() -> None:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    results = []
    for n in (1, 2, 4, 8):
        args = [sys.executable, "-m", "launch.benchmark_train", f"--scaling_child={n}", f"--preset={_PRESET.value}"]
        args += [f"--batch={_BATCH.value}", f"--repeats={_REPEATS.value}"]
        args += [f"--image_size={_SIZE.value}"] if _SIZE.value else []
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"scaling child with {n} devices failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.split("RESULT", 1)[1]))
    base = results[0]
    rows = [
        [r["devices"], f"{1000 * r['seconds']:.0f}", f"{r['seconds'] / base['seconds']:.2f}",
         f"{abs(r['loss'] - base['loss']) / abs(base['loss']):.1e}"]
        for r in results
    ]  # fmt: skip
    _table(
        f"scaling, simulated CPU devices, global batch {_BATCH.value} ({_PRESET.value})",
        ["devices", "ms / step", "cost vs 1 device", "relative loss difference vs 1 device"],
        rows,
    )


def gpu_row() -> None:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from hiface_jax.model import encoder as encoder_lib
    from hiface_jax.train import optim
    from launch import timing

    b = _GPU_BATCH.value
    config = _config("base", b, None)
    t0 = time.perf_counter()
    s = _Setup(config, 1, donate=True)
    holder = {"state": s.state}

    def run_full():
        holder["state"], out = s.step(holder["state"], s.prog.constants, s.host, s.keys, False)
        return out["loss"]

    full_s = timing.median_seconds(run_full, _REPEATS.value)
    peak = jax.devices()[0].memory_stats().get("peak_bytes_in_use", 0)
    setup_s = time.perf_counter() - t0

    enc = encoder_lib.make_encoder(config.model.encoder, dtype=config.model.compute_dtype, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(enc, optim.make_optimizer(config.train), wrt=nnx.Param)
    images = jax.random.uniform(jax.random.key(0), (b, 224, 224, 3))

    @nnx.jit
    def encoder_step(enc, opt, images):
        loss, grads = nnx.value_and_grad(lambda e: jnp.mean(jnp.square(e(images))))(enc)
        opt.update(enc, grads)
        return loss

    enc_s = timing.median_seconds(lambda: encoder_step(enc, opt, images), _REPEATS.value)
    rows = [
        ["full HiFace step (synthetic batch on device, renders, losses, backward, AdamW)",
         f"{1000 * full_s:.1f}", f"{b / full_s:.0f}", f"{peak / b / 2**20:.1f}"],
        ["encoder-only step (ResNet-50 forward + backward + AdamW)", f"{1000 * enc_s:.1f}", f"{b / enc_s:.0f}", ""],
        ["full / encoder-only throughput", f"{enc_s / full_s:.0%}", "", ""],
    ]  # fmt: skip
    _table(
        f"GPU: {jax.devices()[0].device_kind}, ResNet-50, batch {b}, 224 px, bf16 (set-up + compile {setup_s:.0f} s)",
        ["step", "ms", "images/s", "peak MiB / image (full step)"],
        rows,
    )


def main(argv) -> None:
    del argv
    if _SCALING_CHILD.value:
        scaling_child(int(_SCALING_CHILD.value))
        return
    for row in _ROWS.value:
        {"parts": parts_row, "scaling": scaling_row, "gpu": gpu_row}[row]()


if __name__ == "__main__":
    app.run(main)
