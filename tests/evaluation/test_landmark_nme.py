"""The 68-point NME against hand-computed values, and the hand-marked photo readers."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from hiface_jax.evaluation import landmark_nme


def _reference(rng: np.random.Generator) -> np.ndarray:
    points = rng.uniform(50.0, 150.0, (2, 68, 2))
    points[:, 36], points[:, 45] = (60.0, 100.0), (140.0, 100.0)  # outer eye corners 80 px apart
    return points


def test_nme_of_a_shift_is_its_length_over_the_eye_distance():
    reference = _reference(np.random.default_rng(0))
    all68, inner51 = landmark_nme.nme(reference + np.array([3.0, 4.0]), reference)
    np.testing.assert_allclose(all68, 5.0 / 80.0)
    np.testing.assert_allclose(inner51, 5.0 / 80.0)


def test_inner_nme_ignores_the_jaw_line():
    reference = _reference(np.random.default_rng(1))
    predicted = reference.copy()
    predicted[:, :17] += np.array([0.0, 8.0])  # only the 17 jaw points move, by 8 px
    all68, inner51 = landmark_nme.nme(predicted, reference)
    np.testing.assert_allclose(all68, 17 * 8.0 / 68 / 80.0)
    np.testing.assert_allclose(inner51, 0.0)


def test_nme_names_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(P, 68, 2\)"):
        landmark_nme.nme(np.zeros((1, 5, 2)), np.zeros((1, 5, 2)))


def _write_pts(path, points_one_based: np.ndarray) -> None:
    lines = "\n".join(f"{x:.6f} {y:.6f}" for x, y in points_one_based)
    path.write_text(f"version: 1\nn_points:  {len(points_one_based)}\n{{\n{lines}\n}}\n")


def test_folder_reader_converts_both_formats_and_skips_other_point_sets(tmp_path):
    rng = np.random.default_rng(2)
    ours = rng.uniform(10, 90, (68, 2))  # x, y with pixel centres at +0.5
    image = np.zeros((100, 100, 3), np.uint8)
    for name in ("a.png", "b.png", "c.png", "d.png"):
        iio.imwrite(tmp_path / name, image)
    _write_pts(tmp_path / "a.pts", ours + 0.5)  # iBUG: one-based pixel centres
    yx = (ours - 0.5)[:, ::-1]  # menpo: (y, x), zero-based pixel centres
    (tmp_path / "b.ljson").write_text(json.dumps({"groups": {"LJSON": {"landmarks": {"points": yx.tolist()}}}}))
    _write_pts(tmp_path / "c.pts", ours[:19] + 0.5)  # not a 68-point file: skipped
    photos = landmark_nme.marked_photos(tmp_path)  # d.png has no points: skipped
    assert [p.path.name for p in photos] == ["a.png", "b.png"]
    for photo in photos:
        np.testing.assert_allclose(photo.points, ours, atol=1e-5)


def test_folder_reader_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image with a 68-point"):
        landmark_nme.marked_photos(tmp_path)
    (tmp_path / "x.pts").write_text("not points")
    with pytest.raises(ValueError, match="not an iBUG .pts file"):
        landmark_nme.read_pts(tmp_path / "x.pts")


def test_menpo_ships_four_hand_marked_photos():
    photos = landmark_nme.menpo_photos()
    assert [p.path.name for p in photos] == ["breakingbad.jpg", "einstein.jpg", "lenna.png", "takeo.ppm"]
    for photo in photos:
        height, width = iio.imread(photo.path).shape[:2]
        p = photo.points
        assert (p >= 0).all() and (p[:, 0] <= width).all() and (p[:, 1] <= height).all(), photo.path.name
        # iBUG order: the right eye's outer corner (36) is left of the left eye's (45) in the image,
        # and the nose tip (30) lies between the eyes and the chin (8).
        assert p[36, 0] < p[45, 0] and p[39, 1] < p[30, 1] < p[8, 1], photo.path.name
