"""Fixtures of the evaluation tests: regions, and ground truths built from the real face model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hiface_jax.evaluation import realy
from hiface_jax.evaluation import regions as regions_lib
from hiface_jax.face import face_model as fm
from hiface_jax.sddetail import detail


@pytest.fixture(scope="session")
def face_regions(face_model) -> regions_lib.FaceRegions:
    return regions_lib.face_regions(face_model)


@pytest.fixture(scope="session")
def person_cm(coarse_model) -> np.ndarray:
    """(V_s, 3) a random person's skin with an expression, cm."""
    rng = np.random.default_rng(3)
    psi = np.zeros(coarse_model.num_expression, np.float32)
    psi[coarse_model.expression_index("mouthSmile_L")] = 0.6
    beta = rng.normal(size=coarse_model.num_identity).astype(np.float32)
    return np.asarray(fm.shape(coarse_model, beta, psi), np.float64)


@pytest.fixture(scope="session")
def coarse_gt(person_cm, face_regions) -> realy.GroundTruth:
    """The person's coarse skin as ground truth, mm."""
    mm = person_cm * 10.0
    return realy.GroundTruth(mm, face_regions.skin_triangles, face_regions.labels, face_regions.keypoints(mm))


@pytest.fixture(scope="session")
def dense_gt(coarse_model, coarse_gt, face_regions) -> realy.GroundTruth:
    """The coarse ground truth subdivided once (4x the triangles, about 45k vertices), mm."""
    sub = detail.subdivide(
        np.asarray(coarse_model.triangles), np.asarray(coarse_model.uv_coords), np.asarray(coarse_model.uv_triangles)
    )
    cv, cw = np.asarray(sub.corner_vertices), np.asarray(sub.corner_weights)
    vertices = np.einsum("vkc,vk->vc", coarse_gt.vertices[cv], cw)
    labels = regions_lib.subdivided_labels(face_regions.labels, cv, cw)
    return realy.GroundTruth(vertices, np.asarray(sub.triangles, np.int64), labels, coarse_gt.keypoints)


@pytest.fixture(scope="session")
def split_root(tmp_path_factory):
    return tmp_path_factory.mktemp("benchmark")


@pytest.fixture(scope="session")
def tiny_split_config(small_detail_basis):
    """One person, neutral and expressive, frontal and 35 degrees: 4 images of 96 px."""
    from hiface_jax.evaluation import benchmark_split as bs

    return bs.SplitConfig(
        num_people=1, yaws=(0.0, 35.0), image_size=96, uv_resolution=64, detail_basis=small_detail_basis
    )


@pytest.fixture(scope="session")
def tiny_splits(tiny_split_config, split_root):
    """Both variants of the tiny split, built on disk once for the session."""
    from hiface_jax.evaluation import benchmark_split as bs

    return {
        v: bs.ensure_split(dataclasses.replace(tiny_split_config, variant=v), split_root, progress=False)
        for v in bs.VARIANTS
    }


@pytest.fixture(scope="session")
def scoring_topology(face_model, tiny_split_config):
    """Regions, the subdivided skin and the wrinkle masks at the tiny split's UV resolution."""
    from hiface_jax.evaluation import runner

    return runner.ScoringTopology.of(face_model, tiny_split_config.uv_resolution)
