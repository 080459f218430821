"""``python -m launch.reconstruct``: valid files for good photos, one message per bad one."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import trimesh

from hiface_jax import mesh_io
from hiface_jax.app import outputs
from hiface_jax.photo import image_io

GOOD = ("astronaut_face0", "grey16_face0", "rgba_face0", "huge_face0", "two_face0", "two_face1")
BAD = {"tiny.png": "too small", "corrupt.jpg": "corrupt or truncated", "coffee.png": "no face found"}


def test_exit_status_counts_failures_and_each_bad_photo_is_named(reconstructed):
    out, result = reconstructed
    assert result.returncode == len(BAD), result.stdout[-2000:] + result.stderr[-3000:]
    for name, why in BAD.items():
        assert any(name in line and why in line for line in result.stdout.splitlines()), (name, result.stdout)
    assert "2 faces found" in result.stdout + result.stderr  # the two-face photo says so
    assert sorted(p.name for p in out.iterdir()) == sorted(GOOD)  # nothing partial, no temp folders


def test_quiet_by_default(reconstructed):
    _, result = reconstructed
    noise = ("libtpu", "LiteRT", "XNNPACK", "InitGoogle", "I1", "W0000")
    assert not [n for n in noise if n in result.stderr], result.stderr[-3000:]
    assert "it/s" in result.stderr or "photo/s" in result.stderr or "s/photo" in result.stderr  # progress bar rate


def test_meshes_maps_and_json_are_valid(reconstructed, face_model, coarse_model):
    out, _ = reconstructed
    face = out / "astronaut_face0"
    coarse = trimesh.load(face / "coarse.obj", process=False, force="mesh")
    # trimesh splits on UV seams; the file itself keeps the model's vertex order and count.
    raw = mesh_io.read_obj(face / "coarse.obj")
    assert raw["vertices"].shape == (face_model.num_vertices, 3)
    assert len(coarse.faces) == len(np.asarray(face_model.triangles))
    detailed = mesh_io.read_obj(face / "detailed.obj")
    assert len(detailed["vertices"]) > 3 * coarse_model.num_vertices  # subdivided once
    assert np.isfinite(detailed["vertices"]).all()
    for name in ("displacement", "displacement_static", "displacement_dynamic"):
        png = iio.imread(face / f"{name}.png")
        assert png.dtype == np.uint16 and png.ndim == 2 and png.max() > png.min(), name
    enc = json.loads((face / "detail.json").read_text())["maps"]
    total, static, dynamic = (
        mesh_io.read_displacement_png(face / f"{n}.png", enc[n]["base_cm"], enc[n]["gain_cm"])
        for n in ("displacement", "displacement_static", "displacement_dynamic")
    )
    # The parts add up to the total within the 16-bit quantisation of each.
    tol = sum(enc[n]["gain_cm"] for n in enc) / 65535
    assert np.abs(static + dynamic - total).max() <= tol
    for name in ("normal", "normal_static", "normal_dynamic", "albedo"):
        img = iio.imread(face / f"{name}.png")
        assert img.dtype == np.uint8 and img.shape[-1] == 3, name
    summary = iio.imread(face / "summary.png")
    assert summary.shape == (224, 5 * 224, 3)
    coeffs = json.loads((face / "coefficients.json").read_text())
    assert set(coeffs["expression"]) == set(coarse_model.expression_names)
    params, codes = outputs.read_coefficients(face, coarse_model.expression_names)
    assert params.identity.shape == (coarse_model.num_identity,) and codes.static.ndim == 1
    # Landmarks in photo pixels: the fitted ones sit near the detector's on the real photo.
    marks = json.loads((face / "landmarks.json").read_text())
    fitted, detected = np.asarray(marks["fitted_68"]), np.asarray(marks["detected_68"])
    photo = image_io.read_image(marks["source"])
    assert fitted.shape == (68, 2) and (fitted >= 0).all() and (fitted[:, 0] < photo.shape[1]).all()
    assert np.median(np.linalg.norm(fitted - detected, axis=1)) < 0.03 * photo.shape[0]


def test_awkward_photos_land_where_the_face_is(reconstructed):
    """Grey 16-bit, RGBA and a huge JPEG of the same photo give the astronaut's landmarks."""
    out, _ = reconstructed
    ref = np.asarray(json.loads((out / "astronaut_face0" / "landmarks.json").read_text())["detected_68"])
    for name, scale in (("grey16_face0", 1.0), ("rgba_face0", 1.0), ("huge_face0", 4096 / 512)):
        got = np.asarray(json.loads((out / name / "landmarks.json").read_text())["detected_68"]) / scale
        assert np.median(np.linalg.norm(got - ref, axis=1)) < 3.0, name


def test_the_fit_method_runs_both_stages_of_launch_fit(reconstructed):
    """``--method fit`` is ``launch.fit``'s fitter: after its photometric stage (no ``--refine``)
    the albedo starts from the photo's colour and the light has more than its ambient start
    (the landmark stage alone leaves albedo 0.5 and SH bands 1-2 at zero)."""
    out, _ = reconstructed
    c = json.loads((out / "astronaut_face0" / "coefficients.json").read_text())
    assert not np.allclose(c["albedo"]["base"], 0.5, atol=1e-3), c["albedo"]["base"]
    assert np.abs(np.asarray(c["sh"])[1:]).max() > 1e-3
