"""Benchmark: the cost of each part of the HiFace model step on this machine.

    python -m launch.benchmark_model [--preset tiny] [--batches 8,32] [--detail sddetail] [--json FILE]

For each batch size, the median wall time (10 runs after a compile run, ``timing``) of:
  encoder        images -> features (the ResNet)
  heads + shape  features -> FaceParams -> coarse mesh, pose, 68 landmarks
  detail         tension map + SD-DeTail displacement (geometry_of minus heads + shape)
  render         coarse and detailed renders (``hiface.render``)
  loss forward   the whole ``objective.loss_fn``
  forward+backward  ``value_and_grad`` of it; "backward" is the difference
Inputs are random images and a synthetic-style batch of zeros (cost does not depend on
values). The model config is the preset's (``hiface_jax.model.config``).
"""

from __future__ import annotations

import json
import os
import platform

import jax
import jax.numpy as jnp
from absl import app, flags
from flax import nnx

from hiface_jax.face import face_model as fm
from hiface_jax.fit import fitting
from hiface_jax.geometry import camera, rotation
from hiface_jax.model import batches, hiface, objective
from hiface_jax.model import config as config_lib
from launch.timing import median_seconds

_PRESET = flags.DEFINE_enum("preset", "tiny", config_lib.PRESETS, "Model preset.")
_BATCHES = flags.DEFINE_string("batches", "8,32", "Comma-separated batch sizes.")
_DETAIL = flags.DEFINE_enum("detail", "sddetail", config_lib.DETAIL_KINDS, "Detail variant.")
_JSON = flags.DEFINE_string("json", None, "Also write the figures here.")


def _heads_and_shape(model: hiface.HiFace, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    m = model.face_model
    p = model.predict_params(features)
    rest = fm.shape(m, p.identity, p.expression)
    vertices = camera.rigid_transform(rest, rotation.axis_angle_to_matrix(p.rotation), p.translation)
    return vertices, fitting.project_landmarks(m, p, model.camera)


def _batch(model: hiface.HiFace, b: int, key: jax.Array) -> dict[str, jax.Array]:
    s = model.image_size
    out = {k: jnp.zeros((b,) + shape) for k, shape in batches.ground_truth_shapes(model).items()}
    return out | {
        "image": jax.random.uniform(key, (b, s, s, 3)),
        "is_synthetic": jnp.arange(b) % 2 == 0,
        "mask": jnp.ones((b, s, s)),
        "landmarks": jnp.full((b, 68, 2), s / 2.0),
    }


def measure(config, b: int) -> dict[str, float]:
    """Median seconds of each part at batch ``b``."""
    model = hiface.build_model(config, rngs=nnx.Rngs(0))
    batch = _batch(model, b, jax.random.key(b))
    encode = nnx.jit(lambda m, x: m.encoder(x))
    shape = nnx.jit(_heads_and_shape)
    decode = nnx.jit(lambda m, f: m.decode(f))
    render = nnx.jit(lambda m, o, x: hiface.render(m, o, background=x))
    loss = nnx.jit(lambda m, x: objective.loss_fn(m, x, config)[0])
    grad = nnx.jit(nnx.value_and_grad(lambda m, x: objective.loss_fn(m, x, config)[0]))
    features = encode(model, batch["image"])
    out = decode(model, features)
    t = {
        "encoder": median_seconds(lambda: encode(model, batch["image"])),
        "heads + shape": median_seconds(lambda: shape(model, features)),
        "heads + shape + detail": median_seconds(lambda: decode(model, features)),
        "render": median_seconds(lambda: render(model, out, batch["image"])),
        "loss forward": median_seconds(lambda: loss(model, batch)),
        "forward+backward": median_seconds(lambda: grad(model, batch), repeats=5),
    }
    t["detail"] = t["heads + shape + detail"] - t["heads + shape"]
    t["backward"] = t["forward+backward"] - t["loss forward"]
    return t


def main(argv):
    del argv
    config = config_lib.full_config(_PRESET.value)
    config.model.detail = _DETAIL.value
    sizes = [int(x) for x in _BATCHES.value.split(",")]
    results = {b: measure(config, b) for b in sizes}
    rows = ["encoder", "heads + shape", "detail", "render", "loss forward", "backward", "forward+backward"]
    m = config.model
    print(
        f"HiFace step parts, preset {_PRESET.value} ({m.encoder} encoder, {m.image_size} px, UV {m.uv_resolution}, "
        f"detail {m.detail}); {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}"
    )
    header = "| part | " + " | ".join(f"batch {b}: ms | ms / image" for b in sizes) + " |"
    print(header)
    print("|---|" + "---:|---:|" * len(sizes))
    for row in rows:
        cells = " | ".join(f"{1e3 * results[b][row]:.1f} | {1e3 * results[b][row] / b:.2f}" for b in sizes)
        print(f"| {row} | {cells} |")
    for b in sizes:
        print(f"batch {b}: {b / results[b]['forward+backward']:.1f} images/s forward+backward")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump({"preset": _PRESET.value, "detail": m.detail, "seconds": results}, f, indent=1)


if __name__ == "__main__":
    app.run(main)
