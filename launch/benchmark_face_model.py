"""Benchmark: converting ICT-FaceKit, loading the cache, and evaluating shapes.

    python -m launch.benchmark_face_model [--ict_dir PATH] [--repeats 20] [--json FILE]

Prints a table; conversion is timed into a fresh temporary cache so the first-use cost
is measured even when a cache exists.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time

import jax
from absl import app, flags

from hiface_jax.face import face_model as fm
from hiface_jax.face import ict_facekit
from launch.timing import median_seconds

_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed repetitions per shape-evaluation case.")
_JSON = flags.DEFINE_string("json", None, "Also write the figures to this JSON file.")


def main(argv):
    del argv
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[ict_facekit.CACHE_ENV_VAR] = tmp
        t = time.perf_counter()
        ict_facekit.load_arrays(_ICT.value, progress=False)
        rows.append(("convert on first use (153 OBJs -> cache)", "", time.perf_counter() - t))
        t = time.perf_counter()
        model = fm.load_face_model(_ICT.value, progress=False)
        rows.append(("load cached model", "", time.perf_counter() - t))
    meshes = {
        "full (26,719 v)": model,
        "coarse skin (11,248 v)": model.submesh(),
        "face area (9,409 v)": model.submesh("face"),
    }
    shape_fn = jax.jit(fm.shape)
    for name, m in meshes.items():
        for batch in (1, 16, 64, 256):
            if batch != 256 and name != "coarse skin (11,248 v)":
                continue
            beta = jax.random.normal(jax.random.key(0), (batch, m.num_identity))
            psi = jax.random.uniform(jax.random.key(1), (batch, m.num_expression))
            sec = median_seconds(lambda: shape_fn(m, beta, psi), _REPEATS.value)
            rows.append((f"shape, {name}", batch, sec))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} on {jax.devices()[0].platform}"
    )
    print(f"{'case':48s} {'batch':>6s} {'time':>12s} {'faces/s':>10s}")
    for case, batch, sec in rows:
        rate = f"{batch / sec:10.0f}" if batch else ""
        print(f"{case:48s} {str(batch):>6s} {sec * 1e3:10.2f} ms {rate}")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump([{"case": c, "batch": b, "seconds": s} for c, b, s in rows], f, indent=1)


if __name__ == "__main__":
    app.run(main)
