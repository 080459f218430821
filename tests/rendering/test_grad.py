"""Gradients against central finite differences: vertices (interior, silhouette,
occlusion), vertex attributes, UVs and textures."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rendering
from rendering import testing

H, W = 20, 24
BG = jnp.array([0.2, 0.3, 0.9])


def _scene():
    """Two quads: a back one covering most of the view, a tilted front one partly over it."""
    back = [[-0.8, -0.7, 0.6], [0.75, -0.8, 0.6], [0.8, 0.7, 0.6], [-0.7, 0.75, 0.6]]
    front = [[-0.45, -0.35, 0.1], [0.35, -0.5, 0.2], [0.5, 0.3, 0.15], [-0.3, 0.45, 0.05]]
    xyz = np.array(back + front, np.float64)
    xyz += np.random.default_rng(7).uniform(-0.02, 0.02, xyz.shape)  # no edge exactly on a pixel centre
    w = np.array([1.0, 1.2, 1.1, 0.9, 1.0, 1.3, 0.8, 1.1])
    clip = np.concatenate([xyz[:, :2] * w[:, None], xyz[:, 2:] * w[:, None], w[:, None]], -1)
    tris = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]], np.int32)
    colors = np.random.default_rng(0).uniform(0.1, 0.9, (8, 3))
    return clip[None].astype(np.float32), tris, colors.astype(np.float32)


def _image(clip, tris, colors, aa=True):
    fr = rendering.rasterize(clip, tris, (H, W))
    img = rendering.composite(rendering.interpolate(colors, fr, tris), fr.mask, BG)
    return rendering.antialias(img, fr, clip, tris) if aa else img


def _fd(f, x, idx, eps):
    xp = x.copy()
    xm = x.copy()
    xp[idx] += eps
    xm[idx] -= eps
    return (float(f(xp)) - float(f(xm))) / (2 * eps)


def _weights(shape, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


def _check_vertex_grads(loss, clip, tris, coords, eps=1e-6, rtol=1e-4):
    """Compares jax.grad with central differences (float64). A coordinate whose
    +-eps images differ in some pixel's triangle id straddles a visibility event
    (an edge on a pixel centre), where the image jumps by design; it is skipped."""
    loss_j = jax.jit(loss)
    ids = jax.jit(lambda c: rendering.rasterize(c, tris, (H, W)).triangle_id)
    grad = np.asarray(jax.grad(loss)(clip))
    checked = []
    for idx in coords:
        xp, xm = clip.copy(), clip.copy()
        xp[idx] += eps
        xm[idx] -= eps
        if not np.array_equal(np.asarray(ids(xp)), np.asarray(ids(xm))):
            continue
        fd = _fd(loss_j, clip, idx, eps)
        assert abs(fd - grad[idx]) <= rtol * abs(fd) + 1e-5, (idx, fd, grad[idx])
        checked.append(idx)
    assert len(checked) >= 0.75 * len(coords)
    return grad


def test_vertex_gradients_match_finite_differences_including_silhouettes():
    with jax.enable_x64():
        clip, tris, colors = _scene()
        clip, colors = clip.astype(np.float64), colors.astype(np.float64)
        wts = _weights((1, H, W, 3))
        coords = [(0, v, a) for v in (0, 2, 4, 5, 6, 7) for a in range(2)]
        grad = _check_vertex_grads(lambda c: jnp.sum(_image(c, tris, colors) * wts), clip, tris, coords)
        assert (np.abs(grad[0, :, :2]) > 0.1).sum() >= 10  # silhouette gradients are present
        # Without antialiasing the silhouette terms vanish: only interior terms remain.
        g_hard = np.asarray(jax.grad(lambda c: jnp.sum(_image(c, tris, colors, aa=False) * wts))(clip))
        assert np.abs(g_hard[0, :, :2]).sum() < 0.5 * np.abs(grad[0, :, :2]).sum()


def test_depth_and_barycentric_gradients_inside_triangles():
    with jax.enable_x64():
        clip, tris, _ = _scene()
        clip = clip.astype(np.float64)
        wts = _weights((1, H, W))

        def loss(c):
            fr = rendering.rasterize(c, tris, (H, W))
            return jnp.sum(fr.view_depth * wts) + jnp.sum(fr.ndc_depth * fr.mask * wts)

        coords = [(0, 4, 2), (0, 5, 3), (0, 6, 0), (0, 1, 3), (0, 2, 2), (0, 7, 1)]
        _check_vertex_grads(loss, clip, tris, coords)


def test_attribute_gradients_are_exact():
    with jax.enable_x64():
        clip, tris, colors = _scene()
        clip, colors = clip.astype(np.float64), colors.astype(np.float64)
        wts = _weights((1, H, W, 3))
        loss = lambda col: jnp.sum(_image(clip, tris, col) * wts)
        grad = np.asarray(jax.grad(loss)(colors))
        loss_j = jax.jit(loss)
        for v in range(8):
            for c in range(3):
                fd = _fd(loss_j, colors.copy(), (v, c), 1e-3)
                np.testing.assert_allclose(grad[v, c], fd, rtol=1e-6, atol=1e-8)


def test_texture_and_uv_gradients():
    with jax.enable_x64():
        clip, tris, _ = _scene()
        cj = jnp.asarray(clip.astype(np.float64))
        uv = np.random.default_rng(3).uniform(0.1, 0.9, (8, 2))
        tex = np.random.default_rng(4).uniform(0, 1, (16, 16, 3))
        wts = _weights((1, H, W, 3))

        def loss(tex, uv):
            fr = rendering.rasterize(cj, tris, (H, W))
            uvi = rendering.interpolate(uv, fr, tris)
            dbary = rendering.barycentric_derivatives(cj, tris, fr)
            duv = rendering.interpolate_derivatives(uv, fr, tris, dbary)
            col = rendering.sample(tex, uvi, duv)  # trilinear: minified here
            img = rendering.composite(col, fr.mask, BG)
            return jnp.sum(rendering.antialias(img, fr, cj, tris) * wts)

        g_tex, g_uv = jax.grad(loss, argnums=(0, 1))(tex, uv)
        loss_j = jax.jit(loss)
        g_tex = np.asarray(g_tex)
        assert np.count_nonzero(g_tex) > 100
        rng = np.random.default_rng(5)
        for flat in list(np.argsort(-np.abs(g_tex).reshape(-1))[:3]) + list(rng.integers(0, tex.size, 3)):
            idx = np.unravel_index(flat, tex.shape)
            fd = _fd(lambda t: loss_j(t, uv), tex.copy(), idx, 1e-3)
            np.testing.assert_allclose(g_tex[idx], fd, rtol=1e-6, atol=1e-8)
        g_uv = np.asarray(g_uv)
        for idx in [(4, 0), (5, 1), (6, 0), (0, 1), (2, 0)]:
            fd = _fd(lambda u: loss_j(tex, u), uv.copy(), idx, 1e-7)
            assert abs(fd - g_uv[idx]) <= 1e-4 * abs(fd) + 1e-5, (idx, fd, g_uv[idx])
