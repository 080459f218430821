"""Basis builder: PCA recovers a known basis, file formats read back, bad inputs named, mesh scans."""

from __future__ import annotations

import json

import imageio.v3 as iio
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import subspace_angles

from hiface_jax import mesh_io
from hiface_jax.face import face_model as fm
from hiface_jax.geometry import uv
from hiface_jax.sddetail import detail, detail_basis
from hiface_jax.sddetail.detail_basis import DetailScanError

RES = 24


def known_data(rng: np.random.Generator, n: int, sigmas: np.ndarray, res: int = RES):
    """n maps = mean + codes . (sigma_k b_k) with orthonormal b_k and codes of exactly unit variance."""
    k = len(sigmas)
    b = np.linalg.qr(rng.normal(size=(res * res, k)))[0].T  # (k, D) orthonormal rows
    c = rng.normal(size=(n, k))
    c -= c.mean(0)
    c = np.linalg.qr(c)[0] * np.sqrt(n - 1)  # orthogonal, zero-mean, unit-variance columns
    mean = rng.normal(size=res * res) * 0.01
    data = mean + (c * sigmas) @ b
    return data.reshape(n, res, res), b, c, mean


def test_pca_recovers_known_basis_and_variance():
    rng = np.random.default_rng(0)
    sigmas = np.array([0.05, 0.03, 0.02, 0.01])  # cm
    static, b, _, mean = known_data(rng, 40, sigmas)
    offset_basis = np.linalg.qr(rng.normal(size=(RES * RES, 2)))[0].T
    w_true = rng.normal(size=(4, 2))  # dynamic codes are a linear function of static ones
    static_codes = detail_basis.pca(static.reshape(40, -1), 4).codes
    compressed = static + (0.02 + (static_codes @ w_true) @ offset_basis * 0.01).reshape(40, RES, RES)

    basis, report = detail_basis.build_detail_basis(static, compressed, None, num_static=4, num_dynamic=2)
    comps = np.asarray(basis.static_basis).reshape(4, -1)
    assert np.degrees(subspace_angles(comps.T, b.T)).max() < 1e-3
    np.testing.assert_allclose(np.linalg.norm(comps, axis=1), sigmas, rtol=1e-4)  # unit-variance codes
    np.testing.assert_allclose(report.static_explained, sigmas**2 / np.sum(sigmas**2), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(basis.static_mean).ravel(), mean, atol=1e-6)
    assert np.degrees(subspace_angles(np.asarray(basis.compress_basis).reshape(2, -1).T, offset_basis.T)).max() < 1e-3
    # The regression reproduces each person's compressed map from their static codes alone.
    codes = detail.DetailCodes(
        jnp.asarray(static_codes, jnp.float32),
        jnp.asarray(static_codes, jnp.float32) @ basis.compress_from_static,
        jnp.zeros((40, 0)),
    )
    d_s = detail.static_detail(basis, codes.static)
    d_c, d_t = detail.dynamic_maps(basis, d_s, codes.compress, codes.stretch)
    np.testing.assert_allclose(d_s, static, atol=1e-5)
    np.testing.assert_allclose(d_c, compressed, atol=1e-4)
    np.testing.assert_allclose(d_t, static, atol=1e-5)  # no stretched scans: the stretch map is static
    assert report.compress_r2 > 0.999 and basis.num_stretch == 0
    table = report.table()
    assert "40 people" in table and "kept" in table and f"{100 * report.static_explained[0]:.2f}" in table


def test_component_count_is_capped_by_people():
    static, *_ = known_data(np.random.default_rng(1), 5, np.array([0.03, 0.02]))
    basis, report = detail_basis.build_detail_basis(static, num_static=10)
    assert basis.num_static == 4 and any("at most 4" in n for n in report.notes)


def write_png(path, value_cm: np.ndarray, unit: str = "mm"):
    """16-bit PNG plus sidecar, as a user would store a scan."""
    scale = {"mm": 10.0, "cm": 1.0}[unit]
    lo, hi = value_cm.min() * scale, value_cm.max() * scale
    iio.imwrite(path, np.round((value_cm * scale - lo) / (hi - lo) * 65535).astype(np.uint16))
    path.with_suffix(".json").write_text(json.dumps({"unit": unit, "scale": hi - lo, "offset": lo}))


def test_reads_npy_png_and_npz(tmp_path):
    rng = np.random.default_rng(2)
    maps = rng.normal(size=(3, 3, 16, 16)) * 0.02  # person, kind, H, W (cm)
    np.save(tmp_path / "ann_static.npy", maps[0, 0])
    np.save(tmp_path / "ann_compressed.npy", maps[0, 1])
    np.save(tmp_path / "ann_stretched.npy", maps[0, 2])
    write_png(tmp_path / "bob_static.png", maps[1, 0])
    write_png(tmp_path / "bob_compressed.png", maps[1, 1], unit="cm")
    np.save(tmp_path / "bob-stretched.npy", maps[1, 2] * 10.0)
    (tmp_path / "bob-stretched.json").write_text(json.dumps({"unit": "mm"}))
    np.savez(tmp_path / "cy.npz", static=maps[2, 0], compressed=maps[2, 1], stretched=maps[2, 2])
    scans = detail_basis.read_scan_folder(tmp_path)
    assert scans.names == ["ann", "bob", "cy"]
    quantum = 2 * np.abs(maps).max() / 65535
    np.testing.assert_allclose(scans.static, maps[:, 0], atol=quantum)
    np.testing.assert_allclose(scans.compressed, maps[:, 1], atol=quantum)
    np.testing.assert_allclose(scans.stretched, maps[:, 2], atol=1e-12)


def _bad(tmp_path, case: str) -> str:
    """Writes a folder with one problem; returns the name the error must mention."""
    good = np.zeros((16, 16))
    np.save(tmp_path / "ok_static.npy", good)
    if case == "resolution":
        np.save(tmp_path / "z_big_static.npy", np.zeros((32, 32)))
        return "z_big_static.npy"
    if case == "channels":
        np.save(tmp_path / "rgb_static.npy", np.zeros((16, 16, 3)))
        return "rgb_static.npy"
    if case == "8-bit":
        iio.imwrite(tmp_path / "low_static.png", np.zeros((16, 16), np.uint8))
        return "low_static.png"
    if case == "sidecar":
        iio.imwrite(tmp_path / "nojson_static.png", np.zeros((16, 16), np.uint16))
        return "nojson_static.png"
    if case == "non-finite":
        bad = good.copy()
        bad[3, 4] = np.nan
        np.save(tmp_path / "nan_static.npy", bad)
        return "nan_static.npy"
    if case == "counts":
        np.save(tmp_path / "two_static.npy", good)
        np.save(tmp_path / "two_compressed.npy", good)
        return "ok"
    if case == "unit":
        np.save(tmp_path / "inch_static.npy", good)
        (tmp_path / "inch_static.json").write_text(json.dumps({"unit": "inch"}))
        return "inch_static.json"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case, message",
    [
        ("resolution", "32x32, expected 16x16 like ok_static.npy"),
        ("channels", "3 channels"),
        ("8-bit", "16-bit"),
        ("sidecar", "sidecar"),
        ("non-finite", "1 non-finite"),
        ("counts", "lack one"),
        ("unit", "unit must be one of"),
    ],
)
def test_bad_inputs_name_the_file(tmp_path, case, message):
    name = _bad(tmp_path, case)
    with pytest.raises(DetailScanError, match=message) as err:
        detail_basis.read_scan_folder(tmp_path)
    assert name in str(err.value)


def test_empty_folder_and_single_person(tmp_path):
    with pytest.raises(DetailScanError, match="no scans found"):
        detail_basis.read_scan_folder(tmp_path)
    np.save(tmp_path / "solo.npy", np.zeros((8, 8)))
    with pytest.raises(DetailScanError, match="at least 2 people"):
        detail_basis.read_scan_folder(tmp_path)


def test_mesh_scans_round_trip(tmp_path, coarse_model):
    """A dense detailed mesh written as OBJ reads back as the displacement it was made
    from (beside a .npy person: formats mix)."""
    res = 64
    sub = detail.subdivide(
        coarse_model.triangles, coarse_model.uv_coords, coarse_model.uv_triangles, 1, coarse_model.num_vertices
    )
    rng = np.random.default_rng(3)
    c = (np.arange(res) + 0.5) / res
    u, v = np.meshgrid(c, 1 - c)
    # Detail-like: wavelengths of 1.5-3 cm, which the coarse model cannot follow.
    d = 0.03 * np.sin(rng.uniform(50, 90) * u + rng.uniform(0, 6)) * np.cos(rng.uniform(50, 90) * v)
    beta = jnp.asarray(rng.normal(size=coarse_model.num_identity) * 0.5, jnp.float32)
    coarse = fm.neutral_shape(coarse_model, beta)
    dense = np.asarray(detail.detailed_mesh(coarse, coarse_model.triangles, jnp.asarray(d, jnp.float32), sub))
    mesh_io.write_obj(
        tmp_path / "p0_static.obj",
        dense,
        np.asarray(sub.triangles),
        np.asarray(sub.uv_coords),
        np.asarray(sub.uv_triangles),
    )
    np.save(tmp_path / "p1_static.npy", d)
    # What the map can hold: D at the dense vertices, interpolated over dense UV triangles.
    at_vertices = np.asarray(uv.sample_uv_map(jnp.asarray(d[..., None], jnp.float32), sub.vertex_uv))[:, 0]
    raster = uv.uv_raster(np.asarray(sub.uv_coords), np.asarray(sub.uv_triangles), res)
    want = np.asarray(uv.to_uv_map(jnp.asarray(at_vertices[:, None]), sub.triangles, raster))[..., 0]
    scans = detail_basis.read_scan_folder(tmp_path, res, coarse_model)
    assert scans.names == ["p0", "p1"]
    covered = np.asarray(
        uv.uv_raster(np.asarray(coarse_model.uv_coords), np.asarray(coarse_model.uv_triangles), res).covered
    )
    err = np.abs(scans.static[0] - want)[covered]
    # The fitted coarse model soaks up a little of such long-wave detail (2-4 % of the
    # amplitude here); with the true coarse mesh the error is ~0.1 %.
    assert np.median(err) < 0.05 * np.abs(want).max() and np.percentile(err, 95) < 0.15 * np.abs(want).max()


def test_mesh_with_wrong_topology_is_rejected(tmp_path, coarse_model):
    mesh_io.write_obj(
        tmp_path / "tiny_static.obj", np.eye(3), np.array([[0, 1, 2]]), np.eye(3)[:, :2], np.array([[0, 1, 2]])
    )
    with pytest.raises(DetailScanError, match="tiny_static.obj: 3 vertices, fewer"):
        detail_basis.read_scan_folder(tmp_path, 32, coarse_model)


def test_save_and_load(tmp_path):
    static, *_ = known_data(np.random.default_rng(4), 6, np.array([0.03, 0.02]))
    basis, report = detail_basis.build_detail_basis(static, static + 0.01, static * 0.5, num_static=3, num_dynamic=2)
    path = detail_basis.save_detail_basis(tmp_path / "b.npz", basis, report)
    back = detail_basis.load_detail_basis(path)
    for a, b in zip(np.asarray(basis.static_basis), np.asarray(back.static_basis)):
        np.testing.assert_array_equal(a, b)
    assert back.num_compress == basis.num_compress and back.resolution == (RES, RES)
    with pytest.raises(FileNotFoundError, match="build_detail_basis --procedural"):
        detail_basis.load_detail_basis(tmp_path / "missing.npz")
