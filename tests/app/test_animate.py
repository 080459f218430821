"""``python -m launch.animate`` and the animation library: wrinkles follow the expression."""

from __future__ import annotations

import csv
import json

import imageio.v3 as iio
import jax
import numpy as np
import pytest

from hiface_jax import mesh_io
from hiface_jax.app import animation, outputs
from hiface_jax.sddetail import detail


@pytest.fixture(scope="session")
def animated(tmp_path_factory, reconstructed, fit_assets):
    """The astronaut raising her brows then smiling, with the second face's static detail."""
    names = fit_assets.skin.expression_names
    params, codes = outputs.read_coefficients(reconstructed[0] / "astronaut_face0", names)
    donor = outputs.read_coefficients(reconstructed[0] / "two_face1", names)[1]
    weights, labels = animation.builtin_sequence(names, ("brow_raise", "smile"), 5)
    out = tmp_path_factory.mktemp("animated") / "anim"
    profile = animation.write_animation(
        out, fit_assets, params, animation.transfer_detail(codes, donor), weights, labels
    )
    return out, profile


def test_wrinkle_regions_follow_the_expression(animated):
    out, profile = animated
    with open(out / "wrinkles.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10
    forehead = np.array([float(r["forehead_mm"]) for r in rows])
    naso = np.array([float(r["nasolabial_mm"]) for r in rows])
    np.testing.assert_allclose(forehead, profile["forehead"], atol=1e-6)
    # Neutral frames (each expression's first and last) carry no dynamic detail: no tension.
    assert np.all(forehead[[0, 4, 5, 9]] == 0) and np.all(naso[[0, 4, 5, 9]] == 0)
    # Raised brows compress the forehead: its wrinkles rise and fall with the weight.
    assert forehead[2] > 1e-3 and forehead[1] < forehead[2] and forehead[3] < forehead[2]
    # Smiling folds the nasolabial region far more than raising the brows does.
    assert naso[7] > 1e-3 and naso[7] > 5 * naso[2]


def test_video_and_meshes_per_frame(animated, coarse_model):
    out, _ = animated
    video = iio.imread(out / "animation.gif")
    assert video.ndim == 4 and video.shape[2] == 2 * 224  # textured | clay
    objs = sorted((out / "frames").glob("frame_*.obj"))
    assert len(objs) == 10
    first, peak = (mesh_io.read_obj(objs[i])["vertices"] for i in (0, 2))
    assert first.shape == (coarse_model.num_vertices, 3)
    assert np.abs(peak - first).max() > 0.1  # cm: the brows moved
    with open(out / "sequence.csv") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == coarse_model.expression_names


def test_sequence_files(tmp_path, coarse_model):
    names = coarse_model.expression_names
    (tmp_path / "a.csv").write_text("frame,jawOpen,MOUTHSMILE_L\n0,0.5,0\n1,1,0.25\n")
    w = animation.read_sequence(tmp_path / "a.csv", names)
    assert w.shape == (2, len(names)) and w[1, names.index("jawOpen")] == 1.0
    assert w[1, names.index("mouthSmile_L")] == 0.25 and w.sum() == 1.75
    (tmp_path / "b.json").write_text(json.dumps({"frames": [{"jawOpen": 0.3}, {}]}))
    assert animation.read_sequence(tmp_path / "b.json", names)[0, names.index("jawOpen")] == pytest.approx(0.3)
    (tmp_path / "c.csv").write_text("jawOpen,smile\n0,1\n")
    with pytest.raises(animation.SequenceError, match="'smile' is not an ARKit expression"):
        animation.read_sequence(tmp_path / "c.csv", names)
    (tmp_path / "d.csv").write_text("jawOpen\nwide\n")
    with pytest.raises(animation.SequenceError, match="not a number"):
        animation.read_sequence(tmp_path / "d.csv", names)
    with pytest.raises(animation.SequenceError, match="unknown built-in"):
        animation.builtin_sequence(names, ("grin",))


def test_transfer_keeps_the_donors_static_detail_and_own_wrinkles(reconstructed, fit_assets):
    """Animating with transferred codes: static part = donor's, dynamic part = own codes'."""
    assets = fit_assets
    b = assets.basis
    params, _ = outputs.read_coefficients(reconstructed[0] / "astronaut_face0", assets.skin.expression_names)
    k = jax.random.split(jax.random.key(0), 3)
    own = detail.DetailCodes(
        *(jax.random.normal(kk, (n,)) for kk, n in zip(k, (b.num_static, b.num_compress, b.num_stretch)))
    )
    donor = detail.DetailCodes(-own.static, own.compress * 0, own.stretch * 0)
    weights, _ = animation.builtin_sequence(assets.skin.expression_names, ("squint",), 3)
    mixed = jax.device_get(animation.animate(assets, params, animation.transfer_detail(own, donor), weights))
    mine = jax.device_get(animation.animate(assets, params, own, weights))
    np.testing.assert_allclose(
        mixed["static"], np.broadcast_to(detail.static_detail(b, donor.static), mixed["static"].shape), atol=1e-6
    )
    np.testing.assert_allclose(mixed["dynamic"], mine["dynamic"], atol=1e-6)
    assert np.abs(mixed["static"] - mine["static"]).max() > 1e-3
