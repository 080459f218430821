"""Inverse rendering: pose from a silhouette; shape and lighting from shaded images."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

import rendering
from rendering import testing

RES = 40


def _blob():
    """An asymmetric closed mesh: a bumpy, stretched icosphere (320 triangles)."""
    v, f = testing.icosphere(2)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    r = 1 + 0.25 * np.sin(2.5 * x + 1) * np.cos(1.5 * y) + 0.2 * np.maximum(z, 0) * x
    return (v * r[:, None] * np.array([1.0, 0.7, 0.8])).astype(np.float32), f


def _rotation(aa):
    """Rodrigues rotation matrix from an axis-angle (3,)."""
    th = jnp.sqrt(jnp.sum(aa**2) + 1e-12)
    k = aa / th
    kx = jnp.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return jnp.eye(3) + jnp.sin(th) * kx + (1 - jnp.cos(th)) * kx @ kx


def test_recover_pose_from_silhouette():
    verts, tris = _blob()
    nbrs = rendering.triangle_neighbors(tris)
    view, proj = testing.view_camera(4.0, 40.0, 1.0, near=0.5, far=10.0)
    mvp = jnp.asarray(proj @ view)

    def silhouette(pose):
        p = verts @ _rotation(pose[:3]).T + jnp.concatenate([pose[3:], jnp.zeros(1)])
        clip = rendering.transform(p, mvp)[None]
        fr = rendering.rasterize(clip, tris, (RES, RES))
        return rendering.antialias(fr.mask[..., None], fr, clip, tris, nbrs)

    target_pose = jnp.array([0.25, -0.35, 0.3, 0.15, -0.1])  # ~27 degrees, off-centre
    target = jax.jit(silhouette)(target_pose)
    loss = lambda p: jnp.mean((silhouette(p) - target) ** 2)
    opt = optax.adam(0.02)

    @jax.jit
    def step(p, s):
        l, g = jax.value_and_grad(loss)(p)
        u, s = opt.update(g, s)
        return optax.apply_updates(p, u), s, l

    pose = jnp.zeros(5)
    state = opt.init(pose)
    for i in range(150):
        pose, state, l = step(pose, state)
        l0 = float(l) if i == 0 else l0
    r_err = _rotation(pose[:3]) @ _rotation(target_pose[:3]).T
    angle = np.degrees(np.arccos(np.clip((np.trace(np.asarray(r_err)) - 1) / 2, -1, 1)))
    assert float(l) < 0.03 * l0
    assert angle < 3.0, angle
    np.testing.assert_allclose(np.asarray(pose[3:]), np.asarray(target_pose[3:]), atol=0.02)


def test_recover_shape_and_lighting_from_shaded_images():
    verts, tris = testing.icosphere(2)
    nbrs = rendering.triangle_neighbors(tris)
    # A 6-mode smooth shape basis (a toy morphable model) on the sphere.
    x, y, z = verts[:, 0], verts[:, 1], verts[:, 2]
    modes = np.stack([x, y, z, x * y, y * z, x * x - y * y], -1)[..., None] * verts[:, None, :]  # (V, 6, 3)
    modes = jnp.asarray(modes, jnp.float32)
    views = [(0, 0, 0), (50, 10, 0), (-45, -20, 0)]
    view, proj = testing.view_camera(4.0, 40.0, 1.0, near=0.5, far=10.0)
    rots = jnp.asarray(np.stack([testing.rotation(*p) for p in views]))
    mvp = jnp.asarray(proj @ view)
    albedo = jnp.array([0.8, 0.6, 0.5])

    def render(params):
        shape = verts + jnp.einsum("vkc,k->vc", modes, params["shape"])
        p = jnp.einsum("bij,vj->bvi", rots, shape)  # (3 views, V, 3)
        clip = rendering.transform(p, mvp)
        fr = rendering.rasterize(clip, tris, (RES, RES))
        n = rendering.safe_normalize(rendering.interpolate(rendering.vertex_normals(p, tris), fr, tris))
        col = rendering.shade_sh(jnp.broadcast_to(albedo, n.shape), n, params["sh"])
        img = rendering.composite(col, fr.mask, 0.0)
        return rendering.antialias(img, fr, clip, tris, nbrs)

    sh_true = rendering.ambient_sh(0.8).at[1].set(jnp.array([0.5, 0.4, 0.3])).at[3].set(jnp.array([0.6, 0.6, 0.7]))
    truth = {"shape": jnp.array([0.35, -0.25, 0.2, 0.4, -0.3, 0.25]), "sh": sh_true}
    target = jax.jit(render)(truth)
    start = {"shape": jnp.zeros(6), "sh": rendering.ambient_sh(0.5)}  # a sphere under flat light
    loss = lambda p: jnp.mean((render(p) - target) ** 2)
    opt = optax.adam(0.02)

    @jax.jit
    def step(p, s):
        l, g = jax.value_and_grad(loss)(p)
        u, s = opt.update(g, s)
        return optax.apply_updates(p, u), s, l

    params, state = start, opt.init(start)
    for i in range(150):
        params, state, l = step(params, state)
        l0 = float(l) if i == 0 else l0
    shape_err0 = float(jnp.linalg.norm(start["shape"] - truth["shape"]))
    shape_err = float(jnp.linalg.norm(params["shape"] - truth["shape"]))
    # Lighting is judged by the shading it gives to normals the camera sees (n_z > 0.2):
    # on one hemisphere the SH bands are nearly collinear, so coefficients themselves
    # are not identifiable, but the shading is.
    n = np.random.default_rng(0).normal(size=(500, 3))
    n = jnp.asarray(n / np.linalg.norm(n, axis=1, keepdims=True), jnp.float32)
    n = n[n[:, 2] > 0.2]
    shading_rms = lambda sh: float(jnp.sqrt(jnp.mean((rendering.sh_shading(n, sh) - rendering.sh_shading(n, sh_true)) ** 2)))
    light_err0, light_err = shading_rms(start["sh"]), shading_rms(params["sh"])
    assert float(l) < 0.01 * l0, (float(l), l0)
    assert shape_err < 0.15 * shape_err0, (shape_err, shape_err0)
    assert light_err < 0.15 * light_err0, (light_err, light_err0)
