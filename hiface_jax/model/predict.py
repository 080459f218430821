"""A trained HiFace from its training workdir, for inference.

    predictor = load_predictor("runs/tiny")            # or runs/tiny/checkpoints/300
    out = predictor(crops)                              # (B, S, S, 3) uint8 aligned crops
    out.vertices (B, N, 3) cm   out.displacement (B, H, W) cm   out.landmarks (B, 68, 2) px

The workdir's ``config.json`` rebuilds the model (face model and detail basis from this
machine, as in training); the newest intact checkpoint (or the one named) fills its
parameters. Corrupt checkpoints are skipped with a message, never moved: reading a
workdir changes nothing in it. Crops of another size than the model's input (e.g.
``photo.preprocess``'s 224 px for a 96 px model) are resized bilinearly, and landmarks
come back in the crops' pixels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hiface_jax.fit.fitting import FaceParams
from hiface_jax.model import hiface


@dataclasses.dataclass
class Prediction:
    """What the model predicts for B crops (numpy).

    Attributes:
      vertices: (B, N, 3) coarse mesh posed in the crop's camera (``FitCamera``), cm.
      rest_vertices: (B, N, 3) the same mesh in the face model's frame, cm.
      displacement: (B, H, W) UV detail displacement, cm; displacement_static: its static part.
      landmarks: (B, 68, 2) projected landmarks, pixels of the input crops.
      params: ``FaceParams`` of the batch.
    """

    vertices: np.ndarray
    rest_vertices: np.ndarray
    displacement: np.ndarray
    displacement_static: np.ndarray
    landmarks: np.ndarray
    params: FaceParams


def _locate(path: str | Path) -> tuple[Path, int | None]:
    """A workdir or one of its checkpoint folders -> (workdir, step or None for the newest)."""
    from hiface_jax.train.checkpoint import CONFIG_FILE

    path = Path(path)
    if (path / CONFIG_FILE).exists():
        return path, None
    if path.name.isdigit() and path.parent.name == "checkpoints" and (path.parent.parent / CONFIG_FILE).exists():
        return path.parent.parent, int(path.name)
    raise FileNotFoundError(f"{path} is neither a training workdir (with {CONFIG_FILE}) nor its checkpoints/<step>")


def load_model(path: str | Path, log=print) -> hiface.HiFace:
    """The trained model of a workdir (newest intact checkpoint) or of ``WORKDIR/checkpoints/<step>``.

    Raises:
      FileNotFoundError: not a workdir, or no intact checkpoint in it.
    """
    from hiface_jax.train import checkpoint, train_state

    workdir, step = _locate(path)
    config = checkpoint.load_config(workdir)
    graphdef, constants, state = train_state.create(config)
    saver = checkpoint.Checkpointer(workdir, read_only=True)
    try:
        if step is None:
            restored = saver.restore_latest({"state": state}, log=log, move_corrupt=False)
            if restored is None:
                raise FileNotFoundError(f"no intact checkpoint in {workdir / 'checkpoints'}")
            tree = restored[1]
        else:
            tree = saver.restore(step, {"state": state})[0]
    finally:
        saver.close()
    return train_state.merge(graphdef, constants, tree["state"])[0]


@nnx.jit
def _forward(model: hiface.HiFace, images: jax.Array) -> hiface.Output:
    return model(images)


class Predictor:
    """``predictor(crops)`` -> ``Prediction`` (see the module docstring)."""

    def __init__(self, model: hiface.HiFace):
        self.model = model

    def __call__(self, crops: np.ndarray) -> Prediction:
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[-1] != 3 or crops.shape[1] != crops.shape[2] or crops.dtype != np.uint8:
            raise ValueError(f"crops must be uint8 (B, S, S, 3), got {crops.dtype} {crops.shape}")
        size = self.model.image_size
        images = jnp.asarray(crops, jnp.float32) / 255.0
        if crops.shape[1] != size:
            images = jax.image.resize(images, (len(crops), size, size, 3), "linear", antialias=True)
        out = jax.device_get(_forward(self.model, images))
        return Prediction(
            vertices=np.asarray(out.vertices),
            rest_vertices=np.asarray(out.rest_vertices),
            displacement=np.asarray(out.displacement),
            displacement_static=np.asarray(out.displacement_static),
            landmarks=np.asarray(out.landmarks) * (crops.shape[1] / size),
            params=out.params,
        )


def load_predictor(path: str | Path, log=print) -> Predictor:
    """A ``Predictor`` of the model ``load_model(path)`` loads."""
    return Predictor(load_model(path, log=log))
