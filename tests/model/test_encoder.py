"""Encoders: sizes against the published ResNets, batch independence (GroupNorm), bf16."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hiface_jax.model import encoder

apply = nnx.jit(lambda module, x: module(x))


def _param_count(module: nnx.Module) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.parametrize(
    "name, expected",
    # torchvision's counts (11,689,512 and 25,557,032) minus the 1000-class classifier
    # (513,000 and 2,049,000): GroupNorm has BatchNorm's scale and bias, so they agree.
    [("resnet18", 11_689_512 - 513_000), ("resnet50", 25_557_032 - 2_049_000)],
)
def test_resnet_sizes_match_the_published_architectures(name, expected):
    abstract = nnx.eval_shape(lambda: encoder.make_encoder(name, rngs=nnx.Rngs(0)))
    assert _param_count(abstract) == expected
    assert abstract.features == {"resnet18": 512, "resnet50": 2048}[name]


def test_small_encoder_is_batch_independent_and_deterministic():
    e = encoder.make_encoder("small", rngs=nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(0), (3, 64, 64, 3))
    f = apply(e, x)
    assert f.shape == (3, e.features) and f.dtype == jnp.float32
    # GroupNorm has no batch statistics: a sample's features do not depend on its batch,
    # which is what makes a sharded batch equal an unsharded one.
    for i in range(3):
        np.testing.assert_allclose(apply(e, x[i : i + 1])[0], f[i], rtol=1e-5, atol=1e-5)
    assert not np.allclose(f[0], f[1])  # different images, different features
    again = apply(encoder.make_encoder("small", rngs=nnx.Rngs(0)), x)
    np.testing.assert_array_equal(again, f)


def test_bfloat16_compute_stays_close_to_float32():
    x = jax.random.uniform(jax.random.key(1), (2, 64, 64, 3))
    f32 = apply(encoder.make_encoder("small", rngs=nnx.Rngs(0)), x)
    bf16 = encoder.make_encoder("small", dtype="bfloat16", rngs=nnx.Rngs(0))
    assert bf16.stem.kernel[...].dtype == jnp.float32  # parameters stay float32
    out = apply(bf16, x)
    assert out.dtype == jnp.float32
    assert np.linalg.norm(out - f32) / np.linalg.norm(f32) < 0.05


def test_unknown_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown encoder 'resnet34'.*small"):
        encoder.make_encoder("resnet34", rngs=nnx.Rngs(0))


@pytest.mark.parametrize("size, grid", [(6, 1), (6, 4), (4, 4), (7, 3)])
def test_readout_is_adaptive_average_pooling(size, grid):
    """Cell i of n positions averages [floor(i n / g), ceil((i + 1) n / g)) (adaptive pooling) over g^2,
    flattened cell by cell; grid 1 is the global mean, grid n the map itself."""
    x = np.random.default_rng(size + grid).normal(size=(2, size, size, 5)).astype(np.float32)
    out = grid**2 * np.asarray(encoder.readout(jnp.asarray(x), grid)).reshape(2, grid, grid, 5)
    cells = [(i * size // grid, -(-(i + 1) * size // grid)) for i in range(grid)]
    for i, (r0, r1) in enumerate(cells):
        for j, (c0, c1) in enumerate(cells):
            np.testing.assert_allclose(out[:, i, j], x[:, r0:r1, c0:c1].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    if grid == size:
        np.testing.assert_allclose(out, x, rtol=1e-6)


def test_small_encoder_keeps_where_things_are():
    """The small encoder's 4 x 4 readout tells a bright patch's corner; a global mean would not."""
    e = encoder.make_encoder("small", rngs=nnx.Rngs(0))
    assert e.features == 128 * 16
    left, right = np.zeros((1, 64, 64, 3), np.float32), np.zeros((1, 64, 64, 3), np.float32)
    left[:, 8:24, 8:24], right[:, 8:24, 40:56] = 1.0, 1.0  # the same patch, mirrored position
    f = np.asarray(apply(e, jnp.asarray(np.concatenate([left, right])))).reshape(2, 4, 4, 128)
    assert not np.allclose(f[0], f[1], atol=1e-3)
    np.testing.assert_allclose(f[0].mean(axis=(0, 1)), f[1].mean(axis=(0, 1)), atol=0.05 * np.abs(f).max())
