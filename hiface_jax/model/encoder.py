"""Image encoders: ResNets in flax.nnx, trained from scratch (no pretrained weights here).

    images (B, S, S, 3) in [0, 1] -> features (B, C)

* ``resnet50``: bottleneck blocks (3, 4, 6, 3), C = 2048 (the default).
* ``resnet18``: basic blocks (2, 2, 2, 2), C = 512.
* ``small``: basic blocks (1, 1, 1, 1) at widths 16..128, a 3x3 stem without max-pool,
  C = 128: a CPU option for tests and smoke runs.

Normalisation is GroupNorm, not BatchNorm: it has no batch statistics, so a sharded batch
gives the same numbers as an unsharded one without a cross-device reduction, train and
eval modes agree, and the small per-device batches of CPU runs and the mixed
synthetic / real batches do not bias it. The last norm of each residual branch starts at
zero (the block starts as the identity), which trains deep ResNets from scratch stably.
Convolutions compute in ``dtype`` (bf16 on accelerators); parameters and the output
features are float32.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """Stage depths and widths of a ResNet."""

    blocks: tuple[int, ...]
    widths: tuple[int, ...]
    bottleneck: bool
    stem_width: int
    stem_kernel: int
    stem_pool: bool
    groups: int  # GroupNorm groups (channels must divide)
    readout_grid: int = 1  # G: mean-pool the last map into G x G cells and flatten (1: global mean)


ENCODERS = {
    "resnet50": EncoderSpec((3, 4, 6, 3), (64, 128, 256, 512), True, 64, 7, True, 32),
    "resnet18": EncoderSpec((2, 2, 2, 2), (64, 128, 256, 512), False, 64, 7, True, 32),
    "small": EncoderSpec((1, 1, 1, 1), (16, 32, 64, 128), False, 16, 3, False, 8, readout_grid=4),
}


def _norm(channels: int, groups: int, rngs: nnx.Rngs, zero: bool = False) -> nnx.GroupNorm:
    init = nnx.initializers.zeros if zero else nnx.initializers.ones
    return nnx.GroupNorm(channels, num_groups=min(groups, channels), scale_init=init, rngs=rngs)


def _conv(cin: int, cout: int, kernel: int, stride: int, dtype, rngs: nnx.Rngs) -> nnx.Conv:
    return nnx.Conv(
        cin,
        cout,
        (kernel, kernel),
        strides=(stride, stride),
        padding="SAME",
        use_bias=False,
        dtype=dtype,
        kernel_init=nnx.initializers.variance_scaling(2.0, "fan_out", "normal"),
        rngs=rngs,
    )


class ResidualBlock(nnx.Module):
    """Basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 with 4x expansion) residual block."""

    def __init__(self, cin: int, width: int, stride: int, bottleneck: bool, groups: int, dtype, *, rngs: nnx.Rngs):
        cout = 4 * width if bottleneck else width
        if bottleneck:
            shapes = [(cin, width, 1, 1), (width, width, 3, stride), (width, cout, 1, 1)]
        else:
            shapes = [(cin, width, 3, stride), (width, cout, 3, 1)]
        self.convs = nnx.List([_conv(a, b, k, s, dtype, rngs) for a, b, k, s in shapes])
        self.norms = nnx.List(
            [_norm(b, groups, rngs, zero=i == len(shapes) - 1) for i, (_, b, _, _) in enumerate(shapes)]
        )
        self.projects = stride != 1 or cin != cout
        if self.projects:
            self.project = _conv(cin, cout, 1, stride, dtype, rngs)
            self.project_norm = _norm(cout, groups, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            y = norm(conv(y))
            if i < len(self.convs) - 1:
                y = nnx.relu(y)
        shortcut = self.project_norm(self.project(x)) if self.projects else x
        return nnx.relu(y + shortcut)


class Encoder(nnx.Module):
    """A ResNet from ``ENCODERS``: (B, S, S, 3) images in [0, 1] -> (B, C) float32 features."""

    def __init__(self, name: str, *, dtype=jnp.float32, rngs: nnx.Rngs):
        if name not in ENCODERS:
            raise ValueError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")
        spec = ENCODERS[name]
        self.spec = spec
        self.dtype = dtype
        self.stem = _conv(3, spec.stem_width, spec.stem_kernel, 2, dtype, rngs)
        self.stem_norm = _norm(spec.stem_width, spec.groups, rngs)
        blocks, cin = [], spec.stem_width
        for stage, (depth, width) in enumerate(zip(spec.blocks, spec.widths)):
            for i in range(depth):
                stride = 2 if (i == 0 and stage > 0) else 1
                blocks.append(ResidualBlock(cin, width, stride, spec.bottleneck, spec.groups, dtype, rngs=rngs))
                cin = 4 * width if spec.bottleneck else width
        self.blocks = nnx.List(blocks)
        self.features = cin * spec.readout_grid**2

    def __call__(self, images: jax.Array) -> jax.Array:
        # Centre and scale [0, 1] pixels to about unit variance (no dataset statistics needed).
        x = ((images - 0.5) / 0.25).astype(self.dtype)
        x = nnx.relu(self.stem_norm(self.stem(x)))
        if self.spec.stem_pool:
            x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        for block in self.blocks:
            x = block(x)
        return readout(x.astype(jnp.float32), self.spec.readout_grid)


def _cell_weights(n: int, grid: int) -> np.ndarray:
    """(grid, n) averaging weights of ``grid`` cells over n positions: cell i covers
    [floor(i n / grid), ceil((i + 1) n / grid)), as adaptive average pooling does."""
    w = np.zeros((grid, n), np.float32)
    for i in range(grid):
        lo, hi = (i * n) // grid, -((-(i + 1) * n) // grid)
        w[i, lo:hi] = 1.0 / (hi - lo)
    return w


def readout(x: jax.Array, grid: int) -> jax.Array:
    """(B, H, W, C) -> (B, grid * grid * C): adaptive average pooling to grid x grid, flattened,
    divided by the number of cells, so the cells sum to the global mean (exactly when grid
    divides H and W; grid 1: the global mean itself). Any H, W >= 1 works, so the readout serves any image size.

    Why divided: Adam moves every head weight by about the learning rate per step, so a
    head's output moves by about lr * sum |features|; 16 cells of unscaled features made
    the first steps 16 x larger than the global mean's and threw the heads far off.
    """
    b, h, w, c = x.shape
    cells = jnp.einsum("ih,jw,bhwc->bijc", _cell_weights(h, grid), _cell_weights(w, grid), x)
    return cells.reshape(b, grid * grid * c) / grid**2


def make_encoder(name: str, *, dtype: str | Callable = "float32", rngs: nnx.Rngs) -> Encoder:
    """``Encoder(name)`` with the compute dtype given by name ('float32', 'bfloat16')."""
    return Encoder(name, dtype=jnp.dtype(dtype), rngs=rngs)
