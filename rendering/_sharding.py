"""Support for explicit-sharding meshes (``jax.make_mesh`` defaults to them).

Under an explicit mesh every gather must state its output sharding. The
renderer is batch-parallel, so each public entry point instead runs with the
partitioner in charge (``jax.sharding.auto_axes``) and returns outputs sharded
like the batch (leading) axis of its first explicitly sharded input.
"""
from __future__ import annotations

import functools

import jax
import numpy as np


def _explicit_axes(x):
    """``(explicit axis names, mesh, leading-axis spec)`` for an explicitly sharded array, else None."""
    if not isinstance(x, jax.Array) or getattr(x, "ndim", 0) == 0:
        return None
    try:
        sharding = jax.typeof(x).sharding
        mesh = sharding.mesh
        names = tuple(n for n, t in zip(mesh.axis_names, mesh.axis_types) if t == jax.sharding.AxisType.Explicit)
    except (AttributeError, TypeError):
        return None
    if not names:
        return None
    spec = tuple(sharding.spec) + (None,) * x.ndim
    return names, mesh, spec[0]


def batch_parallel(fn):
    """Decorator: run ``fn`` in auto-sharding mode when an input is explicitly sharded."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        leaves, treedef = jax.tree.flatten((args, kwargs))
        info = next((i for i in map(_explicit_axes, leaves) if i), None)
        if info is None:
            return fn(*args, **kwargs)
        axes, mesh, batch_spec = info
        is_array = [isinstance(l, (jax.Array, np.ndarray)) for l in leaves]
        arrays = [l for l, a in zip(leaves, is_array) if a]

        def inner(*arrs):
            it = iter(arrs)
            full = [next(it) if a else l for l, a in zip(leaves, is_array)]
            a, k = jax.tree.unflatten(treedef, full)
            return fn(*a, **k)

        out = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(batch_spec))
        return jax.sharding.auto_axes(inner, axes=axes, out_sharding=out)(*arrays)

    return wrapper
