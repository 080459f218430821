"""Backgrounds from real images: a bank of photographs, cropped, zoomed, flipped,
colour-jittered and defocused per sample on device.

The default bank is the public-domain images shipped in scikit-image (cat, coffee,
rocket, motorcycle, textures, astronomy, microscopy, text...; the astronaut is left out
because it shows a face). Users add a folder of their own (``SyntheticConfig.backgrounds``).
Grey images get a random tint. One sample in five gets a plain wall instead (a smooth
two-colour gradient), as in studio portraits.

The bank enters the jitted sampler as one uint8 array (N, H, H, 3); a sample draws an
index into it (``background_id`` in the ground truth; -1 for a plain wall).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from hiface_jax.face.albedo import srgb_to_linear_jax
from hiface_jax.photo import image_io

# scikit-image's bundled images (public domain / CC0, see skimage/data/README.txt).
PACKAGED = (
    "chelsea", "coffee", "rocket", "stereo_motorcycle", "brick", "grass", "gravel", "camera", "coins", "moon",
    "hubble_deep_field", "page", "text", "immunohistochemistry", "clock", "cell",
)  # fmt: skip
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MAX_USER_IMAGES = 512
PLAIN_WALL_PROBABILITY = 0.2


class BackgroundError(ValueError):
    """No usable background image, with the reason."""


def _square(image: np.ndarray, side: int) -> np.ndarray:
    """Largest centred square, resized to side x side, as (side, side, 3) uint8 RGB."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, -1)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    image = image[..., :3]
    h, w = image.shape[:2]
    m = min(h, w)
    y0, x0 = (h - m) // 2, (w - m) // 2
    crop = Image.fromarray(np.ascontiguousarray(image[y0 : y0 + m, x0 : x0 + m]))
    return np.asarray(crop.resize((side, side), Image.Resampling.LANCZOS))


def packaged_images() -> list[tuple[str, np.ndarray]]:
    """(name, image) of the scikit-image backgrounds available here (no download)."""
    import skimage.data

    out = []
    for name in PACKAGED:
        try:
            image = getattr(skimage.data, name)()
        except (AttributeError, OSError, ValueError):
            continue  # not bundled in this scikit-image version
        out.append((name, image[0] if isinstance(image, tuple) else image))
    return out


def folder_images(folder: str | os.PathLike) -> list[tuple[str, np.ndarray]]:
    """(path, image) of the images in a folder (recursive, sorted, at most MAX_USER_IMAGES).

    Unreadable files are skipped with a warning; a folder without any usable image is a
    ``BackgroundError``.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise BackgroundError(f"backgrounds folder {root} does not exist or is not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    out, skipped = [], []
    for path in files[:MAX_USER_IMAGES]:
        try:
            out.append((str(path), image_io.read_image(path, min_side=32)))
        except image_io.ImageReadError as e:
            skipped.append(str(e))
    if skipped:
        print(f"backgrounds: skipped {len(skipped)} unreadable file(s), e.g. {skipped[0]}")
    if not out:
        raise BackgroundError(f"no readable image in {root} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return out


def background_bank(folder: str | os.PathLike | None, side: int) -> tuple[np.ndarray, list[str]]:
    """(N, side, side, 3) uint8 bank and the image names: the packaged images, plus the
    folder's when given."""
    images = packaged_images() + (folder_images(folder) if folder else [])
    if not images:
        raise BackgroundError("no background images: scikit-image's bundled data is missing and no folder was given")
    return np.stack([_square(im, side) for _, im in images]), [n for n, _ in images]


def _bilinear(image: jnp.ndarray, rows: jnp.ndarray, cols: jnp.ndarray) -> jnp.ndarray:
    """(H, W, C) image at fractional pixel coordinates (centres at integers), edge clamped."""
    h, w = image.shape[:2]
    r0, c0 = jnp.floor(rows), jnp.floor(cols)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    r0i, c0i = jnp.clip(r0.astype(jnp.int32), 0, h - 1), jnp.clip(c0.astype(jnp.int32), 0, w - 1)
    r1i, c1i = jnp.clip(r0i + 1, 0, h - 1), jnp.clip(c0i + 1, 0, w - 1)
    at = lambda r, c: image[r, c].astype(jnp.float32)
    return (at(r0i, c0i) * (1 - fc) + at(r0i, c1i) * fc) * (1 - fr) + (at(r1i, c0i) * (1 - fc) + at(r1i, c1i) * fc) * fr


def sample_backgrounds(key: jax.Array, bank: jnp.ndarray, batch: int, size: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(batch, size, size, 3) linear-RGB backgrounds and their bank ids (-1: plain wall).

    A random square crop of 45-100% of a bank image (random place, mirrored half the
    time), brightness x U(0.45, 1.25), saturation x U(0.5, 1.3) (grey images get a
    random tint), not yet blurred (``camera_effects`` defocuses it).
    """
    k = jax.random.split(key, 9)
    n, side = bank.shape[0], bank.shape[1]
    ids = jax.random.randint(k[0], (batch,), 0, n)
    zoom = jax.random.uniform(k[1], (batch,), minval=0.45, maxval=1.0) * side
    corner = jax.random.uniform(k[2], (batch, 2)) * (side - zoom)[:, None]
    flip = jax.random.bernoulli(k[3], 0.5, (batch,))
    t = (jnp.arange(size) + 0.5) / size

    def crop(i, z, c, f):
        rows = c[0] + t * z - 0.5
        cols = c[1] + jnp.where(f, 1.0 - t, t) * z - 0.5
        return _bilinear(bank[i], *jnp.meshgrid(rows, cols, indexing="ij"))

    photo = srgb_to_linear_jax(jax.vmap(crop)(ids, zoom, corner, flip) / 255.0)
    grey = photo.mean(-1, keepdims=True)
    tint = jax.random.uniform(k[4], (batch, 1, 1, 3), minval=0.6, maxval=1.4)
    is_grey = (jnp.max(jnp.abs(photo - grey), axis=(1, 2, 3), keepdims=True) < 1e-3)
    saturation = jax.random.uniform(k[5], (batch, 1, 1, 1), minval=0.5, maxval=1.3)
    photo = jnp.where(is_grey, grey * tint, grey + (photo - grey) * saturation)
    photo = photo * jax.random.uniform(k[6], (batch, 1, 1, 1), minval=0.45, maxval=1.25)
    wall = plain_walls(k[7], batch, size)
    use_wall = jax.random.bernoulli(k[8], PLAIN_WALL_PROBABILITY, (batch,))
    out = jnp.where(use_wall[:, None, None, None], wall, photo)
    return jnp.clip(out, 0.0, 1.0), jnp.where(use_wall, -1, ids)


def plain_walls(key: jax.Array, batch: int, size: int) -> jnp.ndarray:
    """(batch, size, size, 3) smooth two-colour gradients (muted colours, linear RGB)."""
    k = jax.random.split(key, 4)
    yy, xx = jnp.meshgrid(jnp.linspace(0, 1, size), jnp.linspace(0, 1, size), indexing="ij")
    grey = jax.random.uniform(k[0], (batch, 1, 1, 1), minval=0.05, maxval=0.85)
    c0 = grey * jax.random.uniform(k[1], (batch, 1, 1, 3), minval=0.75, maxval=1.25)
    c1 = c0 * jax.random.uniform(k[2], (batch, 1, 1, 3), minval=0.6, maxval=1.3)
    angle = jax.random.uniform(k[3], (batch, 1, 1), maxval=2 * math.pi)
    ramp = jnp.clip(jnp.cos(angle) * (xx - 0.5) + jnp.sin(angle) * (yy - 0.5) + 0.5, 0, 1)[..., None]
    return (c0 + (c1 - c0) * ramp) ** 2.2
