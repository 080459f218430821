"""The fitter on benchmark images, by expression and yaw: shape error, ARKit weight, landmark error.

    python -m launch.benchmark_fit_accuracy                            # people 0 and 1 of both splits
    python -m launch.benchmark_fit_accuracy --people 0,1,2,3 --splits out_of_model
    python -m launch.benchmark_fit_accuracy --set calibrated_landmarks=False   # a FitConfig field
    python -m launch.benchmark_fit_accuracy --num_people 16 --people 8,9,10,11,12,13,14,15 --output b.json
    python -m launch.benchmark_fit_accuracy --tables_from a.json,b.json   # saved rows together, no fitting
    python -m launch.benchmark_fit_accuracy --scene head                 # renders with eyes, mouth and torso

For every image of the chosen people of the default benchmark splits (``launch.evaluate``'s,
built on first use): REALY "all" (mm) of the mean face, of the fitted mesh (and their paired
difference with its 95 % interval), of the fitted identity with the expression set to zero (on
neutral faces: whether the fitted expression helps) and of the model's own limit (the true
identity and expression: what the best possible fit would score), the total ARKit weight the fit
puts on the face (ground truth: none on neutral faces) and how far that expression
moves the face (RMS over the REALY regions, mm, beside the true expression's), and the 68-point NME
(outer-eye-corner normalised) of the detector's mapped points and of the fitted landmark
vertices against the ground-truth mesh's landmark vertices projected with the benchmark
camera. Prints one table per split and, for neutral faces, the ARKit shapes that took the
most weight. About 2.5 minutes for 24 images on two CPU cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from absl import app, flags

from launch import fit_flags

_SPLITS = flags.DEFINE_list("splits", ["out_of_model", "synthetic"], "Benchmark split variants.")
_PEOPLE = flags.DEFINE_list("people", ["0", "1"], "People of each split, each below --num_people.")
_NUM_PEOPLE = flags.DEFINE_integer(
    "num_people",
    8,
    "People in each split: 8 is the default splits'; more builds a larger split whose first 8 people are the same.",
)
_SCENE = flags.DEFINE_enum("scene", "skin", ["skin", "head"], "Images of the skin alone, or with eyes, mouth, torso.")
_ROOT = flags.DEFINE_string("split_root", str(Path.home() / ".cache" / "hiface" / "benchmark"), "Split folder.")
_OUTPUT = flags.DEFINE_string("output", None, "Also write the per-image rows here (JSON).")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")
_TABLES_FROM = flags.DEFINE_list("tables_from", [], "Print the tables of rows saved by --output (no fitting).")


def nme68(points: np.ndarray, truth: np.ndarray) -> float:
    """``evaluation.landmark_nme.nme`` over all 68 points of one (68, 2) prediction."""
    from hiface_jax.evaluation import landmark_nme

    return float(landmark_nme.nme(points[None], truth[None])[0][0])


def expression_mm(vertices, neutral, face: np.ndarray) -> float:
    """RMS (mm) over the ``face`` vertices of what the expression moves: (V, 3) posed and
    neutral vertices of one identity, in cm."""
    offset = np.asarray(vertices)[: len(face)][face] - np.asarray(neutral)[: len(face)][face]
    return float(10.0 * np.sqrt(np.mean(np.sum(offset**2, -1))))


def evaluate(split, people: set[int], fitter, topo, mean_vertices) -> list[dict]:
    """One row per image of ``people`` in ``split``."""
    import jax
    import jax.numpy as jnp

    from hiface_jax.evaluation import benchmark_split as bs
    from hiface_jax.evaluation import realy
    from hiface_jax.face import face_model as fm
    from hiface_jax.fit import fitting
    from hiface_jax.geometry import camera
    from hiface_jax.photo import landmark_detector as ld

    items = [it for it in split.items if it.person in people]
    cam = fitting.FitCamera(split.intrinsics.image_size, split.intrinsics.fov_degrees)
    found, params, ok = fitter.fit(split.read_images(items), split.intrinsics)
    landmark_ids = np.asarray(fitter.full.landmark_indices)
    face = topo.shape.regions.labels >= 0  # the four REALY regions
    rows = []
    for j, k in enumerate(ok):
        item = items[k]
        truth = bs.read_ground_truth(item)
        gt = bs.realy_ground_truth(truth, topo.shape)
        vertices = np.asarray(fm.shape(fitter.full, params.identity[j], params.expression[j]))
        # The model's own limit: the true identity and expression, without what lies outside
        # the model (out-of-span deformation, detail).
        limit = np.asarray(fm.shape(fitter.full, jnp.asarray(truth["identity"]), jnp.asarray(truth["expression"])))
        neutral = np.asarray(fm.shape(fitter.full, params.identity[j], jnp.zeros_like(params.expression[j])))
        posed = truth["vertices_coarse"][landmark_ids] @ np.asarray(item.rotation).T + np.asarray(item.translation)
        truth68 = np.asarray(
            camera.perspective_project(jnp.asarray(posed), jnp.asarray(cam.focal), cam.principal_point)
        )
        one = jax.tree.map(lambda x, j=j: jnp.asarray(x[j : j + 1]), params)
        fitted68 = np.asarray(fitting.project_landmarks(fitter.skin, one, cam))[0]
        rows.append(
            {
                "split": split.config.variant, "scene": split.config.scene, "image": item.name, "expression": item.expression, "yaw": item.yaw,
                "mean_all": realy.realy_errors(mean_vertices, gt, topo.shape.regions).summary()["all"],
                "fit_all": realy.realy_errors(vertices, gt, topo.shape.regions).summary()["all"],
                "identity_only_all": realy.realy_errors(neutral, gt, topo.shape.regions).summary()["all"],
                "limit_all": realy.realy_errors(limit, gt, topo.shape.regions).summary()["all"],
                "expression_mm": expression_mm(vertices, neutral, face),
                "true_expression_mm": expression_mm(
                    limit, fm.shape(fitter.full, truth["identity"], np.zeros_like(truth["expression"])), face
                ),
                "arkit": dict(zip(fitter.skin.expression_names, np.asarray(params.expression[j]).tolist())),
                "nme_detector": nme68(ld.mediapipe_to_ibug68(found[k].landmarks_478), truth68),
                "nme_fit": nme68(fitted68, truth68),
            }
        )  # fmt: skip
    missed = [items[k].name for k in range(len(items)) if found[k] is None]
    if missed:
        print(f"{split.config.variant}: MediaPipe found no face in {', '.join(missed)} (left out)")
    return rows


def paired_difference(rows: list[dict]) -> tuple[float, float]:
    """Mean of fit minus mean face (REALY all, mm) over ``rows``, and the half-width of its 95 %
    interval (normal approximation: 1.96 standard errors; NaN for fewer than two rows)."""
    diff = np.array([r["fit_all"] - r["mean_all"] for r in rows])
    half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return float(diff.mean()), float(half)


def table(rows: list[dict]) -> str:
    """Markdown: one line per (expression, yaw) and per expression over all yaws."""
    lines = [
        "| faces | yaw | images | mean face, all | fit, all | fit - mean face (95 %) | fit without expression, all | model limit, all | ARKit weight | expression mm, fit / true | NME detector (mapped 68) | NME fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for expression in ("neutral", "expressive"):
        for yaw in sorted({r["yaw"] for r in rows}, key=abs) + [None]:
            sel = [r for r in rows if r["expression"] == expression and (yaw is None or r["yaw"] == yaw)]
            if not sel:
                continue
            m = lambda key, sel=sel: float(np.mean([r[key] for r in sel]))
            weight = float(np.mean([sum(r["arkit"].values()) for r in sel]))
            label = "all" if yaw is None else f"{yaw:+.0f}" if yaw else "0"
            gain, half = paired_difference(sel)
            lines.append(
                f"| {expression} | {label} | {len(sel)} | {m('mean_all'):.3f} | {m('fit_all'):.3f} | {gain:+.3f} +- {half:.3f} | {m('identity_only_all'):.3f} | {m('limit_all'):.3f} | {weight:.2f} | "
                f"{m('expression_mm'):.2f} / {m('true_expression_mm'):.2f} | "
                f"{100 * m('nme_detector'):.2f} % | {100 * m('nme_fit'):.2f} % |"
            )
    return "\n".join(lines)


def largest_shapes(rows: list[dict], count: int = 6) -> str:
    """The ARKit shapes with the most weight on neutral faces, averaged over them."""
    neutral = [r["arkit"] for r in rows if r["expression"] == "neutral"]
    if not neutral:
        return ""
    mean = {name: float(np.mean([a[name] for a in neutral])) for name in neutral[0]}
    top = sorted(mean.items(), key=lambda kv: -kv[1])[:count]
    return ", ".join(f"{name} {value:.2f}" for name, value in top)


def print_tables(rows: list[dict], people: str) -> None:
    """One table per split and scene in ``rows`` and its largest ARKit weights on neutral faces
    (rows saved before scenes existed are the skin scene's)."""
    key = lambda r: (r["split"], r.get("scene", "skin"))
    for variant, scene in dict.fromkeys(map(key, rows)):
        sel = [r for r in rows if key(r) == (variant, scene)]
        print(f"\n{variant}, {scene} scene, people {people}: REALY all (mm), total ARKit weight, 68-point NME\n")
        print(table(sel))
        print(f"\nlargest ARKit weights on neutral faces (mean): {largest_shapes(sel)}")


def read_rows(paths: list[str]) -> list[dict]:
    """The rows saved by ``--output`` in ``paths``, one list; a missing or unreadable file is a usage error."""
    rows = []
    for path in paths:
        try:
            rows += json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise app.UsageError(f"--tables_from {path}: {e}") from None
    return rows


def main(argv) -> None:
    del argv
    if _TABLES_FROM.value:
        rows = read_rows(_TABLES_FROM.value)
        print_tables(rows, str(sorted({int(r["image"][1:4]) for r in rows})))  # names are p<person:03d>_...
        return
    from hiface_jax.evaluation import benchmark_split as bs
    from hiface_jax.evaluation import methods, runner
    from hiface_jax.face import face_model as fm

    config = fit_flags.fit_config()
    if not all(p.isdigit() for p in _PEOPLE.value):
        raise app.UsageError(f"--people {','.join(_PEOPLE.value)}: need person numbers, e.g. 0,1")
    people = {int(p) for p in _PEOPLE.value}
    if not all(0 <= p < _NUM_PEOPLE.value for p in people):
        raise app.UsageError(f"--people {sorted(people)}: each must be in 0..{_NUM_PEOPLE.value - 1} (--num_people)")
    full = fm.load_face_model(_ICT.value)
    topo = runner.ScoringTopology.of(full, bs.SplitConfig().uv_resolution)
    fitter = methods.Fitter(full, config, batch_size=4)
    all_rows = []
    try:
        for variant in _SPLITS.value:
            split = bs.ensure_split(
                bs.SplitConfig(variant=variant, num_people=_NUM_PEOPLE.value, ict_dir=_ICT.value, scene=_SCENE.value),
                _ROOT.value,
            )
            rows = evaluate(split, people, fitter, topo, np.asarray(full.mean_shape))
            all_rows += rows
            print_tables(rows, str(sorted(people)))
    finally:
        fitter.close()
    if _OUTPUT.value:
        Path(_OUTPUT.value).write_text(json.dumps(all_rows, indent=1))


if __name__ == "__main__":
    app.run(main)
