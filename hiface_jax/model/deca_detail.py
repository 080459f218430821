"""The DECA-style detail baseline: a detail code decoded with the expression into a UV displacement.

DECA (Feng et al., SIGGRAPH 2021) regresses a 128-d detail code and decodes it, together
with the FLAME expression and jaw pose, into a 256 x 256 UV displacement, ``tanh * 0.01``
in FLAME's metres. ICT-FaceKit has no jaw joint: its jaw moves through the ARKit
``jaw*`` expression shapes, so the expression weights carry both DECA inputs. Our
displacement is in cm, so DECA's 0.01 m bound is ``amplitude_cm = 1``.

    z = [detail code, expression]                       (B, Kd + K_exp)
    x = fc(z) reshaped to 8 x 8 x C                     then log2(R / 8) times:
    x = relu(conv3x3(upsample2(x)))                     channels halve, at least 16
    D = amplitude * tanh(conv3x3(x))                    (B, R, R) cm

The last convolution starts at zero, so an untrained decoder gives no detail. Unlike
SD-DeTail there is no static / dynamic split; ``static_and_total`` decodes the code with
the neutral expression as the static part, so both baselines are scored by the same
losses.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

BASE = 8  # side of the first feature map


class DecaDetail(nnx.Module):
    """Detail decoder (B, Kd) code + (B, K_exp) expression -> (B, R, R) displacement, cm."""

    def __init__(
        self,
        code_dim: int,
        num_expression: int,
        resolution: int,
        amplitude_cm: float = 1.0,
        width: int = 128,
        *,
        rngs: nnx.Rngs,
    ):
        steps = math.log2(resolution / BASE) if resolution >= BASE else -1.0
        if steps < 0 or steps != int(steps):
            raise ValueError(f"the DECA decoder needs a UV resolution of 8 * 2^k, got {resolution}")
        self.code_dim = code_dim
        self.amplitude = amplitude_cm
        self.width = width
        self.fc = nnx.Linear(code_dim + num_expression, BASE * BASE * width, rngs=rngs)
        convs, cin = [], width
        for _ in range(int(steps)):
            cout = max(16, cin // 2)
            convs.append(nnx.Conv(cin, cout, (3, 3), padding="SAME", rngs=rngs))
            cin = cout
        self.convs = nnx.List(convs)
        self.out = nnx.Conv(cin, 1, (3, 3), padding="SAME", kernel_init=nnx.initializers.zeros, rngs=rngs)

    def __call__(self, code: jax.Array, expression: jax.Array) -> jax.Array:
        """(B, Kd), (B, K_exp) -> (B, R, R) displacement in cm."""
        z = jnp.concatenate([code, expression], axis=-1)
        x = nnx.relu(self.fc(z)).reshape(z.shape[0], BASE, BASE, self.width)
        for conv in self.convs:
            b, h, w, c = x.shape
            x = nnx.relu(conv(jax.image.resize(x, (b, 2 * h, 2 * w, c), method="nearest")))
        return self.amplitude * jnp.tanh(self.out(x)[..., 0])

    def static_and_total(self, code: jax.Array, expression: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(static, total) displacement: the code decoded at the neutral and at the given expression."""
        b = code.shape[0]
        both = self(jnp.concatenate([code, code]), jnp.concatenate([jnp.zeros_like(expression), expression]))
        return both[:b], both[b:]
