"""Benchmark: SD-DeTail on this machine.

    python -m launch.benchmark_detail [--batch 8] [--resolution 256] [--levels 2] [--json FILE]

Times (median of 10 after a compile run) the tension map + detail maps, the detailed
normal map and the dense detailed mesh for a batch of random expressive faces, plus the
one-off host work (UV raster, subdivision). Uses the default basis (built on first use).
"""

from __future__ import annotations

import json
import os
import platform
import time

import jax
import numpy as np
from absl import app, flags
from flax import nnx

from hiface_jax.face import expressions
from hiface_jax.face import face_model as fm
from hiface_jax.sddetail import detail, detail_basis
from launch.timing import median_seconds

_BATCH = flags.DEFINE_integer("batch", 8, "Faces per batch.")
_RES = flags.DEFINE_integer("resolution", 256, "UV resolution.")
_LEVELS = flags.DEFINE_integer("levels", 2, "Subdivision levels of the dense mesh.")
_JSON = flags.DEFINE_string("json", None, "Also write the figures here.")


def main(argv):
    del argv
    model = fm.load_face_model(progress=False).submesh()
    b, res = _BATCH.value, _RES.value
    basis = detail_basis.load_or_build_default_basis(model, res)
    t = time.perf_counter()
    geometry = detail.detail_geometry(model, res)
    t_geometry = time.perf_counter() - t
    t = time.perf_counter()
    sub = detail.subdivide(
        np.asarray(model.triangles), np.asarray(model.uv_coords), np.asarray(model.uv_triangles), _LEVELS.value
    )
    t_sub = time.perf_counter() - t
    sd = detail.SDDetail(basis, model.num_identity, rngs=nnx.Rngs(0))
    key = jax.random.key(0)
    identity = jax.random.normal(key, (b, model.num_identity))
    psi = expressions.sample_expressions(key, b, model.expression_names)
    neutral, expressive = fm.neutral_shape(model, identity), fm.shape(model, identity, psi)
    static_code = jax.random.normal(key, (b, basis.static_basis.shape[0]))

    @nnx.jit
    def maps(sd, static_code, identity, expressive, neutral):
        return sd(static_code, identity, detail.tension_map(geometry, expressive, neutral)).displacement

    normal_map = jax.jit(lambda v, d: detail.detailed_normal_map(v, d, geometry)[0])
    dense_mesh = jax.jit(lambda v, d: detail.detailed_mesh(v, geometry.triangles, d, sub))
    d = maps(sd, static_code, identity, expressive, neutral)
    rows = [
        ("UV raster + edges (host, once per topology)", "", t_geometry),
        (f"subdivide x{_LEVELS.value} (host, once per topology; {sub.num_vertices:,} vertices)", "", t_sub),
        (
            f"tension map + SD-DeTail maps, UV {res}",
            b,
            median_seconds(lambda: maps(sd, static_code, identity, expressive, neutral)),
        ),
        (f"detailed normal map, UV {res}", b, median_seconds(lambda: normal_map(expressive, d))),
        (f"dense detailed mesh ({sub.num_vertices:,} vertices)", b, median_seconds(lambda: dense_mesh(expressive, d))),
    ]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} on {jax.devices()[0].platform}")
    print(f"{'case':72s} {'batch':>5s} {'time':>11s}")
    for case, batch, sec in rows:
        print(f"{case:72s} {str(batch):>5s} {sec * 1e3:8.1f} ms")
    if _JSON.value:
        with open(_JSON.value, "w") as f:
            json.dump([{"case": c, "batch": bb, "seconds": s} for c, bb, s in rows], f, indent=1)


if __name__ == "__main__":
    app.run(main)
