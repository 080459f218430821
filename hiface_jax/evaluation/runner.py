"""Runs a method over a benchmark split and scores every image (shape and detail).

    topo = runner.ScoringTopology.of(model, split.config.uv_resolution)
    results = runner.evaluate_split(method, split, topo)
    summary = runner.aggregate(results)      # by expression: mean / median / std per metric

Per image: REALY region errors of the predicted mesh against the detailed ground-truth
mesh (``realy``), and the detail errors of its UV displacement (``detail_metrics``;
zero maps for methods without detail). Across images, as REALY reports them: the mean,
median and standard deviation of the per-image region means; "all" is the mean of the
four regions.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hiface_jax import mesh_io
from hiface_jax.evaluation import benchmark_split as bs
from hiface_jax.evaluation import detail_metrics, methods, realy
from hiface_jax.face.face_model import FaceModel

GROUPS = ("neutral", "expressive", "all")


@dataclasses.dataclass(frozen=True)
class ScoringTopology:
    """Everything scoring needs from the face model, computed once."""

    shape: bs.Topology
    detail: detail_metrics.DetailTopology

    @classmethod
    def of(cls, model: FaceModel, uv_resolution: int) -> ScoringTopology:
        return cls(bs.topology(model), detail_metrics.detail_topology(model, uv_resolution))


@dataclasses.dataclass
class ItemResult:
    """The scores of one image (``failure`` set and no scores when the method gave none)."""

    name: str
    person: int
    expression: str
    yaw: float
    shape: dict[str, float] | None = None
    detail: dict[str, float] | None = None
    failure: str | None = None
    seconds: float = 0.0  # scoring time (REALY + detail)
    vertex_errors: np.ndarray | None = None  # (Vd,) mm, kept for heat maps only

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("vertex_errors")
        return out


def score_item(
    prediction: methods.Prediction, k: int, item: bs.SplitItem, topo: ScoringTopology, keep_errors: bool
) -> ItemResult:
    result = ItemResult(item.name, item.person, item.expression, item.yaw)
    if prediction.failures[k] is not None:
        result.failure = prediction.failures[k]
        return result
    t = time.perf_counter()
    truth = bs.read_ground_truth(item)
    shape = realy.realy_errors(prediction.vertices[k], bs.realy_ground_truth(truth, topo.shape), topo.shape.regions)
    pick = lambda x: None if x is None else x[k]
    result.detail = detail_metrics.detail_errors(
        topo.detail, truth["vertices_coarse"], truth["displacement_static"], truth["displacement_dynamic"],
        pick(prediction.displacement), pick(prediction.displacement_static),
    )  # fmt: skip
    result.shape = shape.summary()
    result.seconds = time.perf_counter() - t
    if keep_errors:
        result.vertex_errors = shape.vertex_errors
    return result


def select_items(split: bs.BenchmarkSplit, per_expression: int | None = None) -> list[bs.SplitItem]:
    """The split's images, or the first ``per_expression`` of each expression (frontal
    views first), in split order."""
    if per_expression is None:
        return list(split.items)
    chosen = set()
    for expression in ("neutral", "expressive"):
        items = sorted(
            (it for it in split.items if it.expression == expression), key=lambda it: (abs(it.yaw), it.index)
        )
        chosen |= {it.index for it in items[:per_expression]}
    return [it for it in split.items if it.index in chosen]


def evaluate_split(
    method: methods.Method,
    split: bs.BenchmarkSplit,
    topo: ScoringTopology,
    batch_size: int = 4,
    keep_errors: set[str] | None = None,
    progress: bool = True,
    per_expression: int | None = None,
) -> list[ItemResult]:
    """Predicts and scores the images of ``split`` (all, or ``select_items``'s subset).

    Args:
      keep_errors: names of the images whose per-vertex errors to keep (heat maps).
    """
    keep_errors = keep_errors or set()
    items = select_items(split, per_expression)
    results = []
    bar = tqdm(total=len(items), desc=f"{method.name} on {split.config.variant}", unit="image", disable=not progress)
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        prediction = method.predict(split.read_images(batch), split.intrinsics)
        for k, item in enumerate(batch):
            results.append(score_item(prediction, k, item, topo, item.name in keep_errors))
            bar.update()
    bar.close()
    return results


def _stats(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
    }


def aggregate(results: list[ItemResult]) -> dict[str, dict]:
    """Per group (neutral, expressive, all): counts, and for each metric its mean,
    median and std over the images' values (region metrics: the per-image means)."""
    out = {}
    for group in GROUPS:
        members = [r for r in results if group == "all" or r.expression == group]
        scored = [r for r in members if r.failure is None]
        entry = {"images": len(members), "failed": len(members) - len(scored)}
        if scored:
            shape_keys = [k for k in scored[0].shape if k == "all" or k.endswith("_mean")]
            entry["shape"] = {k.removesuffix("_mean"): _stats([r.shape[k] for r in scored]) for k in shape_keys}
            entry["detail"] = {k: _stats([r.detail[k] for r in scored]) for k in scored[0].detail}
            entry["seconds_per_image"] = float(np.mean([r.seconds for r in scored]))
        out[group] = entry
    return out


# ------------------------------------------------------------------ whole runs on disk


def run_benchmark(
    specs: list[str],
    splits: list[bs.BenchmarkSplit],
    context: methods.MethodContext,
    out: Path,
    heatmaps: int = 1,
    progress: bool = True,
    per_expression: int | None = None,
    topology: ScoringTopology | None = None,
) -> dict[tuple[str, str], dict]:
    """Every method on every split; writes ``out/<split>/<method>.json``, heat maps,
    bar plots (on the images every method scored) and ``results.md`` (``launch/evaluate.py``
    lists them). Returns the runs
    ((variant, spec) -> aggregate). ``heatmaps``: per expression, frontal views first;
    ``per_expression``: score only that many images of each expression (quick runs);
    ``topology``: reuse one already computed (for its UV resolution)."""
    from hiface_jax.evaluation import report

    topo: dict[int, ScoringTopology] = {}
    if topology is not None:
        topo[topology.detail.geometry.raster.resolution[0]] = topology
    runs, per_image = {}, {}
    for spec in specs:
        method = methods.make_method(spec, context)
        try:
            for split in splits:
                variant, res = split.config.variant, split.config.uv_resolution
                if res not in topo:
                    topo[res] = ScoringTopology.of(context.model, res)
                t = time.perf_counter()
                keep = {it.name for it in select_items(split, heatmaps)}
                results = evaluate_split(method, split, topo[res], context.batch_size, keep, progress, per_expression)
                wall = time.perf_counter() - t
                runs[(variant, spec)] = summary = aggregate(results)
                per_image[(variant, spec)] = results
                safe = spec.replace(":", "_").replace("/", "_")
                record = {
                    "method": spec,
                    "split": variant,
                    "split_folder": str(split.root),
                    "split_config": dataclasses.asdict(split.config),
                    "fit_config": dataclasses.asdict(context.fit_config) if spec.split(":")[0] == "fit" else None,
                    "date": datetime.date.today().isoformat(),
                    "seconds": wall,
                    "units": "shape: mm; detail: mm and degrees",
                    "summary": summary,
                    "images": [r.to_json() for r in results],
                }
                (out / variant).mkdir(parents=True, exist_ok=True)
                (out / variant / f"{safe}.json").write_text(json.dumps(record, indent=1))
                by_name = {it.name: it for it in split.items}
                for r in results:
                    if r.vertex_errors is not None:
                        gt = bs.realy_ground_truth(bs.read_ground_truth(by_name[r.name]), topo[res].shape)
                        title = f"{spec} on {variant} {r.name}: all {r.shape['all']:.2f} mm"
                        report.write_heatmap(
                            out / "heatmaps" / f"{variant}_{safe}_{r.name}",
                            gt.vertices,
                            gt.triangles,
                            r.vertex_errors,
                            title,
                        )
        finally:
            method.close()
    common = on_common_images(per_image)  # the bars compare methods on the same faces
    for split in splits:
        report.region_bars(common, split.config.variant, out / f"{split.config.variant}_regions.png")
    scenes = ", ".join(dict.fromkeys(s.config.scene for s in splits))  # what the images showed
    (out / "results.md").write_text(
        f"# Evaluation ({datetime.date.today().isoformat()}, {scenes} scene)\n\n{tables(per_image)}"
    )
    return runs


def on_common_images(per_image: dict[tuple[str, str], list[ItemResult]]) -> dict[tuple[str, str], dict]:
    """Aggregates over only the images of each split that every method scored: methods
    that fail on some images (no face detected) are compared on the same faces."""
    out = {}
    for variant in dict.fromkeys(v for v, _ in per_image):
        runs = {key: results for key, results in per_image.items() if key[0] == variant}
        common = set.intersection(*({r.name for r in results if r.failure is None} for results in runs.values()))
        for key, results in runs.items():
            out[key] = aggregate([r for r in results if r.name in common])
    return out


def tables(per_image: dict[tuple[str, str], list[ItemResult]]) -> str:
    """The Markdown of a run: every method on the images it scored, then all methods on
    the images every method scored, then the detail errors."""
    from hiface_jax.evaluation import report

    runs = {key: aggregate(results) for key, results in per_image.items()}
    return (
        "## Each method on the images it scored\n\n" + report.shape_table(runs)
        + "\n## All methods on the images every method scored\n\n" + report.shape_table(on_common_images(per_image))
        + "\n## Detail\n\n" + report.detail_table(on_common_images(per_image))
    )  # fmt: skip


def item_results(record: dict) -> list[ItemResult]:
    """The per-image results of a run's JSON record (``run_benchmark``'s files)."""
    return [ItemResult(**image) for image in record["images"]]


def read_points(path: Path) -> np.ndarray:
    """A ``.npy`` array or a whitespace text table (``np.loadtxt``)."""
    try:
        return np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=1)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {path}: {e}") from e


def read_mesh_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, triangles): OBJ through ``mesh_io`` (vertex order kept), others through trimesh."""
    if path.suffix.lower() == ".obj":
        mesh = mesh_io.read_obj(path)
        return mesh["vertices"], mesh["triangles"]
    mesh = mesh_io.read_mesh(path)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def score_scan(
    model: FaceModel,
    prediction: Path,
    scan: Path,
    keypoints: Path,
    out: Path,
    labels: Path | None = None,
    units: str = "mm",
) -> realy.RealyResult:
    """A user's predicted mesh against their scan (``launch/evaluate.py``'s scan mode);
    writes ``out/scan.json`` and ``out/heatmaps/scan.obj/.png``.

    Raises:
      ValueError, mesh_io.MeshFileError: unreadable or inconsistent files, with the reason.
    """
    from hiface_jax.evaluation import regions as regions_lib
    from hiface_jax.evaluation import report

    missing = [p for p in (prediction, scan, keypoints, labels) if p is not None and not Path(p).is_file()]
    if missing:
        raise ValueError(f"no such file: {missing[0]}")
    regions = regions_lib.face_regions(model)
    pred, _ = read_mesh_file(Path(prediction))
    scan_v, scan_f = read_mesh_file(Path(scan))
    label_values = None if labels is None else read_points(Path(labels)).astype(np.int64)
    gt = realy.ground_truth_from_scan(
        scan_v, scan_f, read_points(Path(keypoints)), regions, np.asarray(model.mean_shape), label_values, units
    )
    result = realy.realy_errors(pred, gt, regions)
    out.mkdir(parents=True, exist_ok=True)
    record = {"prediction": str(prediction), "scan": str(scan), "units": "mm", "scale": result.scale}
    (out / "scan.json").write_text(json.dumps(record | {"errors": result.summary()}, indent=1))
    report.write_heatmap(out / "heatmaps" / "scan", gt.vertices, gt.triangles, result.vertex_errors, "scan: error (mm)")
    return result
