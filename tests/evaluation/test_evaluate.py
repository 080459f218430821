"""The evaluator end to end: methods on the benchmark split, the command line, users' scans."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import trimesh
from helpers import REPO, repo_env

from hiface_jax import mesh_io
from hiface_jax.evaluation import benchmark_split as bs
from hiface_jax.evaluation import methods, runner
from hiface_jax.evaluation.regions import REGIONS
from hiface_jax.fit import fitting


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "launch.evaluate", *args], cwd=REPO, env=repo_env(),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


class Oracle:
    """Predicts each image's true coarse mesh and detail: scores must be (near) zero."""

    name = "oracle"

    def __init__(self, split: bs.BenchmarkSplit):
        items = runner.select_items(split, 1)
        self.truth = {it.image.name: bs.read_ground_truth(it) for it in items}
        self.order = [it.image.name for it in items]
        self.next = 0

    def predict(self, images, intrinsics):
        names = self.order[self.next : self.next + len(images)]
        self.next += len(images)
        t = [self.truth[n] for n in names]
        return methods.Prediction(
            np.stack([x["vertices_coarse"] * 2.54 for x in t]),  # another unit: scored after alignment
            [None] * len(images),
            np.stack([x["displacement_static"] + x["displacement_dynamic"] for x in t]),
            np.stack([x["displacement_static"] for x in t]),
        )

    def close(self):
        pass


def test_an_oracle_scores_zero(tiny_splits, scoring_topology):
    split = tiny_splits["out_of_model"]
    results = runner.evaluate_split(Oracle(split), split, scoring_topology, progress=False, per_expression=1)
    oracle = runner.aggregate(results)
    for group in ("neutral", "expressive"):
        # The coarse mesh misses only the detail (tenths of a millimetre at most).
        assert oracle[group]["shape"]["all"]["mean"] < 0.05
        assert max(v["mean"] for k, v in oracle[group]["detail"].items() if k.endswith("_mm")) < 1e-6
        assert max(v["mean"] for k, v in oracle[group]["detail"].items() if k.endswith("_deg")) < 1e-3
    assert oracle["all"]["images"] == 2 and oracle["all"]["failed"] == 0


def test_the_fitter_runs_end_to_end_on_synthetic_faces(tiny_splits, face_model, scoring_topology, tmp_path):
    split = tiny_splits["synthetic"]
    context = methods.MethodContext(face_model, fitting.FitConfig(landmark_steps=40, photometric_steps=3), batch_size=2)
    runs = runner.run_benchmark(
        ["fit"], [split], context, tmp_path, heatmaps=0, progress=False, per_expression=1, topology=scoring_topology
    )
    record = json.loads((tmp_path / "synthetic" / "fit.json").read_text())
    assert [im["name"] for im in record["images"]] == ["p000_neutral_yaw+000", "p000_expressive_yaw+000"]
    assert record["fit_config"]["landmark_steps"] == 40 and record["split_folder"] == str(split.root)
    scored = [im for im in record["images"] if im["failure"] is None]
    assert scored, record["images"]
    for im in scored:
        assert np.isfinite([im["shape"][f"{r}_mean"] for r in REGIONS]).all() and im["shape"]["all"] > 0
    assert runs[("synthetic", "fit")]["all"]["images"] == 2
    table = (tmp_path / "results.md").read_text()
    assert "| fit | neutral |" in table and "| fit | expressive |" in table
    assert table.startswith("# Evaluation (") and "skin scene)" in table.splitlines()[0]
    assert (tmp_path / "synthetic_regions.png").stat().st_size > 10_000


def test_command_line_scores_the_mean_face_on_a_built_split(tiny_splits, tiny_split_config, split_root, tmp_path):
    out = tmp_path / "run"
    proc = _cli(
        "--methods", "mean", "--split", "out_of_model", "--output", str(out), "--split_root", str(split_root),
        "--num_people", "1", "--yaws", "0,35", "--image_size", "96", "--uv_resolution", "64",
        "--detail_basis", tiny_split_config.detail_basis, "--max_per_expression", "1", "--heatmaps", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| mean | expressive | 1/1 |" in proc.stdout
    record = json.loads((out / "out_of_model" / "mean.json").read_text())
    assert record["split_folder"] == str(tiny_splits["out_of_model"].root)  # re-read, not rebuilt
    summary = record["summary"]
    for group in ("neutral", "expressive"):
        assert summary[group]["shape"]["all"]["mean"] > 0.2  # the floor is not zero
        assert summary[group]["detail"]["total_all_normal_deg"]["mean"] > 0.2  # no detail


def test_a_users_mesh_and_scan_are_scored_with_a_heat_map(tmp_path, face_model, dense_gt, person_cm):
    pred = tmp_path / "pred.obj"
    mesh_io.write_obj(pred, np.asarray(face_model.mean_shape), np.asarray(face_model.triangles))
    scan = tmp_path / "scan.ply"
    trimesh.Trimesh(dense_gt.vertices, dense_gt.triangles, process=False).export(scan)
    np.save(tmp_path / "keypoints.npy", dense_gt.keypoints)
    result = runner.score_scan(face_model, pred, scan, tmp_path / "keypoints.npy", tmp_path / "out")
    record = json.loads((tmp_path / "out" / "scan.json").read_text())
    assert np.isclose(record["errors"]["all"], result.all) and 0.2 < result.all < 5.0
    assert (tmp_path / "out" / "heatmaps" / "scan.png").is_file()
    heat = tmp_path / "out" / "heatmaps" / "scan.obj"
    colours = trimesh.load(heat, process=False).visual.vertex_colors
    assert len(colours) == len(dense_gt.vertices) and len(np.unique(colours[:, :3], axis=0)) > 20  # not one colour
    assert mesh_io.read_obj(heat)["vertices"].shape == dense_gt.vertices.shape  # colours do not add vertices
    with pytest.raises(ValueError, match="no such file"):
        runner.score_scan(face_model, pred, scan, tmp_path / "missing.txt", tmp_path / "out")
    np.savetxt(tmp_path / "short.txt", dense_gt.keypoints[:60])
    with pytest.raises(ValueError, match=r"keypoints must be \(85, 3\)"):
        runner.score_scan(face_model, pred, scan, tmp_path / "short.txt", tmp_path / "out")
    with pytest.raises(ValueError, match=r"ICT topology"):
        runner.score_scan(face_model, scan, scan, tmp_path / "keypoints.npy", tmp_path / "out")


def test_methods_are_picked_by_name_and_checkpoint(face_model):
    assert {"mean", "fit", "model"} <= set(methods.available())
    assert methods.parse_method_spec("model:/runs/hiface") == ("model", "/runs/hiface")
    context = methods.MethodContext(face_model)
    with pytest.raises(ValueError, match="unknown method 'deca'; known: mean, fit, model"):
        methods.make_method("deca", context)
    with pytest.raises(ValueError, match="takes no checkpoint"):
        methods.make_method("mean:/x", context)
    with pytest.raises(ValueError, match="needs a training workdir"):
        methods.make_method("model", context)


def test_command_line_usage_errors_are_clear(tmp_path):
    proc = _cli("--pred", "x.obj", "--output", str(tmp_path))
    assert proc.returncode == 1 and "--pred needs --gt and --gt_keypoints" in proc.stderr
