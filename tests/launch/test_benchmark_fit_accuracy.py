"""The fit-accuracy benchmark's measures and its saved rows."""

import json

import numpy as np
import pytest
from absl import app

from launch import benchmark_fit_accuracy


def test_expression_magnitude_is_the_rms_offset_over_the_face_in_mm():
    """A 3-4-0 cm offset on every face vertex is 50 mm RMS; vertices outside the face (the
    mask) and past the skin (the mask's length) do not count."""
    rng = np.random.default_rng(0)
    neutral = rng.normal(size=(12, 3))
    face = np.array([True, False] * 5)
    posed = neutral.copy()
    posed[:10][face] += [3.0, 4.0, 0.0]
    posed[:10][~face] += 100.0
    posed[10:] -= 100.0
    assert np.isclose(benchmark_fit_accuracy.expression_mm(posed, neutral, face), 50.0)
    assert benchmark_fit_accuracy.expression_mm(neutral, neutral, face) == 0.0


def test_paired_difference_is_the_mean_gain_and_its_95_percent_interval():
    """Gains of -1 and -3 mm: mean -2, standard deviation sqrt(2), standard error 1."""
    rows = [{"fit_all": 1.0, "mean_all": 2.0}, {"fit_all": 0.5, "mean_all": 3.5}]
    mean, half = benchmark_fit_accuracy.paired_difference(rows)
    assert np.isclose(mean, -2.0) and np.isclose(half, 1.96)
    assert np.isnan(benchmark_fit_accuracy.paired_difference(rows[:1])[1])


def test_saved_rows_are_read_back_together_and_a_bad_file_is_a_usage_error(tmp_path):
    first, second = [{"image": "p002_neutral_yaw+000"}], [{"image": "p009_expressive_yaw-035"}]
    (tmp_path / "a.json").write_text(json.dumps(first))
    (tmp_path / "b.json").write_text(json.dumps(second))
    assert benchmark_fit_accuracy.read_rows([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == first + second
    (tmp_path / "bad.json").write_text("[{")
    for bad in ("bad.json", "missing.json"):
        with pytest.raises(app.UsageError, match=bad):
            benchmark_fit_accuracy.read_rows([str(tmp_path / "a.json"), str(tmp_path / bad)])


def test_rows_of_two_scenes_print_as_two_tables_and_old_rows_are_the_skin_scenes(capsys):
    """Saved rows of the head scene are never averaged with the skin scene's; rows saved before
    scenes existed (no "scene" key) are the skin scene's."""

    def row(fit_all, **extra):
        return {
            "split": "out_of_model", "image": "p002_neutral_yaw+000", "expression": "neutral", "yaw": 0.0,
            "mean_all": 2.0, "fit_all": fit_all, "identity_only_all": fit_all, "limit_all": 1.0,
            "expression_mm": 0.0, "true_expression_mm": 0.0, "arkit": {"jawOpen": 0.0},
            "nme_detector": 0.05, "nme_fit": 0.03, **extra,
        }  # fmt: skip

    benchmark_fit_accuracy.print_tables([row(1.25), row(1.75, scene="head"), row(1.5, scene="skin")], "[2]")
    out = capsys.readouterr().out
    assert out.count("out_of_model, skin scene") == 1 and out.count("out_of_model, head scene") == 1
    skin, head = out.split("out_of_model, head scene")
    assert "| neutral | all | 2 | 2.000 | 1.375 |" in skin and "| neutral | all | 1 | 2.000 | 1.750 |" in head
