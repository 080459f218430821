"""The ``--set field=value`` flag of ``launch.fit`` and the fit benchmarks: any ``FitConfig`` setting from the command line."""

from __future__ import annotations

from absl import app, flags

SET = flags.DEFINE_multi_string("set", [], "FitConfig overrides, field=value (repeatable).")


def fit_config():
    """``FitConfig`` with the ``--set`` overrides (``fitting.with_overrides``); a bad one is a usage error."""
    from hiface_jax.fit import fitting

    try:
        return fitting.with_overrides(SET.value)
    except ValueError as e:
        raise app.UsageError(f"--set {e}") from None
