"""Fixtures of the model tests: one small model config, model and synthetic batch per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model_config(small_detail_basis, small_synthetic_config):
    """The tiny preset at the small synthetic config's sizes (96 px, UV 64, the small basis)."""
    from hiface_jax.model import config

    c = config.full_config("tiny")
    c.model.image_size = small_synthetic_config.image_size
    c.model.uv_resolution = small_synthetic_config.uv_resolution
    c.model.detail_basis = small_detail_basis
    return c


@pytest.fixture(scope="session")
def hiface_model(model_config, coarse_model):
    from flax import nnx

    from hiface_jax.model import hiface

    return hiface.build_model(model_config, rngs=nnx.Rngs(0), face_model=coarse_model)


@pytest.fixture(scope="session")
def synthetic_samples(small_synthetic_config):
    """Two synthetic samples (the generator's full output, jax arrays)."""
    from hiface_jax.data import synthetic

    s = synthetic.sampler(small_synthetic_config)
    return s.sample(s.keys(0, 2))


@pytest.fixture(scope="session")
def synthetic_batch(hiface_model, synthetic_samples):
    from hiface_jax.model import batches

    return batches.synthetic_batch(synthetic_samples, batches.ground_truth_shapes(hiface_model))
