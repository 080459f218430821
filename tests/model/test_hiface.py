"""HiFace forward pass: shapes, the untrained mean face, camera agreement, variants, frozen parts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from hiface_jax.fit import fitting
from hiface_jax.model import hiface
from hiface_jax.sddetail import detail

forward = nnx.jit(lambda model, images: model(images))


def _perturbed_heads(model: hiface.HiFace, seed: int, scale: float = 0.02) -> hiface.HiFace:
    """A copy whose head kernels are random, so predictions depend on the image."""
    model = nnx.clone(model)
    keys = iter(jax.random.split(jax.random.key(seed), 64))
    for name in ("identity", "expression", "rotation", "translation", "static", "dynamic"):
        head = getattr(model, f"head_{name}")
        head.kernel[...] = scale * jax.random.normal(next(keys), head.kernel.shape)
    return model


def test_output_shapes_and_dtypes(hiface_model, synthetic_batch):
    m = hiface_model.face_model
    out = forward(hiface_model, synthetic_batch["image"])
    b, r = 2, hiface_model.uv_resolution
    k = hiface_model.sddetail.static_basis.shape[0]
    kd = hiface_model.sddetail.compress_basis.shape[0] + hiface_model.sddetail.stretch_basis.shape[0]
    expected = {
        "identity": (b, m.num_identity), "expression": (b, m.num_expression), "rotation": (b, 3),
        "translation": (b, 3), "sh": (b, 9, 3), "albedo_grid": (b, 8, 8, 3),
    }  # fmt: skip
    for name, shape in expected.items():
        assert getattr(out.params, name).shape == shape, name
    assert out.static_code.shape == (b, k) and out.dynamic_code.shape == (b, kd) and out.detail_code.shape == (b, 0)
    assert out.vertices.shape == out.rest_vertices.shape == (b, m.num_vertices, 3)
    assert out.landmarks.shape == (b, 68, 2)
    for field in ("tension", "displacement", "displacement_static"):
        assert getattr(out, field).shape == (b, r, r)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(out))
    assert len(hiface_model.expression_names) == m.num_expression and "jawOpen" in hiface_model.expression_names


def test_untrained_model_predicts_the_mean_face_front_facing(hiface_model, synthetic_batch):
    m = hiface_model.face_model
    out = forward(hiface_model, synthetic_batch["image"])
    # Expression weights start at sigmoid(-6) = 0.0025: the mesh is the mean face to 0.02 mm.
    err_mm = 10.0 * np.abs(np.asarray(out.rest_vertices) - np.asarray(m.mean_shape)[None])
    assert err_mm.mean() < 0.02 and err_mm.max() < 0.2
    np.testing.assert_array_equal(out.params.rotation, 0.0)
    np.testing.assert_allclose(out.params.expression, jax.nn.sigmoid(hiface.EXPRESSION_LOGIT0), rtol=1e-6)
    # Front-facing at the default distance: the landmark centroid is on the optical axis.
    lmk3 = np.asarray(out.vertices)[:, np.asarray(m.landmark_indices)].mean(1)
    np.testing.assert_allclose(lmk3, [[0.0, 0.0, -hiface.DEFAULT_DISTANCE]] * 2, atol=0.01)  # cm
    s = hiface_model.image_size
    np.testing.assert_allclose(out.landmarks.mean(1), [[s / 2, s / 2]] * 2, atol=0.1)
    # The face fills the crop as photo.preprocess frames faces: chin to brow is 67 % and 69 %
    # of the side on the crops of the astronaut and Grace Hopper photos.
    span = out.landmarks[0, 8, 1] - out.landmarks[0, 19, 1]
    assert 0.64 * s < span < 0.72 * s


def test_landmarks_are_the_fit_camera_projection_of_the_predicted_mesh(hiface_model, synthetic_batch):
    model = _perturbed_heads(hiface_model, seed=3)
    out = forward(model, synthetic_batch["image"])
    assert np.abs(out.params.rotation).max() > 1e-3  # the prediction is not the trivial one
    cam = fitting.FitCamera(model.image_size, model.fov_degrees)
    # fitting's path: only the landmark rows of the bases (shape_at), then the pinhole.
    expected = fitting.project_landmarks(model.face_model, out.params, cam)
    np.testing.assert_allclose(out.landmarks, expected, atol=2e-3)
    np.testing.assert_allclose(out.vertices, fitting.posed_vertices(model.face_model, out.params), atol=1e-4)


def test_ground_truth_through_the_model_matches_the_generator(hiface_model, synthetic_batch, synthetic_samples):
    """The model's camera, mesh and SD-DeTail agree with the synthetic generator's."""
    gt = hiface.ground_truth_output(hiface_model, synthetic_batch)
    np.testing.assert_allclose(gt.landmarks, synthetic_samples["landmarks_2d"], atol=1e-3)
    np.testing.assert_allclose(gt.rest_vertices, synthetic_samples["vertices_coarse"], atol=1e-4)
    np.testing.assert_allclose(gt.displacement_static, synthetic_samples["displacement_static"], atol=1e-6)
    np.testing.assert_allclose(
        gt.displacement - gt.displacement_static, synthetic_samples["displacement_dynamic"], atol=1e-6
    )
    assert np.abs(synthetic_samples["displacement_dynamic"]).max() > 1e-3  # wrinkles are there to match


def test_render_covers_the_face_and_detail_changes_shading(hiface_model, synthetic_batch):
    gt = hiface.ground_truth_output(hiface_model, synthetic_batch)
    r = jax.jit(lambda o: hiface.render(hiface_model, o))(gt)
    s = hiface_model.image_size
    assert r["coarse"].shape == r["detailed"].shape == (2, s, s, 3) and r["normal_map"].shape[1:] == (64, 64, 3)
    np.testing.assert_array_equal(r["overflow"], 0)
    # Landmark pixels are covered by the rendered face (render and projection agree): all of
    # the nose; eye and inner-lip landmarks may sit on the openings, outer ones on the silhouette.
    px = np.clip(np.floor(np.asarray(gt.landmarks)).astype(int), 0, s - 1)
    covered = np.asarray(r["mask"])[np.arange(2)[:, None], px[..., 1], px[..., 0]]
    assert covered[:, 27:36].all() and covered.mean() > 0.85
    changed = np.abs(np.asarray(r["detailed"]) - np.asarray(r["coarse"])).max(-1) > 1e-4
    assert changed.sum() > 20  # detail normals shade the face differently
    summary = hiface.summary_images(synthetic_batch["image"], r)
    assert summary.shape == (2, s, 4 * s, 3)


@pytest.mark.parametrize("variant", ["none", "deca"])
def test_baseline_variants_run(variant, model_config, coarse_model, synthetic_batch):
    config = model_config.copy_and_resolve_references()
    config.model.detail = variant
    model = hiface.build_model(config, rngs=nnx.Rngs(0), face_model=coarse_model)
    out = forward(model, synthetic_batch["image"])
    assert out.static_code.shape == (2, 0) and out.dynamic_code.shape == (2, 0)
    np.testing.assert_array_equal(out.displacement, 0.0)  # no detail before training, either way
    if variant == "deca":
        assert out.detail_code.shape == (2, 128)
        # A trained decoder's output is bounded by DECA's tanh amplitude and follows expression.
        model.deca.out.kernel[...] = jax.random.normal(jax.random.key(0), model.deca.out.kernel.shape)
        code = jax.random.normal(jax.random.key(1), (2, 128))
        expr = jnp.zeros((2, coarse_model.num_expression)).at[1, model.expression_names.index("jawOpen")].set(1.0)
        static, total = model.deca.static_and_total(code, expr)
        assert np.abs(total).max() <= config.model.deca_amplitude_cm and np.abs(total).max() > 1e-3
        np.testing.assert_allclose(static[0], total[0], atol=1e-6)  # neutral expression: all static
        assert np.abs(total[1] - static[1]).max() > 1e-4


def test_bad_input_is_a_clear_error(hiface_model, model_config, coarse_model):
    with pytest.raises(ValueError, match=r"images must be \(B, 96, 96, 3\)"):
        hiface_model(jnp.zeros((1, 64, 64, 3)))
    with pytest.raises(ValueError, match="float in \\[0, 1\\], got uint8"):
        hiface_model(jnp.zeros((1, 96, 96, 3), jnp.uint8))
    config = model_config.copy_and_resolve_references()
    config.model.detail = "wrinkles"
    with pytest.raises(ValueError, match="'sddetail', 'none' or 'deca'"):
        hiface.build_model(config, rngs=nnx.Rngs(0), face_model=coarse_model)


@nnx.jit
def _detail_step(model: hiface.HiFace, identity: jax.Array) -> None:
    """One SGD step on the displacement of an expressive face (tension > 0 somewhere)."""
    m = model.face_model
    b = identity.shape[0]
    expr = jnp.zeros((b, m.num_expression)).at[:, m.expression_index("mouthSmile_L")].set(1.0)
    expr = expr.at[:, m.expression_index("browDown_L")].set(1.0)
    k = model.sddetail.static_basis.shape[0]

    def objective(model):
        p = fitting.FaceParams(
            identity=identity, expression=expr, rotation=jnp.zeros((b, 3)), translation=jnp.zeros((b, 3)),
            sh=jnp.zeros((b, 9, 3)), albedo_base=jnp.zeros((b, 3)), albedo_lips=jnp.zeros((b, 3)),
            albedo_brows=jnp.zeros((b, 3)), albedo_grid=jnp.zeros((b, 8, 8, 3)), specular=jnp.zeros((b,)),
        )  # fmt: skip
        out = model.geometry_of(p, jnp.ones((b, k)), jnp.zeros((b, model.sddetail.head_bias.shape[0])))
        return jnp.mean((out.displacement - 0.01) ** 2)

    opt = nnx.Optimizer(model, optax.sgd(10.0), wrt=nnx.Param)
    opt.update(model, nnx.grad(objective)(model))


@pytest.mark.parametrize("learn_static", [False, True])
def test_frozen_parts_get_no_update_and_learned_parts_do(learn_static, model_config, coarse_model):
    config = model_config.copy_and_resolve_references()
    config.model.learn_static_basis = learn_static
    model = hiface.build_model(config, rngs=nnx.Rngs(0), face_model=coarse_model)
    sd = model.sddetail
    assert isinstance(sd.static_basis, nnx.Param if learn_static else detail.DetailConst)
    assert isinstance(sd.compress_basis, nnx.Param)  # the paper's default: learned maps
    before = jax.tree.map(np.array, nnx.state(model, nnx.Not(nnx.Param)))
    before_static = np.array(sd.static_basis[...])
    before_compress = np.array(sd.compress_basis[...])
    _detail_step(model, jax.random.normal(jax.random.key(0), (2, coarse_model.num_identity)))
    changed = lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max() > 0
    assert changed(sd.compress_basis[...], before_compress)
    assert changed(sd.static_basis[...], before_static) == learn_static
    # Nothing that is not an nnx.Param moved: face model, UV geometry, frozen detail.
    after = nnx.state(model, nnx.Not(nnx.Param))
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
        np.testing.assert_array_equal(a, b)


def test_parameter_labels_single_out_the_learned_detail_maps(hiface_model):
    labels = hiface.parameter_labels(nnx.state(hiface_model, nnx.Param))
    leaves = jax.tree_util.tree_leaves_with_path(labels)
    flat = {"/".join(str(getattr(k, "key", k)) for k in path[:2]): v for path, v in leaves}
    maps = sorted(k for k, v in flat.items() if v == "detail_maps")
    # Default config: the static basis is frozen (not a Param), compress / stretch maps learn.
    assert maps == [f"sddetail/{n}" for n in ("compress_basis", "compress_mean", "stretch_basis", "stretch_mean")]
    assert sum(v == "default" for _, v in leaves) > 50  # encoder, heads, the dynamic-code head
    # As optax.multi_transform's labels, under nnx.Optimizer: a unit gradient moves the
    # maps by the scaled rate and everything else by the full one.
    model = nnx.clone(hiface_model)
    tx = optax.multi_transform(
        {"default": optax.sgd(1.0), "detail_maps": optax.sgd(hiface.DETAIL_MAP_LR_SCALE)}, hiface.parameter_labels
    )
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    before_map, before_head = np.array(model.sddetail.compress_mean[...]), np.array(model.head_identity.kernel[...])
    opt.update(model, jax.tree.map(jnp.ones_like, nnx.state(model, nnx.Param)))
    np.testing.assert_allclose(model.sddetail.compress_mean[...], before_map - hiface.DETAIL_MAP_LR_SCALE, atol=1e-7)
    np.testing.assert_allclose(model.head_identity.kernel[...], before_head - 1.0, atol=1e-7)
