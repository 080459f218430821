"""Checks at the API boundary, so bad input fails with a plain message, not deep in XLA."""

from __future__ import annotations

import jax
import numpy as np


def is_traced(x) -> bool:
    """True inside jit/grad/vmap, where values (but not shapes) are unknown."""
    return isinstance(x, jax.core.Tracer)


def check_array(
    name: str,
    x,
    trailing_shape: tuple[int | None, ...],
    *,
    floating: bool = True,
    finite: bool = True,
) -> None:
    """Raises ValueError/TypeError unless ``x`` is an array with the given trailing shape.

    Args:
      name: what the caller calls the argument, for the message.
      x: the array (numpy, JAX or a tracer).
      trailing_shape: required sizes of the last axes; None matches any size.
      floating: require a floating dtype.
      finite: require all values finite (checked only for concrete values).
    """
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is None or dtype is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    n = len(trailing_shape)
    if len(shape) < n or any(
        want is not None and got != want for got, want in zip(shape[len(shape) - n :], trailing_shape)
    ):
        want = "(..., " + ", ".join("*" if s is None else str(s) for s in trailing_shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(shape)}")
    if floating and not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {dtype}")
    if finite and not is_traced(x):
        bad = ~np.isfinite(np.asarray(x))
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} has {int(bad.sum())} non-finite values (first at index {first})")
