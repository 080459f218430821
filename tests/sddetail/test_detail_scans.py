"""Procedural detail scans: deterministic, sized as documented, placed by the landmarks."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from scipy import ndimage

from hiface_jax.geometry import uv
from hiface_jax.sddetail import detail_scans

RES = 64


@pytest.fixture(scope="module")
def layout(coarse_model):
    return detail_scans.scan_layout(coarse_model, RES)


@pytest.fixture(scope="module")
def landmarks(coarse_model):
    vert_uv = np.asarray(coarse_model.uv_coords)[
        uv.vertex_uvs(coarse_model.triangles, coarse_model.uv_triangles, coarse_model.num_vertices)
    ]
    return vert_uv[np.asarray(coarse_model.landmark_indices)]


def region(landmarks, name: str) -> np.ndarray:
    """(RES, RES) masks of where each feature belongs, from landmarks only."""
    c = (np.arange(RES) + 0.5) / RES
    u, v = np.meshgrid(c, 1 - c)
    lm = landmarks
    if name == "forehead":
        return (v > lm[19, 1] + 0.02) & (v < lm[19, 1] + 0.17) & (np.abs(u - 0.5) < 0.2)
    if name == "crows_feet":
        out = np.zeros_like(u, bool)
        for corner, lateral in ((lm[36], -1), (lm[45], 1)):
            out |= (
                ((u - corner[0]) * lateral > 0.005)
                & ((u - corner[0]) * lateral < 0.08)
                & (np.abs(v - corner[1]) < 0.04)
            )
        return out
    if name == "nasolabial":
        out = np.zeros_like(u, bool)
        for wing, mouth in ((lm[31], lm[48]), (lm[35], lm[54])):
            lo, hi = np.minimum(wing, mouth), np.maximum(wing, mouth)
            out |= (u > lo[0] - 0.05) & (u < hi[0] + 0.05) & (v > lo[1] - 0.04) & (v < hi[1] + 0.03)
        return out
    if name == "chin_neck":
        return v < lm[8, 1] - 0.03
    raise AssertionError(name)


def test_same_seed_same_scan_other_seed_other_scan(layout):
    a, b = detail_scans.procedural_scan(layout, 5), detail_scans.procedural_scan(layout, 5)
    c = detail_scans.procedural_scan(layout, 6)
    for kind in ("static", "compressed", "stretched"):
        np.testing.assert_array_equal(getattr(a, kind), getattr(b, kind))
        assert np.abs(getattr(a, kind) - getattr(c, kind)).max() > 1e-3  # cm
    assert a.age == b.age and 20 <= a.age <= 75
    people = detail_scans.procedural_scans(layout, 3, seed=1)
    assert len({p.seed for p in people}) == 3
    np.testing.assert_array_equal(people[1].static, detail_scans.procedural_scan(layout, people[1].seed).static)


def test_amplitudes_in_documented_ranges(layout):
    for seed in range(4):
        s = detail_scans.procedural_scan(layout, seed, age=70.0)
        static_mm, comp_mm = s.static * 10, s.compressed * 10
        # Deepest static feature (nasolabial fold) 0.1-1.5 mm; compressed adds up to ~2.5 mm.
        assert -1.5 < static_mm.min() < -0.1 and static_mm.max() < 0.2
        assert -2.5 < comp_mm.min() < static_mm.min() and comp_mm.max() < 0.8
        assert s.static.dtype == np.float32


def test_wrinkles_sit_where_the_landmarks_say(layout, landmarks):
    s = detail_scans.procedural_scan(layout, 11, age=65.0)
    added = np.abs(s.compressed - s.static)
    for name in ("forehead", "crows_feet", "nasolabial"):
        assert added[region(landmarks, name)].max() * 10 > 0.1, name  # mm, averaged over 4 mm texels
    # Energy of the compressed wrinkles: mostly in those regions, none on chin and neck.
    feature = region(landmarks, "forehead") | region(landmarks, "crows_feet") | region(landmarks, "nasolabial")
    grown = ndimage.binary_dilation(feature, iterations=2) | region(landmarks, "crows_feet")
    under_eyes = np.zeros_like(feature)
    for lid in (41, 46):
        c = (np.arange(RES) + 0.5) / RES
        u, v = np.meshgrid(c, 1 - c)
        under_eyes |= (np.abs(u - landmarks[lid, 0]) < 0.08) & (v < landmarks[lid, 1]) & (v > landmarks[lid, 1] - 0.06)
    energy = added**2
    assert energy[grown | under_eyes].sum() / energy.sum() > 0.95
    assert added[region(landmarks, "chin_neck")].max() * 10 < 0.01


def test_lines_deepen_with_age_and_stretch_smooths(layout, landmarks):
    young = detail_scans.procedural_scan(layout, 4, age=22.0)
    old = detail_scans.procedural_scan(layout, 4, age=70.0)
    lines = region(landmarks, "forehead") | region(landmarks, "crows_feet")
    assert old.static[lines].min() < 3 * young.static[lines].min() < 0
    assert detail_scans.age_factor(22) < 0.2 and detail_scans.age_factor(70) == pytest.approx(1.0)

    # The stretched map has less relief, at fine scales too.
    def fine(d):
        return d - ndimage.gaussian_filter(d, 1.5)

    for s in (young, old):
        assert np.std(fine(s.stretched)) < 0.85 * np.std(fine(s.static))
        assert np.abs(s.stretched).sum() < 0.7 * np.abs(s.static).sum()


def test_maps_fade_out_at_skin_borders(layout, coarse_model):
    covered = np.asarray(
        uv.uv_raster(np.asarray(coarse_model.uv_coords), np.asarray(coarse_model.uv_triangles), RES).covered
    )
    s = detail_scans.procedural_scan(layout, 2)
    outside = ~ndimage.binary_dilation(covered, iterations=1)
    assert outside.any()
    for m in (s.static, s.compressed, s.stretched):
        assert np.abs(m[outside]).max() == 0.0


def test_montage_is_written(layout, tmp_path):
    scans = [detail_scans.procedural_scan(layout, k) for k in range(2)]
    path = detail_scans.save_montage(tmp_path / "m.png", scans)
    image = iio.imread(path)
    assert image.ndim == 3 and image.shape[0] > 400 and image.std() > 1
