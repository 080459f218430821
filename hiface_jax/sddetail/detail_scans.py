"""Procedural detail scans in the ICT-FaceKit UV layout (face skin = UV tile [0, 1]^2).

No detail scans exist here, so these stand in for them: per person (a seed) three UV
displacement maps in cm (model units, outwards > 0), the input the basis builder
(``detail_basis``) takes from real scans:

* **static**: fine skin texture (micro-relief and pores) and permanent lines that
  deepen with age: forehead lines, crow's feet, nasolabial folds, under-eye lines;
* **compressed**: static plus the wrinkles compression adds: forehead lines (brows
  raised), crow's feet (squint, smile), under-eye lines, a deeper nasolabial fold with
  the cheek bulging over it (smile). Tension picks the region, so one map holds all;
* **stretched**: static smoothed: micro-relief and lines flattened.

Features are placed from the model's landmark vertices' UVs and sized in millimetres
through the local metric of the neutral mesh's UV map (mm of surface per unit u and v),
so they keep their physical size where the UV layout stretches. Maps are drawn on a
grid ``supersample`` times finer and box-averaged, so detail finer than a texel (pores
at 256^2, where a texel spans about 1 mm) enters as its area average, not as aliasing.

Amplitudes (depth below the surrounding skin; widths are Gaussian half-widths):

| feature                    | depth (mm)                 | width / size (mm)       | basis |
|----------------------------|----------------------------|-------------------------|-------|
| micro-relief texture       | RMS 0.012 (0.3 mm scale)   | correlation 0.3 and 1.5 | [1] primary lines 20-200 um deep |
| pores                      | 0.05-0.2                   | radius 0.06-0.15, 20-150 per cm^2 | [2], brief |
| forehead lines, static     | 0.03 (age 20) - 0.35 (65+) | 0.5-0.7                 | [3][4][5], estimate |
| crow's feet, static        | 0.03 - 0.30                | 0.4-0.5                 | [3][4][5], estimate |
| under-eye lines, static    | 0.02 - 0.15                | 0.35                    | estimate |
| nasolabial fold, static    | 0.1 - 0.9                  | 1.6-2.4                 | [5] grade 1 < 0.2 mm |
| forehead lines, compressed | +0.3-0.7                   | 0.8-1.0                 | [6], estimate |
| crow's feet, compressed    | +0.3-0.5                   | 0.6                     | estimate |
| under-eye, compressed      | +0.1-0.2                   | 0.5                     | estimate |
| nasolabial, compressed     | +0.8-1.3, cheek bulge +0.5 | 2.5 (bulge 5)           | estimate |
| stretched                  | texture x0.35, pores x0.7, lines x0.5, fold x0.8 | - | estimate |

Static line depths are further scaled per person by a log-normal gain (sd 25 %: skin
type, sun exposure). Compressed lines are buckles (a trough with raised shoulders of
zero net volume, as folding skin keeps its area), the others Gaussian troughs. A line
or pore narrower than a generation texel is widened to one with its cross-section
(depth x width) kept, so maps at 256^2 (texel ~1 mm) carry fine detail as its average.

Age enters through a curve that rises from 30 to 62 years and plateaus, after [3]
(depth of eye-corner wrinkles rises quickly from 40 and plateaus at 60); fine lines
exist at any age (15 % of the full depth). "Estimate" means we chose a value inside
the ranges these sources give for related measures; no source gives that figure. What
we take from [2]-[6] is from their abstracts (and [1]'s summary of [5]); their full
tables were not available offline.

[1] R. Bibb, Medical Modelling (Woodhead, 2006), sec. 6.17.3: skin primary and
    secondary lines form a polygonal pattern 20-200 um deep.
[2] F. Flament et al., "Facial skin pores: a multiethnic study", Clin. Cosmet.
    Investig. Dermatol. 8 (2015) 85-93: visible pores counted above 250 um, density
    and size vary with ethnicity and plateau with age. Depths 0.05-0.2 mm: the brief.
[3] S. Akazaki et al., "Age-related changes in skin wrinkles assessed by a novel
    three-dimensional morphometric analysis", Br. J. Dermatol. 147 (2002) 689-695.
[4] S. Luebberding, N. Krueger, M. Kerscher, "Quantification of age-related facial
    wrinkles in men and women using a three-dimensional fringe projection method and
    validated assessment scales", Dermatol. Surg. 40 (2014) 22-32: periorbital and
    forehead lines deepen with age, glabellar lines appear after 40.
[5] G. Lemperle et al., "A classification of facial wrinkles", Plast. Reconstr. Surg.
    108 (2001) 1735-1750: wrinkle grades 0-5 calibrated by profilometry of silicone
    replicas; a grade-1 nasolabial fold is under 0.2 mm deep (quoted in [1]).
[6] T. Fujimura et al., "Investigation of the relationship between wrinkle formation
    and deformation of the skin using three-dimensional motion analysis", Skin Res.
    Technol. 19 (2013): forehead wrinkles at rest correlate with those when raising
    the eyebrows, so compressed lines sit on the static ones.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from matplotlib.path import Path as Polygon
from scipy import ndimage
from scipy.spatial import cKDTree

from hiface_jax.face.face_model import FaceModel
from hiface_jax.geometry import uv

MM_PER_CM = 10.0

# Multi-PIE 68 landmark indices (0-based) used to place features. "right" is the
# subject's right, which lies at u < 0.5 in the ICT layout.
_OUTER_EYE_CORNER = {"right": 36, "left": 45}
_INNER_EYE_CORNER = {"right": 39, "left": 42}
_LOWER_LID = {"right": (40, 41), "left": (47, 46)}
_BROW = {"right": (17, 18, 19, 20, 21), "left": (26, 25, 24, 23, 22)}
_NOSE_WING = {"right": 31, "left": 35}
_MOUTH_CORNER = {"right": 48, "left": 54}
_OUTER_LIP = tuple(range(48, 60))
_SIDES = (("right", -1.0), ("left", 1.0))  # lateral direction in u


@dataclasses.dataclass(frozen=True)
class ScanLayout:
    """Where things are in the UV tile, on the generation grid G = resolution * supersample.

    Attributes:
      resolution: output maps are (resolution, resolution).
      supersample: generation grid factor.
      skin: (G, G) weight in [0, 1]: 1 on the skin, fading to 0 over a few mm towards
        the tile's border and the eye and mouth holes (the maps meet the back of the
        head and the holes without a step).
      mm_per_u, mm_per_v: (G, G) mm of neutral surface per unit u and v.
      lips: (G, G) bool, inside the outer lip contour (no pores).
      landmarks: (68, 2) UVs of the landmark vertices.
    """

    resolution: int
    supersample: int
    skin: np.ndarray
    mm_per_u: np.ndarray
    mm_per_v: np.ndarray
    lips: np.ndarray
    landmarks: np.ndarray

    @property
    def grid(self) -> int:
        return self.resolution * self.supersample

    @property
    def texel_mm(self) -> float:
        """Typical edge of a generation texel on the face, mm."""
        return float(np.median(np.sqrt(self.mm_per_u * self.mm_per_v)[self.skin > 0.5])) / self.grid

    def mm_per_uv_at(self, point: np.ndarray) -> np.ndarray:
        """(2,) mm per unit (u, v) at a UV point."""
        i, j = _texel_of(point, self.grid)
        return np.array([self.mm_per_u[i, j], self.mm_per_v[i, j]])


def scan_layout(model: FaceModel, resolution: int = 256, supersample: int = 2, fade_mm: float = 4.0) -> ScanLayout:
    """Host precomputation from the coarse model (``face_model.submesh()``)."""
    g = resolution * supersample
    uv_coords, uv_tris = np.asarray(model.uv_coords), np.asarray(model.uv_triangles)
    raster = uv.uv_raster(uv_coords, uv_tris, g)
    pos = np.asarray(uv.to_uv_map(model.mean_shape, model.triangles, raster), np.float64) * MM_PER_CM
    covered = np.asarray(raster.covered)
    # d position / d u: columns grow with u (1/g apart); rows grow against v.
    mm_u = np.linalg.norm(np.gradient(pos, axis=1), axis=-1) * g
    mm_v = np.linalg.norm(np.gradient(pos, axis=0), axis=-1) * g
    # Differences reaching into the gutter (copied texels) are meaningless: take the
    # metric from the nearest texel whose 3x3 neighbourhood is covered.
    interior = ndimage.binary_erosion(covered, np.ones((3, 3)))
    _, (iy, ix) = ndimage.distance_transform_edt(~interior, return_indices=True)
    mm_u, mm_v = (ndimage.median_filter(m[iy, ix], size=5) for m in (mm_u, mm_v))  # jumps at UV seams
    vert_uv = uv_coords[uv.vertex_uvs(model.triangles, model.uv_triangles, model.num_vertices)]
    landmarks = vert_uv[np.asarray(model.landmark_indices)]
    texel = float(np.median(np.sqrt(mm_u * mm_v)[covered])) / g
    dist_mm = ndimage.distance_transform_edt(covered) * texel
    skin = _smoothstep(0.0, fade_mm, dist_mm - 0.5 * texel)
    centres = (np.stack(np.meshgrid(np.arange(g), np.arange(g), indexing="xy"), -1) + 0.5) / g
    centres[..., 1] = 1.0 - centres[..., 1]
    lips = Polygon(landmarks[list(_OUTER_LIP)]).contains_points(centres.reshape(-1, 2)).reshape(g, g)
    return ScanLayout(resolution, supersample, skin.astype(np.float32), mm_u, mm_v, lips, landmarks)


@dataclasses.dataclass(frozen=True)
class DetailScan:
    """One person's procedural scan: (H, W) maps in cm, and the age it was drawn for."""

    static: np.ndarray
    compressed: np.ndarray
    stretched: np.ndarray
    age: float
    seed: int


def age_factor(age: float) -> float:
    """Fraction of full line depth at an age: 0.15 young, rising 30 -> 62, then flat [3]."""
    return 0.15 + 0.85 * float(_smoothstep(30.0, 62.0, age))


def procedural_scan(layout: ScanLayout, seed: int, age: float | None = None) -> DetailScan:
    """A person's static, compressed and stretched maps; the same seed gives the same maps.

    Args:
      layout: from ``scan_layout``.
      seed: the person.
      age: years; None draws it uniformly in [20, 75].
    """
    rng = np.random.default_rng(seed)
    age = float(rng.uniform(20.0, 75.0)) if age is None else float(age)
    a = age_factor(age)
    gain = float(rng.lognormal(0.0, 0.25))  # skin type, sun exposure: how deep lines get
    texture = _micro_relief(layout, rng)
    pores = _pores(layout, rng)
    static_lines, dynamic_lines, fold, fold_extra = _lines(layout, rng, a, gain)
    static = texture + pores + static_lines + fold
    compressed = static + dynamic_lines + fold_extra
    stretched = 0.35 * texture + 0.7 * pores + 0.5 * static_lines + 0.8 * fold
    maps = [_downsample(m * layout.skin, layout.supersample) / MM_PER_CM for m in (static, compressed, stretched)]
    return DetailScan(*(m.astype(np.float32) for m in maps), age=age, seed=seed)


def procedural_scans(layout: ScanLayout, num: int, seed: int = 0) -> list[DetailScan]:
    """``num`` people; person i uses seed ``seed * 1_000_003 + i`` (distinct, reproducible)."""
    return [procedural_scan(layout, seed * 1_000_003 + i) for i in range(num)]


# ------------------------------------------------------------------------ fine texture


def _micro_relief(layout: ScanLayout, rng: np.random.Generator) -> np.ndarray:
    """Band-limited noise (mm): the polygonal micro-relief at 0.3 mm and a gentle 1.5 mm undulation."""
    g, texel = layout.grid, layout.texel_mm
    out = np.zeros((g, g))
    roughness = float(rng.lognormal(0.0, 0.2))
    for scale_mm, rms_mm in ((0.3, 0.012), (1.5, 0.006)):
        sigma = scale_mm / texel
        noise = ndimage.gaussian_filter(rng.standard_normal((g, g)), max(sigma, 0.5))
        noise /= noise.std()
        # A texel larger than the correlation length averages the relief down.
        out += noise * rms_mm * roughness * min(1.0, sigma)
    return out


def _pores(layout: ScanLayout, rng: np.random.Generator) -> np.ndarray:
    """Pits (mm, negative): Poisson-placed, denser and larger on nose and medial cheeks.

    Each pit is a Gaussian of depth d and radius r; its volume d pi r^2 lands in its
    texel and is spread by a Gaussian of the pore's size or half a texel, whichever is
    larger, so sub-texel pores keep their average depth.
    """
    g, texel = layout.grid, layout.texel_mm
    lm = layout.landmarks
    density_cm2 = float(rng.uniform(20.0, 60.0))
    depth_mm = float(rng.uniform(0.05, 0.12))
    radius_mm = float(rng.uniform(0.06, 0.1))
    regions = (
        _blob(layout, lm[30], 12.0) * 1.5  # nose tip and wings
        + _blob(layout, 0.5 * (lm[31] + lm[2]), 18.0)  # medial cheeks
        + _blob(layout, 0.5 * (lm[35] + lm[14]), 18.0)
        + _blob(layout, np.array([0.5, lm[19, 1] + 0.08]), 25.0) * 0.5  # forehead
    )
    scale = (1.0 + regions) * (~layout.lips) * (layout.skin > 0)
    texel_cm2 = (texel / MM_PER_CM) ** 2
    counts = rng.poisson(density_cm2 * texel_cm2 * scale)
    size = rng.lognormal(0.0, 0.3, (g, g)) * (1.0 + 0.5 * np.minimum(regions, 1.0))  # bigger where denser
    volume = counts * depth_mm * size * np.pi * (radius_mm * size) ** 2  # mm^3 per texel
    sigma = max(radius_mm / np.sqrt(2.0) / texel, 0.5)
    return -ndimage.gaussian_filter(volume / texel**2, sigma)


# ------------------------------------------------------------------------------ lines


@dataclasses.dataclass(frozen=True)
class _Groove:
    """A line along a curve (M, 2) in UV; depth and half-width in mm.

    ``profile`` 'groove' is a Gaussian trough; 'buckle' is a trough with raised
    shoulders (skin folding under compression keeps its area); a negative depth makes
    a ridge. ``taper`` > 0 fades depth towards both ends, < 0 from start to end only.
    """

    curve: np.ndarray
    depth: float
    width: float
    profile: str = "groove"
    taper: float = 1.0


def _lines(layout: ScanLayout, rng: np.random.Generator, a: float, gain: float):
    """(static lines, compressed extra lines, static nasolabial fold, compressed extra fold), mm."""
    lm = layout.landmarks
    static, dynamic, fold, fold_extra = [], [], [], []
    # Forehead lines: parallel, drooping a little at the temples, over the brows [4][6].
    brow_top = max(lm[i, 1] for i in range(17, 27))
    mm_u, mm_v = layout.mm_per_uv_at(np.array([0.5, brow_top + 0.06]))
    n_lines = int(rng.integers(4, 7))
    heights = np.sort(rng.uniform(10.0, 40.0, n_lines)) + rng.uniform(-1.0, 1.0, n_lines)
    for k, h in enumerate(heights):
        half = rng.uniform(0.17, 0.24)  # half-length in u
        centre = 0.5 + rng.uniform(-0.02, 0.02)
        u = np.linspace(centre - half, centre + half, 160)
        wave = rng.uniform(0.3, 0.8) * np.sin(
            2 * np.pi * (u - centre) * mm_u / rng.uniform(12.0, 25.0) + rng.uniform(0, 6.3)
        )
        v = brow_top + (h + wave - rng.uniform(3.0, 8.0) * ((u - centre) / half) ** 2) / mm_v
        curve = np.stack([u, v], 1)
        if k % 2 == 0 or rng.uniform() < 0.5:  # static lines: the deeper half of them
            static.append(_Groove(curve, 0.35 * a * gain * rng.uniform(0.6, 1.0), rng.uniform(0.5, 0.7)))
        dynamic.append(_Groove(curve, rng.uniform(0.4, 0.7) * (0.7 + 0.3 * a), rng.uniform(0.8, 1.0), "buckle"))
    for side, lateral in _SIDES:
        corner = lm[_OUTER_EYE_CORNER[side]]
        # Crow's feet radiate from 4-7 mm beyond the outer eye corner, fanning from
        # down-lateral to up-lateral.
        angles = np.sort(rng.uniform(-45.0, 40.0, int(rng.integers(3, 6))))
        for ang in angles:
            curve = _ray(
                layout, corner, lateral, ang, rng.uniform(4.0, 7.0), rng.uniform(8.0, 18.0), rng.uniform(-8, 8)
            )
            static.append(_Groove(curve, 0.30 * a * gain * rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.5), taper=-1.0))
            longer = _ray(layout, corner, lateral, ang, 3.5, 20.0, rng.uniform(-8, 8))
            dynamic.append(_Groove(longer, rng.uniform(0.3, 0.5), 0.6, "buckle", taper=-1.0))
        # Under-eye lines follow the lower lid 3-10 mm below it.
        lid = np.array([lm[_INNER_EYE_CORNER[side]], *lm[list(_LOWER_LID[side])], corner])
        for depth_below in np.sort(rng.uniform(3.0, 10.0, int(rng.integers(1, 3)))):
            curve = _offset_curve(layout, lid, 0.0, -depth_below)
            static.append(_Groove(curve, 0.15 * a * gain * rng.uniform(0.5, 1.0), 0.35))
            dynamic.append(_Groove(curve, rng.uniform(0.1, 0.2), 0.5, "buckle"))
        # Nasolabial fold: from above the nose wing to beside the mouth corner, bowed
        # out; compression deepens it and bulges the cheek over it.
        wing, mouth = lm[_NOSE_WING[side]], lm[_MOUTH_CORNER[side]]
        start = _shift(layout, wing, lateral * rng.uniform(3.0, 5.0), rng.uniform(3.0, 6.0))
        end = _shift(layout, mouth, lateral * rng.uniform(5.0, 9.0), -rng.uniform(2.0, 6.0))
        bow = _shift(layout, 0.5 * (start + end), lateral * rng.uniform(2.0, 5.0), 0.0)
        curve = _bezier(start, bow, end)
        fold.append(_Groove(curve, 0.9 * a * gain * rng.uniform(0.6, 1.0) + 0.05, rng.uniform(1.6, 2.4)))
        fold_extra.append(_Groove(curve, rng.uniform(0.8, 1.3), 2.5))
        cheek = _offset_curve(layout, curve, lateral * 5.0, 0.0)
        fold_extra.append(_Groove(cheek, -0.5, 5.0))
    return (_render(layout, static), _render(layout, dynamic), _render(layout, fold), _render(layout, fold_extra))


def _render(layout: ScanLayout, grooves: list[_Groove]) -> np.ndarray:
    """Sum of the grooves' profiles on the generation grid (mm)."""
    g = layout.grid
    out = np.zeros((g, g))
    for gr in grooves:
        # A line narrower than a texel is widened to one, keeping its cross-section
        # (depth x width), so point samples see its area average instead of aliasing.
        width = max(gr.width, layout.texel_mm)
        depth = gr.depth * gr.width / width
        scale = layout.mm_per_uv_at(gr.curve.mean(0))  # mm per (u, v) near the line
        reach = 3.0 * width
        lo = gr.curve.min(0) - reach / scale
        hi = gr.curve.max(0) + reach / scale
        j0, j1 = max(int(lo[0] * g), 0), min(int(np.ceil(hi[0] * g)), g)
        i0, i1 = max(int((1 - hi[1]) * g), 0), min(int(np.ceil((1 - lo[1]) * g)), g)
        if j0 >= j1 or i0 >= i1:
            continue
        ii, jj = np.mgrid[i0:i1, j0:j1]
        pts = np.stack([(jj + 0.5) / g, 1.0 - (ii + 0.5) / g], -1).reshape(-1, 2)
        dense = _resample(gr.curve, width * 0.25, scale)
        dist, idx = cKDTree(dense * scale).query(pts * scale, distance_upper_bound=reach)
        near = np.isfinite(dist)
        s = idx[near] / max(len(dense) - 1, 1)
        taper = np.sin(np.pi * s) ** 0.5 if gr.taper > 0 else (1.0 - s) ** 0.7
        x2 = (dist[near] / width) ** 2
        shape = (1.0 - 2.0 * x2 / 3.0) if gr.profile == "buckle" else 1.0  # shoulders at x^2 > 1.5
        vals = np.zeros(len(pts))
        vals[near] = -depth * taper * shape * np.exp(-x2)
        out[i0:i1, j0:j1] += vals.reshape(ii.shape)
    return out


def _resample(curve: np.ndarray, step_mm: float, scale: np.ndarray) -> np.ndarray:
    """Points along a polyline every ``step_mm`` (measured with the local metric)."""
    seg = np.linalg.norm(np.diff(curve, axis=0) * scale, axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, arc[-1], max(int(arc[-1] / step_mm) + 2, 2))
    return np.stack([np.interp(t, arc, curve[:, 0]), np.interp(t, arc, curve[:, 1])], 1)


def _shift(layout: ScanLayout, point: np.ndarray, du_mm: float, dv_mm: float) -> np.ndarray:
    """A UV point moved by (du, dv) mm on the surface."""
    return point + np.array([du_mm, dv_mm]) / layout.mm_per_uv_at(point)


def _offset_curve(layout: ScanLayout, points: np.ndarray, du_mm: float, dv_mm: float) -> np.ndarray:
    """A smooth curve through ``points`` (K, 2), shifted by (du, dv) mm."""
    t = np.linspace(0.0, 1.0, len(points))
    fine = np.linspace(0.0, 1.0, 120)
    deg = min(len(points) - 1, 2)  # an arc: higher degrees wiggle through lid points
    smooth = np.stack([np.polyval(np.polyfit(t, points[:, c], deg), fine) for c in range(2)], 1)
    # One shift for the whole curve, measured where it lands: the metric changes fast
    # near the eye and mouth holes, and per-point shifts would kink the curve.
    centre = _shift(layout, smooth.mean(0), du_mm, dv_mm)
    return smooth + np.array([du_mm, dv_mm]) / layout.mm_per_uv_at(centre)


def _ray(layout, origin, lateral, angle_deg, start_mm, length_mm, bend_deg) -> np.ndarray:
    """A slightly bent line leaving ``origin`` sideways at an angle (deg, up > 0), in mm."""
    s = np.linspace(start_mm, start_mm + length_mm, 60)
    ang = np.radians(angle_deg + bend_deg * (s - start_mm) / length_mm)
    offsets = np.stack([lateral * s * np.cos(ang), s * np.sin(ang)], 1)
    return origin + offsets / layout.mm_per_uv_at(origin)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, m: int = 100) -> np.ndarray:
    t = np.linspace(0.0, 1.0, m)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _blob(layout: ScanLayout, centre: np.ndarray, radius_mm: float) -> np.ndarray:
    """(G, G) Gaussian bump of the given radius (mm) around a UV point."""
    g = layout.grid
    scale = layout.mm_per_uv_at(centre)
    t = (np.arange(g) + 0.5) / g  # u of columns; v of rows is 1 - t
    du = (t - centre[0]) * scale[0]
    dv = ((1.0 - t) - centre[1]) * scale[1]
    return np.exp(-(dv[:, None] ** 2 + du[None, :] ** 2) / radius_mm**2)


# ---------------------------------------------------------------------------- helpers


def _smoothstep(lo: float, hi: float, x):
    t = np.clip((np.asarray(x, np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _texel_of(point: np.ndarray, g: int) -> tuple[int, int]:
    """(row, col) of the texel holding UV point, clamped to the grid."""
    j = int(np.clip(point[0] * g, 0, g - 1))
    i = int(np.clip((1.0 - point[1]) * g, 0, g - 1))
    return i, j


def _downsample(x: np.ndarray, factor: int) -> np.ndarray:
    """Box average of factor x factor blocks."""
    g = x.shape[0] // factor
    return x.reshape(g, factor, g, factor).mean(axis=(1, 3))


# ---------------------------------------------------------------------------- montage


def save_montage(
    path: str | Path, scans: list[DetailScan], crop: tuple[float, float, float, float] = (0.15, 0.85, 0.25, 0.95)
) -> Path:
    """PNG of a few scans: a row per person, static / compressed / stretched as shaded relief.

    Args:
      crop: (u_min, u_max, v_min, v_max) part of the tile to show (the face).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(scans), 3, figsize=(13, 4.4 * len(scans)), squeeze=False)
    for row, scan in zip(axes, scans):
        h = scan.static.shape[0]
        r0, r1 = int((1 - crop[3]) * h), int((1 - crop[2]) * h)
        c0, c1 = int(crop[0] * h), int(crop[1] * h)
        for ax, name in zip(row, ("static", "compressed", "stretched")):
            d_mm = getattr(scan, name) * MM_PER_CM
            ax.imshow(_relief(d_mm, texel_mm=250.0 / h)[r0:r1, c0:c1], cmap="gray", vmin=0.2, vmax=1.0)
            ax.set_title(
                f"seed {scan.seed}, age {scan.age:.0f}: {name}, {d_mm.min():.2f}..{d_mm.max():.2f} mm", fontsize=9
            )
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _relief(d_mm: np.ndarray, texel_mm: float) -> np.ndarray:
    """Lambert shading of a height field lit from the upper left (slopes at true scale x3)."""
    gy, gx = np.gradient(d_mm * 3.0 / texel_mm)
    n = np.stack([-gx, gy, np.ones_like(gx)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    light = np.array([-0.5, 0.5, 0.7])
    return np.clip(n @ (light / np.linalg.norm(light)), 0.0, 1.0)
