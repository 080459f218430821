"""The renderer is correct with the batch sharded over devices (4 CPU devices, in a subprocess)."""
import os
import pathlib
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    import rendering
    from rendering import testing

    assert jax.device_count() == 4, jax.devices()
    verts, tris = testing.icosphere(3)
    nbrs = rendering.triangle_neighbors(tris)
    view, proj = testing.view_camera(3.0, 40.0, 1.0, near=0.5, far=10.0)
    clip = testing.posed_clip(verts, [(15 * i, 5 * i, 0) for i in range(8)], view, proj)
    colors = np.random.default_rng(0).uniform(0, 1, verts.shape).astype(np.float32)

    def render(c):
        fr = rendering.rasterize(c, tris, (24, 32))
        img = rendering.composite(rendering.interpolate(colors, fr, tris), fr.mask, 0.5)
        return rendering.antialias(img, fr, c, tris, nbrs), fr.triangle_id, fr.overflow

    def loss(c):
        return jnp.sum(render(c)[0] ** 2)

    ref_img, ref_ids, _ = jax.jit(render)(clip)
    ref_grad = jax.jit(jax.grad(loss))(clip)

    # jax.make_mesh defaults to explicit axes; check the auto (GSPMD) kind too.
    for axis_type in (jax.sharding.AxisType.Explicit, jax.sharding.AxisType.Auto):
        mesh = jax.make_mesh((4,), ("data",), axis_types=(axis_type,))
        sharded = jax.device_put(clip, NamedSharding(mesh, P("data")))
        img, ids, overflow = jax.jit(render)(sharded)
        rendering.check_overflow(overflow)
        assert len(img.sharding.device_set) == 4
        assert img.sharding.shard_shape(img.shape)[0] == 2, img.sharding
        np.testing.assert_array_equal(np.asarray(ids), np.asarray(ref_ids))
        np.testing.assert_allclose(np.asarray(img), np.asarray(ref_img), atol=1e-6)
    # Gradients with the (default) explicit mesh.
    grad = jax.jit(jax.grad(loss))(jax.device_put(clip, NamedSharding(jax.make_mesh((4,), ("data",)), P("data"))))
    assert grad.sharding.shard_shape(grad.shape)[0] == 2, grad.sharding
    np.testing.assert_allclose(np.asarray(grad), np.asarray(ref_grad), rtol=1e-3, atol=1e-4)
    print("SHARDING_OK")
    """
)


def test_sharded_batch_matches_single_device():
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "SHARDING_OK" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-4000:]
