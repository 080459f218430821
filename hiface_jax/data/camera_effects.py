"""What a camera does to a rendered image: exposure, white balance, lens blur, sensor
noise, the sRGB tone curve, 8-bit quantisation and JPEG compression. All jittable, with
per-sample parameters, so the on-device sampler produces photo-like pixels.

* Exposure: x 2^EV with EV = metering + N(0, 0.25) clipped to +-0.7. Metering is
  face-weighted auto exposure, partial (strength 0.55) so darker skin still photographs
  darker: it moves the face's expected luminance (skin albedo times the light on a
  camera-facing normal) 55% of the way (in stops) to mid-grey 0.18, in 1/64-stop steps.
  White balance: per-channel gains 1 + N(0, 0.04) (green fixed).
* Blur: Gaussian, sigma ~ 1.1 U^2 px at 224 px (scaled with the image size).
* Noise: Poisson-Gaussian on linear intensities, var = a x + b (shot and read noise),
  a ~ U(0, 0.003), b ~ U(0, 1.2e-4); drawn per pixel and channel.
* JPEG: with probability 0.85, quality U(30, 95): the baseline JPEG pipeline of the IJG
  library (JFIF YCbCr, 4:2:0 chroma, 8 x 8 DCT, the standard Annex K quantisation tables
  scaled by quality), done with matrix products on device; otherwise lossless.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax.face.albedo import linear_to_srgb

JPEG_PROBABILITY = 0.85

# ITU-T T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance), row-major.
JPEG_LUMA_TABLE = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float32,
).reshape(8, 8)  # fmt: skip
JPEG_CHROMA_TABLE = np.array(
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
     47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, np.float32,
).reshape(8, 8)  # fmt: skip


def gaussian_blur(images: jnp.ndarray, sigma: jnp.ndarray, radius: int) -> jnp.ndarray:
    """Separable Gaussian blur with a per-image sigma (px), edge-replicated borders.

    Args:
      images: (B, H, W, C).
      sigma: (B,) standard deviations; 0 leaves the image unchanged.
      radius: static half-width of the kernel (taps -radius..radius).
    """
    x = jnp.arange(-radius, radius + 1, dtype=images.dtype)
    s = jnp.maximum(sigma, 1e-3)[:, None]
    w = jnp.exp(-0.5 * (x[None] / s) ** 2)
    w = w / jnp.sum(w, -1, keepdims=True)  # (B, 2r+1)

    def along(img, axis):
        pad = [(0, 0)] * img.ndim
        pad[axis] = (radius, radius)
        p = jnp.pad(img, pad, mode="edge")
        n = img.shape[axis]
        out = 0.0
        for k in range(2 * radius + 1):
            out = out + w[:, k, None, None, None] * jax.lax.slice_in_dim(p, k, k + n, axis=axis)
        return out

    return along(along(images, 1), 2)


def _dct_matrix() -> np.ndarray:
    """(8, 8) orthonormal DCT-II: C[k, n] = a_k cos((2n + 1) k pi / 16)."""
    k, n = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    c = np.cos((2 * n + 1) * k * math.pi / 16) * np.sqrt(2.0 / 8.0)
    c[0] /= np.sqrt(2.0)
    return c.astype(np.float32)


def jpeg_tables(quality: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(B, 8, 8) luminance and chrominance tables for IJG qualities (B,) in [1, 100]."""
    q = jnp.clip(quality, 1.0, 100.0)
    scale = jnp.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)[:, None, None]
    table = lambda t: jnp.clip(jnp.floor((jnp.asarray(t) * scale + 50.0) / 100.0), 1.0, 255.0)
    return table(JPEG_LUMA_TABLE), table(JPEG_CHROMA_TABLE)


def _code_plane(plane: jnp.ndarray, table: jnp.ndarray) -> jnp.ndarray:
    """Quantises (B, H, W) level-shifted samples (H, W multiples of 8) in the DCT domain."""
    b, h, w = plane.shape
    c = jnp.asarray(_dct_matrix())
    blocks = plane.reshape(b, h // 8, 8, w // 8, 8)
    coef = jnp.einsum("kn,bynxm,lm->byxkl", c, blocks, c)
    coef = jnp.round(coef / table[:, None, None]) * table[:, None, None]
    return jnp.einsum("kn,byxkl,lm->bynxm", c, coef, c).reshape(b, h, w)


def jpeg_compress(image: jnp.ndarray, quality: jnp.ndarray) -> jnp.ndarray:
    """JPEG-encodes and decodes (B, H, W, 3) 8-bit values (floats in 0..255).

    Baseline JPEG as libjpeg does it: JFIF RGB -> YCbCr, chroma averaged over 2 x 2
    (4:2:0) and upsampled back with a triangle filter, 8 x 8 DCT quantised with the
    quality-scaled Annex K tables. Borders are edge-padded to a multiple of 16.
    Returns (B, H, W, 3) rounded values in 0..255.
    """
    b, h, w, _ = image.shape
    ph, pw = -h % 16, -w % 16
    x = jnp.pad(image, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    r, g, bl = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * bl
    cb = -0.168736 * r - 0.331264 * g + 0.5 * bl + 128.0
    cr = 0.5 * r - 0.418688 * g - 0.081312 * bl + 128.0
    luma, chroma = jpeg_tables(quality)
    y = _code_plane(y - 128.0, luma) + 128.0
    hh, ww = x.shape[1], x.shape[2]

    def chroma_plane(p):
        small = p.reshape(b, hh // 2, 2, ww // 2, 2).mean((2, 4))
        coded = _code_plane(small - 128.0, chroma) + 128.0
        return jax.image.resize(coded, (b, hh, ww), method="linear")

    cb, cr = chroma_plane(cb) - 128.0, chroma_plane(cr) - 128.0
    out = jnp.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1)
    return jnp.clip(jnp.round(out), 0.0, 255.0)[:, :h, :w]


METERING_STRENGTH = 0.55
METERING_TARGET = 0.18


def metered_exposure(face_luminance: jnp.ndarray, offset: jnp.ndarray) -> jnp.ndarray:
    """(B,) exposure in stops: ``offset`` plus partial auto exposure on the face.

    Args:
      face_luminance: (B,) the face's expected linear luminance (from its albedo and
        light, not from pixels: a silhouette pixel that flips under another float
        rounding must not change a whole image's exposure).
      offset: (B,) exposure compensation in stops.
    """
    ev = offset + METERING_STRENGTH * jnp.log2(METERING_TARGET / jnp.maximum(face_luminance, 1e-4))
    return jnp.round(ev * 64.0) / 64.0  # in steps of 1/64 stop, as cameras do


def sample_camera(key: jax.Array, batch: int) -> dict[str, jnp.ndarray]:
    """Random camera settings (module docstring); blur sigma is in pixels at 224 px."""
    k = jax.random.split(key, 7)
    gains = 1.0 + 0.04 * jax.random.normal(k[1], (batch, 3))
    return {
        "camera_exposure": jnp.clip(0.25 * jax.random.normal(k[0], (batch,)), -0.7, 0.7),
        "camera_white_balance": gains.at[:, 1].set(1.0),
        "camera_blur": 1.1 * jax.random.uniform(k[2], (batch,)) ** 2,
        "camera_shot_noise": jax.random.uniform(k[3], (batch,), maxval=0.003),
        "camera_read_noise": jax.random.uniform(k[4], (batch,), maxval=1.2e-4),
        "jpeg_quality": jnp.where(
            jax.random.bernoulli(k[5], JPEG_PROBABILITY, (batch,)),
            jnp.round(jax.random.uniform(k[6], (batch,), minval=30.0, maxval=95.0)), 0.0,
        ),  # fmt: skip
    }


def apply_camera(keys: jax.Array, linear: jnp.ndarray, camera: dict[str, jnp.ndarray]) -> jnp.ndarray:
    """(B, S, S, 3) linear radiance -> (B, S, S, 3) uint8 sRGB photo (``sample_camera``
    settings; ``jpeg_quality`` 0 means lossless). ``keys`` (B,): one noise key per image."""
    s = linear.shape[1]
    scale = s / 224.0
    x = linear * (2.0 ** camera["camera_exposure"])[:, None, None, None] * camera["camera_white_balance"][:, None, None]
    x = gaussian_blur(x, camera["camera_blur"] * scale, max(1, math.ceil(3.5 * scale)))
    var = camera["camera_shot_noise"][:, None, None, None] * jnp.maximum(x, 0.0) + camera["camera_read_noise"][:, None, None, None]
    x = x + jnp.sqrt(var) * jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], x.dtype))(keys)
    srgb = jnp.round(linear_to_srgb(x) * 255.0)
    q = camera["jpeg_quality"]
    coded = jpeg_compress(srgb, jnp.maximum(q, 1.0))
    return jnp.where((q > 0)[:, None, None, None], coded, srgb).astype(jnp.uint8)
