"""The benchmark split: written once, re-read, deterministic; out-of-model shapes and detail."""

from __future__ import annotations

import dataclasses
import json

import imageio.v3 as iio
import numpy as np
import pytest

from hiface_jax.evaluation import benchmark_split as bs
from hiface_jax.sddetail import detail_basis


def test_split_holds_every_view_with_its_ground_truth(tiny_splits, tiny_split_config):
    split = tiny_splits["synthetic"]
    assert [(it.expression, it.yaw) for it in split.items] == [
        ("neutral", 0.0), ("neutral", 35.0), ("expressive", 0.0), ("expressive", 35.0)
    ]  # fmt: skip
    images = split.read_images(list(split.items))
    assert images.shape == (4, 96, 96, 3) and images.dtype == np.uint8
    assert np.isclose(split.intrinsics.fov_degrees, 12.0)
    neutral, expressive = (bs.read_ground_truth(split.items[k]) for k in (0, 2))
    assert neutral["vertices_detailed"].shape == (44786, 3) and neutral["vertices_coarse"].shape == (11248, 3)
    assert np.abs(neutral["displacement_dynamic"]).max() < 1e-6  # no tension, no wrinkles (cm)
    assert np.abs(expressive["displacement_dynamic"]).max() > 1e-3  # cm
    assert np.array_equal(neutral["identity"], expressive["identity"]) and expressive["expression"].max() >= 0.3
    # The rotation recorded takes the ground truth into the view: 35 degrees of yaw.
    r = np.asarray(split.items[1].rotation)
    assert np.isclose(np.degrees(np.arctan2(r[0, 2], r[0, 0])), 35.0, atol=1e-4)


def test_split_is_written_once_and_deterministic(tiny_splits, tiny_split_config, tmp_path):
    split = tiny_splits["synthetic"]
    stamp = split.items[0].image.stat().st_mtime_ns
    again = bs.ensure_split(tiny_split_config, split.root.parent, progress=False)
    assert again.items == split.items and split.items[0].image.stat().st_mtime_ns == stamp  # re-read, not rebuilt
    other = bs.ensure_split(tiny_split_config, tmp_path, progress=False)
    for a, b in zip(split.items, other.items):
        assert np.array_equal(iio.imread(a.image), iio.imread(b.image))
        ga, gb = bs.read_ground_truth(a), bs.read_ground_truth(b)
        assert all(np.array_equal(ga[k], gb[k]) for k in ga)


def test_out_of_model_shapes_leave_the_identity_span_and_detail_leaves_the_basis(
    tiny_splits, tiny_split_config, coarse_model, small_detail_basis
):
    inside = bs.read_ground_truth(tiny_splits["synthetic"].items[0])
    outside = bs.read_ground_truth(tiny_splits["out_of_model"].items[0])
    assert np.array_equal(inside["identity"], outside["identity"])  # same draws, plus the deformation
    deformation = (outside["vertices_coarse"] - inside["vertices_coarse"]).astype(np.float64)
    face = coarse_model.region_vertices("face")
    rms_mm = 10.0 * np.sqrt((deformation[face] ** 2).sum(1).mean())
    assert np.isclose(rms_mm, tiny_split_config.deformation_mm, rtol=1e-3)
    basis = np.asarray(coarse_model.identity_basis, np.float64).reshape(coarse_model.num_identity, -1)
    coeffs = np.linalg.solve(basis @ basis.T, basis @ deformation.reshape(-1))
    assert np.linalg.norm(coeffs @ basis) < 1e-3 * np.linalg.norm(deformation)  # nothing in the span
    # Cross-person detail from held-out scans: far from the static basis's span.
    static = detail_basis.load_detail_basis(small_detail_basis, 64)
    b = np.asarray(static.static_basis, np.float64).reshape(static.num_static, -1)
    x = outside["displacement_static"].astype(np.float64).reshape(-1) - np.asarray(static.static_mean).reshape(-1)
    c = np.linalg.solve(b @ b.T, b @ x)
    assert np.linalg.norm(x - c @ b) > 0.3 * np.linalg.norm(x)


def test_a_split_of_another_config_or_a_broken_one_is_a_clear_error(tiny_splits, tiny_split_config):
    split = tiny_splits["synthetic"]
    other = dataclasses.replace(tiny_split_config, seed=tiny_split_config.seed + 1)
    assert bs.split_folder(split.root.parent, other) != split.root  # another config, another folder
    meta = json.loads((split.root / "split.json").read_text())
    broken = split.root.parent / "broken"
    (broken / "images").mkdir(parents=True)
    (broken / "split.json").write_text(json.dumps(meta))
    with pytest.raises(bs.SplitError, match="8 files missing"):
        bs.load_split(broken)
    with pytest.raises(bs.SplitError, match="not a benchmark split"):
        bs.load_split(split.root.parent / "nothing")
    with pytest.raises(ValueError, match="variant must be one of synthetic, out_of_model"):
        bs.SplitConfig(variant="in_the_wild")


def test_the_head_scene_shows_eyes_where_the_skin_scene_shows_sockets(tiny_splits, tiny_split_config, split_root):
    """``scene="head"`` changes what the images show, not what is measured: the same ground
    truth, and across each eye opening (between its corners, in the frontal neutral view) the
    bright sclera of the eyeballs instead of the skin scene's dark socket. The default scene
    keeps the folder names of splits built before scenes existed."""
    config = dataclasses.replace(tiny_split_config, variant="out_of_model")
    skin = tiny_splits["out_of_model"]
    head = bs.ensure_split(dataclasses.replace(config, scene="head"), split_root, progress=False)
    assert head.root != skin.root
    assert config.fingerprint() == bs.SplitConfig(**{**dataclasses.asdict(config), "scene": "skin"}).fingerprint()
    for a, b in zip(skin.items, head.items):
        ga, gb = bs.read_ground_truth(a), bs.read_ground_truth(b)
        assert all(np.array_equal(ga[k], gb[k]) for k in ga)
        assert a.rotation == b.rotation and a.translation == b.translation
    item = skin.items[0]
    assert (item.expression, item.yaw) == ("neutral", 0.0)
    truth = bs.read_ground_truth(item)
    landmarks = truth["vertices_coarse"][
        np.asarray(bs.split_assets(96, 64, config.detail_basis, None).model.landmark_indices)
    ]
    posed = landmarks @ np.asarray(item.rotation).T + np.asarray(item.translation)
    pixels = skin.intrinsics.focal * posed[:, :2] / -posed[:, 2:] * np.array([1.0, -1.0]) + 48.0

    def brightest_across_eyes(split) -> float:
        image = split.read_images([split.items[0]])[0].astype(np.float64).mean(-1)
        t = np.linspace(0.3, 0.7, 9)[:, None]
        across = np.concatenate([pixels[a] + t * (pixels[b] - pixels[a]) for a, b in ((36, 39), (42, 45))])
        x, y = np.rint(across).astype(int).T
        return float(image[y, x].max())

    socket, eyes = brightest_across_eyes(skin), brightest_across_eyes(head)  # measured: 48 and 171 of 255
    assert eyes > max(100.0, 2.0 * socket), (socket, eyes)
