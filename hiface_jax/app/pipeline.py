"""Photos -> face folders: detection, batched estimation, evaluation and writing, with a
per-photo account of what failed and where the time went.

Bad photos (unreadable, corrupt, too small, no face) get one message each and the run
goes on; a photo with several faces writes one folder per face and says so.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from hiface_jax.app import backends, faces, outputs, runtime
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.photo import image_io, preprocess
from hiface_jax.photo import landmark_detector as ld

STAGES = ("detection", "model", "refinement", "detail_and_renders", "writing")


@dataclasses.dataclass
class Report:
    """What a run did. ``seconds`` sums each stage over the run (compilation included)."""

    written: list[Path] = dataclasses.field(default_factory=list)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    photos: int = 0
    seconds: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))


def face_folder_names(paths: list[Path]) -> dict[Path, str]:
    """Folder stem per photo: its file stem, with the suffix added where stems collide."""
    stems = [p.stem for p in paths]
    return {p: (p.stem if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix.lstrip('.')}") for p in paths}


def _detected(
    paths, detector, size, min_score: float, report: Report, bar
) -> Iterator[tuple[str, int, preprocess.FaceCrop]]:
    names = face_folder_names(paths)
    for path in paths:
        t = time.perf_counter()
        try:
            found = preprocess.preprocess_file(path, detector, size=size)
            crops = [c for c in found if c.score >= min_score]
            if not crops:
                best = max(c.score for c in found)
                raise ld.NoFaceFoundError(f"no face found (best candidate's confidence {best:.2f} < {min_score})")
        except (image_io.ImageReadError, ld.NoFaceFoundError) as e:
            report.failures[str(path)] = str(e)
            tqdm.write(f"skipped {path}: {e}")
            bar.update(1)
            continue
        finally:
            report.seconds["detection"] += time.perf_counter() - t
        if len(crops) > 1:
            report.notes[str(path)] = f"{len(crops)} faces found; each is written as {names[path]}_face<k>"
            tqdm.write(f"note {path}: {report.notes[str(path)]}")
        for k, crop in enumerate(crops):
            yield names[path], k, crop
        bar.update(1)


def reconstruct_photos(
    paths: list[Path],
    out: Path,
    backend: backends.Backend,
    batch_size: int = 4,
    verbose: bool = False,
    min_score: float = runtime.MIN_SCORE,
) -> Report:
    """Reconstructs every face in ``paths`` into ``out/<photo stem>_face<k>/`` (``outputs``).

    Faces the detector scores below ``min_score`` are left out.
    """
    report = Report(photos=len(paths))
    assets = backend.assets
    batch_size = max(1, min(batch_size, len(paths)))
    with runtime.QuietDetector(verbose) as detector, tqdm(total=len(paths), desc="photos", unit="photo") as bar:
        pending: list = []
        for item in _detected(paths, detector, assets.camera.image_size, min_score, report, bar):
            pending.append(item)
            if len(pending) == batch_size:
                _run_batch(pending, batch_size, out, backend, report)
                pending = []
        if pending:
            _run_batch(pending, batch_size, out, backend, report)
    return report


def _run_batch(batch, batch_size: int, out: Path, backend: backends.Backend, report: Report) -> None:
    crops = [crop for _, _, crop in batch]
    padded = crops + [crops[-1]] * (batch_size - len(crops))  # fixed shapes: one compilation
    est = backend.estimate(padded)
    for stage in ("model", "refinement"):
        report.seconds[stage] += backend.timings[stage]
    t = time.perf_counter()
    photos = jnp.asarray(albedo_lib.srgb_to_linear(np.stack([c.image for c in padded]) / 255.0), jnp.float32)
    arrays = jax.device_get(faces.evaluate(backend.assets, est, photos))
    report.seconds["detail_and_renders"] += time.perf_counter() - t
    t = time.perf_counter()
    if int(np.max(arrays["overflow"])) > 0:
        raise RuntimeError(f"the rasterizer's tile capacity overflowed ({arrays['overflow'].tolist()} pairs dropped)")
    for k, (name, index, crop) in enumerate(batch):
        source = str(crop.source)
        params, codes = faces.index(est.params, k), faces.index(est.codes, k)
        if not all(np.isfinite(x).all() for x in jax.tree.leaves((params, codes))):
            report.failures[source] = "estimate is not finite (diverged)"
            tqdm.write(f"failed {source}: estimate is not finite")
            continue
        face = {key: v[k] for key, v in arrays.items()}
        try:
            report.written.append(
                outputs.write_face(out / f"{name}_face{index}", backend.assets, crop, params, codes, face, backend.name)
            )
        except OSError as e:
            report.failures[source] = f"cannot write its files: {e}"
            tqdm.write(f"failed {source}: cannot write its files: {e}")
    report.seconds["writing"] += time.perf_counter() - t
