"""Timing for the benchmark scripts: median wall time of a JAX computation."""

from __future__ import annotations

import time
from typing import Callable

import jax
import numpy as np


def median_seconds(fn: Callable[[], object], repeats: int = 10) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up (compilation),
    waiting for JAX's asynchronous results each time."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return float(np.median(times))
