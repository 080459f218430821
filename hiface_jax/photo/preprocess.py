"""Real photo -> aligned square face crops with landmarks and a face mask.

    with FaceLandmarkDetector() as detector:
      for face in preprocess_file("photo.jpg", detector):
        face.image            # (224, 224, 3) uint8, the network input
        face.landmarks_68     # (68, 2) iBUG order, crop pixels
        face.crop_to_original # (3, 3): crop pixels -> photo pixels

Pixel coordinates follow the project's convention, described in `align`: (0, 0)
is the top-left corner of the top-left pixel and pixel (i, j) is centred on
(j + 0.5, i + 0.5). So crop pixel (i, j) shows the photo at
`crop_to_original @ (j + 0.5, i + 0.5, 1)`, and landmarks compare directly with
`hiface_jax.geometry.camera` projections.
"Original" pixels are those of the array the detector saw: for files, the
upright (EXIF-rotated) and possibly downscaled image `read_image` returns.
"""

import dataclasses
import os

import numpy as np

from hiface_jax.photo import align, image_io
from hiface_jax.photo import landmark_detector as ld

DEFAULT_SIZE = 224
# Crop side over the larger extent of the 478 landmarks (forehead to chin):
# the face fills 80% of the crop, leaving the silhouette and some context.
DEFAULT_MARGIN = 1.25


@dataclasses.dataclass(frozen=True)
class FaceCrop:
    """One aligned face.

    Attributes:
      image: (S, S, 3) uint8 RGB crop.
      landmarks_478: (478, 2) float32 MediaPipe landmarks, crop pixels.
      landmarks_68: (68, 2) float32 iBUG-order landmarks, crop pixels.
      mask: (S, S) float32 in [0, 1]: the face-oval polygon of the landmarks,
        minus the eye openings and the inner mouth, times the part of the crop
        that lies inside the photo. Anti-aliased edges.
      crop_to_original: (3, 3) float64, crop pixels -> original pixels.
      source: path of the photo, or None for an in-memory image.
      score: detector confidence in [0, 1].
    """

    image: np.ndarray
    landmarks_478: np.ndarray
    landmarks_68: np.ndarray
    mask: np.ndarray
    crop_to_original: np.ndarray
    source: str | None
    score: float


def align_face(
    image: np.ndarray,
    face: ld.DetectedFace,
    *,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    upright: bool = True,
    source: str | None = None,
) -> FaceCrop:
    """Crops one detected face out of an (H, W, 3) uint8 image.

    Args:
      image: the photo the face was detected in.
      face: its detection (landmarks in original pixels).
      size: crop side S.
      margin: crop side over the landmarks' larger extent.
      upright: rotate so the eye line is horizontal.
      source: recorded in the result.
    """
    to_crop = align.face_crop_transform(face.landmarks_478, size, margin, upright)
    landmarks = align.transform_points(to_crop, face.landmarks_478.astype(np.float64)).astype(np.float32)
    return FaceCrop(
        image=align.warp(image, to_crop, size),
        landmarks_478=landmarks,
        landmarks_68=ld.mediapipe_to_ibug68(landmarks),
        mask=face_mask(landmarks, size) * align.inside_image_mask(image.shape, to_crop, size),
        crop_to_original=np.linalg.inv(to_crop),
        source=source,
        score=face.score,
    )


def face_mask(landmarks_478: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 mask from (478, 2) crop-pixel landmarks.

    The face oval, without the eye openings and the inner mouth, which the
    face-area mesh does not model (eyeballs, teeth and tongue are separate
    meshes or absent), so a photometric loss should not compare them.
    """

    def ring(indices):
        return landmarks_478[list(indices)]

    oval = align.polygon_mask([ring(ld.FACE_OVAL_RING)], size)
    holes = align.polygon_mask([ring(ld.RIGHT_EYE_RING), ring(ld.LEFT_EYE_RING), ring(ld.INNER_LIPS_RING)], size)
    return oval * (1.0 - holes)


def preprocess_image(
    image: np.ndarray,
    detector: ld.FaceLandmarkDetector,
    *,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    upright: bool = True,
    source: str | None = None,
) -> list[FaceCrop]:
    """Every face in an (H, W, 3) uint8 RGB image, left to right.

    Raises:
      NoFaceFoundError: no face at all.
    """
    faces = detector.detect(image)
    if not faces:
        where = f" in {source}" if source else ""
        raise ld.NoFaceFoundError(f"no face found{where}")
    return [align_face(image, face, size=size, margin=margin, upright=upright, source=source) for face in faces]


def preprocess_file(
    path: str | os.PathLike,
    detector: ld.FaceLandmarkDetector,
    *,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    upright: bool = True,
) -> list[FaceCrop]:
    """`preprocess_image` on `image_io.read_image(path)`.

    Raises:
      ImageReadError: the file is not a usable image.
      NoFaceFoundError: no face in it.
    """
    image = image_io.read_image(path)
    return preprocess_image(image, detector, size=size, margin=margin, upright=upright, source=os.fspath(path))
