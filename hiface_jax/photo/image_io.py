"""Robust reading of user photos into (H, W, 3) uint8 RGB arrays.

Normalisation, in order:
- EXIF orientation is applied, so the array is upright as a viewer shows it.
- Multi-frame files (GIF, TIFF pages) give their first frame.
- Palette, bilevel, grayscale, CMYK and YCbCr become RGB.
- Transparency (RGBA, LA, palette with a transparent index) is composited over
  white, what a viewer shows, so a cut-out portrait keeps its dark hair
  distinct from the background and the landmarker sees what a person sees.
- 16-bit images are scaled to 8 bits by their bit depth (not clipped, as
  Pillow's own `convert` of gray 16-bit would). Floating-point and other
  exotic modes are refused: their range is not defined by the format.
- Images above `max_pixels` are downscaled (area filter, aspect kept) to at
  most `max_pixels`; a face crop needs no more, and it bounds memory. JPEGs
  are decoded at a reduced DCT scale first, so a huge JPEG never materialises
  at full size. Beyond `max_decode_pixels` (decompression-bomb territory) the
  file is refused before decoding.

Every failure raises `ImageReadError`, carrying the path and the reason.
"""

import os
import pathlib
import warnings

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pnm"})
DEFAULT_MIN_SIDE = 32  # below this a face crop cannot carry detail
DEFAULT_MAX_PIXELS = 4096 * 4096  # downscale target
DEFAULT_MAX_DECODE_PIXELS = 2 * Image.MAX_IMAGE_PIXELS  # Pillow's bomb limit

_WHITE = (255, 255, 255)


class ImageReadError(ValueError):
    """A file that could not be read as a usable photo.

    Attributes:
      path: the file.
      reason: what is wrong, in words.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def read_image(
    path: str | os.PathLike,
    *,
    min_side: int = DEFAULT_MIN_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_pixels: int = DEFAULT_MAX_DECODE_PIXELS,
) -> np.ndarray:
    """Reads an image file as an upright (H, W, 3) uint8 RGB array.

    Args:
      path: the file.
      min_side: refuse images whose shorter side is below this (pixels).
      max_pixels: downscale larger images to at most this many pixels.
      max_decode_pixels: refuse images larger than this without decoding.

    Raises:
      ImageReadError: missing, not a file, unreadable, not an image, corrupt or
        truncated, too small, too large, or an unsupported pixel format.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise ImageReadError(path, "file not found")
    if not path.is_file():
        raise ImageReadError(path, "not a regular file")
    try:
        with warnings.catch_warnings():
            # Size limits are enforced in _decode, with our own thresholds.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return _decode(img, path, min_side, max_pixels, max_decode_pixels)
    except ImageReadError:
        raise
    except PermissionError as e:
        raise ImageReadError(path, "permission denied") from e
    except Image.DecompressionBombError as e:
        raise ImageReadError(path, f"too large to decode safely ({e})") from e
    except Image.UnidentifiedImageError as e:
        raise ImageReadError(path, "not a recognised image format") from e
    except (OSError, SyntaxError, ValueError) as e:
        # Pillow reports truncated and damaged streams as OSError/SyntaxError.
        raise ImageReadError(path, f"corrupt or truncated image ({e})") from e


def _decode(img: Image.Image, path: pathlib.Path, min_side: int, max_pixels: int, max_decode_pixels: int) -> np.ndarray:
    width, height = img.size
    if min(width, height) < min_side:
        raise ImageReadError(path, f"too small: {width}x{height}, need both sides >= {min_side}")
    if width * height > max_decode_pixels:
        raise ImageReadError(path, f"too large: {width}x{height} exceeds {max_decode_pixels} pixels")
    if width * height > max_pixels and img.format == "JPEG":
        # DCT-domain downscale by a power of two, staying above the target.
        scale = np.sqrt(max_pixels / (width * height))
        img.draft("RGB", (int(width * scale) + 1, int(height * scale) + 1))
    img.load()
    img = ImageOps.exif_transpose(img)
    rgb = _to_rgb_uint8(img, path)
    return _limit_pixels(rgb, max_pixels)


def _to_rgb_uint8(img: Image.Image, path: pathlib.Path) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB."""
    if img.mode.startswith("I"):
        return _wide_gray_to_rgb(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, _WHITE + (255,))
        img = Image.alpha_composite(background, img).convert("RGB")
    if img.mode not in ("RGB", "L", "1", "CMYK", "YCbCr"):
        raise ImageReadError(path, f"unsupported pixel format {img.mode!r}")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _wide_gray_to_rgb(img: Image.Image) -> np.ndarray:
    """16/32-bit integer gray ('I;16*', 'I') scaled by bit depth to uint8."""
    values = np.clip(np.asarray(img).astype(np.int64), 0, None)
    # 'I' (32-bit) often holds 16-bit data (PGM, some TIFF writers); only
    # values beyond 16 bits make it a genuine 32-bit image.
    is_16_bit = img.mode.startswith("I;16") or values.max(initial=0) < 1 << 16
    gray = (values >> (8 if is_16_bit else 24)).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def _limit_pixels(image: np.ndarray, max_pixels: int) -> np.ndarray:
    height, width = image.shape[:2]
    if height * width <= max_pixels:
        return image
    scale = np.sqrt(max_pixels / (height * width))
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def list_images(folder: str | os.PathLike, *, recursive: bool = False) -> list[pathlib.Path]:
    """Image files in `folder`, by suffix, in a deterministic order.

    Sorted by their path relative to `folder` (as POSIX strings), so the order
    is the same on every file system. Hidden files (".*", e.g. macOS "._x.jpg"
    resource forks) are skipped.

    Raises:
      NotADirectoryError: `folder` is not a directory.
    """
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")
    candidates = root.rglob("*") if recursive else root.iterdir()
    found = [
        p
        for p in candidates
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())
