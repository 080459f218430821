"""Realism of the synthetic generator, before (the first generator, read from git) and after.

    python -m launch.benchmark_realism [--samples 500] [--batch 16] [--json FILE] [--sheet docs/synthetic_contact_sheet.jpg]
    python -m launch.benchmark_realism --rates 16,64,256 --samples 0      # generation rate only (e.g. on a GPU)

Proxies of "looks like a photograph", measured on the same number of samples of each
generator at 224 px:
- MediaPipe FaceLandmarker (trained on real faces): detection rate, and the landmark
  error of the detected 68 points against the generator's ground-truth 2D landmarks
  (NME: mean point distance / outer-eye-corner distance). Clay renders are found less
  often and localised worse.
- Face-region statistics (ground-truth skin mask; for the real photos, the aligned
  crop's face mask): mean sRGB colour, chroma, luminance spread, mean gradient
  magnitude and high-frequency (Laplacian) energy, against the real photos shipped in
  packages (scikit-image's astronaut, matplotlib's Grace Hopper). Reported as the
  synthetic mean +- sd next to the real values, and as the mean |z| distance of the
  synthetic mean to the real mean in units of the synthetic sd.
- Generation rate (samples/s, jitted sampler, compilation excluded).

"Before" is ``hiface_jax/data/synthetic.py`` of the ``--before_ref`` commit (default: the
last commit before this generator), imported from ``git show`` (it needs the repository).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import imageio.v3 as iio
import jax
import numpy as np
from absl import app, flags
from scipy import ndimage

from hiface_jax.data import photo_albedo, synthetic
from hiface_jax.photo import landmark_detector as ld
from hiface_jax.photo import preprocess

_SAMPLES = flags.DEFINE_integer("samples", 500, "Samples per generator for the realism proxies (0: rates only).")
_BATCH = flags.DEFINE_integer("batch", 16, "Generation batch.")
_RATES = flags.DEFINE_list("rates", [], "Also time the new sampler at these batch sizes (e.g. 16,64,256).")
_BEFORE = flags.DEFINE_string("before_ref", "b93764d", "Git commit of the first generator ('' to skip it).")
_SHEET = flags.DEFINE_string("sheet", None, "Write a JPEG contact sheet of the first 64 new samples here.")
_JSON = flags.DEFINE_string("json", None, "Also write the figures to this JSON file.")
_SEED = flags.DEFINE_integer("seed", 1000, "Generator seed (held out from training seeds).")

STATS = ("mean R", "mean G", "mean B", "chroma", "luminance sd", "gradient", "laplacian")


def _load_before(ref: str):
    """The generator module of commit ``ref``, imported under another name."""
    root = pathlib.Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{ref}:hiface_jax/data/synthetic.py"], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    path = pathlib.Path(tempfile.mkdtemp()) / "synthetic_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("synthetic_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def face_statistics(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The STATS of an (S, S, 3) uint8 image over the (S, S) bool face region."""
    x = image.astype(np.float64) / 255.0
    lum = x @ np.array([0.2126, 0.7152, 0.0722])
    inner = ndimage.binary_erosion(mask, iterations=2)  # gradients away from the silhouette
    gy, gx = np.gradient(lum)
    lap = ndimage.laplace(lum)
    chroma = x.max(-1) - x.min(-1)
    return np.array([
        *x[mask].mean(0), chroma[mask].mean(), lum[mask].std(),
        np.hypot(gx, gy)[inner].mean(), np.sqrt((lap[inner] ** 2).mean()),
    ])  # fmt: skip


def real_statistics(size: int) -> np.ndarray:
    """(P, len(STATS)) statistics of the packaged real photos' aligned face crops."""
    out = []
    with ld.FaceLandmarkDetector() as detector:
        for _, photo in photo_albedo.packaged_photos():
            for crop in preprocess.preprocess_image(np.ascontiguousarray(photo), detector, size=size):
                out.append(face_statistics(crop.image, crop.mask > 0.5))
    return np.stack(out)


def generate(module, config, count: int, batch: int) -> tuple[dict[str, np.ndarray], float]:
    """``count`` samples of a generator module and its rate (samples/s, first batch excluded)."""
    chunks, seconds = [], 0.0
    for start in range(0, count, batch):
        t = time.perf_counter()
        chunks.append(module.generate(config, start, min(batch, count - start)))
        if start:
            seconds += time.perf_counter() - t
    out = {k: np.concatenate([c[k] for c in chunks]) for k in ("image", "mask", "landmarks_2d")}
    timed = count - min(batch, count)
    return out, timed / seconds if seconds else float("nan")


def detection(images: np.ndarray, landmarks: np.ndarray, points: slice = slice(0, 68)) -> tuple[float, np.ndarray]:
    """(detection rate, NME over ``points`` of each detected face)."""
    nme = []
    with ld.FaceLandmarkDetector() as detector:
        for image, truth in zip(images, landmarks):
            faces = detector.detect(np.ascontiguousarray(image))
            if not faces:
                continue
            # The face nearest the ground truth (the detector may also find one in a background).
            errs = []
            for f in faces:
                err = np.linalg.norm(ld.mediapipe_to_ibug68(f.landmarks_478) - truth, axis=1)[points]
                errs.append(err.mean() / np.linalg.norm(truth[36] - truth[45]))
            nme.append(min(errs))
    return len(nme) / len(images), np.asarray(nme)


def contact_sheet(images: np.ndarray, path: str, columns: int = 8) -> None:
    rows = [np.concatenate(list(images[r * columns : (r + 1) * columns]), 1) for r in range(len(images) // columns)]
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.concatenate(rows, 0), quality=80)


def main(argv):
    del argv
    size, n, batch = 224, _SAMPLES.value, _BATCH.value
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, {jax.devices()[0].platform}"}
    print(f"machine: {report['machine']}; {n} samples per generator at {size} px, batch {batch}")
    config = synthetic.SyntheticConfig(seed=_SEED.value, image_size=size)
    if _RATES.value:
        s = synthetic.sampler(config)
        for b in map(int, _RATES.value):
            keys = s.keys(0, b)
            jax.block_until_ready(s.sample(keys))
            t = time.perf_counter()
            for _ in range(3):
                jax.block_until_ready(s.sample(keys))
            rate = 3 * b / (time.perf_counter() - t)
            report[f"rate_batch{b}"] = rate
            print(f"sampler on {jax.devices()[0].platform}, batch {b}: {rate:.1f} samples/s")
    if n == 0:
        return _write(report)
    generators = [("after", synthetic, config)]
    if _BEFORE.value:
        before = _load_before(_BEFORE.value)
        generators.insert(0, ("before", before, before.SyntheticConfig(seed=_SEED.value, image_size=size)))
    real = real_statistics(size)
    report["real"] = dict(zip(STATS, real.mean(0).tolist()))
    rows = []
    for name, module, cfg in generators:
        data, rate = generate(module, cfg, n, batch)
        if name == "after" and _SHEET.value:
            contact_sheet(data["image"][:64], _SHEET.value)
        rate_det, nme = detection(data["image"], data["landmarks_2d"])
        _, nme_inner = detection(data["image"], data["landmarks_2d"], slice(17, 68))
        stats = np.stack([face_statistics(im, m > 127) for im, m in zip(data["image"], data["mask"])])
        z = np.abs(stats.mean(0) - real.mean(0)) / np.maximum(stats.std(0), 1e-9)
        report[name] = {
            "samples_per_second": rate, "detection_rate": rate_det, "nme_median": float(np.median(nme)) if nme.size else None,
            "nme_mean": float(nme.mean()) if nme.size else None,
            "nme_inner_median": float(np.median(nme_inner)) if nme_inner.size else None, "stats_mean": dict(zip(STATS, stats.mean(0).tolist())),
            "stats_sd": dict(zip(STATS, stats.std(0).tolist())), "mean_abs_z": float(z.mean()),
        }  # fmt: skip
        rows.append((name, rate, rate_det, nme, stats, z, nme_inner))
    print(f"\n{'generator':10s} {'samples/s':>10s} {'detected':>9s} {'NME median':>11s} {'NME mean':>9s} {'inner-51 NME':>13s} {'|z| to real':>12s}")
    for name, rate, rate_det, nme, _, z, inner in rows:
        med = f"{np.median(nme):11.3f}" if nme.size else f"{'-':>11s}"
        mean = f"{nme.mean():9.3f}" if nme.size else f"{'-':>9s}"
        med_in = f"{np.median(inner):13.3f}" if inner.size else f"{'-':>13s}"
        print(f"{name:10s} {rate:10.1f} {rate_det:9.1%} {med} {mean} {med_in} {z.mean():12.2f}")
    print(f"\n{'face statistic':14s} {'real photos (range)':>22s}" + "".join(f" {name:>16s}" for name, *_ in rows))
    for k, stat in enumerate(STATS):
        cells = "".join(f" {r[4][:, k].mean():8.3f} ±{r[4][:, k].std():6.3f}" for r in rows)
        print(f"{stat:14s} {real[:, k].mean():8.3f} ({real[:, k].min():.3f}-{real[:, k].max():.3f})" + cells)
    _write(report)


def _write(report: dict) -> None:
    if _JSON.value:
        pathlib.Path(_JSON.value).write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    sys.exit(app.run(main))
