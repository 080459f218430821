"""Detail errors with known answers on the split's ground truth; wrinkle regions in UV."""

from __future__ import annotations

import numpy as np
import pytest

from hiface_jax.evaluation import benchmark_split as bs
from hiface_jax.evaluation import detail_metrics


@pytest.fixture(scope="module")
def detail_topo(scoring_topology):
    return scoring_topology.detail


@pytest.fixture(scope="module")
def expressive_truth(tiny_splits):
    return bs.read_ground_truth(tiny_splits["synthetic"].items[2])


def test_wrinkle_regions_cover_both_sides_of_the_face(face_model, detail_topo):
    vertex_masks = detail_metrics.wrinkle_vertex_masks(face_model)
    x = np.asarray(face_model.mean_shape)[: len(vertex_masks["forehead"]), 0]
    for name, member in vertex_masks.items():
        assert (x[member] < 0).sum() > 0.4 * member.sum() and (x[member] > 0).sum() > 0.4 * member.sum(), name
    sizes = {k: int(m.sum()) for k, m in detail_topo.masks.items()}
    assert sizes["forehead"] > sizes["crows_feet"] > sizes["nasolabial"] > 20, sizes
    assert not (detail_topo.masks["forehead"] & detail_topo.masks["nasolabial"]).any()


def test_a_constant_displacement_offset_scores_that_offset(detail_topo, expressive_truth):
    t = expressive_truth
    total = t["displacement_static"] + t["displacement_dynamic"]
    shifted = detail_metrics.detail_errors(
        detail_topo,
        t["vertices_coarse"],
        t["displacement_static"],
        t["displacement_dynamic"],
        total + 0.01,
        t["displacement_static"] + 0.01,
    )
    for region in detail_metrics.WRINKLE_REGIONS + ("all",):
        assert np.isclose(shifted[f"total_{region}_displacement_mm"], 0.1, atol=1e-5)  # 0.01 cm
        assert np.isclose(shifted[f"static_{region}_displacement_mm"], 0.1, atol=1e-5)
        assert shifted[f"dynamic_{region}_displacement_mm"] < 1e-5
        # A constant offset barely turns the normals (only through the surface's curvature).
        assert shifted[f"total_{region}_normal_deg"] < 0.5


def test_no_detail_scores_the_truth_itself_and_total_only_predictions_score_the_total(detail_topo, expressive_truth):
    t = expressive_truth
    static, dynamic = t["displacement_static"], t["displacement_dynamic"]
    none = detail_metrics.detail_errors(detail_topo, t["vertices_coarse"], static, dynamic, None)
    mask = detail_topo.masks["forehead"]
    assert np.isclose(none["static_forehead_displacement_mm"], 10 * np.abs(static[mask]).mean(), rtol=1e-5)
    assert np.isclose(none["dynamic_forehead_displacement_mm"], 10 * np.abs(dynamic[mask]).mean(), rtol=1e-5)
    assert none["dynamic_all_normal_deg"] > 0.05  # the expressive face has wrinkles to miss
    # A method giving the total only (at another resolution) is scored on the total only.
    upsampled = np.repeat(np.repeat(static + dynamic, 2, 0), 2, 1)
    total_only = detail_metrics.detail_errors(detail_topo, t["vertices_coarse"], static, dynamic, upsampled)
    assert {k.split("_")[0] for k in total_only} == {"total"}
    assert total_only["total_all_displacement_mm"] < 0.3 * none["total_all_displacement_mm"]
