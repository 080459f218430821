"""Face crops -> ``faces.Estimate``, by the fitter or a trained model, behind one interface.

* ``fit``: analysis-by-synthesis, the same fitter as ``launch.fit`` (``fitting.fit_detected``:
  MediaPipe's calibrated dense points, then the photometric stage; ``--refine N`` adds N
  more photometric steps). It has no detail codes: faces get the basis's mean static detail
  and mean wrinkles, which still follow each expression's tension.
* ``model``: a trained HiFace checkpoint (``hiface_jax.model.predict.load_predictor``)
  regresses coefficients and detail codes in one pass; ``--refine N`` runs N photometric
  fitting steps from its coefficients.

Both take aligned crops (``photo.preprocess``) and report where the time went
(``timings``: seconds of "model" and "refinement" for the last batch).
"""

from __future__ import annotations

import functools
import time
from typing import Protocol

import jax
import jax.numpy as jnp

from hiface_jax.app import faces
from hiface_jax.fit import fitting
from hiface_jax.fit.photo_fit import _stack as stack_crops
from hiface_jax.photo import landmark_detector as ld
from hiface_jax.photo import preprocess
from hiface_jax.sddetail import detail_basis


class Backend(Protocol):
    name: str
    assets: faces.FaceAssets
    timings: dict[str, float]

    def estimate(self, crops: list[preprocess.FaceCrop]) -> faces.Estimate: ...


def timed(fn, *args):
    """(fn(*args) once ready, seconds it took)."""
    t = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t


def refine(assets: faces.FaceAssets, data: dict, params: fitting.FaceParams, steps: int) -> fitting.FaceParams:
    """``steps`` photometric fitting steps from ``params`` (0: unchanged)."""
    if steps <= 0:
        return params
    cfg = fitting.FitConfig(photometric_steps=steps)
    weights = jnp.asarray(ld.IBUG68_WEIGHTS, jnp.float32)
    out, _ = fitting.fit_photometric(
        assets.skin, data["images"], data["masks"], data["landmarks"], params, assets.renderer, assets.layout, cfg,
        weights,
    )  # fmt: skip
    return out


class FitBackend:
    """The fitter of ``launch.fit`` (``fitting.fit_detected`` with ``config``: both stages,
    "model" time), then ``refine_steps`` more photometric steps."""

    name = "fit"

    def __init__(
        self,
        assets: faces.FaceAssets,
        refine_steps: int = 0,
        config: fitting.FitConfig | None = None,
        ict_dir: str | None = None,
    ):
        self.assets, self.refine_steps, self.ict_dir = assets, refine_steps, ict_dir
        self.config = config or fitting.FitConfig()
        self.timings = {"model": 0.0, "refinement": 0.0}

    @functools.cached_property
    def embedding(self):
        """The dense points on the model, resolved at the first fit (built on a machine's first
        fit, then read from the cache), not when a command that only animates makes a backend."""
        if not self.config.use_dense:
            return None
        return fitting.landmark_embedding(self.assets.skin, self.config, self.ict_dir)

    def estimate(self, crops: list[preprocess.FaceCrop]) -> faces.Estimate:
        a = self.assets
        data = stack_crops(crops)
        weights = jnp.asarray(ld.IBUG68_WEIGHTS, jnp.float32)

        def fit():
            return fitting.fit_detected(
                a.skin, data["landmarks_478"], None, a.camera, self.config, data["images"], data["masks"],
                a.renderer, a.layout, weights, self.embedding,
            )  # fmt: skip

        (params, _), self.timings["model"] = timed(fit)
        params, self.timings["refinement"] = timed(refine, a, data, params, self.refine_steps)
        return faces.Estimate(params, faces.mean_codes(a.basis, len(crops)))


def make_backend(
    method: str | None,
    checkpoint: str | None,
    ict_dir: str | None,
    refine_steps: int,
    basis_path: str | None = None,
    fit_config: fitting.FitConfig | None = None,
) -> Backend:
    """``fit`` or ``model`` (which needs ``checkpoint``: a file or training workdir); ``None``
    means ``model`` when a checkpoint is given, else ``fit``.

    ``basis_path`` (the detail basis file; default: the procedural one) and ``fit_config``
    (default: ``FitConfig()``) apply to the fitter only: a model brings its own basis and has
    no landmark stage.

    Raises:
      ValueError: unknown method, or ``model`` without a usable checkpoint.
    """
    method = method or ("model" if checkpoint else "fit")
    if method == "fit":
        basis = None if basis_path is None else detail_basis.load_detail_basis(basis_path)
        return FitBackend(faces.load_assets(ict_dir, basis=basis), refine_steps, fit_config, ict_dir)
    if method == "model":
        from hiface_jax.app import model_backend

        return model_backend.ModelBackend.from_checkpoint(checkpoint, ict_dir, refine_steps)
    raise ValueError(f"unknown method {method!r}: use 'fit' or 'model'")
