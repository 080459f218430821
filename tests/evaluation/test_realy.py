"""REALY-style errors with known answers: copies, normal offsets, one region perturbed,
units and pose invariance, users' scans, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hiface_jax.evaluation import realy
from hiface_jax.evaluation import regions as regions_lib
from hiface_jax.geometry import rotation


def _moved(vertices: np.ndarray, scale: float, angles=(0.3, -0.6, 0.2), shift=(4.0, -2.0, -120.0)) -> np.ndarray:
    r = np.asarray(rotation.euler_to_matrix(np.asarray(angles, np.float32)), np.float64)
    return scale * vertices @ r.T + np.asarray(shift)


def _means(result: realy.RealyResult) -> np.ndarray:
    return np.array([result.regions[r].mean for r in regions_lib.REGIONS])


def test_a_rigidly_moved_and_scaled_copy_scores_zero(person_cm, coarse_gt, dense_gt, face_regions):
    pred = _moved(person_cm, 0.37)  # cm, shrunk, turned, far away
    for gt in (coarse_gt, dense_gt):
        result = realy.realy_errors(pred, gt, face_regions)
        assert result.all < 1e-3 and _means(result).max() < 1e-3
        assert np.isclose(result.scale, 10.0 / 0.37, rtol=1e-4)
    labelled = dense_gt.labels >= 0
    assert np.isfinite(result.vertex_errors[labelled]).all() and np.isnan(result.vertex_errors[~labelled]).all()


def test_a_known_normal_offset_scores_that_offset(person_cm, dense_gt, face_regions):
    normals = realy.vertex_normals(dense_gt.vertices, dense_gt.triangles)
    offset = dataclasses.replace(dense_gt, vertices=dense_gt.vertices + 0.5 * normals)
    # Alignment off: any rigid fit would rightly absorb part of a uniform offset.
    result = realy.realy_errors(person_cm * 10.0, offset, face_regions, realy.RealyConfig(align=False))
    np.testing.assert_allclose(_means(result), 0.5, atol=0.01)
    for r in regions_lib.REGIONS:
        assert result.regions[r].std < 0.02 and abs(result.regions[r].median - 0.5) < 0.01


def test_one_region_perturbed_raises_that_region_alone(person_cm, dense_gt, face_regions, face_model):
    normals = realy.vertex_normals(dense_gt.vertices, dense_gt.triangles)
    bridge = dense_gt.keypoints[29]
    bump = 2.0 * np.exp(-((dense_gt.vertices - bridge) ** 2).sum(1) / (2 * 6.0**2))
    bump *= dense_gt.labels == regions_lib.REGIONS.index("nose")
    perturbed = dataclasses.replace(dense_gt, vertices=dense_gt.vertices + bump[:, None] * normals)
    result = realy.realy_errors(_moved(person_cm, 1.0), perturbed, face_regions)
    means = _means(result)
    assert means[0] > 0.1, means
    assert means[1:].max() < 1e-3, means
    # The error sits where the bump is (the rigid fit of the nose absorbs part of it).
    assert np.nanmax(result.vertex_errors[bump > 1.5]) > 0.8


def test_scores_do_not_depend_on_the_prediction_units_or_pose(face_model, coarse_gt, face_regions):
    mean_face_cm = np.asarray(face_model.mean_shape, np.float64)  # the full topology
    base = realy.realy_errors(mean_face_cm, coarse_gt, face_regions)
    assert 0.2 < base.all < 5.0
    again = realy.realy_errors(mean_face_cm, coarse_gt, face_regions)
    np.testing.assert_array_equal(again.vertex_errors, base.vertex_errors)  # deterministic
    for scale, angles in [(10.0, (0.0, 0.0, 0.0)), (10.0, (0.2, 0.9, -0.3)), (0.01, (-0.4, -0.7, 0.1))]:
        other = realy.realy_errors(_moved(mean_face_cm, scale, angles), coarse_gt, face_regions)
        np.testing.assert_allclose(_means(other), _means(base), atol=1e-4)
        np.testing.assert_allclose(other.vertex_errors, base.vertex_errors, atol=1e-3)


def test_a_users_scan_with_keypoints_and_transferred_labels(tmp_path, person_cm, dense_gt, face_regions, face_model):
    # The scan as a user has it: cm, its own vertex order, keypoints in a text file.
    order = np.random.default_rng(0).permutation(len(dense_gt.vertices))
    inverse = np.argsort(order)
    scan_cm = dense_gt.vertices[order] / 10.0
    np.savetxt(tmp_path / "keypoints.txt", dense_gt.keypoints / 10.0)
    gt = realy.ground_truth_from_scan(
        scan_cm, inverse[dense_gt.triangles], np.loadtxt(tmp_path / "keypoints.txt"), face_regions,
        np.asarray(face_model.mean_shape), units="cm",
    )  # fmt: skip
    np.testing.assert_allclose(gt.vertices, dense_gt.vertices[order])
    truth = dense_gt.labels[order]
    labelled = truth >= 0
    assert np.mean(gt.labels[labelled] == truth[labelled]) > 0.85
    assert all((gt.labels == k).sum() > 0.7 * (truth == k).sum() for k in range(4))
    assert realy.realy_errors(person_cm, gt, face_regions).all < 1e-3


def test_bad_input_is_a_clear_error(person_cm, coarse_gt, face_regions, face_model):
    with pytest.raises(ValueError, match=r"ICT topology, \(26719, 3\) or \(11248, 3\)"):
        realy.realy_errors(person_cm[:9409], coarse_gt, face_regions)
    bad = person_cm.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        realy.realy_errors(bad, coarse_gt, face_regions)
    empty = dataclasses.replace(coarse_gt, labels=np.where(coarse_gt.labels == 2, -1, coarse_gt.labels).astype(np.int8))
    with pytest.raises(ValueError, match="forehead region has 0 vertices"):
        realy.realy_errors(person_cm, empty, face_regions)
    mean = np.asarray(face_model.mean_shape)
    with pytest.raises(ValueError, match=r"keypoints must be \(85, 3\)"):
        realy.ground_truth_from_scan(
            coarse_gt.vertices, coarse_gt.triangles, coarse_gt.keypoints[:68], face_regions, mean
        )
    with pytest.raises(ValueError, match="units must be one of mm, cm, m"):
        realy.ground_truth_from_scan(
            coarse_gt.vertices, coarse_gt.triangles, coarse_gt.keypoints, face_regions, mean, units="in"
        )


def test_weighted_procrustes_equals_repeating_pairs():
    """REALY repeats keypoint pairs to weight them; integer weights must give the same fit."""
    from hiface_jax.geometry.procrustes import procrustes

    rng = np.random.default_rng(5)
    src = rng.normal(size=(20, 3))
    dst = _moved(src, 1.3) + rng.normal(size=(20, 3)) * 0.05
    counts = rng.integers(1, 6, size=20)
    for with_scale in (False, True):
        r1, s1, t1 = procrustes(src, dst, with_scale, weights=counts)
        r2, s2, t2 = procrustes(np.repeat(src, counts, 0), np.repeat(dst, counts, 0), with_scale)
        np.testing.assert_allclose(r1, r2, atol=1e-10)
        np.testing.assert_allclose([s1, *t1], [s2, *t2], atol=1e-9)
