"""A low-dimensional UV albedo: there is no albedo model in ICT-FaceKit, so we design one.

    A(x) = clip(base * (1 + up(G)(x)) + lips * M_lips(x) + brows * M_brows(x), 0, 1)

* ``base`` (3): skin colour, linear RGB;
* ``lips`` (3), ``brows`` (3): colour offsets inside soft masks placed from the model's
  landmark vertices in UV (outer lip contour 48..59; brow landmarks 17..26);
* ``G`` (g, g, 3): a coarse grid of smooth *relative* colour variation (cheek redness,
  darker creases, uneven tone), upsampled bilinearly to the UV resolution. Relative,
  so the same grid is as visible on dark skin as on light skin.

That is 9 + 3 g^2 numbers (201 for g = 8): small enough to fit from one photo, rich
enough for lips, brows and regional tone. The fitter regularises G with a smoothness
and a magnitude prior; the synthetic generator samples all of it (``sample_albedo``).

Skin tones are the 10 swatches of the Monk Skin Tone scale (Monk 2019, released by
Google in 2022 under CC-BY-4.0), converted from sRGB to linear RGB.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from scipy import ndimage
from skimage import draw

from hiface_jax.geometry import uv

MONK_SKIN_TONES_SRGB = (
    "f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96", "a07e56", "825c43", "604134", "3a312a", "292420",
)  # fmt: skip


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 transfer function inverse, elementwise on [0, 1]."""
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def srgb_to_linear_jax(c: jnp.ndarray) -> jnp.ndarray:
    """``srgb_to_linear`` in JAX (jittable, keeps the input's float dtype)."""
    c = jnp.clip(c, 0.0, 1.0)
    return jnp.where(c <= 0.04045, c / 12.92, jnp.power((jnp.maximum(c, 0.04045) + 0.055) / 1.055, 2.4))


def linear_to_srgb(c: jnp.ndarray) -> jnp.ndarray:
    """IEC 61966-2-1 transfer function, elementwise on [0, 1] (for display)."""
    c = jnp.clip(c, 0.0, 1.0)
    return jnp.where(c <= 0.0031308, 12.92 * c, 1.055 * jnp.power(jnp.maximum(c, 1e-8), 1 / 2.4) - 0.055)


def skin_tones_linear() -> np.ndarray:
    """(10, 3) Monk skin tones in linear RGB."""
    srgb = np.array([[int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4)] for h in MONK_SKIN_TONES_SRGB])
    return srgb_to_linear(srgb)


@struct.dataclass
class AlbedoLayout:
    """Where lips, brows, the upper lash lines and the eye regions are in UV. Maps (H, W)
    float32 in [0, 1]."""

    lips: jnp.ndarray
    brows: jnp.ndarray
    skin: jnp.ndarray
    lashes: jnp.ndarray  # the upper eyelid margins (synthetic faces draw lashes there)
    eye_regions: jnp.ndarray  # soft ellipses from the brows to the cheekbones (where glasses sit)


def _draw_polyline(mask: np.ndarray, points: np.ndarray) -> None:
    """Sets the pixels of the polyline through (N, 2) (row, col) points to 1, in place."""
    for a, b in zip(points[:-1], points[1:]):
        rr, cc = draw.line(*np.round(a).astype(int), *np.round(b).astype(int))
        ok = (rr >= 0) & (rr < mask.shape[0]) & (cc >= 0) & (cc < mask.shape[1])
        mask[rr[ok], cc[ok]] = 1.0


def albedo_layout(
    uv_coords: np.ndarray,
    uv_triangles: np.ndarray,
    triangles: np.ndarray,
    landmark_indices: np.ndarray,
    num_vertices: int,
    resolution: int = 256,
) -> AlbedoLayout:
    """Soft lip, brow, upper lash-line and eye-region masks in the face UV tile, from the
    landmark vertices' UVs (host).

    Args:
      uv_coords, uv_triangles, triangles: the model's UV layout and topology.
      landmark_indices: (68,) iBUG-order landmark vertices.
      num_vertices: V.
      resolution: map side.
    """
    vi = uv.vertex_uvs(triangles, uv_triangles, num_vertices)
    lmk_uv = np.asarray(uv_coords)[vi[np.asarray(landmark_indices)]]
    to_px = lambda p: np.stack([(1.0 - p[:, 1]) * resolution - 0.5, p[:, 0] * resolution - 0.5], 1)  # (row, col)
    lips = np.zeros((resolution, resolution), np.float32)
    rr, cc = draw.polygon(*to_px(lmk_uv[48:60]).T, shape=lips.shape)
    lips[rr, cc] = 1.0
    brows = np.zeros_like(lips)
    width = max(1, round(resolution * 0.02))
    for lo, hi in ((17, 22), (22, 27)):
        _draw_polyline(brows, to_px(lmk_uv[lo:hi]))
    brows = ndimage.grey_dilation(brows, size=(width, 3 * width))
    lashes = np.zeros_like(lips)
    for lo, hi in ((36, 40), (42, 46)):  # upper lids, corner to corner
        _draw_polyline(lashes, to_px(lmk_uv[lo:hi]))
    eyes = np.zeros_like(lips)
    rows, cols = np.mgrid[:resolution, :resolution]
    for eye, brow in ((slice(36, 42), slice(17, 22)), (slice(42, 48), slice(22, 27))):
        centre = to_px(lmk_uv[eye]).mean(0)
        width = np.ptp(to_px(lmk_uv[eye])[:, 1])
        height = abs(centre[0] - to_px(lmk_uv[brow]).mean(0)[0])
        eyes = np.maximum(eyes, (((rows - centre[0]) / (1.5 * height)) ** 2 + ((cols - centre[1]) / (1.2 * width)) ** 2 < 1))
    soft = lambda m, s: np.clip(ndimage.gaussian_filter(m, s), 0, 1).astype(np.float32)
    raster = uv.uv_raster(uv_coords, uv_triangles, resolution)
    return AlbedoLayout(
        lips=jnp.asarray(soft(lips, resolution / 256)),
        brows=jnp.asarray(soft(brows, resolution / 200)),
        skin=jnp.asarray(np.asarray(raster.covered, np.float32)),
        lashes=jnp.asarray(soft(lashes, resolution / 256)),
        eye_regions=jnp.asarray(soft(eyes.astype(np.float32), resolution / 64)),
    )


def albedo_map(
    base: jnp.ndarray, lips: jnp.ndarray, brows: jnp.ndarray, grid: jnp.ndarray, layout: AlbedoLayout
) -> jnp.ndarray:
    """Evaluates the albedo.

    Args:
      base, lips, brows: (..., 3) linear RGB colour / offsets.
      grid: (..., g, g, 3) coarse colour variation.
      layout: masks at resolution R.
    Returns:
      (..., R, R, 3) linear RGB albedo in [0, 1].
    """
    r = layout.lips.shape[0]
    up = jax.image.resize(grid, grid.shape[:-3] + (r, r, 3), method="linear")
    a = (
        base[..., None, None, :] * (1.0 + up)
        + lips[..., None, None, :] * layout.lips[..., None]
        + brows[..., None, None, :] * layout.brows[..., None]
    )
    return jnp.clip(a, 0.0, 1.0)


def sample_albedo(key: jax.Array, batch: int, grid_size: int = 8) -> dict[str, jnp.ndarray]:
    """Random plausible albedo parameters.

    Skin: a random Monk tone, jittered by +-10% in brightness and slightly in hue.
    Lips: redder and darker than the skin (offset about -0.25 of green/blue, +0.05 red
    relative to the base, scaled by the base). Brows: 30-80% darker than the skin. Grid: N(0, 0.06) relative tone variation per node shared by the
    channels, N(0, 0.015) per channel,
    a shared reddish bias of up to +10% red.
    """
    k = jax.random.split(key, 6)
    tones = jnp.asarray(skin_tones_linear(), jnp.float32)
    base = tones[jax.random.randint(k[0], (batch,), 0, tones.shape[0])]
    base = base * jax.random.uniform(k[1], (batch, 1), minval=0.9, maxval=1.1)
    base = base * (1.0 + 0.05 * jax.random.normal(k[2], (batch, 3)))
    lips = base * jnp.array([0.05, -0.30, -0.25])
    # Brow hair: 30-80% darker than the skin, slightly warm.
    brows = -base * jax.random.uniform(k[3], (batch, 1), minval=0.3, maxval=0.8) * jnp.array([0.9, 1.0, 1.0])
    k_lum, k_chroma = jax.random.split(k[4])
    grid = 0.06 * jax.random.normal(k_lum, (batch, grid_size, grid_size, 1))  # tone, shared by channels
    grid = grid + 0.015 * jax.random.normal(k_chroma, (batch, grid_size, grid_size, 3))
    grid = grid + jax.random.uniform(k[5], (batch, 1, 1, 1), maxval=0.1) * jnp.array([1.0, 0.0, 0.0])
    return {"base": base, "lips": lips, "brows": brows, "grid": grid}
