"""The realistic parts of the synthetic generator: eyes and mouth behind lids and lips,
photo albedo projection, camera effects against PIL's JPEG, backgrounds, ambient
occlusion against a closed form, the dominant light of SH."""

from __future__ import annotations

import io
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
from PIL import Image

import rendering
from hiface_jax.data import backgrounds, camera_effects, occlusion, photo_albedo, scene_sampling, synthetic, torso
from hiface_jax.data.eyes_mouth import Segment
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import face_model as fm
from hiface_jax.face import face_render
from hiface_jax.geometry import rotation, uv


@pytest.fixture(scope="module")
def controlled(small_synthetic_config):
    """Three frontal faces at 100 cm looking at the camera, without hair or extra shapes
    (the batch size of the module's other samples, so the compilation is shared):
    0 eyes open, mouth closed; 1 eyes shut; 2 mouth open (jawOpen 0.7) and a wink (left eye shut)."""
    s = synthetic.sampler(small_synthetic_config)
    d = dict(s.draw(s.keys(0, 3)))
    names = s.model.expression_names
    expression = np.zeros((3, len(names)), np.float32)
    expression[2, names.index("jawOpen")] = 0.7
    d.update(
        euler=jnp.zeros((3, 3)), offset=jnp.array([[0.0, 0.0, -100.0]] * 3), gaze_angles=jnp.zeros((3, 2)),
        eyelid_closure=jnp.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]]), expression=jnp.asarray(expression),
        hair_present=jnp.zeros(3, bool),
    )  # fmt: skip
    return jax.device_get(s.render(d))


def test_eyelids_hide_the_iris_and_lips_hide_the_teeth(controlled):
    seg = controlled["segmentation"]
    s = seg.shape[-1]
    left, right = seg[..., : s // 2], seg[..., s // 2 :]  # image left shows the subject's right eye
    iris = lambda x: int((x == Segment.IRIS).sum())
    assert iris(seg[0]) > 20, "open eyes show their irises"
    assert iris(seg[1]) == 0 and int((seg[1] == Segment.SCLERA).sum()) == 0, "shut lids cover the eyeballs"
    # Wink: the subject's left eye (image right) is shut, the right one open.
    assert iris(right[2]) == 0 and iris(left[2]) > 10
    teeth = lambda x: int((x == Segment.TEETH).sum())
    assert teeth(seg[0]) == 0 and teeth(seg[1]) == 0, "closed lips hide the teeth"
    assert teeth(seg[2]) > 5 and int((seg[2] == Segment.MOUTH).sum()) > 5, "an open mouth shows teeth and mouth"
    np.testing.assert_allclose(controlled["eyelid_closure"][1], 1.0)
    assert controlled["lip_gap"][2] > 0.5 > controlled["lip_gap"][0]  # cm
    # Looking at the camera from the front: gaze toward +z, both eyes alike.
    g = controlled["gaze"][0]
    assert (g[:, 2] > 0.95).all() and np.abs(g[0] - g[1]).max() < 0.3


@pytest.fixture(scope="module")
def projection_setup(coarse_model):
    m = coarse_model
    size, res = 128, 64
    renderer = face_render.make_renderer(m, size, 12.0)
    layout = albedo_lib.albedo_layout(
        np.asarray(m.uv_coords), np.asarray(m.uv_triangles), np.asarray(m.triangles),
        np.asarray(m.landmark_indices), m.num_vertices, res,
    )  # fmt: skip
    raster = uv.uv_raster(np.asarray(m.uv_coords), np.asarray(m.uv_triangles), res)
    p = albedo_lib.sample_albedo(jax.random.key(3), 1)
    grid = 0.5 * (p["grid"] + p["grid"][:, :, ::-1])  # a left-right symmetric albedo
    truth = albedo_lib.albedo_map(p["base"], p["lips"], p["brows"], grid, layout)
    return renderer, raster, truth


def test_photo_albedo_round_trip(coarse_model, projection_setup):
    """A known albedo rendered on a turned face projects back to itself where the photo
    sees the skin; the completed map takes the hidden half from the mirror."""
    renderer, raster, truth = projection_setup
    m = coarse_model
    ident = 0.5 * jax.random.normal(jax.random.key(4), (1, m.num_identity))
    rot = rotation.euler_to_matrix(jnp.radians(jnp.array([[5.0, 40.0, 0.0]])))
    rest = fm.shape(m, ident, jnp.zeros((1, m.num_expression)))
    centre = rest[:, np.asarray(m.landmark_indices)].mean(1)
    verts = jnp.einsum("bij,bvj->bvi", rot, rest - centre[:, None]) + jnp.array([0.0, 0.0, -110.0])
    sh = scene_sampling.sample_lighting(jax.random.key(5), 1, scene_sampling.SceneDistribution())
    out = face_render.render(renderer, verts, truth, sh)
    mask = out["mask"]
    a, w = photo_albedo.project_albedo(m, verts, sh, out["image"], mask, renderer, raster)
    a, w, t = np.asarray(a[0]), np.asarray(w[0]), np.asarray(truth[0])
    seen = w > 0.9
    assert 0.15 < seen.mean() < 0.6
    err = np.abs(a - t).max(-1)[seen]
    assert np.median(err) < 0.01 and np.quantile(err, 0.9) < 0.05, (np.median(err), np.quantile(err, 0.9))
    full = photo_albedo.complete_map(a, w)
    mirrored = (w < 0.05) & (w[:, ::-1] > 0.9)
    assert mirrored.sum() > 100
    err_m = np.abs(full - t).max(-1)[mirrored]
    assert np.median(err_m) < 0.015, np.median(err_m)
    # Hole filling leaves no empty texel and stays within the observed colours.
    assert np.isfinite(full).all() and full.min() >= 0 and full.max() <= 1


def test_photo_albedo_bank_errors(tmp_path):
    with pytest.raises(photo_albedo.PhotoAlbedoError, match="does not exist"):
        photo_albedo.load_bank(str(tmp_path / "missing.npz"), 64)
    (tmp_path / "bad.npz").write_bytes(b"not a bank")
    with pytest.raises(photo_albedo.PhotoAlbedoError, match="not a readable"):
        photo_albedo.load_bank(str(tmp_path / "bad.npz"), 64)
    np.savez(tmp_path / "partial.npz", maps=np.zeros((1, 8, 8, 3)))
    with pytest.raises(photo_albedo.PhotoAlbedoError, match="missing"):
        photo_albedo.load_bank(str(tmp_path / "partial.npz"), 64)
    empty = photo_albedo.load_bank(None, 16)
    mix = photo_albedo.sample_mix(jax.random.key(0), 8, empty, 1.0)
    assert (np.asarray(mix["albedo_photo_id"]) == -1).all() and (np.asarray(mix["albedo_photo_weight"]) == 0).all()


def test_push_pull_fills_holes_smoothly():
    yy, xx = np.mgrid[:32, :32] / 31.0
    ramp = np.stack([xx, yy, 0.5 * (xx + yy)], -1)
    weight = np.ones((32, 32))
    weight[8:20, 10:24] = 0.0
    filled = photo_albedo.push_pull_fill(ramp * weight[..., None], weight)
    np.testing.assert_allclose(filled[weight > 0], ramp[weight > 0], atol=1e-9)
    assert np.abs(filled - ramp)[weight == 0].max() < 0.12  # a linear field is nearly recovered


@pytest.mark.parametrize("quality", [30, 60])
def test_jpeg_matches_pil(quality):
    """Our on-device JPEG against libjpeg (through PIL) at the same quality: their
    difference is a fraction of what compression itself changes."""
    img = skimage.data.astronaut()[100:324, 150:374]
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    pil = np.asarray(Image.open(buf)).astype(float)
    ours = np.asarray(camera_effects.jpeg_compress(jnp.asarray(img[None], jnp.float32), jnp.asarray([float(quality)])))[0]
    assert np.abs(ours - pil).mean() < 0.3 * np.abs(img - pil).mean()


def test_gaussian_blur_has_the_gaussian_moments():
    delta = np.zeros((1, 33, 33, 1), np.float32)
    delta[0, 16, 16] = 1.0
    for sigma in (0.0, 1.5, 3.0):
        out = np.asarray(camera_effects.gaussian_blur(jnp.asarray(delta), jnp.asarray([sigma]), 14))[0, ..., 0]
        np.testing.assert_allclose(out.sum(), 1.0, atol=1e-5)
        x = np.arange(33) - 16
        np.testing.assert_allclose((out.sum(0) * x**2).sum(), sigma**2, atol=1e-3)


def test_camera_is_identity_without_effects():
    x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3))
    cam = {k: jnp.zeros_like(v) for k, v in camera_effects.sample_camera(jax.random.key(1), 2).items()}
    cam["camera_white_balance"] = jnp.ones((2, 3))
    out = camera_effects.apply_camera(jax.random.split(jax.random.key(2), 2), x, cam)
    np.testing.assert_array_equal(np.asarray(out), np.round(np.asarray(albedo_lib.linear_to_srgb(x)) * 255))


def test_background_folder_and_sampling(tmp_path):
    Image.fromarray((np.arange(64 * 48).reshape(48, 64) % 251).astype(np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.full((40, 40, 4), 200, np.uint8)).save(tmp_path / "rgba.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    images = backgrounds.folder_images(tmp_path)
    assert [p.split("/")[-1] for p, _ in images] == ["grey.png", "rgba.png"]
    bank, names = backgrounds.background_bank(tmp_path, 32)
    assert bank.shape == (len(names), 32, 32, 3) and bank.dtype == np.uint8 and names[-1].endswith("rgba.png")
    with pytest.raises(backgrounds.BackgroundError):
        backgrounds.folder_images(tmp_path / "nothing")
    out, ids = jax.jit(backgrounds.sample_backgrounds, static_argnums=(2, 3))(jax.random.key(0), jnp.asarray(bank), 64, 24)
    out, ids = np.asarray(out), np.asarray(ids)
    assert out.shape == (64, 24, 24, 3) and out.min() >= 0 and out.max() <= 1
    assert (ids == -1).any() and ((ids >= 0) & (ids < len(names))).sum() > 32


def test_ambient_occlusion_of_an_open_box_matches_the_view_factor():
    """The floor centre of an open box (half-width a, height h) sees the sky only through
    the opening: AO = the view factor from a differential area to the parallel square
    above it, 4 F_corner(a / h, a / h) with the corner-rectangle formula
    F_corner(A, B) = (A / sqrt(1 + A^2) atan(B / sqrt(1 + A^2)) + B / sqrt(1 + B^2) atan(A / sqrt(1 + B^2))) / (2 pi)."""
    a = h = 1.0
    n = 8
    g = np.linspace(-a, a, n + 1)
    xx, zz = np.meshgrid(g, g)
    floor = np.stack([xx.ravel(), np.zeros(xx.size), zz.ravel()], -1)
    idx = np.arange(xx.size).reshape(n + 1, n + 1)
    quads = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    verts = [floor]
    faces = [tris]
    corners = [(-a, -a), (a, -a), (a, a), (-a, a)]
    for k in range(4):  # four walls, two triangles each
        (x0, z0), (x1, z1) = corners[k], corners[(k + 1) % 4]
        base = sum(len(v) for v in verts)
        verts.append(np.array([[x0, 0, z0], [x1, 0, z1], [x1, h, z1], [x0, h, z0]]))
        faces.append(np.array([[0, 1, 2], [0, 2, 3]]) + base)
    v, f = np.concatenate(verts), np.concatenate(faces)
    ao = occlusion.bake_ambient_occlusion(v, f, num_directions=512, resolution=96, chunk=64)
    centre = int(idx[n // 2, n // 2])
    A = B = a / h
    corner = (A / math.sqrt(1 + A * A) * math.atan(B / math.sqrt(1 + A * A)) + B / math.sqrt(1 + B * B) * math.atan(A / math.sqrt(1 + B * B))) / (2 * math.pi)
    np.testing.assert_allclose(ao[centre], 4 * corner, atol=0.03)
    assert ao[centre] > ao[int(idx[1, 1])]  # near a corner of the box it is darker


def test_torso_faces_outward():
    uv_, tris = torso.grid()
    v = np.asarray(torso.torso_rest(jnp.asarray(uv_), torso.sample_torso(jax.random.key(0), 1)))[0]
    n = np.asarray(rendering.face_normals(jnp.asarray(v), jnp.asarray(tris)))
    radial = v[tris].mean(1) - np.array([0.0, 0.0, -0.8])
    radial[:, 1] = 0.0
    assert ((n * radial).sum(1) > 0).all()
