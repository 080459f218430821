"""Builds the training datasets (TFDS array_record shards) into one data_dir.

    python -m launch.make_dataset --photos DIR --output DATA_DIR      # real photos -> face_images
    python -m launch.make_dataset --synthetic 10000 --seed 0 --output DATA_DIR
    python -m launch.make_dataset ... --synthetic_option image_size=256 --synthetic_option ...
    python -m launch.make_dataset --photos DIR --synthetic 10000 --backgrounds BG_DIR --output DATA_DIR

With both --photos and --synthetic, the synthetic faces' skin also takes albedo maps
projected from up to --albedo_photos of those photos (fitted once; the bank is kept in
DATA_DIR/photo_albedo/ and reused); otherwise from the public-domain photos shipped in
packages. --backgrounds adds a folder of background images to the bundled ones.

Read them back with `hiface_jax.data.data_loader.open_source(DATA_DIR, name)`.

Existing datasets are never overwritten silently: if a requested dataset is already
complete in DATA_DIR, nothing is built and the command exits with status 1, naming it,
unless `--overwrite` is given (then it is deleted and rebuilt). Builds do not resume:
TFDS writes into an `incomplete.*` folder and renames it only when complete, so an
interrupted build leaves no dataset behind and the next run starts it afresh.
Synthetic datasets are named after their size, seed and settings
(`hiface_synthetic/n10000_seed0`), so a different request never collides with an
existing one.
"""

import dataclasses
import pathlib
import sys
import time

import tensorflow_datasets as tfds
from absl import app, flags

from hiface_jax.data.datasets import face_images

_PHOTOS = flags.DEFINE_string("photos", None, "Folder of photos (searched recursively) -> face_images.")
_SYNTHETIC = flags.DEFINE_integer("synthetic", None, "Number of synthetic samples -> hiface_synthetic.")
_OUTPUT = flags.DEFINE_string("output", None, "TFDS data_dir to write into.", required=True)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Delete and rebuild datasets that already exist.")
_SEED = flags.DEFINE_integer("seed", 0, "Synthetic generator seed.")
_CHUNK = flags.DEFINE_integer("chunk_size", 32, "Synthetic samples generated per call.")
_OPTIONS = flags.DEFINE_multi_string(
    "synthetic_option", [], "FIELD=VALUE of synthetic.SyntheticConfig (repeatable; VALUE none for None)."
)
_BACKGROUNDS = flags.DEFINE_string("backgrounds", None, "Folder of background images for the synthetic faces.")
_ALBEDO_PHOTOS = flags.DEFINE_integer(
    "albedo_photos", 64, "With --photos: photos fitted into skin albedo maps for the synthetic faces (0: none)."
)
_MAX_LISTED = 20  # skipped files printed by name; all are in the dataset's metadata.json


def _synthetic_kwargs(options: list[str], config_cls) -> dict:
    """["field=value", ...] -> kwargs typed like the fields' defaults."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    defaults = config_cls()
    kwargs = {}
    for option in options:
        name, sep, text = option.partition("=")
        if name == "seed":
            raise app.UsageError("set the synthetic seed with --seed")
        if not sep or name not in fields:
            raise app.UsageError(f"--synthetic_option {option!r}: expected FIELD=VALUE, FIELD one of {sorted(fields)}")
        default = getattr(defaults, name)
        if text.lower() == "none" and (default is None or isinstance(default, str)):
            kwargs[name] = None
        elif isinstance(default, bool):
            kwargs[name] = text.lower() in ("1", "true", "yes")
        elif isinstance(default, (int, float)):
            kwargs[name] = type(default)(text)
        elif isinstance(default, tuple):
            kwargs[name] = tuple(type(d)(t) for d, t in zip(default, text.split(","), strict=True))
        else:
            kwargs[name] = text
    return kwargs


def _builders() -> list[tuple[tfds.core.DatasetBuilder, tfds.download.DownloadConfig, float]]:
    """The requested builders, their download configs and construction seconds.

    Constructing the synthetic builder generates its first chunk (the feature spec is
    read off it), so that time belongs to the build.
    """
    if _OVERWRITE.value:
        mode = tfds.download.GenerateMode.FORCE_REDOWNLOAD
    else:
        mode = tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    out = []
    if _PHOTOS.value:
        start = time.perf_counter()
        builder = face_images.FaceImages(data_dir=_OUTPUT.value)
        config = tfds.download.DownloadConfig(manual_dir=_PHOTOS.value, download_mode=mode)
        out.append((builder, config, time.perf_counter() - start))
    if _SYNTHETIC.value:
        from hiface_jax.data import photo_albedo, synthetic  # the generator is only needed here
        from hiface_jax.data.datasets import hiface_synthetic

        kwargs = _synthetic_kwargs(_OPTIONS.value, synthetic.SyntheticConfig)
        if _BACKGROUNDS.value:
            kwargs["backgrounds"] = str(pathlib.Path(_BACKGROUNDS.value).expanduser().resolve())
        start = time.perf_counter()
        if _PHOTOS.value and _ALBEDO_PHOTOS.value > 0 and "photo_albedo" not in kwargs:
            bank = photo_albedo.bank_from_folder(
                _PHOTOS.value, pathlib.Path(_OUTPUT.value) / "photo_albedo", _ALBEDO_PHOTOS.value, kwargs.get("ict_dir")
            )
            kwargs["photo_albedo"] = str(bank.resolve())
            print(f"synthetic skin albedo maps from the photos: {bank}")
        config = hiface_synthetic.synthetic_builder_config(
            _SYNTHETIC.value, chunk_size=_CHUNK.value, seed=_SEED.value, **kwargs
        )
        builder = hiface_synthetic.HifaceSynthetic(config=config, data_dir=_OUTPUT.value)
        out.append((builder, tfds.download.DownloadConfig(download_mode=mode), time.perf_counter() - start))
    return out


def _print_summary(rows: list[tuple[str, int, float, str]], photo_summary: dict | None) -> None:
    print("\nsummary")
    print(f"{'dataset':40s} {'examples':>9s} {'seconds':>9s} {'per s':>8s}  path")
    for name, examples, seconds, path in rows:
        print(f"{name:40s} {examples:9d} {seconds:9.1f} {examples / max(seconds, 1e-9):8.1f}  {path}")
    if photo_summary is None:
        return
    s = photo_summary
    print(f"\nphotos: {s['photos']}, included {s['included']} ({s['faces']} faces), skipped {s['skipped']}")
    for reason, count in s["skipped_by_reason"].items():
        print(f"  skipped, {reason:34s} {count:6d}")
    skipped = [f for f in s["files"] if f["reason"] is not None]
    for f in skipped[:_MAX_LISTED]:
        print(f"    {f['file']}: {f['reason']}")
    if len(skipped) > _MAX_LISTED:
        print(f"    ... {len(skipped) - _MAX_LISTED} more, all listed in metadata.json (build_summary)")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _PHOTOS.value and not _SYNTHETIC.value:
        raise app.UsageError("nothing to build: pass --photos DIR and/or --synthetic N")
    from hiface_jax.data.backgrounds import BackgroundError
    from hiface_jax.data.photo_albedo import PhotoAlbedoError

    try:
        builders = _builders()
    except (BackgroundError, PhotoAlbedoError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    existing = [b for b, _, _ in builders if b.is_prepared()]
    if existing and not _OVERWRITE.value:
        for b in existing:
            n = b.info.splits["train"].num_examples
            print(f"error: {b.info.full_name} already exists in {b.data_dir} ({n} examples)", file=sys.stderr)
        print("Nothing was built. Pass --overwrite to delete and rebuild.", file=sys.stderr)
        return 1
    rows, photo_summary = [], None
    for builder, download_config, seconds in builders:
        start = time.perf_counter()
        builder.download_and_prepare(download_config=download_config)
        seconds += time.perf_counter() - start
        rows.append((builder.info.full_name, builder.info.splits["train"].num_examples, seconds, builder.data_dir))
        if isinstance(builder, face_images.FaceImages):
            photo_summary = builder.info.metadata["build_summary"]
    _print_summary(rows, photo_summary)
    return 0


if __name__ == "__main__":
    app.run(main)
