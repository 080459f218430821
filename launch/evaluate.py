"""Scores reconstruction methods on the synthetic benchmark, or one mesh against a scan.

    python -m launch.evaluate --methods mean,fit --split synthetic,out_of_model --output DIR
    python -m launch.evaluate --pred MESH.obj --gt SCAN.obj --gt_keypoints KP.txt [--gt_units mm] --output DIR

Benchmark mode builds each split on first use under ``--split_root`` (default
``~/.cache/hiface/benchmark``; written once, re-read afterwards) and writes into DIR:

  <split>/<method>.json            per-image REALY and detail errors, the aggregate, the config
  results.md                       the tables (neutral and expressive rows separately)
  <split>_regions.png              bars per region and method, neutral / expressive rows
  heatmaps/<split>_<method>_<image>.obj/.png   per-vertex error on the ground truth (vertex colours)

Methods: ``--methods name[:checkpoint],...``; ``mean`` (the floor), ``fit`` (the
analysis-by-synthesis fitter; ``--set field=value`` changes any ``FitConfig`` setting, and the
JSON records the config), ``model:WORKDIR`` (a trained encoder), and whatever is registered in
``hiface_jax.evaluation.methods``.

Scan mode scores one predicted mesh in the ICT topology (OBJ/PLY; any units and pose)
against a ground-truth scan (any mesh trimesh reads) with its 85 keypoints in REALY's
order (``.txt`` of 85 rows x y z, or ``.npy``), in the scan's units; region labels per
scan vertex (``--gt_labels``, .txt/.npy of -1..3: nose, mouth, forehead, cheek) or, by
default, transferred from the ICT mean face warped onto the keypoints. Writes
``scan.json`` and ``heatmaps/scan.obj/.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags

from launch import fit_flags

_METHODS = flags.DEFINE_string("methods", "mean,fit", "Comma-separated method specs, name[:checkpoint].")
_SPLIT = flags.DEFINE_string("split", "synthetic", "Comma-separated split variants: synthetic, out_of_model.")
_OUTPUT = flags.DEFINE_string("output", None, "Output folder.", required=True)
_SPLIT_ROOT = flags.DEFINE_string(
    "split_root", None, "Where splits are built and cached (default ~/.cache/hiface/benchmark)."
)
_PEOPLE = flags.DEFINE_integer("num_people", 8, "People per split (each neutral and expressive, at every yaw).")
_YAWS = flags.DEFINE_string("yaws", "0,-35,35", "Head yaws of the views, degrees.")
_SIZE = flags.DEFINE_integer("image_size", 224, "Benchmark image size.")
_UV = flags.DEFINE_integer("uv_resolution", 256, "Detail UV resolution of the ground truth.")
_BASIS = flags.DEFINE_string(
    "detail_basis", None, "Detail basis of the split (default: the generator's default basis)."
)
_SEED = flags.DEFINE_integer("seed", 2026, "Split seed.")
_SCENE = flags.DEFINE_enum("scene", "skin", ["skin", "head"], "Images of the skin alone, or with eyes, mouth, torso.")
_BATCH = flags.DEFINE_integer("batch", 4, "Images per method call.")
_LM_STEPS = flags.DEFINE_integer("landmark_steps", None, "fit: landmark-stage steps (default: the fitter's).")
_PH_STEPS = flags.DEFINE_integer("photometric_steps", None, "fit: photometric-stage steps (default: the fitter's).")
_PER_EXPRESSION = flags.DEFINE_integer(
    "max_per_expression", None, "Score only this many images of each expression (frontal first): a quick run."
)
_HEATMAPS = flags.DEFINE_integer("heatmaps", 1, "Heat maps per method and split and expression (frontal views first).")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")
_PRED = flags.DEFINE_string("pred", None, "Scan mode: predicted mesh in the ICT topology.")
_GT = flags.DEFINE_string("gt", None, "Scan mode: ground-truth scan mesh.")
_GT_KP = flags.DEFINE_string("gt_keypoints", None, "Scan mode: the scan's 85 keypoints (.txt or .npy).")
_GT_LABELS = flags.DEFINE_string("gt_labels", None, "Scan mode: per-vertex region labels (.txt or .npy), optional.")
_GT_UNITS = flags.DEFINE_enum("gt_units", "mm", ["mm", "cm", "m"], "Scan mode: units of the scan and its keypoints.")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _scan_mode(model) -> int:
    from hiface_jax import mesh_io
    from hiface_jax.evaluation import runner
    from hiface_jax.evaluation.regions import REGIONS

    out = Path(_OUTPUT.value)
    optional = lambda v: Path(v) if v else None
    try:
        result = runner.score_scan(
            model,
            Path(_PRED.value),
            Path(_GT.value),
            Path(_GT_KP.value),
            out,
            optional(_GT_LABELS.value),
            _GT_UNITS.value,
        )
    except (ValueError, mesh_io.MeshFileError) as e:
        return _error(str(e))
    s = result.summary()
    print("| all | " + " | ".join(REGIONS) + " |\n|---|" + "---|" * len(REGIONS))
    print(f"| {s['all']:.3f} | " + " | ".join(f"{s[r + '_mean']:.3f}" for r in REGIONS) + " |   (mm)")
    print(f"wrote {out / 'scan.json'} and {out / 'heatmaps'}")
    return 0


def _benchmark_mode(model) -> int:
    from hiface_jax.evaluation import benchmark_split as bs
    from hiface_jax.evaluation import methods, runner

    try:
        specs = [s.strip() for s in _METHODS.value.split(",") if s.strip()]
        for spec in specs:
            methods.parse_method_spec(spec)
        yaws = tuple(float(y) for y in _YAWS.value.split(","))
        configs = [
            bs.SplitConfig(
                variant=v.strip(), seed=_SEED.value, num_people=_PEOPLE.value, yaws=yaws, image_size=_SIZE.value,
                uv_resolution=_UV.value, detail_basis=_BASIS.value, ict_dir=_ICT.value, scene=_SCENE.value,
            )
            for v in _SPLIT.value.split(",") if v.strip()
        ]  # fmt: skip
    except ValueError as e:
        return _error(str(e))
    if not specs or not configs:
        return _error("give at least one method (--methods) and one split (--split)")
    fit_config = fit_flags.fit_config({"landmark_steps": _LM_STEPS, "photometric_steps": _PH_STEPS})
    context = methods.MethodContext(model, fit_config, _BATCH.value)
    root = Path(_SPLIT_ROOT.value) if _SPLIT_ROOT.value else Path.home() / ".cache" / "hiface" / "benchmark"
    try:
        splits = [bs.ensure_split(c, root) for c in configs]
        runner.run_benchmark(
            specs, splits, context, Path(_OUTPUT.value), _HEATMAPS.value, per_expression=_PER_EXPRESSION.value
        )
    except (ValueError, OSError) as e:  # a bad checkpoint, a broken split, an unwritable folder
        return _error(str(e))
    print("\n" + (Path(_OUTPUT.value) / "results.md").read_text())
    print(f"wrote {_OUTPUT.value}")
    return 0


def main(argv) -> int:
    del argv
    from hiface_jax.face import face_model as fm
    from hiface_jax.face.ict_facekit import FaceModelSourceError

    if _PRED.value and not (_GT.value and _GT_KP.value):
        return _error("--pred needs --gt and --gt_keypoints")
    try:
        Path(_OUTPUT.value).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _error(f"cannot create output folder {_OUTPUT.value}: {e}")
    try:
        model = fm.load_face_model(_ICT.value)
    except FaceModelSourceError as e:
        return _error(str(e))
    return _scan_mode(model) if _PRED.value else _benchmark_mode(model)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
