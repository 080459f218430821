"""Hair as a textured shell on the scalp: the skin above a sampled hairline, pushed out
along its normals by a sampled thickness, drawn with a procedural strand pattern and a
Kajiya-Kay-style highlight.

    offset(v) = T(v) smoothstep(0, ramp, d(v)) (1 + lumps(v))   if d(v) > 0, else -0.3 cm
    d(v) = y_rest(v) - hairline(azimuth(v))

``hairline`` is a piecewise-linear curve around the head (forehead, temples, sideburns,
above the ears, nape) with a sampled front height, temple recession and nape length;
T grows from the sides to the crown. Shell vertices below the hairline sink 3 mm under
the skin, where the z-buffer hides them, so one static shell topology serves every
hairline. Near the hairline the hair colour fades into the skin's (sparse hair).
A few percent of samples are bald.

The shell is a copy of the skin triangles above the lowest hairline the sampler can draw,
with the skin's UVs (for that fade). Everything per sample is a function of the rest
coordinates stored here, so it runs jitted on device.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

HEAD_CENTRE = (0.0, 3.5, 0.5)  # cm, rest frame: the cranium's centre (azimuth / elevation origin)
# Hairline control points: |azimuth| in degrees (0 = forehead, 180 = nape) -> rest height
# in cm, relative to the front height for the first three.
HAIRLINE_AZIMUTH = np.array([0.0, 30.0, 60.0, 80.0, 96.0, 112.0, 140.0, 180.0], np.float32)
HAIRLINE_HEIGHT = np.array([0.0, -0.3, -3.0, 1.5, 5.2, 4.0, -2.0, -5.0], np.float32)
RELATIVE_POINTS = 3  # the first points move with the sampled front height
FRONT_HEIGHT = (9.5, 12.0)  # forehead hairline, rest y (brows are at about 6)
LOWEST_HAIRLINE_MARGIN = 3.0  # cm below the lowest sampled hairline that the shell still covers

# Linear-RGB hair colours (black, dark brown, brown, light brown, blonde, red, grey, white).
HAIR_COLOURS = np.array(
    [[0.012, 0.010, 0.009], [0.035, 0.022, 0.014], [0.08, 0.048, 0.026], [0.16, 0.105, 0.06],
     [0.33, 0.24, 0.13], [0.22, 0.075, 0.03], [0.26, 0.25, 0.24], [0.5, 0.5, 0.49]],
    np.float32,
)  # fmt: skip
HAIR_WEIGHTS = np.array([0.3, 0.25, 0.15, 0.1, 0.08, 0.04, 0.05, 0.03], np.float32)
STRAND_FREQUENCIES = np.array([61.0, 97.0, 151.0, 233.0], np.float32)  # strands per radian of azimuth


def rest_coordinates(points: np.ndarray) -> np.ndarray:
    """(N, 3) rest positions -> (N, 3) (azimuth, elevation) in radians about HEAD_CENTRE, and y."""
    q = np.asarray(points, np.float64) - np.asarray(HEAD_CENTRE)
    azimuth = np.arctan2(q[:, 0], q[:, 2])
    elevation = np.arctan2(q[:, 1], np.hypot(q[:, 0], q[:, 2]))
    return np.stack([azimuth, elevation, np.asarray(points)[:, 1]], -1).astype(np.float32)


def hairline_height(azimuth: jnp.ndarray, front: jnp.ndarray, recession: jnp.ndarray, nape: jnp.ndarray) -> jnp.ndarray:
    """Rest height (cm) of the hairline at each azimuth (radians).

    Args:
      azimuth: (..., N); front, recession, nape: (...) front height, temple recession
        (cm, raises the 30-60 degree points) and nape offset (cm, lowers the back).
    """
    heights = jnp.asarray(HAIRLINE_HEIGHT) + jnp.zeros_like(front)[..., None]
    rel = jnp.arange(HAIRLINE_AZIMUTH.size) < RELATIVE_POINTS
    heights = jnp.where(rel, heights + front[..., None], heights)
    heights = heights.at[..., 1:3].add(recession[..., None] * jnp.array([1.0, 0.6]))
    heights = heights.at[..., 6:].add(-nape[..., None])
    deg = jnp.degrees(jnp.abs(azimuth))
    return jax.vmap(jnp.interp, in_axes=(0, None, 0))(
        deg.reshape(-1, deg.shape[-1]), jnp.asarray(HAIRLINE_AZIMUTH), heights.reshape(-1, heights.shape[-1])
    ).reshape(deg.shape)


def shell_topology(skin_rest: np.ndarray, skin_triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The static hair shell: skin vertices that any sampled hairline may cover, and the
    skin triangles among them (host).

    Returns:
      (vertices (N,) indices into the skin, triangles (F, 3) indices into ``vertices``,
      source (F,) the skin triangle each shell triangle copies).
    """
    c = rest_coordinates(skin_rest)
    lowest = np.asarray(
        hairline_height(
            jnp.asarray(c[None, :, 0]), jnp.asarray([FRONT_HEIGHT[0]]), jnp.zeros(1), jnp.asarray([3.0])
        )
    )[0]
    keep = c[:, 2] > lowest - LOWEST_HAIRLINE_MARGIN
    tri_keep = keep[skin_triangles].all(1)
    verts = np.nonzero(keep)[0]
    remap = np.full(skin_rest.shape[0], -1, np.int64)
    remap[verts] = np.arange(verts.size)
    return verts.astype(np.int32), remap[skin_triangles[tri_keep]].astype(np.int32), np.nonzero(tri_keep)[0]


def sample_hair(key: jax.Array, batch: int) -> dict[str, jnp.ndarray]:
    """Random hair style and colour.

    Style: bald with probability 0.06; otherwise front hairline height U(9.5, 12) cm,
    temple recession U(0, 2) cm (squared, so most are small), nape length U(0, 3) cm,
    crown thickness from short (0.3 cm) to voluminous (4 cm), sides 35-90% of it.
    Colour: one of HAIR_COLOURS (weights HAIR_WEIGHTS), brightness +-25%.
    """
    k = jax.random.split(key, 12)
    which = jax.random.choice(k[0], HAIR_COLOURS.shape[0], (batch,), p=jnp.asarray(HAIR_WEIGHTS))
    colour = jnp.asarray(HAIR_COLOURS)[which] * jax.random.uniform(k[1], (batch, 1), minval=0.75, maxval=1.25)
    crown = 0.3 + 3.7 * jax.random.uniform(k[2], (batch,)) ** 1.5
    return {
        "hair_present": jax.random.uniform(k[3], (batch,)) > 0.06,
        "hair_front": jax.random.uniform(k[4], (batch,), minval=FRONT_HEIGHT[0], maxval=FRONT_HEIGHT[1]),
        "hair_recession": 2.0 * jax.random.uniform(k[5], (batch,)) ** 2,
        "hair_nape": 3.0 * jax.random.uniform(k[6], (batch,)),
        "hair_crown": crown,
        "hair_sides": crown * jax.random.uniform(k[7], (batch,), minval=0.35, maxval=0.9),
        "hair_colour": colour,
        "hair_phase": jax.random.uniform(k[8], (batch, STRAND_FREQUENCIES.size), maxval=2 * math.pi),
        "hair_wave": jax.random.uniform(k[9], (batch,), maxval=3.0),
        "hair_lumps": jax.random.uniform(k[10], (batch, 6), minval=-1.0, maxval=1.0),
        "hair_shine": jax.random.uniform(k[11], (batch,), minval=0.01, maxval=0.06),
    }


def hair_offsets(rest: jnp.ndarray, hair: dict[str, jnp.ndarray]) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Per shell vertex: outward offset (B, N) in cm and hair density (B, N) in [0, 1].

    Args:
      rest: (N, 3) ``rest_coordinates`` of the shell vertices.
      hair: ``sample_hair`` output.
    """
    az, el, y = rest[:, 0], rest[:, 1], rest[:, 2]
    line = hairline_height(
        jnp.broadcast_to(az, (hair["hair_front"].shape[0],) + az.shape),
        hair["hair_front"], hair["hair_recession"], hair["hair_nape"],
    )  # fmt: skip
    d = y - line
    crown, sides = hair["hair_crown"][:, None], hair["hair_sides"][:, None]
    thickness = sides + (crown - sides) * jnp.clip((y - 3.0) / 8.0, 0.0, 1.0)
    lumps = hair["hair_lumps"]
    wobble = 0.12 * (
        lumps[:, :1] * jnp.sin(3 * az + 2 * lumps[:, 1:2]) + lumps[:, 2:3] * jnp.sin(5 * el + 3 * lumps[:, 3:4])
        + lumps[:, 4:5] * jnp.sin(7 * az + 5 * el + 3 * lumps[:, 5:6])
    )  # fmt: skip
    ramp = 0.8 + 0.6 * crown
    rise = jnp.clip(d / ramp, 0.0, 1.0)
    rise = rise * rise * (3.0 - 2.0 * rise)
    present = hair["hair_present"][:, None]
    offset = jnp.where((d > 0) & present, thickness * rise * (1.0 + wobble), -0.3)
    density = jnp.where(present, jnp.clip(d / 1.2, 0.0, 1.0), 0.0)
    return offset, density


def hair_albedo(coords: jnp.ndarray, hair: dict[str, jnp.ndarray], skin: jnp.ndarray) -> jnp.ndarray:
    """(B, H, W, 3) albedo of the hair shell.

    Args:
      coords: (B, H, W, 3) interpolated (azimuth, elevation, density).
      hair: ``sample_hair`` output.
      skin: (B, H, W, 3) the skin albedo under the hair (shown where it is sparse).
    """
    az, el, density = coords[..., 0], coords[..., 1], coords[..., 2]
    phase = hair["hair_phase"][:, None, None, :]
    wave = hair["hair_wave"][:, None, None, None]
    strands = jnp.mean(
        jnp.sin(az[..., None] * jnp.asarray(STRAND_FREQUENCIES) + phase + wave * jnp.sin(9.0 * el[..., None] + phase)), -1
    )
    clumps = jnp.sin(17.0 * az + 2.0 * wave[..., 0] * jnp.sin(5.0 * el) + phase[..., 0])
    colour = hair["hair_colour"][:, None, None] * jnp.clip(0.75 + 0.8 * strands + 0.2 * clumps, 0.15, 2.0)[..., None]
    return skin + (colour - skin) * jnp.clip(density, 0.0, 1.0)[..., None]
