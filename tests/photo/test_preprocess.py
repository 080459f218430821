"""Detection, alignment and masks on real photos, with the real MediaPipe."""

import pathlib

import cv2
import matplotlib
import numpy as np
import pytest
import skimage.data
from mediapipe.tasks.python.vision import FaceLandmarksConnections
from PIL import Image

from hiface_jax.photo import align, image_io
from hiface_jax.photo import landmark_detector as ld
from hiface_jax.photo import preprocess as pp

ASTRONAUT = skimage.data.astronaut()  # (512, 512, 3), one face
# iBUG 68 left-right mirror permutation.
IBUG68_MIRROR = (
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46]
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)


def _grace_hopper() -> np.ndarray:
    path = pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return image_io.read_image(path)  # (600, 512, 3)


@pytest.fixture(scope="module")
def detector():
    with ld.FaceLandmarkDetector() as det:
        yield det


@pytest.fixture(scope="module")
def astronaut_face(detector) -> ld.DetectedFace:
    faces = detector.detect(ASTRONAUT)
    assert len(faces) == 1
    return faces[0]


@pytest.fixture(scope="module")
def astronaut_crop(detector) -> pp.FaceCrop:
    crops = pp.preprocess_image(ASTRONAUT, detector)
    assert len(crops) == 1
    return crops[0]


# --- Index tables -----------------------------------------------


def test_ibug68_table_shape_and_weights():
    table = np.array(ld.MEDIAPIPE_TO_IBUG68)
    assert table.shape == (68,) and len(set(table)) == 68
    assert table.min() >= 0 and table.max() < 468  # no iris points
    assert ld.IBUG68_WEIGHTS.shape == (68,)
    assert (ld.IBUG68_WEIGHTS[ld.IBUG68_CONTOUR] < 1).all()
    assert (ld.IBUG68_WEIGHTS[17:] == 1).all()
    pts = np.random.default_rng(0).normal(size=(2, 478, 3))
    np.testing.assert_array_equal(ld.mediapipe_to_ibug68(pts), pts[:, table])


@pytest.mark.parametrize(
    "ring,connections",
    [
        (ld.FACE_OVAL_RING, FaceLandmarksConnections.FACE_LANDMARKS_FACE_OVAL),
        (ld.RIGHT_EYE_RING, FaceLandmarksConnections.FACE_LANDMARKS_RIGHT_EYE),
        (ld.LEFT_EYE_RING, FaceLandmarksConnections.FACE_LANDMARKS_LEFT_EYE),
        (ld.INNER_LIPS_RING, FaceLandmarksConnections.FACE_LANDMARKS_LIPS[20:]),
    ],
)
def test_rings_follow_mediapipe_connections(ring, connections):
    edges = {frozenset((c.start, c.end)) for c in connections}
    ring_edges = {frozenset((a, b)) for a, b in zip(ring, ring[1:] + ring[:1])}
    assert ring_edges == edges


def test_ibug68_mapping_is_mirror_consistent(detector, astronaut_face):
    # Detect on the mirrored photo, mirror back: iBUG mirror pairs must meet.
    flipped = detector.detect(np.ascontiguousarray(ASTRONAUT[:, ::-1]))
    assert len(flipped) == 1
    back = ld.mediapipe_to_ibug68(flipped[0].landmarks_478).copy()
    back[:, 0] = ASTRONAUT.shape[1] - back[:, 0]  # mirror x -> W - x (corner convention)
    original = ld.mediapipe_to_ibug68(astronaut_face.landmarks_478)
    error = np.linalg.norm(back[IBUG68_MIRROR] - original, axis=1)
    assert np.median(error) < 1.5 and error.max() < 4.0


# --- Detection --------------------------------------------------


def test_astronaut_landmarks_are_plausible(astronaut_face):
    lm = ld.mediapipe_to_ibug68(astronaut_face.landmarks_478)
    right_eye, left_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    nose_tip, mouth, chin = lm[30], lm[48:60].mean(0), lm[8]
    # Image y grows downwards: eyes above nose above mouth above chin.
    assert max(right_eye[1], left_eye[1]) < nose_tip[1] < mouth[1] < chin[1]
    assert right_eye[0] < nose_tip[0] < left_eye[0]  # subject's right on left
    assert 30 < np.linalg.norm(left_eye - right_eye) < 60  # ~ 45 px here
    # Known face location in this photo (checked by eye: about x 180-270).
    x0, y0, x1, y1 = astronaut_face.box
    assert 160 < x0 < 200 and 250 < x1 < 290 and 50 < y0 < 100 and y1 < 200
    assert (lm >= astronaut_face.box[:2]).all()
    assert (lm <= astronaut_face.box[2:]).all()
    assert astronaut_face.score > 0.8


def test_two_faces_side_by_side(detector):
    canvas = np.full((700, 1400, 3), 200, np.uint8)
    canvas[50:562, 50:562] = ASTRONAUT
    canvas[50:650, 800:1312] = _grace_hopper()
    faces = detector.detect(canvas)
    assert len(faces) == 2
    centers = [f.box.reshape(2, 2).mean(0) for f in faces]
    assert 50 < centers[0][0] < 562 and 800 < centers[1][0] < 1312  # in order


def test_small_faces_in_a_large_image_are_found_by_tiling(detector):
    small = cv2.resize(ASTRONAUT, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((1024, 1536, 3), 128, np.uint8)
    canvas[100:356, 100:356] = small  # faces ~48 px: 3% of the image width
    canvas[600:856, 1100:1356] = small
    faces = detector.detect(canvas)
    assert len(faces) == 2
    assert faces[0].box[0] < 356 and faces[1].box[0] > 1100


def test_min_face_size_leaves_out_small_faces():
    small = cv2.resize(ASTRONAUT, (256, 256), interpolation=cv2.INTER_AREA)
    with ld.FaceLandmarkDetector(min_face_size=100) as det:
        assert det.detect(np.ascontiguousarray(small)) == []
        assert len(det.detect(ASTRONAUT)) == 1


@pytest.mark.parametrize(
    "image", [skimage.data.coffee(), np.full((300, 400, 3), 128, np.uint8)], ids=["coffee", "flat_gray"]
)
def test_faceless_images(detector, image):
    assert detector.detect(image) == []
    with pytest.raises(ld.NoFaceFoundError):
        pp.preprocess_image(image, detector, source="x.png")


def test_detector_rejects_non_rgb_uint8(detector):
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.detect(ASTRONAUT.astype(np.float32))
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.detect(ASTRONAUT[..., 0])


def test_tile_windows_cover_every_small_face():
    windows = np.array(ld.tile_windows(700, 1400, min_tile=200))
    assert tuple(windows[0]) == (0, 0, 1400, 700)
    assert (windows[:, :2] >= 0).all()
    assert (windows[:, 2] <= 1400).all() and (windows[:, 3] <= 700).all()
    # Any 80 px face (<= half of the smallest 175 px tile) lies whole in a tile.
    for x in range(0, 1400 - 80, 37):
        for y in range(0, 700 - 80, 37):
            inside = (windows[:, 0] <= x) & (windows[:, 1] <= y) & (windows[:, 2] >= x + 80) & (windows[:, 3] >= y + 80)
            assert inside.any()


def test_non_max_suppression_keeps_best_and_is_stable():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.5, 0.9, 0.7, 0.9], np.float32)
    assert ld.non_max_suppression(boxes, scores, 0.3) == [1, 2]


# --- Alignment and crops ----------------------------------------


def test_crop_fields(astronaut_crop):
    c = astronaut_crop
    assert c.image.shape == (224, 224, 3) and c.image.dtype == np.uint8
    assert c.landmarks_478.shape == (478, 2)
    assert c.landmarks_68.shape == (68, 2)
    assert c.mask.shape == (224, 224) and c.mask.dtype == np.float32
    assert c.crop_to_original.shape == (3, 3)
    assert c.source is None and c.score > 0.8
    np.testing.assert_array_equal(c.landmarks_68, ld.mediapipe_to_ibug68(c.landmarks_478))
    # The whole face is in the crop, with a margin.
    assert (c.landmarks_478 > 5.5).all() and (c.landmarks_478 < 219.5).all()


def test_crop_round_trip_to_original(astronaut_face, astronaut_crop):
    back = align.transform_points(astronaut_crop.crop_to_original, astronaut_crop.landmarks_478)
    np.testing.assert_allclose(back, astronaut_face.landmarks_478, atol=1e-3)


def test_crop_pixels_match_the_transform(detector, astronaut_crop):
    # Landmarks detected afresh on the crop image land where the transform put
    # them: checks the warp and the coordinate conventions end to end.
    again = detector.detect(astronaut_crop.image)
    assert len(again) == 1
    error = np.linalg.norm(again[0].landmarks_478 - astronaut_crop.landmarks_478, axis=1)
    assert np.median(error) < 1.0 and error.max() < 3.0
    # And each crop pixel is the original bilinearly sampled where its centre
    # maps (getRectSubPix takes OpenCV's centre-convention coordinates).
    yx = np.array([[112, 112], [60, 150], [170, 90], [200, 20]])
    xy_original = align.transform_points(astronaut_crop.crop_to_original, yx[:, ::-1] + 0.5)
    for (y, x), (ox, oy) in zip(yx, xy_original):
        sampled = cv2.getRectSubPix(ASTRONAUT, (1, 1), (float(ox - 0.5), float(oy - 0.5)))
        np.testing.assert_allclose(astronaut_crop.image[y, x], sampled[0, 0], atol=1)


def test_crop_transform_centre_and_pixel_convention():
    image = np.zeros((400, 500, 3), np.uint8)
    image[200, 300] = 255
    to_crop = align.crop_transform(np.array([300.5, 200.5]), 65, 0.7, 65)  # pixel (200, 300)'s centre
    np.testing.assert_allclose(align.transform_points(to_crop, np.array([[300.5, 200.5]])), [[32.5, 32.5]])
    crop = align.warp(image, to_crop, 65)
    assert crop[32, 32, 0] == 255
    assert np.argmax(crop[..., 0]) == 32 * 65 + 32
    assert np.sort(crop[..., 0].ravel())[-2] < 255  # neighbours only bleed


@pytest.mark.parametrize("side,size", [(800, 100), (300, 40)], ids=["most_of_image", "small_window"])
def test_downscaled_warp_keeps_positions(side, size):
    # The area pre-shrink (of the window's part of the image) must not shift
    # content: a blob's centroid lands where the transform sends its centre.
    yy, xx = np.mgrid[:900, :1000] + 0.5  # pixel centres
    centre = np.array([517.8, 402.1])
    blob = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / 800.0)
    image = np.repeat((blob * 255).astype(np.uint8)[..., None], 3, -1)
    to_crop = align.crop_transform(np.array([480.5, 420.5]), side, 0.3, size)
    crop = align.warp(image, to_crop, size)[..., 0].astype(np.float64)
    cy, cx = np.mgrid[:size, :size] + 0.5
    centroid = np.array([(cx * crop).sum(), (cy * crop).sum()]) / crop.sum()
    expected = align.transform_points(to_crop, centre[None])[0]
    np.testing.assert_allclose(centroid, expected, atol=0.02)


@pytest.mark.parametrize(
    "scale,angle", [(1.0, 0.0), (1.0, 0.9), (4.0, 0.7), (1 / 3, -0.4)], ids=["same", "rotated", "enlarged", "shrunk"]
)
def test_warp_follows_the_project_pixel_convention(scale, angle):
    # Independent truth: a small symmetric blob centred on `point`, drawn by
    # evaluating it at pixel (i, j)'s centre (j + 0.5, i + 0.5) as the project
    # convention defines it. Its intensity centroid in the crop, taken the same
    # way, must land where the crop similarity (written out here with plain
    # NumPy, not align's code) sends `point`.
    point = np.array([123.3, 87.8])
    rows, cols = np.mgrid[:200, :260]
    blob = np.exp(-((cols + 0.5 - point[0]) ** 2 + (rows + 0.5 - point[1]) ** 2) / (2 * 1.5**2))
    image = np.repeat(np.round(255 * blob).astype(np.uint8)[..., None], 3, -1)
    size, centre = 64, point + np.array([-1.3, 0.9])
    to_crop = align.crop_transform(centre, size / scale, angle, size)
    crop = align.warp(image, to_crop, size)[..., 0].astype(np.float64)

    rows, cols = np.mgrid[:size, :size]
    centroid = np.array([(crop * (cols + 0.5)).sum(), (crop * (rows + 0.5)).sum()]) / crop.sum()
    cos, sin = np.cos(angle), np.sin(angle)
    expected = size / 2 + scale * np.array([[cos, sin], [-sin, cos]]) @ (point - centre)
    np.testing.assert_allclose(align.transform_points(to_crop, point[None])[0], expected, atol=1e-9)
    np.testing.assert_allclose(centroid, expected, atol=0.05)


def test_upright_levels_the_eyes(detector):
    turn = cv2.getRotationMatrix2D((225, 130), 30, 1.0)  # 30 deg roll
    rolled = cv2.warpAffine(ASTRONAUT, turn, (512, 512))
    upright = pp.preprocess_image(rolled, detector)[0]
    right_eye = upright.landmarks_478[list(align.RIGHT_EYE_CORNERS)].mean(0)
    left_eye = upright.landmarks_478[list(align.LEFT_EYE_CORNERS)].mean(0)
    assert abs(left_eye[1] - right_eye[1]) < 1e-3
    assert left_eye[0] > right_eye[0]
    plain = pp.preprocess_image(rolled, detector, upright=False)[0]
    linear = plain.crop_to_original[:2, :2]
    np.testing.assert_allclose(linear, np.diag(np.diag(linear)), atol=1e-12)


def test_size_and_margin(detector):
    big = pp.preprocess_image(ASTRONAUT, detector, size=256, margin=2.0)[0]
    assert big.image.shape == (256, 256, 3)
    extent = np.ptp(big.landmarks_478, axis=0).max()
    assert extent <= 256 / 2.0 + 1e-3


def test_downscaled_crop_does_not_alias():
    # A fine checkerboard shrunk 8x must come out flat gray, not moire.
    board = (np.indices((800, 800)).sum(0) % 2 * 255).astype(np.uint8)
    board = np.repeat(board[..., None], 3, -1)
    to_crop = align.crop_transform(np.array([400.0, 400.0]), 800, 0.0, 100)
    crop = align.warp(board, to_crop, 100)
    assert np.abs(crop[5:-5, 5:-5].astype(int) - 127).max() <= 3


def test_mask_covers_skin_not_eyes_mouth_or_background(astronaut_crop):
    c = astronaut_crop
    mask, lm = c.mask, c.landmarks_478
    assert 0.0 <= mask.min() and mask.max() <= 1.0

    def at(index):
        x, y = np.floor(lm[index]).astype(int)  # the pixel holding the point
        return mask[y, x]

    assert at(4) == 1.0  # nose tip
    assert at(205) == 1.0 and at(425) == 1.0  # cheeks
    mouth = np.floor(lm[[13, 14]].mean(0)).astype(int)  # between the teeth
    assert mask[mouth[1], mouth[0]] == 0.0
    assert at(468) == 0.0 and at(473) == 0.0  # iris centres
    assert mask[:5].max() == 0.0 and mask[:, :5].max() == 0.0  # corners
    assert 0.3 < mask.mean() < 0.7


def test_mask_is_zero_outside_the_photo(detector):
    # Face at the photo's edge: the crop reaches outside it.
    edge = np.ascontiguousarray(ASTRONAUT[40:240, 190:390])
    c = pp.preprocess_image(edge, detector)[0]
    outside = align.inside_image_mask(edge.shape, np.linalg.inv(c.crop_to_original), 224) == 0
    assert outside.any()
    assert (c.mask[outside] == 0).all() and (c.image[outside] == 0).all()


def test_preprocess_file_reads_odd_formats(tmp_path, detector):
    Image.fromarray(ASTRONAUT).convert("L").save(tmp_path / "gray.png")
    rgba = np.concatenate([ASTRONAUT, np.full((512, 512, 1), 255, np.uint8)], -1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    for name in ["gray.png", "rgba.png"]:
        crops = pp.preprocess_file(tmp_path / name, detector)
        assert len(crops) == 1 and crops[0].source == str(tmp_path / name)
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(image_io.ImageReadError):
        pp.preprocess_file(tmp_path / "text.jpg", detector)
    Image.fromarray(skimage.data.coffee()).save(tmp_path / "coffee.png")
    with pytest.raises(ld.NoFaceFoundError, match="coffee.png"):
        pp.preprocess_file(tmp_path / "coffee.png", detector)


def test_deterministic(detector, astronaut_crop):
    again = pp.preprocess_image(ASTRONAUT, detector)[0]
    with ld.FaceLandmarkDetector() as fresh:
        third = pp.preprocess_image(ASTRONAUT, fresh)[0]
    for other in (again, third):
        np.testing.assert_array_equal(other.image, astronaut_crop.image)
        np.testing.assert_array_equal(other.landmarks_478, astronaut_crop.landmarks_478)
        np.testing.assert_array_equal(other.mask, astronaut_crop.mask)
        np.testing.assert_array_equal(other.crop_to_original, astronaut_crop.crop_to_original)
        assert other.score == astronaut_crop.score
