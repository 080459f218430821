"""Inference from a training workdir: the newest checkpoint or a named one, any crop size."""

import numpy as np
import pytest
from conftest import MICRO

from hiface_jax.model import predict


def test_predictor_loads_the_trained_state(reference_run):
    crops = np.random.default_rng(0).integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    newest = predict.load_predictor(reference_run)(crops)
    named = predict.load_predictor(reference_run / "checkpoints" / "4")(crops)
    earlier = predict.load_predictor(reference_run / "checkpoints" / "2")(crops)
    r = MICRO["model.uv_resolution"]
    assert newest.vertices.shape[0] == 2 and newest.vertices.shape[2] == 3
    assert newest.displacement.shape == newest.displacement_static.shape == (2, r, r)
    assert newest.landmarks.shape == (2, 68, 2) and np.isfinite(newest.vertices).all()
    np.testing.assert_array_equal(newest.vertices, named.vertices)
    assert np.abs(newest.vertices - earlier.vertices).max() > 1e-4  # trained further: another mesh


def test_larger_crops_are_resized_and_landmarks_scaled(reference_run):
    small = np.random.default_rng(1).integers(0, 256, size=(1, 64, 64, 3), dtype=np.uint8)
    large = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2)  # the same picture at 128 px
    predictor = predict.load_predictor(reference_run)
    a, b = predictor(small), predictor(large)
    np.testing.assert_allclose(b.landmarks, 2 * a.landmarks, rtol=0.02, atol=0.5)
    np.testing.assert_allclose(b.vertices, a.vertices, atol=0.5)  # cm
    with pytest.raises(ValueError, match="uint8"):
        predictor(small.astype(np.float32))


def test_not_a_workdir(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a training workdir"):
        predict.load_predictor(tmp_path)
