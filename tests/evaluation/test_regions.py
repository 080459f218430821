"""REALY regions and 85 keypoints on the ICT topology: placement, symmetry, topology."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from hiface_jax.evaluation import regions as regions_lib
from hiface_jax.evaluation.surface import Surface
from hiface_jax.face import ict_facekit


def _frame(face_model):
    mean = np.asarray(face_model.mean_shape, np.float64)
    origin, axes, d = regions_lib.face_frame(mean[np.asarray(face_model.landmark_indices)])
    return lambda p: (np.asarray(p) - origin) @ axes.T / d


def test_regions_are_sized_placed_and_mirror_symmetric(face_model, face_regions):
    frame = _frame(face_model)
    mean = np.asarray(face_model.mean_shape, np.float64)[: face_regions.num_vertices]
    f = frame(mean)
    lmk = np.asarray(face_model.landmark_indices)
    counts = {r: int(face_regions.mask(r).sum()) for r in regions_lib.REGIONS}
    assert all(300 <= c <= 3000 for c in counts.values()), counts
    assert (face_regions.labels[ict_facekit.REGION_RANGES["head_neck"][0] :] == -1).all()  # no region on head, neck
    # Anatomy: the nose tip and bridge are nose, lips are mouth; the forehead lies above
    # every brow landmark, the cheek below the eyes and beside the nose.
    assert face_regions.labels[lmk[30]] == 0 and face_regions.labels[lmk[28]] == 0
    assert face_regions.labels[lmk[51]] == 1 and face_regions.labels[lmk[57]] == 1
    assert f[face_regions.mask("forehead"), 1].min() > f[lmk[17:27], 1].min()
    cheek = f[face_regions.mask("cheek")]
    assert cheek[:, 1].max() < f[lmk[[40, 41, 46, 47]], 1].min() and np.abs(cheek[:, 0]).min() > 0.15
    assert (cheek[:, 0] < 0).sum() > 0.4 * len(cheek) and (cheek[:, 0] > 0).sum() > 0.4 * len(cheek)
    # Mirror symmetry: the vertex nearest each labelled vertex's mirror image mostly shares its label.
    mirrored = f * np.array([-1.0, 1.0, 1.0])
    labelled = np.nonzero(face_regions.labels >= 0)[0]
    _, nearest = cKDTree(f).query(mirrored[labelled])
    assert np.mean(face_regions.labels[nearest] == face_regions.labels[labelled]) > 0.9


def test_keypoints_are_landmarks_then_surface_points_in_mirror_pairs(face_model, face_regions):
    mean = np.asarray(face_model.mean_shape, np.float64)
    kp = face_regions.keypoints(mean)
    assert kp.shape == (85, 3)
    np.testing.assert_allclose(kp[:68], mean[np.asarray(face_model.landmark_indices)])
    np.testing.assert_allclose(face_regions.keypoint_weights.sum(1), 1.0, atol=1e-6)
    on = Surface(mean[: face_regions.num_vertices], face_regions.skin_triangles).closest_points(kp)
    assert np.linalg.norm(on.points - kp, axis=1).max() < 1e-4  # on the mean face (cm)
    f = _frame(face_model)(kp)
    for right, left in [(68, 69), (70, 71), (72, 73), (74, 75), (76, 77), (78, 80), (81, 82), (83, 84)]:
        assert f[right, 0] < 0 < f[left, 0]
        np.testing.assert_allclose(f[left] * [-1, 1, 1], f[right], atol=0.03)  # 3 % of the eye-corner distance
    assert f[57, 1] > f[79, 1] > f[8, 1]  # chin keypoints between lower lip and chin
    # Each region's cheek keypoints lie in the cheek.
    nearest = lambda p: np.argmin(((mean[: face_regions.num_vertices] - p) ** 2).sum(1))
    assert all(face_regions.labels[nearest(kp[k])] == 3 for k in (76, 77))


def test_regions_are_the_same_from_the_full_model_and_the_skin(face_model, coarse_model, face_regions):
    other = regions_lib.face_regions(coarse_model)
    np.testing.assert_array_equal(other.labels, face_regions.labels)
    np.testing.assert_array_equal(other.keypoint_vertices, face_regions.keypoint_vertices)
    np.testing.assert_allclose(other.keypoint_weights, face_regions.keypoint_weights)
    # A mesh in either topology gives the same keypoints.
    full = np.asarray(face_model.mean_shape)
    np.testing.assert_allclose(face_regions.keypoints(full[: coarse_model.num_vertices]), face_regions.keypoints(full))


def test_subdivided_labels_follow_the_coarse_corners():
    labels = np.array([0, 0, 1, -1], np.int8)
    corners = np.array([[0, 1, 2], [0, 1, 2], [2, 3, 0], [0, 2, 3]])
    weights = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(regions_lib.subdivided_labels(labels, corners, weights), [0, 1, -1, 0])
