"""Evaluation timings, and (with ``--table_output``) the full table of methods on both splits.

    python -m launch.benchmark_evaluation [--repeats 5]
    python -m launch.benchmark_evaluation --table_output DIR [--methods mean,fit] [--num_people 8]

Timings (median of ``--repeats`` after a warm-up), for the ICT mean face scored against
a random person's ground truth at three mesh densities (the coarse skin, and the skin
subdivided once, as the benchmark's detailed meshes, and twice):

* Open3D closest points of all ground-truth vertices (one query);
* the REALY error without alignment (correspondence deformation only) and in full;
* the detail errors at UV 256.

The table is ``launch.evaluate``'s benchmark mode (same files in DIR) with the wall time
per image of each method.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

from hiface_jax.evaluation import benchmark_split as bs
from hiface_jax.evaluation import detail_metrics, methods, realy, runner
from hiface_jax.evaluation import regions as regions_lib
from hiface_jax.evaluation.surface import Surface
from hiface_jax.face import face_model as fm
from hiface_jax.sddetail import detail
from launch.timing import median_seconds

_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per case.")
_TABLE = flags.DEFINE_string("table_output", None, "Also run the full table into this folder.")
_METHODS = flags.DEFINE_string("methods", "mean,fit", "Methods of the table.")
_PEOPLE = flags.DEFINE_integer("num_people", 8, "People per split in the table.")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")


def ground_truth(model: fm.FaceModel, regions: regions_lib.FaceRegions, levels: int) -> realy.GroundTruth:
    """A random person's skin subdivided ``levels`` times as ground truth (mm)."""
    skin = model.submesh()
    beta = np.random.default_rng(0).normal(size=skin.num_identity).astype(np.float32)
    coarse = np.asarray(fm.shape(skin, beta, np.zeros(skin.num_expression, np.float32)), np.float64) * 10.0
    sub = detail.subdivide(
        np.asarray(skin.triangles), np.asarray(skin.uv_coords), np.asarray(skin.uv_triangles), levels
    )
    cv, cw = np.asarray(sub.corner_vertices), np.asarray(sub.corner_weights)
    vertices = np.einsum("vkc,vk->vc", coarse[cv], cw)
    labels = regions_lib.subdivided_labels(regions.labels, cv, cw)
    return realy.GroundTruth(vertices, np.asarray(sub.triangles, np.int64), labels, regions.keypoints(coarse))


def timings(model: fm.FaceModel, repeats: int) -> None:
    regions = regions_lib.face_regions(model)
    mean = np.asarray(model.mean_shape, np.float64)
    print(
        "| ground truth | vertices | region vertices | closest points (all) | REALY, no alignment | REALY, full | all (mm) |"
    )
    print("|---|---|---|---|---|---|---|")
    for levels, name in ((0, "coarse skin"), (1, "subdivided once (benchmark)"), (2, "subdivided twice")):
        gt = ground_truth(model, regions, levels)
        surface = Surface(mean * 10.0, regions.skin_triangles)
        t_closest = median_seconds(lambda s=surface, g=gt: s.closest_points(g.vertices), repeats)
        no_align = realy.RealyConfig(align=False)
        t_corr = median_seconds(lambda g=gt, c=no_align: realy.realy_errors(mean * 10.0, g, regions, c), repeats)
        t_full = median_seconds(lambda g=gt: realy.realy_errors(mean, g, regions), repeats)
        score = realy.realy_errors(mean, gt, regions).all
        print(
            f"| {name} | {len(gt.vertices):,} | {int((gt.labels >= 0).sum()):,} | {t_closest * 1e3:.1f} ms | "
            f"{t_corr:.2f} s | {t_full:.2f} s | {score:.3f} |"
        )
    topo = detail_metrics.detail_topology(model, 256)
    rng = np.random.default_rng(1)
    maps = [rng.normal(size=(256, 256)).astype(np.float32) * 0.01 for _ in range(3)]
    coarse = np.asarray(model.submesh().mean_shape)
    t_detail = median_seconds(
        lambda: detail_metrics.detail_errors(topo, coarse, maps[0], maps[1], maps[2], maps[0]), repeats
    )
    print(f"\ndetail errors (static, dynamic, total; UV 256): {t_detail * 1e3:.1f} ms per image")


def table(model: fm.FaceModel, out: Path) -> None:
    """``launch.evaluate``'s benchmark mode on both full splits, with seconds per image."""
    specs = [s.strip() for s in _METHODS.value.split(",") if s.strip()]
    configs = [bs.SplitConfig(variant=v, num_people=_PEOPLE.value, ict_dir=_ICT.value) for v in bs.VARIANTS]
    t = time.perf_counter()
    splits = [bs.ensure_split(c, Path.home() / ".cache" / "hiface" / "benchmark") for c in configs]
    print(f"splits ready in {time.perf_counter() - t:.1f} s: {', '.join(str(s.root) for s in splits)}")
    runs = runner.run_benchmark(specs, splits, methods.MethodContext(model), out)
    print("\n" + (out / "results.md").read_text())
    print("| method | split | s per image (prediction + scoring) |\n|---|---|---|")
    for variant, spec in runs:
        record = json.loads((out / variant / f"{spec.replace(':', '_').replace('/', '_')}.json").read_text())
        print(f"| {spec} | {variant} | {record['seconds'] / len(record['images']):.2f} |")


def main(argv) -> int:
    del argv
    model = fm.load_face_model(_ICT.value)
    timings(model, _REPEATS.value)
    if _TABLE.value:
        table(model, Path(_TABLE.value))
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
