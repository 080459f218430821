"""Batch assembly: the split, the conversions, mixing and clear errors (host-side, no compile)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hiface_jax.model import batches


def test_split_rounds_and_rejects_bad_ratios():
    assert batches.split(8, 0.0) == (0, 8)
    assert batches.split(8, 0.5) == (4, 4)
    assert batches.split(10, 0.33) == (3, 7)
    assert batches.split(4, 1.0) == (4, 0)
    with pytest.raises(ValueError, match="real_ratio must be in"):
        batches.split(8, 1.5)


def test_mixed_batch_has_every_key_real_first(hiface_model, synthetic_samples):
    shapes = batches.ground_truth_shapes(hiface_model)
    s = hiface_model.image_size
    crops = {
        "image": np.full((1, s, s, 3), 255, np.uint8),
        "mask": np.ones((1, s, s), np.float32),
        "landmarks_68": np.zeros((1, 68, 2), np.float32),
    }
    batch = batches.training_batch({"real": crops, "synthetic": synthetic_samples}, None, None, shapes)
    assert set(batch) == set(batches.BATCH_KEYS)
    assert batch["is_synthetic"].tolist() == [False, True, True]
    np.testing.assert_array_equal(batch["image"][0], 1.0)  # uint8 -> [0, 1]
    assert batch["image"].dtype == jnp.float32 and float(batch["image"].max()) <= 1.0
    assert float(batch["mask"][1:].max()) == 1.0  # the generator's uint8 skin mask, scaled
    for key, shape in shapes.items():
        assert batch[key].shape == (3,) + shape, key
        np.testing.assert_array_equal(batch[key][0], 0.0)  # real samples carry no ground truth
    np.testing.assert_allclose(batch["landmarks"][1:], synthetic_samples["landmarks_2d"])
    exposure = 2.0 ** np.asarray(synthetic_samples["camera_exposure"])
    np.testing.assert_allclose(batch["sh"][1:], synthetic_samples["sh"] * exposure[:, None, None], rtol=1e-6)


def test_keys_are_per_step_and_deterministic(model_config):
    a = jax.random.key_data(batches.synthetic_keys(model_config, 3, 4))
    again = jax.random.key_data(batches.synthetic_keys(model_config, 3, 4))
    nxt = jax.random.key_data(batches.synthetic_keys(model_config, 4, 4))
    np.testing.assert_array_equal(a, again)
    assert len({tuple(k) for k in np.concatenate([a, nxt]).tolist()}) == 8  # no sample drawn twice


def test_errors_are_specific(hiface_model, synthetic_samples, model_config):
    shapes = batches.ground_truth_shapes(hiface_model)
    with pytest.raises(ValueError, match="an empty batch"):
        batches.training_batch({}, None, None, shapes)
    with pytest.raises(ValueError, match="need a sampler"):
        batches.training_batch(None, batches.synthetic_keys(model_config, 0, 2), None, shapes)
    wrong = dict(shapes, displacement_static=(32, 32))
    with pytest.raises(ValueError, match=r"'displacement_static' is \(64, 64\) per sample, the model needs \(32, 32\)"):
        batches.synthetic_batch(synthetic_samples, wrong)
    config = model_config.copy_and_resolve_references()
    config.data.synthetic_source = "disk"
    with pytest.raises(ValueError, match="'device' or 'shards'"):
        batches.make_loaders(config, 8)


def test_synthetic_config_agrees_with_the_model(model_config, small_synthetic_config):
    c = batches.synthetic_config(model_config)
    assert (c.image_size, c.uv_resolution, c.fov_degrees, c.detail_basis) == (
        small_synthetic_config.image_size, small_synthetic_config.uv_resolution,
        small_synthetic_config.fov_degrees, small_synthetic_config.detail_basis,
    )  # fmt: skip
