"""The fitter on benchmark images, by expression and yaw: shape error, ARKit weight, landmark error.

    python -m launch.benchmark_fit_accuracy                            # people 0 and 1 of both splits
    python -m launch.benchmark_fit_accuracy --people 0,1,2,3 --splits out_of_model
    python -m launch.benchmark_fit_accuracy --set calibrated_landmarks=False   # a FitConfig field

For every image of the chosen people of the default benchmark splits (``launch.evaluate``'s,
built on first use): REALY "all" (mm) of the mean face and of the fitted mesh, the total ARKit
weight the fit puts on the face (ground truth: none on neutral faces), and the 68-point NME
(outer-eye-corner normalised) of the detector's mapped points and of the fitted landmark
vertices against the ground-truth mesh's landmark vertices projected with the benchmark
camera. Prints one table per split and, for neutral faces, the ARKit shapes that took the
most weight. About 2.5 minutes for 24 images on two CPU cores.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from absl import app, flags

_SPLITS = flags.DEFINE_list("splits", ["out_of_model", "synthetic"], "Benchmark split variants.")
_PEOPLE = flags.DEFINE_list("people", ["0", "1"], "People of each split (8 in the default splits).")
_SET = flags.DEFINE_multi_string("set", [], "FitConfig overrides, field=value (repeatable).")
_ROOT = flags.DEFINE_string("split_root", str(Path.home() / ".cache" / "hiface" / "benchmark"), "Split folder.")
_OUTPUT = flags.DEFINE_string("output", None, "Also write the per-image rows here (JSON).")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")


def fit_config(overrides: list[str]):
    """``FitConfig`` with ``field=value`` overrides, each parsed as its field's type."""
    from hiface_jax.fit import fitting

    fields = {f.name: f for f in dataclasses.fields(fitting.FitConfig)}
    values = {}
    for item in overrides:
        name, sep, text = item.partition("=")
        if not sep or name not in fields:
            raise app.UsageError(f"--set {item!r}: need field=value with a FitConfig field ({', '.join(fields)})")
        default = getattr(fitting.FitConfig, name)
        if text == "None":
            values[name] = None
        elif isinstance(default, bool):
            if text not in ("True", "False"):
                raise app.UsageError(f"--set {item!r}: {name} is True or False")
            values[name] = text == "True"
        else:
            kind = type(default if default is not None else 1)
            try:
                values[name] = kind(text)
            except ValueError:
                raise app.UsageError(f"--set {item!r}: {name} must be of type {kind.__name__}") from None
    return fitting.FitConfig(**values)


def nme68(points: np.ndarray, truth: np.ndarray) -> float:
    """``evaluation.landmark_nme.nme`` over all 68 points of one (68, 2) prediction."""
    from hiface_jax.evaluation import landmark_nme

    return float(landmark_nme.nme(points[None], truth[None])[0][0])


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
    rows = []
    for j, k in enumerate(ok):
        item = items[k]
        truth = bs.read_ground_truth(item)
        gt = bs.realy_ground_truth(truth, topo.shape)
        vertices = np.asarray(fm.shape(fitter.full, params.identity[j], params.expression[j]))
        posed = truth["vertices_coarse"][landmark_ids] @ np.asarray(item.rotation).T + np.asarray(item.translation)
        truth68 = np.asarray(
            camera.perspective_project(jnp.asarray(posed), jnp.asarray(cam.focal), cam.principal_point)
        )
        one = jax.tree.map(lambda x, j=j: jnp.asarray(x[j : j + 1]), params)
        fitted68 = np.asarray(fitting.project_landmarks(fitter.skin, one, cam))[0]
        rows.append(
            {
                "split": split.config.variant, "image": item.name, "expression": item.expression, "yaw": item.yaw,
                "mean_all": realy.realy_errors(mean_vertices, gt, topo.shape.regions).summary()["all"],
                "fit_all": realy.realy_errors(vertices, gt, topo.shape.regions).summary()["all"],
                "arkit": dict(zip(fitter.skin.expression_names, np.asarray(params.expression[j]).tolist())),
                "nme_detector": nme68(ld.mediapipe_to_ibug68(found[k].landmarks_478), truth68),
                "nme_fit": nme68(fitted68, truth68),
            }
        )  # fmt: skip
    missed = [items[k].name for k in range(len(items)) if found[k] is None]
    if missed:
        print(f"{split.config.variant}: MediaPipe found no face in {', '.join(missed)} (left out)")
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one line per (expression, yaw) and per expression over all yaws."""
    lines = [
        "| faces | yaw | images | mean face, all | fit, all | ARKit weight | NME detector (mapped 68) | NME fit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for expression in ("neutral", "expressive"):
        for yaw in sorted({r["yaw"] for r in rows}, key=abs) + [None]:
            sel = [r for r in rows if r["expression"] == expression and (yaw is None or r["yaw"] == yaw)]
            if not sel:
                continue
            m = lambda key, sel=sel: float(np.mean([r[key] for r in sel]))
            weight = float(np.mean([sum(r["arkit"].values()) for r in sel]))
            label = "all" if yaw is None else f"{yaw:+.0f}" if yaw else "0"
            lines.append(
                f"| {expression} | {label} | {len(sel)} | {m('mean_all'):.3f} | {m('fit_all'):.3f} | {weight:.2f} | "
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


def main(argv) -> None:
    del argv
    from hiface_jax.evaluation import benchmark_split as bs
    from hiface_jax.evaluation import methods, runner
    from hiface_jax.face import face_model as fm

    config = fit_config(_SET.value)
    people = {int(p) for p in _PEOPLE.value}
    full = fm.load_face_model(_ICT.value)
    topo = runner.ScoringTopology.of(full, bs.SplitConfig().uv_resolution)
    fitter = methods.Fitter(full, config, batch_size=4)
    all_rows = []
    try:
        for variant in _SPLITS.value:
            split = bs.ensure_split(bs.SplitConfig(variant=variant, ict_dir=_ICT.value), _ROOT.value)
            rows = evaluate(split, people, fitter, topo, np.asarray(full.mean_shape))
            all_rows += rows
            print(f"\n{variant}, people {sorted(people)}: REALY all (mm), total ARKit weight, 68-point NME\n")
            print(table(rows))
            print(f"\nlargest ARKit weights on neutral faces (mean): {largest_shapes(rows)}")
    finally:
        fitter.close()
    if _OUTPUT.value:
        Path(_OUTPUT.value).write_text(json.dumps(all_rows, indent=1))


if __name__ == "__main__":
    app.run(main)
