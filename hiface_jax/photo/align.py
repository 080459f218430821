"""Similarity alignment of a face to a square crop, and the face mask.

Pure NumPy/OpenCV functions; no detector here. Every pixel coordinate taken or
returned by this module (and by `preprocess` and `landmark_detector`) uses the
project's convention (docs/ARCHITECTURE.md, `hiface_jax.geometry.camera`): (0, 0) is
the top-left corner of the top-left pixel, x right, y down, and pixel (i, j)
is the unit square [j, j + 1] x [i, i + 1], centred on (j + 0.5, i + 0.5); the
image spans [0, W] x [0, H]. Transforms are 3x3 homogeneous matrices acting on
column vectors (x, y, 1) and map such coordinates to such coordinates.

OpenCV (and scikit-image) put pixel (i, j)'s centre at (j, i) instead; that
convention appears only inside this module, next to the cv2 calls, converted
by `to_pixel_centre_transform`.
"""

from collections.abc import Sequence

import cv2
import numpy as np

# Eye corners (MediaPipe indices): stable under gaze, unlike the iris centres.
RIGHT_EYE_CORNERS = (33, 133)  # subject's right eye, on the image's left
LEFT_EYE_CORNERS = (362, 263)


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Applies a (3, 3) affine `transform` to (N, 2) points; returns (N, 2)."""
    return points @ transform[:2, :2].T + transform[:2, 2]


def to_pixel_centre_transform(transform: np.ndarray) -> np.ndarray:
    """A (3, 3) transform in this module's convention, as OpenCV's (2, 3) one.

    If `transform` maps corner-convention points p to q, the result maps the
    same points in OpenCV's centre convention, p - 0.5 to q - 0.5:
    T(-0.5) @ transform @ T(+0.5), T(d) translating by (d, d).
    """
    out = np.array(transform[:2], np.float64)
    out[:, 2] += 0.5 * out[:, :2].sum(1) - 0.5
    return out


def crop_transform(center: np.ndarray, side: float, angle: float, size: int) -> np.ndarray:
    """Original-to-crop similarity for a square window.

    Args:
      center: (2,) window centre in original pixels.
      side: window side length in original pixels.
      angle: in-plane rotation of the window in radians; the crop's x axis
        points along (cos angle, sin angle) in the original image.
      size: output crop side S in pixels.

    Returns:
      (3, 3) matrix mapping original pixels to crop pixels; the window centre
      lands on the crop centre (S / 2, S / 2).
    """
    scale = size / side
    cos, sin = np.cos(angle), np.sin(angle)
    linear = scale * np.array([[cos, sin], [-sin, cos]])
    out = np.eye(3)
    out[:2, :2] = linear
    out[:2, 2] = size / 2 - linear @ np.asarray(center, np.float64)
    return out


def face_crop_transform(landmarks_478: np.ndarray, size: int, margin: float, upright: bool) -> np.ndarray:
    """Original-to-crop similarity that fits all 478 landmarks with a margin.

    The rotation comes from the eye-corner line (so the eyes are horizontal in
    the crop when `upright`); the window is the square around the landmarks'
    bounding box in that rotated frame, its side `margin` times the larger
    extent. Using the box of all points rather than a fixed template keeps the
    whole face in view for any yaw, pitch or open mouth.

    Args:
      landmarks_478: (478, 2) MediaPipe landmarks in original pixels.
      size: crop side S.
      margin: window side over the landmarks' larger extent (>= 1).
      upright: rotate so the eye line is horizontal; otherwise axis-aligned.

    Returns:
      (3, 3) original-to-crop matrix.
    """
    pts = np.asarray(landmarks_478, np.float64)
    angle = _eye_line_angle(pts) if upright else 0.0
    cos, sin = np.cos(angle), np.sin(angle)
    to_frame = np.array([[cos, sin], [-sin, cos]])  # rotates by -angle
    rotated = pts @ to_frame.T
    lo, hi = rotated.min(0), rotated.max(0)
    center = to_frame.T @ ((lo + hi) / 2)
    side = margin * float(np.max(hi - lo))
    return crop_transform(center, side, angle, size)


def _eye_line_angle(landmarks_478: np.ndarray) -> float:
    right = landmarks_478[list(RIGHT_EYE_CORNERS)].mean(0)
    left = landmarks_478[list(LEFT_EYE_CORNERS)].mean(0)
    dx, dy = left - right
    return float(np.arctan2(dy, dx))


def warp(image: np.ndarray, original_to_crop: np.ndarray, size: int) -> np.ndarray:
    """Resamples `image` (H, W, C) uint8 into the (size, size, C) crop.

    Bilinear; when the crop shrinks the window by more than 2x, the image is
    first area-averaged so the crop does not alias. Outside the image is black.
    """
    scale = float(np.sqrt(abs(np.linalg.det(original_to_crop[:2, :2]))))
    if scale < 0.5:
        # Shrink only the part the crop sees (plus the filter's reach), not the
        # whole photo, which may be large and hold many faces.
        image, to_part = _window_part(image, original_to_crop, size, pad=int(np.ceil(2 / scale)) + 2)
        image, to_small = _area_downscale(image, 2 * scale)
        original_to_crop = original_to_crop @ np.linalg.inv(to_small @ to_part)
    return cv2.warpAffine(
        image,
        to_pixel_centre_transform(original_to_crop),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def _window_part(image: np.ndarray, original_to_crop: np.ndarray, size: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of the image under the crop window, padded, and its (3, 3) map.

    The window must overlap the image.
    """
    corners = np.array([[0.0, 0.0], [size, 0.0], [0.0, size], [size, size]])
    xy = transform_points(np.linalg.inv(original_to_crop), corners)
    height, width = image.shape[:2]
    x0, y0 = np.clip(np.floor(xy.min(0)).astype(int) - pad, 0, [width, height])
    x1, y1 = np.clip(np.ceil(xy.max(0)).astype(int) + pad + 1, 0, [width, height])
    to_part = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1]])
    return image[y0:y1, x0:x1], to_part


def _area_downscale(image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Shrinks by about `factor` (< 1); returns the image and the (3, 3) map."""
    height, width = image.shape[:2]
    out_w = max(1, round(width * factor))
    out_h = max(1, round(height * factor))
    # With an explicit size, cv2 scales by exactly out/in, mapping the image
    # edges to the image edges: x' = f x in corner coordinates (OpenCV's
    # centre-convention x' = f (x + 0.5) - 0.5). Given fx/fy, it would use
    # those instead and disagree with the rounded size.
    small = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA)
    fx, fy = out_w / width, out_h / height
    to_small = np.diag([fx, fy, 1.0])
    return small, to_small


def polygon_mask(polygons: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Anti-aliased union of filled polygons, (size, size) float32 in [0, 1].

    Args:
      polygons: each (K, 2) vertices in crop pixels.
      size: mask side.
    """
    canvas = np.zeros((size, size), np.uint8)
    shift = 4  # sub-pixel vertex precision for cv2.fillPoly
    # fillPoly's fixed-point vertices put integer values on pixel centres
    # (OpenCV's convention), half a pixel left of and above ours.
    rings = [np.round((np.asarray(p) - 0.5) * (1 << shift)).astype(np.int32) for p in polygons]
    cv2.fillPoly(canvas, rings, 255, lineType=cv2.LINE_AA, shift=shift)
    return canvas.astype(np.float32) / 255.0


def inside_image_mask(image_shape: tuple[int, ...], original_to_crop: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32: 1 where the crop samples real pixels, 0 padding."""
    ones = np.ones(image_shape[:2], np.float32)
    return cv2.warpAffine(
        ones,
        to_pixel_centre_transform(original_to_crop),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
