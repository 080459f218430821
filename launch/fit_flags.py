"""The ``--set field=value`` flag of the commands that fit (``fit``, ``reconstruct``, ``demo``,
``evaluate``, the fit benchmarks): any ``FitConfig`` setting from the command line."""

from __future__ import annotations

import dataclasses

from absl import app, flags

SET = flags.DEFINE_multi_string("set", [], "FitConfig overrides, field=value (repeatable).")


def fit_config(named: dict[str, flags.FlagHolder] | None = None):
    """``FitConfig`` with the ``--set`` overrides (``fitting.with_overrides``; a bad one is a
    usage error), then ``named`` (field -> a command's own flag for it) where given on the
    command line: such flags default to FitConfig's values and must not undo ``--set``."""
    from hiface_jax.fit import fitting  # here, so --help stays fast

    try:
        config = fitting.with_overrides(SET.value)
    except ValueError as e:
        raise app.UsageError(f"--set {e}") from None
    return dataclasses.replace(config, **{k: f.value for k, f in (named or {}).items() if f.present})
