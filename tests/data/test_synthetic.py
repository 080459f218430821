"""The synthetic generator: determinism, chunking, and ground truth against independent references."""

from __future__ import annotations

import math

import jax
import numpy as np
import open3d as o3d
import pytest
from scipy import ndimage

from hiface_jax.data import eyes_mouth, scene_sampling, synthetic
from hiface_jax.face import expressions
from hiface_jax.geometry import rotation
from rendering.sh import sh_shading


@pytest.fixture(scope="module")
def batch(small_synthetic_config):
    return synthetic.generate(small_synthetic_config, 0, 3)


def test_deterministic_per_seed_and_independent_of_chunking(small_synthetic_config, batch):
    again = synthetic.generate(small_synthetic_config, 0, 3)
    for key in batch:
        np.testing.assert_array_equal(again[key], batch[key], err_msg=key)
    # Sample i depends only on (seed, i), not on its place in the batch. (The dataset
    # test covers other batch sizes, where XLA may round differently.)
    part = synthetic.generate(small_synthetic_config, 1, 3)
    for key in batch:
        if key in ("image", "mask", "segmentation"):
            diff = np.abs(part[key][:2].astype(int) - batch[key][1:].astype(int))
            assert (diff > 1).mean() < 2e-3, key
        else:
            np.testing.assert_allclose(part[key][:2], batch[key][1:], rtol=1e-4, atol=1e-5, err_msg=key)
    # Another seed draws other faces.
    s = synthetic.sampler(small_synthetic_config)
    other = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(8), i))(np.arange(3))
    assert not np.allclose(np.asarray(s.draw(other)["identity"]), batch["identity"])


def test_landmarks_2d_are_the_projected_3d_landmarks(small_synthetic_config, coarse_model, batch):
    c = small_synthetic_config
    focal = 0.5 * c.image_size / math.tan(math.radians(c.fov_degrees) / 2)
    p = batch["landmarks_3d"].astype(np.float64)
    u = c.image_size / 2 + focal * p[..., 0] / -p[..., 2]
    v = c.image_size / 2 - focal * p[..., 1] / -p[..., 2]
    np.testing.assert_allclose(batch["landmarks_2d"], np.stack([u, v], -1), atol=1e-3)
    # And the 3D landmarks are the posed model vertices.
    r = np.asarray(rotation.axis_angle_to_matrix(batch["rotation"]))
    lmk = batch["vertices_coarse"][:, np.asarray(coarse_model.landmark_indices)]
    np.testing.assert_allclose(np.einsum("bij,bnj->bni", r, lmk) + batch["translation"][:, None], p, atol=1e-3)


def test_mask_matches_open3d_ray_casting(small_synthetic_config, batch):
    """Skin coverage from Open3D's ray caster: rays through pixel centres whose first hit
    on the whole scene (skin, eye and mouth shells, hair, torso) is a camera-facing skin
    triangle (we cull back faces). Compared away from silhouettes."""
    c = small_synthetic_config
    s = c.image_size
    sampler = synthetic.sampler(c)
    scene = sampler.scene
    verts_all = np.asarray(sampler.scene_geometry(sampler.draw(sampler.keys(0, 3)))["scene_vertices"])
    tan = math.tan(math.radians(c.fov_degrees) / 2)
    j, i = np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5)
    dirs = np.stack([(2 * j / s - 1) * tan, (1 - 2 * i / s) * tan, -np.ones_like(j)], -1).reshape(-1, 3)
    rays = np.concatenate([np.zeros_like(dirs), dirs], 1).astype(np.float32)
    tris = scene.triangles
    skin_tri = scene.materials == eyes_mouth.Segment.SKIN
    for b in range(batch["image"].shape[0]):
        # The skin part of the scene is the posed ground-truth mesh.
        r = np.asarray(rotation.axis_angle_to_matrix(batch["rotation"][b]))
        np.testing.assert_allclose(
            verts_all[b, : scene.num_skin], batch["vertices_coarse"][b] @ r.T + batch["translation"][b], atol=1e-3
        )
        rc = o3d.t.geometry.RaycastingScene()
        rc.add_triangles(o3d.core.Tensor(verts_all[b].astype(np.float32)), o3d.core.Tensor(tris.astype(np.uint32)))
        hit = rc.cast_rays(o3d.core.Tensor(rays))
        ids = hit["primitive_ids"].numpy().astype(np.int64)
        ok = np.isfinite(hit["t_hit"].numpy())
        facing = (hit["primitive_normals"].numpy() * dirs).sum(-1) < 0
        want = (ok & facing & skin_tri[np.where(ok, ids, 0)]).reshape(s, s)
        got = batch["mask"][b] > 127
        interior = ~(ndimage.binary_dilation(want, iterations=1) ^ ndimage.binary_erosion(want, iterations=1))
        agree = (got == want)[interior].mean()
        assert agree > 0.995, f"sample {b}: {agree:.4f}"
        assert 0.05 < want.mean() < 0.9
        # The segmentation's skin class is the mask.
        np.testing.assert_array_equal(batch["segmentation"][b] == eyes_mouth.Segment.SKIN, got)


def test_shapes_and_ranges(batch, small_synthetic_config, coarse_model):
    s = small_synthetic_config.image_size
    assert batch["image"].shape == (3, s, s, 3) and batch["image"].dtype == np.uint8
    assert batch["mask"].dtype == np.uint8 and set(np.unique(batch["mask"])) <= {0, 255}
    assert batch["segmentation"].shape == (3, s, s) and batch["segmentation"].max() < eyes_mouth.NUM_SEGMENTS
    assert batch["vertices_coarse"].shape == (3, coarse_model.num_vertices, 3)
    assert batch["vertices_detailed"].shape[1] > coarse_model.num_vertices
    assert (batch["expression"] >= 0).all() and (batch["expression"] <= 1).all()
    # Detail is millimetres, not centimetres: |D| well under 0.5 cm.
    assert 0 < np.abs(batch["displacement_static"]).max() < 0.5
    # Each face is seen from the front half-space: distance within the configured range.
    dist = -batch["landmarks_3d"][..., 2].mean(-1)
    assert ((dist > small_synthetic_config.min_distance - 15) & (dist < small_synthetic_config.max_distance + 15)).all()
    # Gaze: unit vectors toward the camera's half-space; closure is the eyeBlink weights.
    np.testing.assert_allclose(np.linalg.norm(batch["gaze"], axis=-1), 1.0, atol=1e-5)
    assert (batch["gaze"][..., 2] > 0).all()
    assert ((batch["eyelid_closure"] >= 0) & (batch["eyelid_closure"] <= 1)).all()
    n_bg = len(synthetic.sampler(small_synthetic_config).background_names)
    assert ((batch["background_id"] >= -1) & (batch["background_id"] < n_bg)).all()
    assert ((batch["albedo_photo_id"] >= -1) & (batch["albedo_photo_id"] < 2)).all()


def test_expression_archetypes_are_sparse_and_valid(face_model):
    import jax

    psi = np.asarray(expressions.sample_expressions(jax.random.key(0), 256, face_model.expression_names))
    assert ((psi >= 0) & (psi <= 1)).all()
    active = (psi > 0.05).sum(1)
    assert np.median(active) <= 8 and psi.max() > 0.9  # sparse, strong ones included
    with pytest.raises(KeyError):
        expressions.archetype_matrix(("browDown_L",))


def test_sampled_lighting_lights_the_front_of_the_face():
    import jax
    import jax.numpy as jnp

    sh = scene_sampling.sample_lighting(jax.random.key(0), 64, scene_sampling.SceneDistribution())
    front = sh_shading(jnp.array([0.0, 0.0, 1.0]), sh)
    assert (np.asarray(front) > 0.3).all() and (np.asarray(front) < 2.5).all()
