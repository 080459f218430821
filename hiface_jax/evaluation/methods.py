"""Reconstruction methods the evaluation compares, behind one small protocol.

A method maps a batch of benchmark images to meshes in the ICT topology:

    method = make_method("fit", context)             # or "mean", "model:WORKDIR", ...
    prediction = method.predict(images, intrinsics)  # (B, S, S, 3) uint8 sRGB, benchmark camera
    prediction.vertices      # (B, 26719 or 11248, 3), any units and pose (scored after alignment)
    prediction.displacement  # optional (B, H, W) cm UV displacement (detail metrics), with
    prediction.displacement_static  # its static part, if the method separates it
    prediction.failures      # (B,) None, or why that image has no prediction
    method.close()

Methods are registered by name; ``--methods name[:checkpoint],...`` on the command line
picks them (``parse_method_spec``). A new method is a factory taking the
``MethodContext`` and the checkpoint string (or None):

    @register("mine", "what it is")
    def _mine(context, checkpoint):
        return MyMethod(load(checkpoint), context.model)

Registered here: ``mean`` (the ICT mean face for every image: the floor any method
must beat), ``fit`` (analysis-by-synthesis through ``hiface_jax.fit.fitting``'s public
stages on landmarks that MediaPipe detects in the image) and ``model:WORKDIR`` (a
trained encoder through ``hiface_jax.model.predict``, on crops aligned by
``photo.preprocess``, as it was trained).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax.evaluation.benchmark_split import Intrinsics
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import face_model as fm
from hiface_jax.face import face_render
from hiface_jax.fit import fitting
from hiface_jax.photo import landmark_detector as ld
from hiface_jax.photo import preprocess


@dataclasses.dataclass
class Prediction:
    """What a method returns for B images (see the module docstring)."""

    vertices: np.ndarray
    failures: list[str | None]
    displacement: np.ndarray | None = None
    displacement_static: np.ndarray | None = None


class Method(Protocol):
    name: str

    def predict(self, images: np.ndarray, intrinsics: Intrinsics) -> Prediction: ...

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class MethodContext:
    """What factories may use: the full face model and per-method options."""

    model: fm.FaceModel
    fit_config: fitting.FitConfig = dataclasses.field(default_factory=fitting.FitConfig)
    batch_size: int = 4


MethodFactory = Callable[[MethodContext, "str | None"], Method]
_REGISTRY: dict[str, tuple[MethodFactory, str]] = {}


def register(name: str, description: str) -> Callable[[MethodFactory], MethodFactory]:
    """Decorator: registers a method factory under ``name``."""

    def add(factory: MethodFactory) -> MethodFactory:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = (factory, description)
        return factory

    return add


def available() -> dict[str, str]:
    """Registered method names and their descriptions."""
    return {name: description for name, (_, description) in _REGISTRY.items()}


def parse_method_spec(spec: str) -> tuple[str, str | None]:
    """``"name"`` -> (name, None); ``"name:checkpoint"`` -> (name, checkpoint)."""
    name, _, checkpoint = spec.strip().partition(":")
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(_REGISTRY)}")
    return name, checkpoint or None


def make_method(spec: str, context: MethodContext) -> Method:
    name, checkpoint = parse_method_spec(spec)
    return _REGISTRY[name][0](context, checkpoint)


def _no_checkpoint(name: str, checkpoint: str | None) -> None:
    if checkpoint is not None:
        raise ValueError(f"method {name!r} takes no checkpoint, got {checkpoint!r}")


# ----------------------------------------------------------------------- the methods


class MeanFace:
    """The ICT mean face for every image."""

    name = "mean"

    def __init__(self, model: fm.FaceModel):
        self.vertices = np.asarray(model.mean_shape, np.float32)

    def predict(self, images: np.ndarray, intrinsics: Intrinsics) -> Prediction:
        return Prediction(np.broadcast_to(self.vertices, (len(images),) + self.vertices.shape), [None] * len(images))

    def close(self) -> None:
        pass


@register("mean", "the ICT mean face for every image (the floor)")
def _mean(context: MethodContext, checkpoint: str | None) -> Method:
    _no_checkpoint("mean", checkpoint)
    return MeanFace(context.model)


def detect_landmarks(detector: ld.FaceLandmarkDetector, image: np.ndarray) -> ld.DetectedFace | None:
    """The most confident face in an image (478 landmarks, blendshape scores), or None."""
    faces = detector.detect(np.ascontiguousarray(image))
    return max(faces, key=lambda f: f.score) if faces else None


class Fitter:
    """Analysis-by-synthesis (``fitting.fit_detected``: the landmark then the photometric
    stage) on MediaPipe's landmarks and blendshape scores, in the benchmark's own camera; batches padded to a fixed
    size so each stage compiles once."""

    name = "fit"

    def __init__(self, model: fm.FaceModel, config: fitting.FitConfig, batch_size: int):
        self.full, self.skin = model, model.submesh()
        self.config, self.batch_size = config, batch_size
        self.detector = ld.FaceLandmarkDetector()
        # Resolved once (from the cache after the first time), not at every batch.
        self.embedding = fitting.landmark_embedding(self.skin, config) if config.use_dense else None
        self._renderers: dict[tuple[int, float], face_render.FaceRenderer] = {}
        s = self.skin
        self.layout = albedo_lib.albedo_layout(
            np.asarray(s.uv_coords), np.asarray(s.uv_triangles), np.asarray(s.triangles),
            np.asarray(s.landmark_indices), s.num_vertices, 256,
        )  # fmt: skip

    def _renderer(self, cam: fitting.FitCamera) -> face_render.FaceRenderer:
        key = (cam.image_size, cam.fov_degrees)
        if key not in self._renderers:
            self._renderers[key] = face_render.make_renderer(self.skin, cam.image_size, cam.fov_degrees)
        return self._renderers[key]

    def fit(
        self, images: np.ndarray, intrinsics: Intrinsics
    ) -> tuple[list[ld.DetectedFace | None], fitting.FaceParams | None, np.ndarray]:
        """Detects and fits B images: the detections (None where no face was found), the fitted
        parameters of the found faces in image order (None if there were none) and their indices."""
        cam = fitting.FitCamera(intrinsics.image_size, intrinsics.fov_degrees)
        found = [detect_landmarks(self.detector, im) for im in images]
        ok = np.array([k for k, lmk in enumerate(found) if lmk is not None], np.int64)
        fitted = []
        for start in range(0, len(ok), self.batch_size):
            chunk = list(ok[start : start + self.batch_size])
            padded = chunk + [chunk[-1]] * (self.batch_size - len(chunk))
            lmk478 = np.stack([found[k].landmarks_478 for k in padded])
            scores = np.stack([found[k].blendshapes for k in padded])
            masks = jnp.asarray(np.stack([preprocess.face_mask(p, cam.image_size) for p in lmk478]), jnp.float32)
            photos = jnp.asarray(albedo_lib.srgb_to_linear(images[padded].astype(np.float32) / 255.0), jnp.float32)
            params, _ = fitting.fit_detected(
                self.skin, lmk478, scores, cam, self.config, photos, masks, self._renderer(cam), self.layout,
                embedding=self.embedding,
            )  # fmt: skip
            n = len(chunk)
            fitted.append(jax.tree.map(lambda x, n=n: np.asarray(x)[:n], params))
        params = jax.tree.map(lambda *x: np.concatenate(x), *fitted) if fitted else None
        return found, params, ok

    def predict(self, images: np.ndarray, intrinsics: Intrinsics) -> Prediction:
        found, params, ok = self.fit(images, intrinsics)
        vertices = np.zeros((len(images), self.full.num_vertices, 3), np.float32)
        failures = [None if lmk is not None else "no face detected" for lmk in found]
        if params is not None:
            vertices[ok] = np.asarray(fm.shape(self.full, params.identity, params.expression))
        for k in ok:
            if not np.isfinite(vertices[k]).all():
                failures[k] = "fit diverged (non-finite parameters)"
        return Prediction(vertices, failures)

    def close(self) -> None:
        self.detector.close()


@register("fit", "analysis-by-synthesis fit (hiface_jax.fit.fitting) of MediaPipe landmarks and the photo")
def _fit(context: MethodContext, checkpoint: str | None) -> Method:
    _no_checkpoint("fit", checkpoint)
    return Fitter(context.model, context.fit_config, context.batch_size)


class TrainedModel:
    """A trained encoder (``hiface_jax.model.predict``) on aligned crops of the images."""

    name = "model"

    def __init__(self, predictor, detector: ld.FaceLandmarkDetector):
        self.predictor, self.detector = predictor, detector

    def predict(self, images: np.ndarray, intrinsics: Intrinsics) -> Prediction:
        crops, failures = [], []
        for image in images:
            try:
                crops.append(preprocess.preprocess_image(np.ascontiguousarray(image), self.detector)[0].image)
                failures.append(None)
            except ld.NoFaceFoundError:
                crops.append(np.zeros((preprocess.DEFAULT_SIZE, preprocess.DEFAULT_SIZE, 3), np.uint8))
                failures.append("no face detected")
        out = self.predictor(np.stack(crops))
        static = getattr(out, "displacement_static", None)
        return Prediction(np.asarray(out.vertices), failures, getattr(out, "displacement", None), static)

    def close(self) -> None:
        self.detector.close()


@register("model", "a trained encoder from a training workdir: model:WORKDIR")
def _model(context: MethodContext, checkpoint: str | None) -> Method:
    if checkpoint is None:
        raise ValueError("method 'model' needs a training workdir: --methods model:WORKDIR")
    try:
        from hiface_jax.model import predict
    except ImportError as e:
        raise ValueError(f"method 'model' needs hiface_jax.model.predict, which is not available here ({e})") from e
    return TrainedModel(predict.load_predictor(checkpoint), ld.FaceLandmarkDetector())
