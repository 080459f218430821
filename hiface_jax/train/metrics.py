"""What a run reports: JSON lines, TensorBoard scalars and images, a progress bar.

``WORKDIR/metrics.jsonl`` gets one object per logged step (``{"step": 10, "loss": ...,
"images_per_s": ..., "eta_s": ...}``), ``WORKDIR/tensorboard/`` the same scalars and
image summaries (``tensorboardX``: TensorBoard's event files without TensorFlow). Only
process 0 writes; the others' writers do nothing.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
import tqdm
from tensorboardX import SummaryWriter


def _scalar(value) -> float:
    return float(np.asarray(value))


class MetricWriter:
    """JSON lines + TensorBoard for one workdir (appends on resume)."""

    def __init__(self, workdir: str | Path):
        self.active = jax.process_index() == 0
        self.path = Path(workdir) / "metrics.jsonl"
        self._tb = SummaryWriter(str(Path(workdir) / "tensorboard")) if self.active else None

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.active:
            return
        values = {k: _scalar(v) for k, v in values.items()}
        with self.path.open("a") as f:
            record = {k: (v if math.isfinite(v) else str(v)) for k, v in values.items()}  # JSON has no NaN
            f.write(json.dumps({"step": int(step), **record}) + "\n")
        for key, value in values.items():
            self._tb.add_scalar(key, value, step)

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        """An (H, W, 3) image in [0, 1]."""
        if self.active:
            self._tb.add_image(name, np.clip(np.asarray(image, np.float32), 0.0, 1.0), step, dataformats="HWC")

    def flush(self) -> None:
        if self.active:
            self._tb.flush()

    def close(self) -> None:
        if self.active:
            self._tb.close()


def read_metrics(workdir: str | Path) -> list[dict]:
    """Every record of ``metrics.jsonl``, in order."""
    path = Path(workdir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


class Progress:
    """A progress bar (stderr, process 0) with images/s and ETA over the steps run in this process.

    ``update(step)`` after each step; ``rates()`` gives the figures for the metrics.
    The first step (compilation) is left out of the rate.
    """

    def __init__(self, start: int, total: int, batch_size: int, enabled: bool = True):
        self.start, self.total, self.batch_size = start, total, batch_size
        self._bar = tqdm.tqdm(
            total=total, initial=start, unit="step", file=sys.stderr, dynamic_ncols=True,
            disable=not (enabled and jax.process_index() == 0),
        )  # fmt: skip
        self._t0: float | None = None
        self._s0 = start

    def update(self, step: int) -> None:
        if self._t0 is None:  # the first step compiles: rates count from its end
            self._t0, self._s0 = time.perf_counter(), step
        self._bar.n = step
        rates = self.rates(step)
        if rates:
            self._bar.set_postfix_str(f"{rates['images_per_s']:.1f} img/s, ETA {rates['eta_s']:.0f} s", refresh=False)
        self._bar.refresh()

    def rates(self, step: int) -> dict[str, float]:
        """``images_per_s`` and ``eta_s`` ({} until a step after the first is done)."""
        elapsed = time.perf_counter() - self._t0 if self._t0 is not None else 0.0
        done = step - self._s0
        if done <= 0 or elapsed <= 0:
            return {}
        per_step = elapsed / done
        return {"images_per_s": self.batch_size / per_step, "eta_s": per_step * (self.total - step)}

    def close(self) -> None:
        self._bar.close()
