"""Training batches: TFDS array_record datasets read by grain, sharded per JAX process.

    source = open_source(data_dir, "face_images")
    loader = make_loader(source, batch_size=64, seed=0, num_epochs=None, augment=True)
    for batch in loader:                       # numpy, (64 / process_count, ...) per key
        arrays = to_global_batch(batch, mesh)  # jax.Array, (64, ...), sharded over "data"

What a batch holds (B = local batch): every feature of the dataset, stacked.
- `image` (B, S, S, 3) uint8, decoded from PNG by the TFDS source inside the grain
  workers; kept uint8 so host-to-device transfer is 4x smaller than float.
- `mask` (B, S, S) float32 in [0, 1] (stored as an 8-bit PNG).
- `source` (B,) str for real photos; other features as written (float32, float64, int).

Sharding: `IndexSampler` with `ShardOptions(process_index, process_count,
drop_remainder=True)` gives each process a contiguous, disjoint slice of the record
indices, of equal length (up to process_count - 1 records are left out), so all
processes take the same number of steps and no collective waits forever. Within the
slice, order is shuffled per epoch from `seed`. The batch size is global: each
process yields batch_size / process_count records.

Determinism: the same (seed, shard, num_epochs, worker_count) gives the same
batches. The worker count is part of it: each worker batches the records assigned
to it round-robin, so batches are composed differently for another count. Random
transforms are seeded from the record index. The iterator's position is a small
JSON state (`grain.checkpoint.CheckpointSave` with orbax) that restores to the next
element.

Augmentation (`augment=True`, face crops only; synthetic samples carry 3D ground
truth tied to their camera, which moving pixels would contradict):
- `RandomSimilarity`: rotation up to 5 degrees, scale up to +-5 %, shift up to 3 % of
  the side, about the crop centre; image and mask resampled (`align.warp`), landmarks
  moved by the same transform and `crop_to_original` updated, so the crop still maps
  to the same photo pixels.
- `ColourJitter`: brightness, contrast and saturation factors in [0.8, 1.2].
No flips: mirroring would also need the landmark order mirrored and a mirrored
transform, for little gain over the face model's own symmetry.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

import cv2
import grain
import jax
import numpy as np
from absl import flags
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tensorflow_datasets.core import read_only_builder

from hiface_jax.photo import align

FACE_CROP_KEYS = ("image", "mask", "landmarks_68", "crop_to_original")
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 grey


def open_source(data_dir: str, name: str, split: str = "train"):
    """Random-access source of a prepared dataset, from its files alone.

    Args:
      data_dir: the TFDS data_dir the dataset was built into (`make_dataset --output`).
      name: "face_images" or "hiface_synthetic/<config>"; the newest version is used.
      split: TFDS split, e.g. "train" or "train[:90%]".

    The builder's code is not imported, so reading never runs the synthetic generator
    or the face detector.
    """
    return read_only_builder.builder_from_files(name, data_dir=data_dir).as_data_source(split=split)


@dataclasses.dataclass(frozen=True)
class Prepare(grain.transforms.Map):
    """Stored form -> training form: mask (S, S, 1) uint8 -> (S, S) float32, text -> str."""

    def map(self, element: dict[str, Any]) -> dict[str, Any]:
        out = dict(element)
        if "mask" in out:
            out["mask"] = np.asarray(out["mask"], np.float32)[..., 0] / 255.0
        for key, value in out.items():
            if isinstance(value, bytes):
                out[key] = value.decode()
        return out


@dataclasses.dataclass(frozen=True)
class RandomSimilarity(grain.transforms.RandomMap):
    """Jitters a face crop by a small similarity about its centre (see module doc).

    Attributes:
      max_rotation: degrees.
      max_scale: relative change of the window side.
      max_shift: as a fraction of the crop side, per axis.
    """

    max_rotation: float = 5.0
    max_scale: float = 0.05
    max_shift: float = 0.03

    def random_map(self, element: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        size = element["image"].shape[0]
        angle = np.deg2rad(self.max_rotation) * rng.uniform(-1.0, 1.0)
        side = size * np.exp(np.log1p(self.max_scale) * rng.uniform(-1.0, 1.0))
        center = size / 2 + self.max_shift * size * rng.uniform(-1.0, 1.0, size=2)
        to_new = align.crop_transform(center, side, angle, size)  # old crop pixels -> new crop pixels
        out = dict(element)
        out["image"] = align.warp(element["image"], to_new, size)
        out["mask"] = align.warp(element["mask"], to_new, size)
        out["landmarks_68"] = align.transform_points(to_new, element["landmarks_68"]).astype(np.float32)
        out["crop_to_original"] = element["crop_to_original"] @ np.linalg.inv(to_new)
        return out


@dataclasses.dataclass(frozen=True)
class ColourJitter(grain.transforms.RandomMap):
    """Random brightness, contrast (about the mean grey) and saturation of `image`.

    Each factor is drawn from [1 - amount, 1 + amount]; applied in that order.
    """

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def random_map(self, element: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        b, c, s = 1.0 + np.array([self.brightness, self.contrast, self.saturation]) * rng.uniform(-1.0, 1.0, size=3)
        image = element["image"]
        # The three steps compose to one affine colour map, x -> M x + t (luma weights sum to 1):
        # x1 = b x; x2 = m + c (x1 - m) with m the mean grey of x1; x3 = g + s (x2 - g), g = luma . x2.
        mean = b * float(image.reshape(-1, 3).mean(0) @ _LUMA)
        linear = c * b * (s * np.eye(3) + (1.0 - s) * np.outer(np.ones(3), _LUMA))
        offset = np.full((3, 1), (1.0 - c) * mean)
        out = dict(element)
        out["image"] = cv2.transform(image, np.hstack([linear, offset])).reshape(image.shape)  # rounds, saturates
        return out


def make_loader(
    source: grain.sources.RandomAccessDataSource,
    *,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    num_epochs: int | None = 1,
    worker_count: int = 0,
    augment: bool = False,
    drop_remainder: bool = True,
    process_index: int | None = None,
    process_count: int | None = None,
    worker_buffer_size: int = 2,
) -> grain.DataLoader:
    """A grain DataLoader yielding dicts of numpy batches for this process.

    Args:
      source: e.g. `open_source(...)`; `source[i]` is a dict of arrays / bytes.
      batch_size: global batch size, divisible by the process count.
      seed: shuffling and augmentation seed.
      shuffle: reshuffle every epoch (else index order).
      num_epochs: passes over the data; None repeats forever.
      worker_count: grain worker processes (0: read in this process).
      augment: apply `RandomSimilarity` and `ColourJitter` (face crops only).
      drop_remainder: drop a last incomplete batch each epoch.
      process_index, process_count: this process's shard; default from JAX
        (`jax.process_index()`, `jax.process_count()`).
      worker_buffer_size: batches each worker prepares ahead.

    Raises:
      ValueError: a batch size the processes cannot share, or `augment` on data that
        is not a face crop.
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    if batch_size < 1 or batch_size % process_count:
        raise ValueError(f"batch_size {batch_size} must be a positive multiple of the process count {process_count}")
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} not in [0, {process_count})")
    operations: list[grain.transforms.Transformation] = [Prepare()]
    if augment:
        missing = [k for k in FACE_CROP_KEYS if k not in source[0]]
        if missing:
            raise ValueError(f"augment=True needs face crops (face_images); these records lack {missing}")
        operations += [RandomSimilarity(), ColourJitter()]
    if worker_count > 0 and not flags.FLAGS.is_parsed():
        # grain's worker processes read absl flags; outside an absl app take their defaults.
        flags.FLAGS.mark_as_parsed()
    operations.append(grain.transforms.Batch(batch_size // process_count, drop_remainder=drop_remainder))
    shard = grain.sharding.ShardOptions(process_index, process_count, drop_remainder=True)
    sampler = grain.samplers.IndexSampler(
        num_records=len(source), shard_options=shard, shuffle=shuffle, num_epochs=num_epochs, seed=seed
    )
    return grain.DataLoader(
        data_source=source,
        sampler=sampler,
        operations=operations,
        worker_count=worker_count,
        worker_buffer_size=worker_buffer_size,
    )


def to_global_batch(
    batch: Mapping[str, np.ndarray], mesh: Mesh, axis: str | tuple[str, ...] = "data"
) -> dict[str, jax.Array]:
    """This process's numpy batch -> global jax.Arrays sharded over `axis` of `mesh`.

    Each (B_local, ...) array becomes one (B_local * process_count, ...) array split
    along its first axis over the mesh's `axis` devices
    (`jax.make_array_from_process_local_data`). Strings (e.g. `source`) have no device
    form and are left out; take them from the local batch.
    """
    sharding = NamedSharding(mesh, PartitionSpec(axis))
    return {
        key: jax.make_array_from_process_local_data(sharding, value)
        for key, value in batch.items()
        if np.asarray(value).dtype.kind in "biuf"
    }
