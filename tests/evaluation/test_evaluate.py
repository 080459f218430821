"""The evaluator end to end: methods on the benchmark split, the command line, users' scans."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from hiface_jax import mesh_io
from hiface_jax.evaluation import benchmark_split as bs
from hiface_jax.evaluation import methods, runner
from hiface_jax.evaluation.regions import REGIONS

REPO = pathlib.Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "launch.evaluate", *args], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True, text=True, timeout=600,
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


def test_an_oracle_scores_zero_and_the_mean_face_does_not(tiny_splits, face_model):
    split = tiny_splits["out_of_model"]
    topo = runner.ScoringTopology.of(face_model, split.config.uv_resolution)
    oracle = runner.aggregate(runner.evaluate_split(Oracle(split), split, topo, progress=False, per_expression=1))
    mean = runner.aggregate(runner.evaluate_split(methods.MeanFace(face_model), split, topo, progress=False, per_expression=1))
    for group in ("neutral", "expressive"):
        # The coarse mesh misses only the detail (tenths of a millimetre at most).
        assert oracle[group]["shape"]["all"]["mean"] < 0.05
        assert max(v["mean"] for k, v in oracle[group]["detail"].items() if k.endswith("_mm")) < 1e-6
        assert max(v["mean"] for k, v in oracle[group]["detail"].items() if k.endswith("_deg")) < 0.05
        assert mean[group]["shape"]["all"]["mean"] > 10 * oracle[group]["shape"]["all"]["mean"]
        assert mean[group]["detail"]["total_all_normal_deg"]["mean"] > 0.2  # no detail: the floor
    assert oracle["all"]["images"] == 2 and oracle["all"]["failed"] == 0


def test_command_line_runs_the_fitter_on_the_split(tiny_splits, tiny_split_config, split_root, tmp_path):
    out = tmp_path / "run"
    proc = _cli(
        "--methods", "fit", "--split", "synthetic", "--output", str(out), "--split_root", str(split_root),
        "--num_people", "1", "--yaws", "0,35", "--image_size", "96", "--uv_resolution", "64",
        "--detail_basis", tiny_split_config.detail_basis, "--landmark_steps", "40", "--photometric_steps", "3",
        "--max_per_expression", "1", "--batch", "2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {m: json.loads((out / "synthetic" / f"{m}.json").read_text()) for m in ("fit",)}
    assert results["fit"]["split_folder"] == str(tiny_splits["synthetic"].root)  # the split was re-read
    for m, record in results.items():
        assert [im["name"] for im in record["images"]] == ["p000_neutral_yaw+000", "p000_expressive_yaw+000"]
        scored = [im for im in record["images"] if im["failure"] is None]
        assert scored, f"{m}: nothing scored"
        for im in scored:
            assert np.isfinite([im["shape"][f"{r}_mean"] for r in REGIONS]).all() and im["shape"]["all"] > 0
    assert results["fit"]["fit_config"]["landmark_steps"] == 40
    table = (out / "results.md").read_text()
    assert "| fit | neutral |" in table and "| fit | expressive |" in table
    assert (out / "synthetic_regions.png").stat().st_size > 10_000
    heat = sorted((out / "heatmaps").glob("synthetic_fit_*.obj"))
    assert heat and all(p.with_suffix(".png").is_file() for p in heat)
    colours = trimesh.load(heat[0], process=False).visual.vertex_colors
    assert len(colours) == 44786 and len(np.unique(colours[:, :3], axis=0)) > 20  # a heat map, not one colour
    assert mesh_io.read_obj(heat[0])["vertices"].shape == (44786, 3)


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
