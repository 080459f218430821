"""SD-DeTail: blend formula, tension on the real model, normal map, dense mesh, transfer, module."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import trimesh
from flax import nnx
from scipy.spatial import cKDTree

from hiface_jax.face import face_model as fm
from hiface_jax.geometry import uv
from hiface_jax.geometry.tension import unique_edges
from hiface_jax.sddetail import detail, detail_scans

RES = 64


def random_basis(rng: np.random.Generator, k=5, kc=3, kt=2, res=16) -> detail.DetailBasis:
    def f(*s):
        return jnp.asarray(rng.normal(size=s) * 0.01, jnp.float32)

    return detail.DetailBasis(
        f(res, res), f(k, res, res), f(res, res), f(kc, res, res), f(res, res), f(kt, res, res), f(k, kc), f(k, kt)
    )


def random_codes(rng: np.random.Generator, basis: detail.DetailBasis, *lead: int) -> detail.DetailCodes:
    def f(k):
        return jnp.asarray(rng.normal(size=lead + (k,)), jnp.float32)

    return detail.DetailCodes(f(basis.num_static), f(basis.num_compress), f(basis.num_stretch))


def uv_centres(res: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of texel centres, each (res, res); row 0 is v = 1."""
    c = (np.arange(res) + 0.5) / res
    u, v = np.meshgrid(c, 1.0 - c)
    return u, v


# ------------------------------------------------------------------------------ blend


def test_blend_weights_analytic():
    t = jnp.array([-1.0, -0.25, 0.0, 0.25, 1.0])
    w_c, w_s = detail.blend_weights(t, scale=1.0)
    np.testing.assert_allclose(w_c, [0, 0, 0, 0.25, 1])
    np.testing.assert_allclose(w_s, [1, 0.25, 0, 0, 0])
    w_c, w_s = detail.blend_weights(t, scale=2.0, bias=0.5)
    np.testing.assert_allclose(w_c, [0, 0, 0, 0, 1])  # 2t - 0.5 clipped
    np.testing.assert_allclose(w_s, [1, 1, 0.5, 0, 0])  # -2t + 0.5 clipped


def test_displacement_is_static_compressed_or_stretched_at_unit_tension():
    rng = np.random.default_rng(0)
    basis = random_basis(rng)
    codes = random_codes(rng, basis)
    for t, part in ((1.0, "compressed"), (-1.0, "stretched"), (0.0, "static")):
        maps = detail.evaluate_detail(basis, codes, jnp.full((16, 16), t), scale=1.0)
        np.testing.assert_allclose(maps.displacement, getattr(maps, part), atol=1e-7)
    maps = detail.evaluate_detail(basis, codes, jnp.full((16, 16), 0.5), scale=1.0)
    np.testing.assert_allclose(maps.displacement, 0.5 * (maps.static + maps.compressed), atol=1e-7)
    # D_c - D_s is the compress offset alone: the static part cancels.
    want = basis.compress_mean + jnp.einsum("k,khw->hw", codes.compress, basis.compress_basis)
    np.testing.assert_allclose(maps.compressed - maps.static, want, atol=1e-7)


def test_transfer_swaps_static_and_keeps_dynamic():
    rng = np.random.default_rng(1)
    basis = random_basis(rng)
    a, b = random_codes(rng, basis), random_codes(rng, basis)
    tension = jnp.asarray(rng.uniform(-1, 1, (16, 16)), jnp.float32)
    mixed = detail.evaluate_detail(basis, detail.transfer_detail(a, b), tension)
    ma, mb = detail.evaluate_detail(basis, a, tension), detail.evaluate_detail(basis, b, tension)
    np.testing.assert_allclose(mixed.static, ma.static, atol=1e-7)
    np.testing.assert_allclose(mixed.compressed - mixed.static, mb.compressed - mb.static, atol=1e-7)
    np.testing.assert_allclose(mixed.stretched - mixed.static, mb.stretched - mb.static, atol=1e-7)
    np.testing.assert_allclose(mixed.displacement - ma.static, mb.displacement - mb.static, atol=1e-6)


# ------------------------------------------------------------------ the real face model


@pytest.fixture(scope="module")
def geometry(coarse_model):
    return detail.detail_geometry(coarse_model, RES)


@pytest.fixture(scope="module")
def scan(coarse_model):
    return detail_scans.procedural_scan(detail_scans.scan_layout(coarse_model, RES), seed=3, age=60.0)


def scan_basis(scan) -> detail.DetailBasis:
    """One person's scan as a basis with no components."""
    none = jnp.zeros((0,) + scan.static.shape)
    return detail.DetailBasis(
        static_mean=jnp.asarray(scan.static),
        static_basis=none,
        compress_mean=jnp.asarray(scan.compressed - scan.static),
        compress_basis=none,
        stretch_mean=jnp.asarray(scan.stretched - scan.static),
        stretch_basis=none,
        compress_from_static=jnp.zeros((0, 0)),
        stretch_from_static=jnp.zeros((0, 0)),
    )


def expression(model, *names: str) -> jnp.ndarray:
    psi = np.zeros(model.num_expression, np.float32)
    for n in names:
        psi[model.expression_index(n)] = 1.0
    return jnp.asarray(psi)


def beside_eye_corners(model) -> np.ndarray:
    """(RES, RES) mask: 2.5-17 mm outwards of both outer eye corners (crow's feet)."""
    lm = np.asarray(model.uv_coords)[uv.vertex_uvs(model.triangles, model.uv_triangles, model.num_vertices)]
    lm = lm[np.asarray(model.landmark_indices)]
    u, v = uv_centres(RES)
    mask = np.zeros((RES, RES), bool)
    for corner, lateral in ((lm[36], -1.0), (lm[45], 1.0)):
        du = (u - corner[0]) * lateral
        mask |= (du > 0.01) & (du < 0.07) & (np.abs(v - corner[1]) < 0.035)
    return mask


def test_smile_compresses_crows_feet_and_cheeks_and_blend_takes_their_wrinkles(coarse_model, geometry, scan):
    beta = jnp.asarray(np.random.default_rng(0).normal(size=coarse_model.num_identity) * 0.5, jnp.float32)
    neutral = fm.neutral_shape(coarse_model, beta)
    # A Duchenne smile: the mouth corners pulled up and the cheeks raised (AU12 + AU6).
    smile = fm.shape(
        coarse_model, beta, expression(coarse_model, "mouthSmile_L", "mouthSmile_R", "cheekSquint_L", "cheekSquint_R")
    )
    mouth_only = fm.shape(coarse_model, beta, expression(coarse_model, "mouthSmile_L", "mouthSmile_R"))
    crow = beside_eye_corners(coarse_model)
    t_rest = np.asarray(detail.tension_map(geometry, neutral, neutral))
    t_smile = np.asarray(detail.tension_map(geometry, smile, neutral))
    t_mouth = np.asarray(detail.tension_map(geometry, mouth_only, neutral))
    np.testing.assert_allclose(t_rest, 0.0, atol=1e-5)
    assert t_smile[crow].mean() > 0.05 and (t_smile[crow] > 0).mean() > 0.95
    assert t_mouth[crow].mean() > 0.01  # even the mouth alone pulls the eye corner together
    cheek = t_mouth > 0.15  # beside the mouth corners, over the nasolabial folds
    assert cheek.sum() > 10

    basis = scan_basis(scan)
    codes = detail.DetailCodes(jnp.zeros(0), jnp.zeros(0), jnp.zeros(0))
    scale = detail.TENSION_SCALE
    maps = detail.animate_detail(basis, geometry, codes, neutral, smile)
    wrinkles = np.asarray(maps.compressed - maps.static)
    shown = np.asarray(maps.displacement - maps.static)
    # Where compressed, D carries the compressed wrinkles in proportion w_c ...
    w_c = np.asarray(maps.compress_weight)
    np.testing.assert_allclose(shown[crow], (w_c * wrinkles)[crow], atol=1e-6)
    gained = np.sum(shown[crow] * wrinkles[crow]) / np.sum(wrinkles[crow] ** 2)
    assert gained > 0.3
    assert np.abs(wrinkles[crow]).max() * 10 > 0.1  # the scan has crow's feet there (mm)
    # ... and where the skin neither compresses nor stretches it stays static.
    still = np.abs(t_smile) < 1e-3  # forehead, neck: the smile does not reach them
    assert still.sum() > 100
    largest = (
        np.abs(np.asarray(maps.compressed - maps.static)).max() + np.abs(np.asarray(maps.stretched - maps.static)).max()
    )
    np.testing.assert_allclose(shown[still], 0.0, atol=scale * 1e-3 * largest)


def test_animate_detail_batches_over_frames(coarse_model, geometry, scan):
    neutral = coarse_model.mean_shape
    frames = jnp.stack(
        [
            fm.shape(coarse_model, jnp.zeros(coarse_model.num_identity), expression(coarse_model, n))
            for n in ("browInnerUp_L", "jawOpen")
        ]
    )
    basis = scan_basis(scan)
    codes = detail.DetailCodes(jnp.zeros(0), jnp.zeros(0), jnp.zeros(0))
    both = detail.animate_detail(basis, geometry, codes, neutral, frames)
    for i in range(2):
        one = detail.animate_detail(basis, geometry, codes, neutral, frames[i])
        np.testing.assert_allclose(both.displacement[i], one.displacement, atol=1e-6)


# ---------------------------------------------------------------------------- normal map


def plane(n: int = 33, size: float = 4.0):
    """Flat n x n grid in z = 0 over [0, size]^2 cm, UV = position / size."""
    ys, xs = np.mgrid[0:n, 0:n] * (size / (n - 1))
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], 1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    tris = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]).astype(np.int32)
    return v, tris, v[:, :2] / size


def test_normal_map_of_analytic_bump():
    """A Gaussian bump z = A exp(-r^2 / s^2) on a plane: the normal is (-z_x, -z_y, 1)/norm."""
    size, amp, sigma, res = 4.0, 0.15, 0.5, 128
    v, tris, uvs = plane(size=size)
    geom = detail.DetailGeometry(uv.uv_raster(uvs, tris, res), jnp.asarray(tris), jnp.asarray(unique_edges(tris)))
    u, w = uv_centres(res)
    x, y = u * size - size / 2, w * size - size / 2
    bump = amp * np.exp(-(x**2 + y**2) / sigma**2)
    normals, displaced = detail.detailed_normal_map(jnp.asarray(v, jnp.float32), jnp.asarray(bump, jnp.float32), geom)
    gx, gy = bump * -2 * x / sigma**2, bump * -2 * y / sigma**2
    want = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    want /= np.linalg.norm(want, axis=-1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip(np.sum(np.asarray(normals) * want, -1), -1, 1)))
    assert np.max(np.degrees(np.arctan(np.hypot(gx, gy)))) > 10  # a real slope to get right
    assert angle.max() < 0.3, angle.max()  # including the one-sided border texels
    np.testing.assert_allclose(np.asarray(displaced)[..., 2], bump, atol=1e-6)


# ---------------------------------------------------------------------------- dense mesh


def test_subdivision_matches_trimesh():
    sphere = trimesh.creation.icosphere(1)
    uvs = sphere.vertices[:, :2] * 0.4 + 0.5
    sub = detail.subdivide(sphere.faces, uvs, sphere.faces, levels=1)
    pts, _ = detail.dense_surface(jnp.asarray(sphere.vertices, jnp.float32), jnp.asarray(sphere.faces), sub)
    want_v, want_f = trimesh.remesh.subdivide(sphere.vertices, sphere.faces)
    got = np.asarray(pts)
    assert got.shape == want_v.shape and len(sub.triangles) == len(want_f)
    np.testing.assert_allclose(got[: len(sphere.vertices)], sphere.vertices, atol=1e-6)  # originals first
    dist, _ = cKDTree(want_v).query(got)
    assert dist.max() < 1e-6  # the same point set
    mesh = trimesh.Trimesh(got, np.asarray(sub.triangles), process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    # UVs split like the vertices: each dense corner's UV is its position's image.
    np.testing.assert_allclose(
        np.asarray(sub.uv_coords)[np.asarray(sub.uv_triangles)],
        got[np.asarray(sub.triangles)][..., :2] * 0.4 + 0.5,
        atol=1e-6,
    )


def test_dense_mesh_moves_by_D_along_the_normal(coarse_model):
    """D(u, v) analytic; each dense vertex moves by exactly D at its UV, and lands D away
    from the coarse surface (trimesh's closest point)."""
    sub = detail.subdivide(
        coarse_model.triangles, coarse_model.uv_coords, coarse_model.uv_triangles, 1, coarse_model.num_vertices
    )
    u, w = uv_centres(RES)

    def field(uu, vv):  # cm, smooth: bilinear lookup is near exact
        return 0.02 + 0.03 * np.sin(6 * uu) * np.cos(4 * vv)

    dense = np.asarray(
        detail.detailed_mesh(
            coarse_model.mean_shape, coarse_model.triangles, jnp.asarray(field(u, w), jnp.float32), sub
        )
    )
    base, normals = (np.asarray(a) for a in detail.dense_surface(coarse_model.mean_shape, coarse_model.triangles, sub))
    moved = np.sum((dense - base) * normals, -1)
    vuv = np.asarray(sub.vertex_uv)
    # Half a texel from the tile's edge the bilinear lookup clamps; compare inside.
    in_tile = np.asarray(sub.in_tile)
    inside = in_tile & np.all((vuv > 0.5 / RES) & (vuv < 1 - 0.5 / RES), axis=1)
    np.testing.assert_allclose(moved[inside], field(vuv[inside, 0], vuv[inside, 1]), atol=1e-4)
    np.testing.assert_allclose(dense[~in_tile], base[~in_tile], atol=1e-6)
    pick = np.random.default_rng(0).choice(np.nonzero(inside)[0], 300, replace=False)
    dist = distance_to_mesh(np.asarray(coarse_model.mean_shape), np.asarray(coarse_model.triangles), dense[pick])
    want = field(vuv[pick, 0], vuv[pick, 1])
    assert np.median(np.abs(dist - want) / want) < 0.02


def distance_to_mesh(vertices: np.ndarray, triangles: np.ndarray, points: np.ndarray, reach: float = 1.0) -> np.ndarray:
    """Unsigned distance of each point to the mesh, by trimesh's point-triangle routine
    over the triangles with a corner within ``reach`` cm."""
    corners = vertices[triangles]
    near_vertex = cKDTree(vertices).query_ball_point(points, reach)
    out = np.empty(len(points))
    for i, (p, near) in enumerate(zip(points, near_vertex)):
        cand = np.nonzero(np.isin(triangles, near).any(1))[0]
        closest = trimesh.triangles.closest_point(corners[cand], np.repeat(p[None], len(cand), 0))
        out[i] = np.linalg.norm(closest - p, axis=1).min()
    return out


# ------------------------------------------------------------------------------- module


def test_module_freezes_by_config_and_regresses_codes():
    rng = np.random.default_rng(2)
    basis = random_basis(rng)
    model = detail.SDDetail(basis, num_identity=4, config=detail.DetailConfig(head_hidden=8), rngs=nnx.Rngs(0))
    frozen = jax.tree.leaves(nnx.state(model, detail.DetailConst))
    assert len(frozen) == 6  # static and dynamic maps are constants by default
    static_code = jnp.asarray(rng.normal(size=(3, basis.num_static)), jnp.float32)
    identity = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    codes = model.codes(static_code, identity)
    # At init the head is the builder's regression: the MLP starts at zero, identity rows too.
    np.testing.assert_allclose(codes.compress, static_code @ basis.compress_from_static, atol=1e-5)
    np.testing.assert_allclose(codes.stretch, static_code @ basis.stretch_from_static, atol=1e-5)

    tension = jnp.asarray(rng.uniform(-0.3, 0.3, (3, 16, 16)), jnp.float32)
    target = jnp.asarray(rng.normal(size=(3, 16, 16)) * 0.01, jnp.float32)
    opt = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    before = nnx.state(model, detail.DetailConst)

    @nnx.jit
    def step(model, opt):
        def loss(m):
            return jnp.mean((m(static_code, identity, tension).displacement - target) ** 2)

        value, grads = nnx.value_and_grad(loss, argnums=nnx.DiffState(0, nnx.Param))(model)
        opt.update(model, grads)
        return value

    first = step(model, opt)
    for _ in range(5):
        last = step(model, opt)
    assert last < first
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(nnx.state(model, detail.DetailConst))):
        np.testing.assert_array_equal(a, b)

    learned = detail.SDDetail(basis, 4, detail.DetailConfig(learn_static=True, learn_dynamic=True), rngs=nnx.Rngs(0))
    assert not jax.tree.leaves(nnx.state(learned, detail.DetailConst))


def test_bad_codes_fail_with_a_message():
    basis = random_basis(np.random.default_rng(3))
    with pytest.raises(ValueError, match="static_code must have shape"):
        detail.static_detail(basis, jnp.zeros(basis.num_static + 1))
