"""Benchmark: photo fitting on this machine.

    python -m launch.benchmark_fit [--size 224] [--batches 1,8] [--steps 20] [--photometric_sizes 224,112] [--json FILE]

Prints a table: detection per photo (512 x 512 astronaut), and for each batch size the
compile time and steady-state iterations per second of the landmark stage (68 points, and
MediaPipe's dense points) and of the photometric stage at each of ``--photometric_sizes``
(the crop area-averaged down, as ``fitting.fit_detected`` does with
``FitConfig.photometric_size``), and the implied seconds per face for the default step counts.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import skimage.data
from absl import app, flags

from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import face_model as fm
from hiface_jax.face import face_render
from hiface_jax.fit import fitting
from hiface_jax.photo import landmark_detector as ld
from hiface_jax.photo import preprocess

_SIZE = flags.DEFINE_integer("size", 224, "Crop / render resolution.")
_BATCHES = flags.DEFINE_list("batches", ["1", "8"], "Batch sizes.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per stage (after a compile run).")
_PH_SIZES = flags.DEFINE_list("photometric_sizes", ["224", "112"], "Photometric-stage resolutions to time.")
_JSON = flags.DEFINE_string("json", None, "Also write the figures here.")


def _timed(fn) -> float:
    t = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t


def main(argv):
    del argv
    model = fm.load_face_model(progress=False).submesh()
    photo = skimage.data.astronaut()
    with ld.FaceLandmarkDetector() as det:
        preprocess.preprocess_image(photo, det, size=_SIZE.value)
        t = time.perf_counter()
        for _ in range(10):
            (crop,) = preprocess.preprocess_image(photo, det, size=_SIZE.value)
        detect = (time.perf_counter() - t) / 10
    cam = fitting.FitCamera(_SIZE.value)
    layout = albedo_lib.albedo_layout(
        np.asarray(model.uv_coords), np.asarray(model.uv_triangles), np.asarray(model.triangles),
        np.asarray(model.landmark_indices), model.num_vertices, 256,
    )  # fmt: skip
    rows = [{"case": "detect + align (512 px photo)", "batch": 1, "seconds": detect}]
    default = fitting.FitConfig()
    cfg = fitting.FitConfig(landmark_steps=_STEPS.value, photometric_steps=_STEPS.value, identity_first_steps=0)
    image = albedo_lib.srgb_to_linear(crop.image / 255.0)
    for b in (int(x) for x in _BATCHES.value):
        lmk = jnp.broadcast_to(jnp.asarray(crop.landmarks_68), (b, 68, 2))
        dense = fitting.dense_targets(model, np.broadcast_to(crop.landmarks_478, (b, 478, 2)))
        p0 = fitting.initial_params(model, np.asarray(lmk), cam)
        cases = [
            ("landmark stage, 68 points", lambda: fitting.fit_landmarks(model, lmk, cam, cfg, params=p0)[0], default.landmark_steps),
            ("landmark stage, dense points", lambda: fitting.fit_landmarks(model, lmk, cam, cfg, None, p0, dense)[0], default.landmark_steps),
        ]  # fmt: skip
        for size in (int(x) for x in _PH_SIZES.value):
            f = _SIZE.value // size
            renderer = face_render.make_renderer(model, size, cam.fov_degrees)
            img = fitting.downsample(jnp.broadcast_to(jnp.asarray(image, jnp.float32), (b,) + image.shape), f)
            mask = fitting.downsample(jnp.broadcast_to(jnp.asarray(crop.mask), (b,) + crop.mask.shape)[..., None], f)[
                ..., 0
            ]
            run = functools.partial(fitting.fit_photometric, model, img, mask, lmk / f, p0, renderer, layout, cfg)
            cases.append((f"photometric stage, {size} px", lambda run=run: run()[0], default.photometric_steps))
        for case, run, steps in cases:
            first = _timed(run)  # includes compilation (fit_* jit afresh per call)
            steady = min(_timed(run) for _ in range(2))
            it_s = _STEPS.value / steady
            rows.append({"case": case, "batch": b, "iterations_per_s": it_s, "compile_s": first - steady,
                         "seconds_per_face_default": steps / it_s / b})  # fmt: skip
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} on {jax.devices()[0].platform}; {_SIZE.value} px"
    )
    print(f"{'case':32s} {'batch':>5s} {'it/s':>8s} {'compile':>9s} {'s/face (default steps)':>24s}")
    for r in rows:
        if "iterations_per_s" in r:
            print(
                f"{r['case']:32s} {r['batch']:5d} {r['iterations_per_s']:8.2f} {r['compile_s']:8.1f}s {r['seconds_per_face_default']:24.2f}"
            )
        else:
            print(f"{r['case']:32s} {r['batch']:5d} {'':>8s} {'':>9s} {r['seconds']:24.3f}")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    app.run(main)
