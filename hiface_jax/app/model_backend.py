"""The ``model`` backend: a trained HiFace regressor (``hiface_jax.model``) on aligned crops.

One jitted forward pass gives coarse ``FaceParams`` and SD-DeTail codes; the model's own
(possibly learned) detail maps and blend replace the default basis in ``FaceAssets``, and
crops are made at the model's input size with its camera.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hiface_jax.app import backends, faces
from hiface_jax.fit.photo_fit import _stack as stack_crops
from hiface_jax.photo import preprocess
from hiface_jax.sddetail import detail


def split_codes(static_code: jax.Array, dynamic_code: jax.Array, num_compress: int) -> detail.DetailCodes:
    """The model's (B, K) static and (B, Kc + Kt) dynamic codes (compress first) as ``DetailCodes``."""
    return detail.DetailCodes(static_code, dynamic_code[..., :num_compress], dynamic_code[..., num_compress:])


def model_assets(model, ict_dir: str | None = None) -> faces.FaceAssets:
    """``FaceAssets`` at the model's crop size with the model's detail basis and blend.

    Raises:
      ValueError: the model has no SD-DeTail detail (the coarse-only and DECA baselines).
    """
    if model.detail_kind != "sddetail":
        raise ValueError(f"the app needs an SD-DeTail model; this checkpoint's detail is {model.detail_kind!r}")
    cfg = model.sddetail.config
    return faces.load_assets(
        ict_dir, model.image_size, model.sddetail.basis(), float(cfg.tension_scale), float(cfg.tension_bias)
    )


@nnx.jit
def _forward(model, images: jax.Array):
    out = model(images)
    return out.params, out.static_code, out.dynamic_code


class ModelBackend:
    """A trained model: forward pass ("model" time), then ``refine_steps`` photometric steps."""

    name = "model"

    def __init__(self, model, assets: faces.FaceAssets, refine_steps: int = 0):
        self.model, self.assets, self.refine_steps = model, assets, refine_steps
        self.timings = {"model": 0.0, "refinement": 0.0}

    @classmethod
    def from_checkpoint(cls, checkpoint: str | None, ict_dir: str | None, refine_steps: int) -> ModelBackend:
        model = load_model(checkpoint)
        return cls(model, model_assets(model, ict_dir), refine_steps)

    def predict(self, images: np.ndarray) -> faces.Estimate:
        """(B, S, S, 3) uint8 crops -> estimates, no refinement."""
        x = jnp.asarray(np.asarray(images, np.float32) / 255.0)
        params, static, dynamic = _forward(self.model, x)
        return faces.Estimate(params, split_codes(static, dynamic, self.assets.basis.num_compress))

    def estimate(self, crops: list[preprocess.FaceCrop]) -> faces.Estimate:
        images = np.stack([c.image for c in crops])
        est, self.timings["model"] = backends.timed(self.predict, images)
        params, self.timings["refinement"] = backends.timed(
            backends.refine, self.assets, stack_crops(crops), est.params, self.refine_steps
        )
        return est.replace(params=params)


def load_model(checkpoint: str | None):
    """The trained model of a training workdir (or one of its checkpoint folders).

    Raises:
      ValueError: no checkpoint given, or none readable there.
    """
    if not checkpoint:
        raise ValueError("--method model needs --checkpoint (a training workdir)")
    try:
        from hiface_jax.model import predict
    except ImportError as e:
        raise ValueError(f"--method model needs hiface_jax.model.predict, not available here ({e})") from e
    return predict.load_model(checkpoint)
