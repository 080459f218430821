"""The transfer benchmark's landmark error (NME), against hand-computed values."""

import numpy as np

from launch import benchmark_transfer


def _reference(rng: np.random.Generator) -> np.ndarray:
    points = rng.uniform(50.0, 150.0, (2, 68, 2))
    points[:, 36], points[:, 45] = (60.0, 100.0), (140.0, 100.0)  # outer eye corners 80 px apart
    return points


def test_nme_of_a_shift_is_its_length_over_the_eye_distance():
    reference = _reference(np.random.default_rng(0))
    all68, inner51 = benchmark_transfer.nme(reference + np.array([3.0, 4.0]), reference)
    np.testing.assert_allclose(all68, 5.0 / 80.0)
    np.testing.assert_allclose(inner51, 5.0 / 80.0)


def test_inner_nme_ignores_the_jaw_line():
    reference = _reference(np.random.default_rng(1))
    predicted = reference.copy()
    predicted[:, :17] += np.array([0.0, 8.0])  # only the 17 jaw points move, by 8 px
    all68, inner51 = benchmark_transfer.nme(predicted, reference)
    np.testing.assert_allclose(all68, 17 * 8.0 / 68 / 80.0)
    np.testing.assert_allclose(inner51, 0.0)


def test_lfw_faces_are_padded_rgb_uint8():
    photos = benchmark_transfer.lfw_photos(3, 40)
    assert [name for name, _ in photos] == ["lfw:0", "lfw:1", "lfw:2"]
    for _, image in photos:
        assert image.shape == (80, 80, 3) and image.dtype == np.uint8
        assert (image[..., 0] == image[..., 2]).all()  # greyscale in three channels
