"""MediaPipe's points on synthetic renders, where the face model gives the truth: the
68-point iBUG mapping, the 478-point embedding on the mesh, and the blendshape names."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from hiface_jax.data import synthetic
from hiface_jax.fit import dense_landmarks as dl
from hiface_jax.fit import fitting
from hiface_jax.fit import landmark_calibration as lc
from hiface_jax.photo import landmark_detector as ld


@pytest.fixture(scope="module")
def renders(small_detail_basis):
    """Four synthetic renders and MediaPipe's detection in each (None where it found none)."""
    config = synthetic.SyntheticConfig(
        seed=11, image_size=192, uv_resolution=64, detail_basis=small_detail_basis, max_yaw=20, max_pitch=10, max_roll=5
    )
    s = synthetic.generate(config, 0, 4)
    with ld.FaceLandmarkDetector() as detector:
        found = [detector.detect(np.ascontiguousarray(s["image"][b])) for b in range(4)]
    assert all(len(f) <= 1 for f in found), [len(f) for f in found]
    return config, s, [f[0] if f else None for f in found]


def test_detected_68_match_the_model_landmarks_on_synthetic_renders(renders):
    _, s, faces = renders
    checked = 0
    for b, face in enumerate(faces):
        if face is None:  # a missed detection says nothing about the mapping
            continue
        checked += 1
        err = np.linalg.norm(ld.mediapipe_to_ibug68(face.landmarks_478) - s["landmarks_2d"][b], axis=1)
        d = np.linalg.norm(s["landmarks_2d"][b, 36] - s["landmarks_2d"][b, 45])
        # Measured: inner points agree within about 3% of the eye-corner distance, the
        # jaw line (defined differently by ICT and MediaPipe) within about 12%.
        # A wrong correspondence (e.g. left/right swapped) gives errors near 50-100%.
        assert np.median(err[17:]) < 0.06 * d, (b, d, err)
        assert np.median(err[:17]) < 0.2 * d, (b, d, err)
    assert checked >= 3, f"the detector found only {checked} of 4 synthetic faces"


def test_canonical_face_is_read_whole_and_mirror_symmetric():
    vertices, triangles = dl.read_canonical_face()
    assert vertices.shape == (dl.NUM_CANONICAL, 3) and triangles.min() == 0 and triangles.max() == 467
    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    nearest = np.min(np.linalg.norm(mirrored[:, None] - vertices[None], axis=-1), axis=1)
    assert nearest.max() < 1e-3  # cm: MediaPipe's canonical face is symmetric to the float


def _relative_errors(model, renders, embedding=None) -> list[np.ndarray]:
    """Per detected face, (468,): the distance between MediaPipe's detections and ``embedding``'s
    points on the render's true mesh (face-oval points on its silhouette), in eye-corner distances."""
    config, s, faces = renders
    cam = fitting.FitCamera(config.image_size, config.fov_degrees)
    out = []
    for b, face in enumerate(faces):
        if face is None:
            continue
        pick = lambda key, b=b: jnp.asarray(s[key][b : b + 1])
        p = fitting.FaceParams(
            pick("identity"), pick("expression"), pick("rotation"), pick("translation"), *([None] * 6)
        )
        targets = fitting.dense_targets(model, face.landmarks_478[None], embedding=embedding)
        err = np.linalg.norm(np.asarray(fitting.project_dense(p, targets, cam) - targets.points)[0], axis=1)
        out.append(err / np.linalg.norm(s["landmarks_2d"][b, 36] - s["landmarks_2d"][b, 45]))
    return out


def test_dense_points_embedded_on_the_mesh_project_onto_mediapipe_detections(coarse_model, renders):
    """The 468 embedded points of each rendered face (its true identity, expression and pose)
    projected into the image, against MediaPipe's detections of the render."""
    contour = np.isin(np.arange(dl.NUM_CANONICAL), ld.FACE_OVAL_RING)
    for err in _relative_errors(coarse_model, renders):
        # Measured (yaw up to 28 degrees): inner median 3-5%, 90th percentile 7-11%; the face
        # oval (matched to the silhouette) median 9-16% of the eye-corner distance.
        assert np.median(err[~contour]) < 0.06 and np.quantile(err[~contour], 0.9) < 0.13, err
        assert np.median(err[contour]) < 0.2, err[contour]


def test_ray_hits_find_the_front_triangle_and_its_barycentric_weights():
    """Two parallel triangles 10 and 20 cm in front of a 100 px camera (focal 200 px): a ray
    hits the near one where both cover its pixel, the far one where only it does, with the
    weights of the analytic point; a pixel beside both is a miss."""
    near = np.array([[-2.0, -2.0, -10.0], [3.0, -2.0, -10.0], [-2.0, 3.0, -10.0]])
    far = near * np.array([4.0, 4.0, 2.0])  # twice as far, twice as wide in the image
    posed, triangles = np.concatenate([near, far]), np.array([[0, 1, 2], [3, 4, 5]])
    focal, size = 200.0, 100
    target = np.array([[0.5, 0.25, -10.0], [2.0, 1.0, -20.0], [40.0, 40.0, -20.0]])  # both cover, far only, none
    pixels = np.stack([50 + focal * target[:, 0] / -target[:, 2], 50 - focal * target[:, 1] / -target[:, 2]], 1)
    hit = lc.ray_hits(pixels, posed, triangles, focal, size)
    assert hit.triangles.tolist() == [0, 1, -1]
    np.testing.assert_allclose(hit.points[:2], target[:2], atol=1e-4)
    corners = posed[triangles[hit.triangles[:2]]]
    np.testing.assert_allclose(np.einsum("nk,nkc->nc", hit.weights[:2], corners), target[:2], atol=1e-4)


def test_calibrated_points_sit_nearer_mediapipe_on_unseen_renders(coarse_model, renders, small_detail_basis):
    """Calibrated on 16 renders of one generator seed, the embedding is checked on the four
    renders of another (``renders``): the detections lie nearer its points than the canonical
    embedding's, on each face (measured: medians 3.3-4.0 % of the eye-corner distance before,
    1.9-2.6 % after). The face-oval rows, which slide with pose, are left alone."""
    config = renders[0]
    base = dl.dense_embedding(coarse_model)
    views = lc.generator_views(16, dataclasses.replace(config, seed=12, max_yaw=lc.MAX_YAW), progress=False)
    calibrated = lc.calibrate(base, coarse_model, views)
    np.testing.assert_array_equal(calibrated.vertices[base.contour], base.vertices[base.contour])
    np.testing.assert_allclose(calibrated.weights.sum(1), 1.0, atol=1e-5)
    inner = lambda embedding: np.array(
        [np.median(err[~base.contour]) for err in _relative_errors(coarse_model, renders, embedding)]
    )
    before, after = inner(base), inner(calibrated)
    assert (after < 0.85 * before).all(), (before, after)
    # The lid pairs' bias, checked on 48 renders of a third seed: on open eyes, the detected
    # gaps less the calibrated bias centre nearer the true lid vertices' gaps. One pair's error
    # scatters by about 0.08, so a median over n pairs is good to about 0.1 / sqrt(n): 16 renders
    # (28 pairs) read +0.029 on one machine and +0.021 on another. On these 112 pairs: +0.041
    # raw, about -0.01 corrected; ``launch.benchmark_lid_gap`` (166 pairs): +0.046 and +0.003.
    assert (base.lid_gap_bias == 0).all() and (calibrated.lid_gap_bias > 0).all(), calibrated.lid_gap_bias
    raw = []
    for view in lc.generator_views(48, dataclasses.replace(config, seed=13, max_yaw=lc.MAX_YAW), progress=False):
        detected, true = lc.lid_gap_readings(view.landmarks_478, view.landmarks_68)
        error = detected - true
        raw += [error[k] - (0, calibrated.lid_gap_bias[k]) for k in np.nonzero(view.open_pairs)[0]]
    raw = np.array(raw)
    assert len(raw) >= 80 and abs(np.median(raw[:, 1])) < np.median(raw[:, 0]), np.median(raw, axis=0)


def test_blendshape_scores_map_onto_every_model_expression(coarse_model, renders):
    _, s, faces = renders
    names = coarse_model.expression_names
    scores = np.arange(len(ld.BLENDSHAPE_NAMES), dtype=np.float32)
    mapped = ld.blendshapes_to_expression(scores, names)
    assert mapped.shape == (len(names),)
    for name, value in zip(names, mapped):
        mp_name = ld.BLENDSHAPE_NAMES[int(value)]
        side = {"_L": "Left", "_R": "Right"}.get(name[-2:], "")
        base = name.removesuffix("_L").removesuffix("_R")
        # ICT splits the two symmetric ARKit shapes into halves; both halves read the one score.
        assert mp_name == base + side or (mp_name == base and base in ("browInnerUp", "cheekPuff")), (name, mp_name)
    face = next(f for f in faces if f is not None)
    assert face.blendshapes.shape == (52,) and ((face.blendshapes >= 0) & (face.blendshapes <= 1)).all()
