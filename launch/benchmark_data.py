"""Benchmark: building shards and reading them back through the grain loader.

    python -m launch.benchmark_data [--photos 32] [--synthetic 64] [--batches 40] [--json FILE]

Rows:
- face_images build: photos (variants of the astronaut and Grace Hopper, scaled,
  mirrored, darkened) -> detection, alignment, PNG encoding, array_record shards.
- hiface_synthetic build: generator + encoding + shards, when `hiface_jax.data.synthetic` exists.
- loader: images per second out of `make_loader` (batch 32, PNG decoding, with and
  without augmentation) for 1, 2 and 4 grain workers, after a warm-up of 5 batches,
  and the seconds to the first batch (worker processes start and import).
"""

import json
import os
import pathlib
import platform
import tempfile
import time

import jax
import matplotlib
import numpy as np
import skimage.data
import tensorflow_datasets as tfds
from absl import app, flags
from PIL import Image

from hiface_jax.data import data_loader
from hiface_jax.data.datasets import face_images

_PHOTOS = flags.DEFINE_integer("photos", 32, "Photos in the face_images build (multiple of 16 recommended).")
_SYNTHETIC = flags.DEFINE_integer("synthetic", 64, "Samples in the synthetic build (0: skip).")
_BATCHES = flags.DEFINE_integer("batches", 40, "Timed batches per loader case.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Loader batch size.")
_JSON = flags.DEFINE_string("json", None, "Also write the figures to this JSON file.")
_WARMUP = 5


def _write_photos(folder: pathlib.Path, count: int) -> None:
    grace = np.asarray(Image.open(pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    bases = [skimage.data.astronaut(), grace]
    for i in range(count):
        photo = bases[i % 2]
        scale = (1.0, 0.8, 0.65, 0.5)[(i // 2) % 4]
        image = Image.fromarray(photo).resize((round(photo.shape[1] * scale), round(photo.shape[0] * scale)))
        image = np.asarray(image)
        if (i // 8) % 2:
            image = image[:, ::-1]
        if (i // 16) % 2:
            image = (image * 0.8).astype(np.uint8)
        Image.fromarray(np.ascontiguousarray(image)).save(folder / f"photo_{i:04d}.jpg", quality=95)


def _loader_rate(source, workers: int, augment: bool) -> tuple[float, float]:
    """(seconds to the first batch, including worker start-up; images per second after warm-up)."""
    start = time.perf_counter()
    loader = data_loader.make_loader(
        source, batch_size=_BATCH_SIZE.value, seed=0, num_epochs=None, worker_count=workers, augment=augment
    )
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter() - start
    for _ in range(_WARMUP):
        next(iterator)
    start = time.perf_counter()
    for _ in range(_BATCHES.value):
        next(iterator)
    return first, _BATCHES.value * _BATCH_SIZE.value / (time.perf_counter() - start)


def main(argv):
    del argv
    tfds.disable_progress_bar()
    rows = []  # (case, unit, count, seconds, rate, seconds to the first batch or None)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "photos").mkdir()
        _write_photos(tmp / "photos", _PHOTOS.value)
        builder = face_images.FaceImages(data_dir=str(tmp / "data"))
        start = time.perf_counter()
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(tmp / "photos")))
        seconds = time.perf_counter() - start
        faces = builder.info.splits["train"].num_examples
        rows.append(
            ("face_images build (detect, align, encode, write)", "faces", faces, seconds, faces / seconds, None)
        )

        if _SYNTHETIC.value:
            from hiface_jax.data import synthetic
            from hiface_jax.data.datasets import hiface_synthetic

            sampler = synthetic.sampler(synthetic.SyntheticConfig())
            keys = sampler.keys(0, _BATCH_SIZE.value)
            jax.block_until_ready(sampler.sample(keys))  # compile
            start = time.perf_counter()
            for _ in range(3):
                jax.block_until_ready(sampler.sample(keys))
            seconds = (time.perf_counter() - start) / 3
            rows.append(
                (f"synthetic sampler on device (jit), batch {_BATCH_SIZE.value}", "samples", _BATCH_SIZE.value,
                 seconds, _BATCH_SIZE.value / seconds, None)
            )  # fmt: skip
            config = hiface_synthetic.synthetic_builder_config(_SYNTHETIC.value)
            start = time.perf_counter()
            synth = hiface_synthetic.HifaceSynthetic(config=config, data_dir=str(tmp / "data"))
            synth.download_and_prepare()
            seconds = time.perf_counter() - start
            rows.append(
                ("hiface_synthetic build (generate, encode, write)", "samples", _SYNTHETIC.value, seconds,
                 _SYNTHETIC.value / seconds, None)
            )  # fmt: skip

        source = data_loader.open_source(str(tmp / "data"), "face_images")
        for augment in (False, True):
            for workers in (1, 2, 4):
                first, rate = _loader_rate(source, workers, augment)
                images = _BATCHES.value * _BATCH_SIZE.value
                case = f"loader, batch {_BATCH_SIZE.value}, {workers} worker(s){', augment' if augment else ''}"
                rows.append((case, "images", images, images / rate, rate, first))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    print(f"{'case':52s} {'count':>6s} {'seconds':>8s} {'per second':>15s} {'first batch':>12s}")
    for case, unit, count, seconds, rate, first in rows:
        first_text = f"{first:10.2f} s" if first is not None else ""
        print(f"{case:52s} {count:6d} {seconds:8.2f} {rate:8.1f} {unit:6s} {first_text:>12s}")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            keys = ("case", "unit", "count", "seconds", "per_second", "first_batch_seconds")
            json.dump([dict(zip(keys, row)) for row in rows], f, indent=1)


if __name__ == "__main__":
    app.run(main)
