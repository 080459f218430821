"""TFDS builder `face_images`: aligned face crops from a folder of real photos.

    builder = FaceImages(data_dir=out)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=photos))
    builder.info.metadata["build_summary"]  # per-file outcomes, counts per reason

The photo folder is TFDS's `manual_dir` (data the user supplies, not downloaded).
Every image file in it (recursively, `image_io.list_images`) goes through
`preprocess.preprocess_file`; each detected face is one example. Files that cannot
be used are skipped with a reason and never stop the build: unreadable, corrupt,
not an image, too small, too large, or without a face. Grayscale, RGBA and 16-bit
photos are read as RGB by `image_io.read_image` and kept when a face is found.

Images are stored as PNG bytes (encoded with imageio) in `tfds.features.Image`,
which decodes them with OpenCV in `tfds.data_source` without TensorFlow. The mask
is stored as an 8-bit PNG of round(255 * mask): a quantisation step of 1/255 on the
anti-aliased edge.
"""

import collections
import dataclasses
import functools
import pathlib
import re

import imageio.v3 as iio
import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from tensorflow_datasets.core.utils import tqdm_utils

from hiface_jax.photo import image_io, preprocess
from hiface_jax.photo import landmark_detector as ld

IMAGE_SIZE = preprocess.DEFAULT_SIZE
NO_FACE = "no face found"
PHOTOS_PER_SHARD = 1000  # about 100 MB of 224 px crops per shard


@dataclasses.dataclass(frozen=True)
class FileOutcome:
    """What became of one photo.

    Attributes:
      file: path relative to the photo folder, POSIX separators.
      faces: number of faces stored (0 when skipped).
      reason: why it was skipped (a short category, counted in the summary), or None.
      detail: the full reason for a skipped file (e.g. with the image size), or None.
    """

    file: str
    faces: int
    reason: str | None = None
    detail: str | None = None


def skip_reason(error: Exception) -> str:
    """Short category of a per-file failure, e.g. "too small", "no face found".

    `ImageReadError.reason` starts with its category and adds specifics after ":" or
    "(" ("too small: 10x10, need both sides >= 32"); the category is what the summary
    counts.
    """
    if isinstance(error, ld.NoFaceFoundError):
        return NO_FACE
    if isinstance(error, image_io.ImageReadError):
        return re.split(r"[:(]", error.reason, maxsplit=1)[0].strip()
    return f"unexpected {type(error).__name__}"


def summarize(outcomes: list[FileOutcome]) -> dict:
    """JSON-able build summary: counts per outcome and per skip reason, and every file."""
    skipped = collections.Counter(o.reason for o in outcomes if o.reason is not None)
    return {
        "photos": len(outcomes),
        "included": sum(o.reason is None for o in outcomes),
        "skipped": sum(skipped.values()),
        "faces": sum(o.faces for o in outcomes),
        "skipped_by_reason": dict(sorted(skipped.items())),
        "files": [dataclasses.asdict(o) for o in outcomes],
    }


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) or (H, W, 1) uint8 -> PNG bytes."""
    return iio.imwrite("<bytes>", image if image.shape[-1] != 1 else image[..., 0], extension=".png")


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """(S, S) float mask in [0, 1] -> (S, S, 1) uint8, round(255 * mask)."""
    return np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)[..., None]


class FaceImages(tfds.core.ShardBasedBuilder):
    """Aligned 224 px face crops, 68 landmarks and masks from a folder of photos.

    A `ShardBasedBuilder` (as `hiface_synthetic`): each shard holds the faces of
    ``photos_per_shard`` consecutive photos and streams them straight to its file. TFDS's
    generator-based writer buffers a split in memory and spills it to disk through
    TensorFlow past 1 GB, which failed without TensorFlow at about 10,000 photos.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Pass the folder of photos as manual_dir (`python -m launch.make_dataset --photos DIR`, or "
        "download_config=tfds.download.DownloadConfig(manual_dir=DIR)). Sub-folders are included."
    )

    def __init__(
        self, *, min_score: float = 0.5, min_face_size: int = 40, photos_per_shard: int = PHOTOS_PER_SHARD, **kwargs
    ):
        """Args: detector settings (`FaceLandmarkDetector`), photos per shard; the rest goes to TFDS.

        Shards are array_record (random access for grain, no TensorFlow) unless
        `file_format` says otherwise.
        """
        kwargs.setdefault("file_format", "array_record")
        self._min_score = min_score
        self._min_face_size = min_face_size
        if photos_per_shard < 1:
            raise ValueError(f"photos_per_shard must be >= 1, got {photos_per_shard}")
        self._photos_per_shard = photos_per_shard
        self.outcomes: list[FileOutcome] = []
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        s = IMAGE_SIZE
        return tfds.core.DatasetInfo(
            builder=self,
            description="Aligned face crops of real photos (MediaPipe landmarks, similarity crop, face mask).",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(s, s, 3), encoding_format="png"),
                    "mask": tfds.features.Image(shape=(s, s, 1), encoding_format="png"),
                    "landmarks_68": tfds.features.Tensor(shape=(68, 2), dtype=np.float32),
                    # Bytes keep float64 exact (tf.train.Example's float_list is float32).
                    "crop_to_original": tfds.features.Tensor(
                        shape=(3, 3), dtype=np.float64, encoding=tfds.features.Encoding.BYTES
                    ),
                    "source": tfds.features.Text(),
                    "face_index": np.int32,
                    "score": np.float32,
                }
            ),
            metadata=tfds.core.MetadataDict(),
        )

    def _shard_iterators_per_split(self, dl_manager: tfds.download.DownloadManager):
        folder = pathlib.Path(dl_manager.manual_dir)
        files = image_io.list_images(folder, recursive=True)
        if not files:
            raise ValueError(f"no image files ({', '.join(sorted(image_io.IMAGE_SUFFIXES))}) in {folder}")
        self.outcomes = []
        per = self._photos_per_shard
        groups = [files[i : i + per] for i in range(0, len(files), per)]
        bar = tqdm_utils.tqdm(total=len(files), desc="Detecting faces", unit=" photos")
        last = len(groups) - 1
        return {
            "train": [functools.partial(self._shard, folder, group, bar, k == last) for k, group in enumerate(groups)]
        }

    def _shard(self, folder: pathlib.Path, files: list[pathlib.Path], bar, last: bool):
        """(key, example) of every face in ``files``; the last shard records the build summary."""
        with ld.FaceLandmarkDetector(min_score=self._min_score, min_face_size=self._min_face_size) as detector:
            for path in files:
                bar.update(1)
                rel = path.relative_to(folder).as_posix()
                try:
                    crops = preprocess.preprocess_file(path, detector, size=IMAGE_SIZE)
                except (image_io.ImageReadError, ld.NoFaceFoundError) as e:
                    self._skip(rel, e)
                    continue
                except Exception as e:  # a library failing on one odd file must not end the build
                    logging.exception("unexpected failure on %s", path)
                    self._skip(rel, e)
                    continue
                self.outcomes.append(FileOutcome(rel, len(crops)))
                for k, crop in enumerate(crops):
                    yield (
                        f"{rel}#{k}",
                        {
                            "image": encode_png(crop.image),
                            "mask": encode_png(mask_to_uint8(crop.mask)),
                            "landmarks_68": crop.landmarks_68,
                            "crop_to_original": crop.crop_to_original,
                            "source": rel,
                            "face_index": k,
                            "score": crop.score,
                        },
                    )
        if not last:
            return
        bar.close()
        summary = summarize(self.outcomes)
        self.info.metadata["build_summary"] = summary
        if summary["faces"] == 0:
            raise ValueError(
                f"no face found in any of the {len(self.outcomes)} images in {folder}: {summary['skipped_by_reason']}"
            )

    def _skip(self, rel: str, error: Exception) -> None:
        # Messages without the absolute path, which `file` already gives.
        if isinstance(error, image_io.ImageReadError):
            detail = error.reason
        elif isinstance(error, ld.NoFaceFoundError):
            detail = NO_FACE
        else:
            detail = f"{type(error).__name__}: {error}"
        outcome = FileOutcome(rel, 0, skip_reason(error), detail)
        logging.warning("skipped %s: %s", rel, outcome.detail)
        self.outcomes.append(outcome)
