"""TFDS builder `hiface_synthetic`: rendered faces with full ground truth.

    config = synthetic_builder_config(num_samples=10_000, seed=0)
    HifaceSynthetic(config=config, data_dir=out).download_and_prepare()

Samples come from `synthetic.generate(config, start, count)` in chunks; sample i
depends only on (seed, i), so the dataset is the same whatever the chunk size.
Every array the generator returns is stored: `image` (S, S, 3) uint8 as an RGB PNG,
`mask` (S, S) uint8 as a one-channel PNG (both lossless; the loader reads masks as
0..255 -> [0, 1], as for real photos), the rest as raw bytes of their dtype (TFDS
`Encoding.BYTES`: exact for float64 too, compact, decoded with `np.frombuffer`).
The generator settings are kept in the dataset's metadata (`synthetic_config`).

The feature spec is read off the generator's first chunk (which is then reused as
the first chunk of the data), so new ground-truth arrays need no change here and
shapes follow the config (image size, UV resolution, mesh size). Read a prepared
dataset through `data_loader.open_source`, which takes the spec from the files.
"""

import dataclasses
import functools
import hashlib
import json

import imageio.v3 as iio
import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core.utils import tqdm_utils

from hiface_jax.data import synthetic

PNG_KEYS = ("image", "mask")  # uint8 images, stored losslessly as PNG
SHARD_BYTES = 128 << 20  # encoded bytes per shard (each shard's samples pass through memory once)


@dataclasses.dataclass(eq=False)
class HifaceSyntheticConfig(tfds.core.BuilderConfig):
    """A synthetic dataset: how many samples and the generator's settings.

    Attributes:
      num_samples: examples in the train split.
      generator: the generator's config (image size, UV resolution, distributions, seed).
      chunk_size: samples generated per `synthetic.generate` call (memory vs. overhead;
        does not change the data).
      samples_per_shard: samples in each array_record shard; None: about `SHARD_BYTES`
        of encoded data each (does not change the data either).
    """

    num_samples: int = 1000
    generator: synthetic.SyntheticConfig = dataclasses.field(default_factory=synthetic.SyntheticConfig)
    chunk_size: int = 32
    samples_per_shard: int | None = None


def synthetic_builder_config(
    num_samples: int, *, chunk_size: int = 32, samples_per_shard: int | None = None, **synthetic_kwargs
) -> HifaceSyntheticConfig:
    """A config named after what it holds, so different datasets never share a folder.

    The name is `n{num_samples}_seed{seed}`, plus a hash of the generator settings when
    they differ from `SyntheticConfig()`'s defaults (besides the seed).

    Args:
      num_samples: dataset size.
      chunk_size: generation chunk.
      samples_per_shard: shard size (None: automatic).
      **synthetic_kwargs: fields of `synthetic.SyntheticConfig`.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if samples_per_shard is not None and samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be >= 1 or None, got {samples_per_shard}")
    config = synthetic.SyntheticConfig(**synthetic_kwargs)
    settings = dataclasses.asdict(config)
    seed = settings.pop("seed")
    default = dataclasses.asdict(synthetic.SyntheticConfig())
    default.pop("seed")
    name = f"n{num_samples}_seed{seed}"
    if settings != default:
        digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]
        name += f"_{digest}"
    return HifaceSyntheticConfig(
        name=name,
        description=f"{num_samples} synthetic faces, {config}",
        num_samples=num_samples,
        generator=config,
        chunk_size=chunk_size,
        samples_per_shard=samples_per_shard,
    )


def _feature(key: str, value: np.ndarray) -> tfds.features.FeatureConnector:
    """TFDS feature for one sample's array (the chunk's leading axis removed)."""
    if key in PNG_KEYS:
        shape = value.shape if value.ndim == 3 else value.shape + (1,)
        return tfds.features.Image(shape=shape, dtype=np.uint8, encoding_format="png")
    if value.ndim == 0:
        return tfds.features.Tensor(shape=(), dtype=value.dtype)
    return tfds.features.Tensor(shape=value.shape, dtype=value.dtype, encoding=tfds.features.Encoding.BYTES)


def _encode(key: str, value: np.ndarray):
    if key in PNG_KEYS:
        return iio.imwrite("<bytes>", value, extension=".png")
    return value


class HifaceSynthetic(tfds.core.ShardBasedBuilder):
    """Synthetic faces from `hiface_jax.data.synthetic` with shape, detail and scene ground truth.

    A `ShardBasedBuilder`: each shard streams its samples straight to its array_record
    file, in order. (TFDS's generator-based writer buffers a split in memory to shuffle
    it and spills to disk through TensorFlow past 1 GB: without TensorFlow, a dataset of
    a few thousand samples failed. Samples are i.i.d. draws and the loader shuffles, so
    the order on disk does not matter.)
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [synthetic_builder_config(1000)]

    def __init__(self, **kwargs):
        """TFDS builder arguments (`config=synthetic_builder_config(...)`, `data_dir`); array_record shards."""
        kwargs.setdefault("file_format", "array_record")
        self._chunk0: dict[str, np.ndarray] | None = None  # generated for the feature spec, reused as data
        super().__init__(**kwargs)

    def _first_chunk(self) -> dict[str, np.ndarray]:
        if self._chunk0 is None:
            config = self.builder_config
            self._chunk0 = synthetic.generate(config.generator, 0, min(config.chunk_size, config.num_samples))
        return self._chunk0

    def _info(self) -> tfds.core.DatasetInfo:
        chunk = self._first_chunk()
        return tfds.core.DatasetInfo(
            builder=self,
            description="Synthetic faces rendered from the face model with static and dynamic detail.",
            features=tfds.features.FeaturesDict({k: _feature(k, np.asarray(v[0])) for k, v in sorted(chunk.items())}),
            metadata=tfds.core.MetadataDict(
                synthetic_config=json.loads(json.dumps(dataclasses.asdict(self.builder_config.generator), default=str))
            ),
        )

    def samples_per_shard(self) -> int:
        """The config's shard size, or about ``SHARD_BYTES`` of encoded data (measured on the first chunk)."""
        if self.builder_config.samples_per_shard:
            return int(self.builder_config.samples_per_shard)
        chunk = self._first_chunk()
        count = len(next(iter(chunk.values())))
        encoded = sum(
            len(_encode(k, np.asarray(v[i]))) if k in PNG_KEYS else np.asarray(v[i]).nbytes
            for k, v in chunk.items()
            for i in range(count)
        )
        return max(1, int(SHARD_BYTES // max(encoded / count, 1)))

    def _shard_iterators_per_split(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager
        n, per = self.builder_config.num_samples, self.samples_per_shard()
        bar = tqdm_utils.tqdm(total=n, desc="Generating synthetic faces", unit=" samples")
        return {
            "train": [functools.partial(self._shard, start, min(per, n - start), bar) for start in range(0, n, per)]
        }

    def _shard(self, start: int, count: int, bar):
        """(key, example) of samples [start, start + count), generated in chunks."""
        config = self.builder_config
        for first in range(start, start + count, config.chunk_size):
            size = min(config.chunk_size, start + count - first)
            if first == 0 and size == len(next(iter(self._first_chunk().values()))):
                chunk = self._first_chunk()
            else:
                chunk = synthetic.generate(config.generator, first, size)
            for i in range(size):
                yield first + i, {k: _encode(k, np.asarray(v[i])) for k, v in chunk.items()}
            bar.update(size)
        if start + count == config.num_samples:
            bar.close()
            self._chunk0 = None
