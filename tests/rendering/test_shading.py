"""Shading: textures and mip levels, SH lighting, normal maps, depth and normal
images, compositing; golden images of a synthetic scene."""
import math
import os
import pathlib

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rendering
from rendering import testing

GOLDEN = pathlib.Path(__file__).with_name("golden")
UPDATE = os.environ.get("RENDERING_UPDATE_GOLDEN") == "1"


def test_bilinear_sampling_hits_texel_centres_and_interpolates():
    tex = jnp.arange(4 * 6 * 1, dtype=jnp.float32).reshape(4, 6, 1)
    # Centre of texel (row r, col c): u = (c + 0.5) / 6, v = 1 - (r + 0.5) / 4.
    uv = jnp.array([[[[(2 + 0.5) / 6, 1 - (1 + 0.5) / 4], [(2 + 1.0) / 6, 1 - (1 + 0.5) / 4]]]])
    out = rendering.sample(tex, uv)
    np.testing.assert_allclose(np.asarray(out)[0, 0, :, 0], [1 * 6 + 2, 1 * 6 + 2.5], atol=1e-5)


def test_mip_levels_average_and_lod_selects_them():
    tex = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (8, 8, 3)).astype(np.float32))
    pyr = rendering.mipmap(tex)
    assert pyr.shapes == ((8, 8), (4, 4), (2, 2), (1, 1))
    np.testing.assert_allclose(np.asarray(pyr.texels[-1]), np.asarray(tex.mean((0, 1))), atol=1e-6)
    uv = jnp.full((1, 1, 1, 2), 0.5)
    # A footprint of 8 texels per pixel selects the 1x1 level: the mean.
    d = jnp.asarray(np.array([[1.0, 0.0], [0.0, 1.0]])[None, None, None], jnp.float32)  # d(u,v)/d(col,row)
    out = rendering.sample(pyr, uv, d)
    np.testing.assert_allclose(np.asarray(out)[0, 0, 0], np.asarray(tex.mean((0, 1))), atol=1e-5)
    # Half-way between levels 1 and 2 (footprint 2**1.5 texels): the mean of the two.
    d2 = d * (2**1.5 / 8)
    out2 = rendering.sample(pyr, uv, d2)
    lvl1 = rendering.sample(tex[::1][None].reshape(1, 8, 8, 3).reshape(8, 8, 3), uv, d * (2 / 8))
    lvl2 = rendering.sample(tex, uv, d * (4 / 8))
    np.testing.assert_allclose(np.asarray(out2), 0.5 * (np.asarray(lvl1) + np.asarray(lvl2)), atol=1e-5)


def test_sh_shading_and_flat_normal_map_is_identity():
    n = rendering.safe_normalize(jnp.asarray(np.random.default_rng(1).normal(size=(1, 4, 5, 3)), jnp.float32))
    ambient = rendering.ambient_sh(0.7)
    np.testing.assert_allclose(np.asarray(rendering.shade_sh(jnp.ones_like(n), n, ambient)), 0.7, atol=1e-6)
    t = jnp.concatenate([rendering.safe_normalize(jnp.cross(n, jnp.array([0.0, 0.0, 1.0]))), -jnp.ones(n.shape[:-1] + (1,))], -1)
    flat = jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0]), n.shape)
    np.testing.assert_allclose(np.asarray(rendering.perturb_normals(n, t, flat)), np.asarray(n), atol=1e-6)
    tilted = rendering.perturb_normals(n, t, jnp.broadcast_to(jnp.array([0.6, 0.0, 0.8]), n.shape))
    np.testing.assert_allclose(np.asarray(jnp.sum(tilted * n, -1)), 0.8, atol=1e-5)


def _uv_sphere(rings=12, segments=24):
    """A UV sphere with a seam: per-corner UVs differ from vertex indices."""
    th = np.linspace(0, np.pi, rings + 1)
    ph = np.linspace(0, 2 * np.pi, segments + 1)
    verts = np.array([[np.sin(t) * np.cos(p), np.cos(t), -np.sin(t) * np.sin(p)] for t in th for p in ph[:-1]])
    uvs = np.array([[p / (2 * np.pi), 1 - t / np.pi] for t in th for p in ph])
    tris, uvtris = [], []
    for r in range(rings):
        for s in range(segments):
            a, b = r * segments + s, r * segments + (s + 1) % segments
            c, d = a + segments, b + segments
            ua, ub = r * (segments + 1) + s, r * (segments + 1) + s + 1
            uc, ud = ua + segments + 1, ub + segments + 1
            tris += [[a, c, b], [b, c, d]]
            uvtris += [[ua, uc, ub], [ub, uc, ud]]
    return verts.astype(np.float32), np.array(tris, np.int32), uvs.astype(np.float32), np.array(uvtris, np.int32)


def _golden_scene(res=64):
    """Textured, normal-mapped, SH-lit UV sphere over a gradient background."""
    verts, tris, uvs, uvtris = _uv_sphere()
    verts = verts @ testing.rotation(25, 20, 0).T
    view, proj = testing.view_camera(3.2, 40.0, 1.0, near=0.5, far=10.0)
    clip = np.asarray(rendering.transform(verts, jnp.asarray(proj @ view)))[None]
    return jax.jit(lambda c: _render_golden(c, verts, tris, uvs, uvtris, res))(clip)


def _render_golden(clip, verts, tris, uvs, uvtris, res):
    fr = rendering.rasterize(clip, tris, (res, res))
    checker = ((np.arange(32)[:, None] // 4 + np.arange(32)[None, :] // 4) % 2).astype(np.float32)
    albedo_tex = np.stack([0.3 + 0.5 * checker, 0.5 + 0.2 * checker, 0.4 + 0 * checker], -1)
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    bump = np.stack([0.4 * np.sin(2 * np.pi * 4 * xx), 0.4 * np.cos(2 * np.pi * 3 * yy), np.ones_like(xx)], -1)
    nmap = (bump / np.linalg.norm(bump, axis=-1, keepdims=True)).astype(np.float32)
    uv = rendering.interpolate(uvs, fr, uvtris)
    duv = rendering.interpolate_derivatives(uvs, fr, uvtris, rendering.barycentric_derivatives(clip, tris, fr))
    albedo = rendering.sample(albedo_tex, uv, duv)
    vnorm = rendering.vertex_normals(jnp.asarray(verts), tris)
    tang = rendering.vertex_tangents(jnp.asarray(verts), tris, uvs, uvtris)
    n = rendering.interpolate(vnorm, fr, tris)
    t = rendering.interpolate(tang, fr, tris)
    nm = rendering.sample(nmap, uv, duv)
    shading_n = rendering.perturb_normals(n, t, nm)
    sh = jnp.zeros((9, 3)).at[0].set(jnp.array([2.6, 2.5, 2.4])).at[3].set(1.0).at[1].set(0.6).at[6].set(-0.2)
    color = rendering.shade_sh(albedo, shading_n, sh)
    bg = jnp.linspace(0.1, 0.4, res)[None, :, None, None] * jnp.ones((1, res, res, 3))
    image = rendering.antialias(rendering.composite(color, fr.mask, bg), fr, clip, tris)
    normal_img = rendering.composite(rendering.safe_normalize(n) * 0.5 + 0.5, fr.mask, 0.0)
    depth_img = jnp.where(fr.mask > 0, (fr.view_depth - 2.0) / 1.5, 1.0)
    return {"color": image[0], "normals": normal_img[0], "depth": depth_img[0, ..., None]}, fr


def test_golden_images():
    out, fr = _golden_scene()
    assert 0.3 < float(fr.mask.mean()) < 0.8
    for name, img in out.items():
        img = np.clip(np.asarray(img), 0, 1)
        path = GOLDEN / f"{name}.png"
        as8 = np.round(img * 255).astype(np.uint8)
        if img.shape[-1] == 1:
            as8 = as8[..., 0]
        if UPDATE or not path.exists():
            if not UPDATE:
                pytest.fail(f"golden image {path} missing; run with RENDERING_UPDATE_GOLDEN=1 to create it")
            GOLDEN.mkdir(exist_ok=True)
            iio.imwrite(path, as8)
        ref = iio.imread(path).astype(np.float64) / 255
        if ref.ndim == 2:
            ref = ref[..., None]
        diff = np.abs(ref - img)
        # Tolerances: 8-bit quantisation everywhere, larger only on a handful of edge
        # pixels (summation order, platform libm).
        assert np.mean(diff) < 3e-3, name
        assert np.mean(diff.max(-1) > 0.02) < 0.01, name
