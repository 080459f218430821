"""The transfer benchmark's photo sets."""

import numpy as np

from launch import benchmark_transfer


def test_lfw_faces_are_padded_rgb_uint8():
    photos = benchmark_transfer.lfw_photos(3, 40)
    assert [name for name, _ in photos] == ["lfw:0", "lfw:1", "lfw:2"]
    for _, image in photos:
        assert image.shape == (80, 80, 3) and image.dtype == np.uint8
        assert (image[..., 0] == image[..., 2]).all()  # greyscale in three channels
