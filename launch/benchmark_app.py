"""Benchmarks of the user-facing loop: reconstruction latency by stage, artifact throughput.

    python -m launch.benchmark_app [--checkpoint WORKDIR] [--photos 4] [--batches 1,8,64] [--refine 30]

1. Reconstruction latency per photo (warm: one untimed pass compiles first), split into
   detection, model, refinement, detail + renders (``faces.evaluate``) and file writing, for ``--method fit`` (both
   stages of ``launch.fit``'s fitter; with and without ``--refine`` more photometric steps) and ``--method model`` (the
   checkpoint, or the ``tiny`` model with random weights when none is given: its speed
   is the architecture's, not the training's).
2. Throughput of the exported artifact (``launch.export``) at each batch size, on the
   default JAX device; and of the model's forward pass in-process, for comparison.

On a machine with a GPU the same command measures the GPU (the artifact is lowered for
CPU and CUDA); the table says which device ran it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from absl import app, flags

from hiface_jax.app import runtime

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Trained model (default: tiny, random weights).")
_PRESET = flags.DEFINE_string("preset", "tiny", "Model preset without --checkpoint.")
_PHOTOS = flags.DEFINE_integer("photos", 4, "Timed photos (copies of the astronaut) per configuration.")
_REFINE = flags.DEFINE_integer("refine", 30, "Photometric steps of the refined configuration.")
_BATCHES = flags.DEFINE_list("batches", ["1", "8", "64"], "Artifact batch sizes.")
_LATENCY = flags.DEFINE_bool("latency", True, "Measure the reconstruction latency (part 1).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats per batch size.")


def _photo_folder(n: int) -> Path:
    import skimage.data
    from PIL import Image

    folder = Path(tempfile.mkdtemp(prefix="hiface-bench-"))
    for i in range(n):
        Image.fromarray(skimage.data.astronaut()).save(folder / f"astronaut{i}.png")
    return folder


def latency(backend, photos: list[Path], batch: int) -> dict[str, float]:
    """Seconds per photo by stage, warm."""
    from hiface_jax.app import pipeline

    out = Path(tempfile.mkdtemp(prefix="hiface-bench-out-"))
    try:
        pipeline.reconstruct_photos(photos[:batch], out, backend, batch)  # compiles
        report = pipeline.reconstruct_photos(photos, out, backend, batch)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {k: v / len(photos) for k, v in report.seconds.items()}


def print_latency(model, name: str, photos: list[Path], device: str) -> None:
    """Part 1: the table of seconds per photo by stage."""
    from hiface_jax.app import backends, model_backend

    r = _REFINE.value
    assets = model_backend.model_assets(model)
    configs = [
        ("fit (both stages)", backends.make_backend("fit", None, None, 0)),
        (f"fit + {r} more photometric", backends.make_backend("fit", None, None, r)),
        (name, model_backend.ModelBackend(model, assets, 0)),
        (f"{name} + {r} photometric", model_backend.ModelBackend(model, assets, r)),
    ]
    print(f"\nReconstruction latency per photo, seconds ({device}; {len(photos)} photos, batch 4, warm)\n")
    print("| backend | detection | model | refinement | detail + renders | writing | total |")
    print("|---|---|---|---|---|---|---|")
    for label, backend in configs:
        s = latency(backend, photos, min(4, len(photos)))
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in s.values()) + f" | {sum(s.values()):.3f} |", flush=True)


def main(argv) -> int:
    del argv
    runtime.configure(verbose=False)
    import jax
    from flax import nnx

    from hiface_jax.app import artifact, model_backend
    from hiface_jax.model import config as model_config
    from hiface_jax.model import hiface
    from launch.timing import median_seconds

    device = f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}"
    folder = _photo_folder(_PHOTOS.value)
    photos = sorted(folder.iterdir())
    if _CHECKPOINT.value:
        model, name = model_backend.load_model(_CHECKPOINT.value), f"model ({_CHECKPOINT.value})"
    else:
        model = hiface.build_model(model_config.full_config(_PRESET.value), rngs=nnx.Rngs(0))
        name = f"model ({_PRESET.value}, random weights)"
    if _LATENCY.value:
        print_latency(model, name, photos, device)

    out = Path(tempfile.mkdtemp(prefix="hiface-bench-artifact-")) / "artifact"
    art = artifact.load(artifact.export_model(model, out))
    size = model.image_size
    forward = nnx.jit(lambda m, x: m(x))  # the whole Output: what the artifact returns, less the dense mesh
    print(f"\nThroughput, images/s ({device}; {size}x{size} crops, median of {_REPEATS.value})\n")
    print("| batch | exported artifact (with the dense detailed mesh) | in-process model (Output) |")
    print("|---|---|---|")
    rng = np.random.default_rng(0)
    for b in (int(x) for x in _BATCHES.value):
        x = jax.numpy.asarray(rng.uniform(size=(b, size, size, 3)).astype(np.float32))
        t_art = median_seconds(lambda x=x: art(x)["vertices"], _REPEATS.value)
        t_mod = median_seconds(lambda x=x: jax.tree.leaves(forward(model, x)), _REPEATS.value)
        print(f"| {b} | {b / t_art:.1f} | {b / t_mod:.1f} |", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(out.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: main(argv))
