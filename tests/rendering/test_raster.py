"""Rasterization: analytic cases, Open3D agreement on the ICT face, capacity and bad input."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rendering
from rendering import testing

H, W = 48, 64


def _tri_clip(points_ndc, w=(1.0, 1.0, 1.0), z=(0.0, 0.0, 0.0)):
    """Clip-space vertices (1, 3, 4) for NDC points with given w (perspective-divided back)."""
    p = np.asarray(points_ndc, np.float32)
    w = np.asarray(w, np.float32)
    z = np.asarray(z, np.float32)
    return np.stack([p[:, 0] * w, p[:, 1] * w, z * w, w], -1)[None]


def test_single_triangle_coverage_and_barycentrics():
    pts = [(-0.7, -0.6), (0.8, -0.4), (0.1, 0.75)]
    w = (1.0, 2.0, 4.0)
    clip = _tri_clip(pts, w=w, z=(0.1, 0.2, 0.3))
    tris = np.array([[0, 1, 2]], np.int32)
    fr = rendering.rasterize(clip, tris, (H, W))
    xs, ys = rendering.pixel_centers_ndc(H, W)
    X, Y = np.meshgrid(xs, ys)
    # Reference: screen-space barycentrics, then perspective correction with 1/w.
    a, b, c = (np.array(p) for p in pts)
    T = np.array([[a[0] - c[0], b[0] - c[0]], [a[1] - c[1], b[1] - c[1]]])
    l01 = np.linalg.solve(T, np.stack([X - c[0], Y - c[1]]).reshape(2, -1)).reshape(2, H, W)
    lam = np.stack([l01[0], l01[1], 1 - l01[0] - l01[1]], -1)
    inside = np.all(lam >= 0, -1)
    np.testing.assert_array_equal(np.asarray(fr.triangle_id[0]) == 0, inside)
    pc = lam / np.array(w)
    pc = pc / pc.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(fr.barycentrics[0])[inside], pc[inside], atol=2e-5)
    wz = pc @ (np.array(w) * np.array([0.1, 0.2, 0.3]))
    ww = pc @ np.array(w)
    np.testing.assert_allclose(np.asarray(fr.view_depth[0])[inside], ww[inside], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(fr.ndc_depth[0])[inside], (wz / ww)[inside], atol=1e-5)
    assert np.all(np.asarray(fr.triangle_id[0])[~inside] == -1)
    assert np.all(np.asarray(fr.mask[0]) == inside)


def test_nearest_triangle_wins_and_both_windings_draw():
    # Two overlapping full-screen-ish triangles at different depths, opposite windings.
    near = _tri_clip([(-1, -1), (3, -1), (-1, 3)], z=(0.2, 0.2, 0.2))[0]
    far = _tri_clip([(-1, -1), (-1, 3), (3, -1)], z=(0.5, 0.5, 0.5))[0]
    clip = np.concatenate([far, near])[None]
    tris = np.array([[0, 1, 2], [3, 4, 5]], np.int32)
    fr = rendering.rasterize(clip, tris, (16, 16))
    assert np.all(np.asarray(fr.triangle_id) == 1)
    fr = rendering.rasterize(clip, tris[:1], (16, 16))
    assert np.all(np.asarray(fr.triangle_id) == 0)
    cull = rendering.RasterConfig(cull_backfaces=True)
    fr = rendering.rasterize(clip, tris[:1], (16, 16), cull)
    assert np.all(np.asarray(fr.triangle_id) == -1)


def _open3d_reference(verts_view, tris, fov_y, h, w):
    o3d = pytest.importorskip("open3d")
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(np.ascontiguousarray(verts_view, np.float32)),
        o3d.core.Tensor(np.ascontiguousarray(tris, np.uint32)),
    )
    xs, ys = rendering.pixel_centers_ndc(h, w)
    X, Y = np.meshgrid(xs, ys)
    t = math.tan(fov_y / 2)
    d = np.stack([X * t * w / h, Y * t, -np.ones_like(X)], -1)
    rays = np.concatenate([np.zeros_like(d), d], -1).reshape(-1, 6).astype(np.float32)
    ans = scene.cast_rays(o3d.core.Tensor(rays))
    tid = ans["primitive_ids"].numpy().astype(np.int64).reshape(h, w)
    tid[tid == o3d.t.geometry.RaycastingScene.INVALID_ID] = -1
    uv = ans["primitive_uvs"].numpy().reshape(h, w, 2)
    bary = np.stack([1 - uv[..., 0] - uv[..., 1], uv[..., 0], uv[..., 1]], -1)
    return tid, ans["t_hit"].numpy().reshape(h, w), bary


@pytest.mark.parametrize("pose", [(0, 0, 0), (-35, 10, 0), (50, -15, 10)])
def test_matches_open3d_on_ict_face(pose):
    try:
        from hiface_jax.face.face_model import load_face_model

        face = load_face_model().submesh("face")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"ICT face model not available: {e}")
    verts = np.asarray(face.mean_shape, np.float32)
    tris = np.asarray(face.triangles, np.int32)
    h, w = 120, 96  # non-square, not a multiple of the tile size
    fov = math.radians(30)
    view, proj = testing.view_camera(60.0, 30.0, w / h)
    center = verts.mean(0)
    v_world = (verts - center) @ testing.rotation(*pose).T
    clip = np.asarray(rendering.transform(v_world, proj @ view))[None]
    fr = rendering.rasterize(clip, tris, (h, w))
    v_view = np.asarray(rendering.transform(v_world, view))[:, :3]
    ref_id, ref_t, ref_bary = _open3d_reference(v_view, tris, fov, h, w)
    ours = np.asarray(fr.triangle_id[0])
    # Away from silhouettes: the 3x3 neighbourhood is all hit or all miss in the reference.
    hit = np.pad(ref_id >= 0, 1, mode="edge")
    nb = np.stack([hit[i : i + h, j : j + w] for i in range(3) for j in range(3)])
    interior = nb.all(0) | (~nb).all(0)
    assert interior.sum() > 0.8 * h * w
    assert (ref_id >= 0).sum() > 0.2 * h * w
    same_id = ours == ref_id
    assert same_id[interior].mean() >= 0.995
    both = interior & (ref_id >= 0) & (ours >= 0)
    depth_ok = np.abs(np.asarray(fr.view_depth[0]) - ref_t) < 1e-3 * ref_t
    assert depth_ok[both].mean() >= 0.995
    bary_ok = same_id & (np.abs(np.asarray(fr.barycentrics[0]) - ref_bary).max(-1) < 1e-3)
    assert bary_ok[both].mean() >= 0.995


# --------------------------------------------------------------------------
# Capacity: overflow is detected, reported, and fixed by raising the limits.


def _sphere_clip(subdiv=3, batch=1):
    verts, tris = testing.icosphere(subdiv)
    view, proj = testing.view_camera(3.0, 40.0, 1.0, near=0.5, far=10.0)
    return testing.posed_clip(verts, [(10 * i, 0, 0) for i in range(batch)], view, proj), tris


def test_tile_overflow_is_reported_and_capacity_fixes_it():
    clip, tris = _sphere_clip(3)
    small = rendering.RasterConfig(tile_size=8, tile_capacity=4)
    with pytest.raises(rendering.RasterOverflowError, match="tile_capacity"):
        rendering.rasterize(clip, tris, (32, 32), small)
    # Inside jit nothing raises; the count says the image is incomplete.
    f = jax.jit(lambda c: rendering.rasterize(c, tris, (32, 32), small))
    fr = f(clip)
    assert int(fr.overflow[0]) > 0
    with pytest.raises(rendering.RasterOverflowError):
        rendering.check_overflow(fr)
    need = rendering.required_capacity(clip, tris, (32, 32), small)
    ok = rendering.RasterConfig(tile_size=8, tile_capacity=need["tile_capacity"])
    good = rendering.rasterize(clip, tris, (32, 32), ok)
    rendering.check_overflow(good)
    ref = rendering.rasterize(clip, tris, (32, 32))
    np.testing.assert_array_equal(np.asarray(good.triangle_id), np.asarray(ref.triangle_id))


def test_pair_overflow_is_reported():
    clip, tris = _sphere_clip(3)
    with pytest.raises(rendering.RasterOverflowError, match="pair_capacity"):
        rendering.rasterize(clip, tris, (32, 32), rendering.RasterConfig(pair_capacity=100))
    need = rendering.required_capacity(clip, tris, (32, 32))
    rendering.rasterize(clip, tris, (32, 32), rendering.RasterConfig(pair_capacity=need["pair_capacity"]))


def test_tile_sizes_and_jit_vmap_agree():
    clip, tris = _sphere_clip(3, batch=3)
    ref = rendering.rasterize(clip, tris, (37, 29))
    fr = rendering.rasterize(clip, tris, (37, 29), rendering.RasterConfig(tile_size=8, chunk=8, block=16))
    np.testing.assert_array_equal(np.asarray(fr.triangle_id), np.asarray(ref.triangle_id))
    jitted = jax.jit(lambda c: rendering.rasterize(c, tris, (37, 29)).barycentrics)(clip)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(ref.barycentrics), atol=1e-4)
    # vmap over an extra axis; the batch is independent (image 1 alone equals image 1 of the batch).
    vm = jax.vmap(lambda c: rendering.rasterize(c[None], tris, (37, 29)).triangle_id[0])(jnp.asarray(clip[1:2]))
    np.testing.assert_array_equal(np.asarray(vm[0]), np.asarray(ref.triangle_id[1]))


# --------------------------------------------------------------------------
# Bad input: renders correctly or raises a clear error.


def test_empty_mesh_renders_background():
    fr = rendering.rasterize(np.zeros((2, 0, 4), np.float32), np.zeros((0, 3), np.int32), (5, 7))
    assert fr.triangle_id.shape == (2, 5, 7)
    assert np.all(np.asarray(fr.triangle_id) == -1)
    assert np.all(np.asarray(fr.mask) == 0)


@pytest.mark.parametrize("bad", [[[0, 1, 3]], [[-1, 1, 2]]])
def test_out_of_range_indices_raise(bad):
    clip = _tri_clip([(-0.5, -0.5), (0.5, -0.5), (0, 0.5)])
    with pytest.raises(IndexError, match=r"triangle indices must lie in \[0, 3\)"):
        rendering.rasterize(clip, np.array(bad, np.int32), (8, 8))


def test_bad_shapes_and_types_raise():
    clip = _tri_clip([(-0.5, -0.5), (0.5, -0.5), (0, 0.5)])
    tris = np.array([[0, 1, 2]], np.int32)
    with pytest.raises(ValueError, match="clip_vertices"):
        rendering.rasterize(clip[..., :3], tris, (8, 8))
    with pytest.raises(TypeError, match="integer"):
        rendering.rasterize(clip, tris.astype(np.float32), (8, 8))
    with pytest.raises(ValueError, match="resolution"):
        rendering.rasterize(clip, tris, (0, 8))
    with pytest.raises(ValueError, match="resolution"):
        rendering.rasterize(clip, tris, 8)


def test_nan_and_degenerate_triangles_are_skipped():
    good = _tri_clip([(-0.9, -0.9), (0.9, -0.9), (0, 0.9)], z=(0.5, 0.5, 0.5))[0]
    nan = _tri_clip([(-0.9, -0.9), (0.9, -0.9), (0, 0.9)], z=(0.1, 0.1, 0.1))[0]
    nan[1, 0] = np.nan
    line = _tri_clip([(-0.9, -0.9), (0.9, 0.9), (0, 0)], z=(0.0, 0.0, 0.0))[0]  # zero area
    point = _tri_clip([(0.1, 0.1)] * 3, z=(0.0, 0.0, 0.0))[0]
    clip = np.concatenate([good, nan, line, point])[None]
    tris = np.arange(12, dtype=np.int32).reshape(4, 3)
    tris = np.concatenate([tris, [[0, 0, 1]]]).astype(np.int32)  # repeated-index triangle
    fr = rendering.rasterize(clip, tris, (24, 24))
    ids = np.asarray(fr.triangle_id)
    assert set(np.unique(ids)) == {-1, 0}
    for field in (fr.barycentrics, fr.ndc_depth, fr.view_depth):
        assert np.all(np.isfinite(np.asarray(field)))


def test_triangle_crossing_the_camera_plane():
    # A floor y = -1 from 100 behind the camera to 100 in front; camera at the origin.
    h, w, fov = 40, 40, math.radians(60)
    floor = np.array([[-100, -1, 100], [100, -1, 100], [100, -1, -100], [-100, -1, -100]], np.float32)
    behind = np.array([[-1, -1, 5], [1, -1, 5], [0, 1, 5]], np.float32)  # entirely behind: invisible
    verts = np.concatenate([floor, behind])
    tris = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6]], np.int32)
    proj = rendering.perspective(fov, 1.0, 0.1, 1000.0)
    clip = np.asarray(rendering.transform(verts, proj))[None]
    assert (clip[0, :, 3] < 0).any()
    fr = rendering.rasterize(clip, tris, (h, w))
    xs, ys = rendering.pixel_centers_ndc(h, w)
    t = math.tan(fov / 2)
    expect_hit = np.broadcast_to((ys < 0)[:, None], (h, w))
    # Rays hit y = -1 at depth 1 / (-y t); the far plane (1000) cuts the horizon.
    depth = np.where(expect_hit, 1.0 / np.maximum(-ys[:, None] * t, 1e-9), 0) * np.ones((1, w))
    expect_hit = expect_hit & (depth < 1000)
    got = np.asarray(fr.triangle_id[0])
    np.testing.assert_array_equal(got >= 0, expect_hit)
    assert not np.any(got == 2)
    np.testing.assert_allclose(np.asarray(fr.view_depth[0])[expect_hit], depth[expect_hit], rtol=1e-3)


@pytest.mark.parametrize("res", [(1, 1), (7, 13), (13, 7), (33, 65)])
def test_odd_resolutions(res):
    h, w = res
    clip = _tri_clip([(-1, -1), (3, -1), (-1, 3)], z=(0.2, 0.2, 0.2))  # covers the screen
    fr = rendering.rasterize(clip, np.array([[0, 1, 2]], np.int32), res)
    assert fr.triangle_id.shape == (1, h, w)
    assert np.all(np.asarray(fr.triangle_id) == 0)
