"""Benchmark: ``python -m rendering.benchmark [--json FILE] [flags]``.

Times, for each mesh x batch x resolution:

* ``fwd`` / ``fwd+bwd`` of the full image-formation pipeline (rasterize,
  interpolate UVs, mip-mapped texture, analytic antialiasing), gradients with
  respect to vertices and texture -- the pipeline of the nvdiffrast anchor;
* ``depth+normal`` forward (rasterize, interpolate vertex normals), the
  Mitsuba comparison;
* memory: XLA's buffer assignment for the compiled step (arguments + outputs +
  temporaries), which is what the step needs on any backend.

Comparisons made in the same run when available:

* Mitsuba 3 rendering depth and normals (AOV integrator, 1 sample per pixel)
  of the same mesh and camera. ``llvm_ad_rgb`` is used when it loads
  (Debian's libLLVM 19 via ``DRJIT_LIBLLVM_PATH``; the script also looks in
  ``~/.cache/hiface/llvm19``), else ``scalar_rgb``; the table says which.
  Reported per frame, for ``render`` alone and for ``update+render`` (new
  vertex positions each frame, as in training: includes the BVH rebuild).
* A naive all-pairs JAX rasterizer (every pixel tests every triangle; same
  math, no tiles), batch 1, to show what tiling buys.
* nvdiffrast (``import nvdiffrast.torch``) on a CUDA GPU, same pipeline,
  when it is importable.

Meshes: the ICT face area (about 18k triangles; the ICT-FaceKit must be
available to ``hiface_jax``, else an 20,480-triangle icosphere stands in) and
its 1-to-4 subdivision (about 74k triangles; else an 81,920-triangle
icosphere).
"""
from __future__ import annotations

import argparse
import datetime
import glob
import json
import math
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import rendering
from rendering import testing
from rendering.raster import _prepare

TEX_RES = 256


# ----------------------------------------------------------------------------
# Scenes.


def _ict_face_mesh():
    """The ICT face-area mesh via ``hiface_jax`` when it is installed and the
    ICT-FaceKit is available; None otherwise. This optional import is the only
    place the rendering package touches ``hiface_jax``; the renderer does not."""
    try:
        from hiface_jax.face.face_model import load_face_model
    except ImportError:
        return None
    try:
        m = load_face_model().submesh("face")
    except Exception as e:  # noqa: BLE001 - a missing face kit means: use the stand-in
        print(f"ICT face unavailable ({e}); using an icosphere", file=sys.stderr)
        return None
    return np.asarray(m.mean_shape, np.float32), np.asarray(m.triangles, np.int32)


def load_meshes(names):
    out = {}
    face = _ict_face_mesh()
    for name in names:
        if name == "face":
            if face is not None:
                out[name] = ("ICT face area", *face)
            else:
                out[name] = ("icosphere (face unavailable)", *testing.icosphere(5))
        elif name == "face4x":
            if face is not None:
                out[name] = ("ICT face area, subdivided 1:4", *testing.subdivide(*face))
            else:
                out[name] = ("icosphere (face unavailable)", *testing.icosphere(6))
        elif name.startswith("ico"):
            out[name] = (f"icosphere {name[3:]}", *testing.icosphere(int(name[3:])))
        else:
            raise SystemExit(f"unknown mesh {name!r}: use face, face4x or icoN")
    return out


def camera_for(verts):
    """A camera framing the mesh (30 degree field of view), numpy (4, 4) view and proj."""
    c = verts.mean(0)
    radius = float(np.linalg.norm(verts - c, axis=1).max())
    dist = radius / math.sin(math.radians(15)) * 1.05
    view, proj = testing.view_camera(dist, 30.0, 1.0, near=dist * 0.2, far=dist * 3)
    return c, dist, view, proj


def scene_batch(verts, batch):
    """Clip-space vertices (B, V, 4) at yaws spread over +-30 degrees, plus the posed vertices."""
    c, dist, view, proj = camera_for(verts)
    poses = [(-30 + 60 * i / max(batch - 1, 1), 5.0, 0.0) for i in range(batch)]
    world = np.stack([(verts - c) @ testing.rotation(*p).T for p in poses]).astype(np.float32)
    clip = np.stack([np.asarray(rendering.transform(w, proj @ view)) for w in world])
    return clip, world, (dist, view, proj)


def planar_uvs(verts):
    lo, hi = verts.min(0), verts.max(0)
    return ((verts[:, :2] - lo[:2]) / (hi[:2] - lo[:2])).astype(np.float32)


# ----------------------------------------------------------------------------
# Our pipelines.


def make_pipeline(tris, uvs, res, config):
    nbrs = rendering.triangle_neighbors(tris)

    def image(clip, tex):
        fr = rendering.rasterize(clip, tris, (res, res), config)
        uv = rendering.interpolate(uvs, fr, tris)
        duv = rendering.interpolate_derivatives(uvs, fr, tris, rendering.barycentric_derivatives(clip, tris, fr))
        col = rendering.sample(tex, uv, duv)
        img = rendering.composite(col, fr.mask, 0.0)
        return rendering.antialias(img, fr, clip, tris, nbrs), fr.overflow

    def fwd(clip, tex):
        return image(clip, tex)

    def loss(clip, tex):
        img, ov = image(clip, tex)
        return jnp.mean(img), ov

    def fwd_bwd(clip, tex):
        (l, ov), g = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(clip, tex)
        return l, g, ov

    def depth_normal(clip, world):
        fr = rendering.rasterize(clip, tris, (res, res), config)
        n = rendering.interpolate(rendering.vertex_normals(world, tris), fr, tris)
        return fr.view_depth, rendering.safe_normalize(n), fr.overflow

    return jax.jit(fwd), jax.jit(fwd_bwd), jax.jit(depth_normal)


def naive_visibility(clip, tris, res):
    """All-pairs reference: every pixel tests every triangle (one image row at a time)."""
    i0, i1, j0, j1, live, table = _prepare(clip, jnp.asarray(tris), res, res, False)
    table = jnp.where(live[..., None], table, jnp.asarray([0, 0, -1] * 3 + [0, 0, 2], table.dtype))
    xs, ys = rendering.pixel_centers_ndc(res, res)

    def row(y):
        e = [table[0, None, :, 3 * k] * xs[:, None] + table[0, None, :, 3 * k + 1] * y + table[0, None, :, 3 * k + 2] for k in range(4)]
        inside = (e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0) & (e[3] >= -1) & (e[3] <= 1)
        z = jnp.where(inside, e[3], jnp.inf)
        return jnp.where(jnp.isfinite(z.min(-1)), jnp.argmin(z, -1), -1)

    return jax.lax.map(row, jnp.asarray(ys))


# ----------------------------------------------------------------------------
# Timing helpers.


def timeit(fn, *args, repeats=5, min_time=0.0):
    out = fn(*args)
    jax.block_until_ready(out)
    times = []
    t_start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - t_start < min_time:
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
        if len(times) >= 50:
            break
    return statistics.median(times), out


def memory_bytes(jitted, *args):
    try:
        m = jitted.lower(*args).compile().memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


# ----------------------------------------------------------------------------
# Mitsuba.


def setup_mitsuba():
    """Imports mitsuba with the fastest CPU variant that loads; returns (mi, variant) or (None, reason)."""
    if "DRJIT_LIBLLVM_PATH" not in os.environ:
        found = sorted(glob.glob(os.path.expanduser("~/.cache/hiface/llvm19/**/libLLVM-19.so"), recursive=True))
        if found:
            os.environ["DRJIT_LIBLLVM_PATH"] = found[0]
    try:
        import mitsuba as mi
    except Exception as e:  # noqa: BLE001
        return None, f"mitsuba unavailable: {e}"
    for variant in ("llvm_ad_rgb", "scalar_rgb"):
        try:
            mi.set_variant(variant)
            mi.load_dict({"type": "scene"})
            return mi, variant
        except Exception:  # noqa: BLE001 - try the next variant
            continue
    return None, "no mitsuba variant loaded"


def mitsuba_frame_ms(mi, verts_world, tris, res, dist, repeats):
    """(render ms, update+render ms) for depth + shading normal AOVs, 1 spp."""
    mesh = mi.Mesh("m", len(verts_world), len(tris))
    params = mi.traverse(mesh)
    params["vertex_positions"] = mi.Float(np.ascontiguousarray(verts_world, np.float32).ravel())
    params["faces"] = mi.UInt32(np.ascontiguousarray(tris, np.uint32).ravel())
    params.update()
    scene = mi.load_dict(
        {
            "type": "scene",
            "integrator": {"type": "aov", "aovs": "dd.y:depth,nn:sh_normal"},
            "sensor": {
                "type": "perspective",
                "fov": 30.0,
                "fov_axis": "y",
                "to_world": mi.ScalarTransform4f().look_at(origin=[0, 0, dist], target=[0, 0, 0], up=[0, 1, 0]),
                "film": {"type": "hdrfilm", "width": res, "height": res, "rfilter": {"type": "box"}},
                "sampler": {"type": "independent", "sample_count": 1},
            },
            "mesh": mesh,
        }
    )
    sp = mi.traverse(scene)
    key = [k for k in sp.keys() if k.endswith("vertex_positions")][0]
    img = mi.render(scene, spp=1)
    np.asarray(img)
    render_t, update_t = [], []
    base = np.ascontiguousarray(verts_world, np.float32).ravel()
    for i in range(repeats):
        t = time.perf_counter()
        np.asarray(mi.render(scene, spp=1, seed=i))
        render_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        sp[key] = mi.Float(base * (1.0 + 1e-4 * (i % 2)))
        sp.update()
        np.asarray(mi.render(scene, spp=1, seed=i))
        update_t.append(time.perf_counter() - t)
    return statistics.median(render_t) * 1e3, statistics.median(update_t) * 1e3


# ----------------------------------------------------------------------------
# nvdiffrast (GPU only).


def nvdiffrast_times(tris, uvs, clip, res, repeats):
    """(fwd ms, fwd+bwd ms, peak bytes) of nvdiffrast's rasterize+interpolate+mip texture+antialias, or None."""
    try:
        import nvdiffrast.torch as dr
        import torch
    except Exception:  # noqa: BLE001 - not installed or no CUDA build
        return None
    if not torch.cuda.is_available():
        return None
    dev = "cuda"
    ctx = dr.RasterizeCudaContext(device=dev)
    pos = torch.tensor(np.asarray(clip), device=dev)
    tri = torch.tensor(np.asarray(tris), dtype=torch.int32, device=dev)
    uv = torch.tensor(np.asarray(uvs), device=dev)[None]
    tex = torch.rand(1, TEX_RES, TEX_RES, 3, device=dev)

    def run(backward):
        p = pos.clone().requires_grad_(backward)
        t = tex.clone().requires_grad_(backward)
        # nvdiffrast's y axis is bottom-up; flip NDC y so both render the same image.
        p2 = p * torch.tensor([1.0, -1.0, 1.0, 1.0], device=dev)
        rast, rast_db = dr.rasterize(ctx, p2, tri, (res, res), grad_db=True)
        uvi, uv_da = dr.interpolate(uv, rast, tri, rast_db=rast_db, diff_attrs="all")
        col = dr.texture(t, uvi, uv_da, filter_mode="linear-mipmap-linear")
        col = col * (rast[..., 3:] > 0)
        img = dr.antialias(col, rast, p2, tri)
        if backward:
            img.mean().backward()
        return img

    for _ in range(3):
        run(True)
    torch.cuda.synchronize()
    out = []
    for backward in (False, True):
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(repeats):
            torch.cuda.synchronize()
            t = time.perf_counter()
            run(backward)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        out.append(statistics.median(times) * 1e3)
    return out[0], out[1], int(torch.cuda.max_memory_allocated())


# ----------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meshes", default="face,face4x", help="comma list: face, face4x, icoN")
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--resolutions", default="224,512")
    ap.add_argument("--max-pixels", type=float, default=None,
                    help="skip configs with batch*H*W above this (default: 64*224*224 on CPU, no limit on GPU)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tile-size", type=int, default=rendering.RasterConfig.tile_size)
    ap.add_argument("--no-mitsuba", action="store_true")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--json", default=None, help="write the figures to this file")
    args = ap.parse_args(argv)

    backend = jax.default_backend()
    max_pixels = args.max_pixels
    if max_pixels is None:
        max_pixels = float("inf") if backend != "cpu" else 64 * 224 * 224
    meshes = load_meshes(args.meshes.split(","))
    batches = [int(b) for b in args.batches.split(",")]
    resolutions = [int(r) for r in args.resolutions.split(",")]
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m rendering.benchmark " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "backend": backend,
        "devices": [str(d) for d in jax.devices()],
    }
    print(json.dumps(info, indent=1), flush=True)
    mi, variant = (None, "skipped") if args.no_mitsuba else setup_mitsuba()
    info["mitsuba_variant"] = variant if mi is not None else None
    if mi is None:
        print(f"mitsuba: {variant}", flush=True)
    rows = []
    tex = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (TEX_RES, TEX_RES, 3)).astype(np.float32))
    for mname, (desc, verts, tris) in meshes.items():
        uvs = planar_uvs(verts)
        for res in resolutions:
            # Capacities sized from the widest batch of this resolution (measured, then 1.5x headroom).
            clip_probe, _, _ = scene_batch(verts, 8)
            need = rendering.required_capacity(clip_probe, tris, (res, res), rendering.RasterConfig(tile_size=args.tile_size))
            config = rendering.RasterConfig(
                tile_size=args.tile_size,
                tile_capacity=max(64, int(need["tile_capacity"] * 1.5)),
                pair_capacity=int(need["pair_capacity"] * 1.5) + 1024,
            )
            fwd, fwd_bwd, dn = make_pipeline(tris, uvs, res, config)
            mitsuba_ms = None
            for batch in batches:
                row = {"mesh": mname, "mesh_desc": desc, "triangles": int(len(tris)), "batch": batch, "res": res}
                if batch * res * res > max_pixels:
                    row["skipped"] = f"batch*H*W above --max-pixels ({max_pixels:.0f})"
                    rows.append(row)
                    print(row, flush=True)
                    continue
                clip, world, (dist, view, proj) = scene_batch(verts, batch)
                clip, world = jnp.asarray(clip), jnp.asarray(world)
                t, (img, ov) = timeit(fwd, clip, tex, repeats=args.repeats)
                rendering.check_overflow(ov, config)
                row["fwd_ms"] = t * 1e3
                t, _ = timeit(fwd_bwd, clip, tex, repeats=args.repeats)
                row["fwd_bwd_ms"] = t * 1e3
                t, _ = timeit(dn, clip, world, repeats=args.repeats)
                row["depth_normal_ms"] = t * 1e3
                row["fwd_bwd_images_per_s"] = batch / (row["fwd_bwd_ms"] / 1e3)
                row["mem_fwd_bwd_bytes"] = memory_bytes(fwd_bwd, clip, tex)
                row["mem_depth_normal_bytes"] = memory_bytes(dn, clip, world)
                if mi is not None:
                    if mitsuba_ms is None:
                        mitsuba_ms = mitsuba_frame_ms(mi, np.asarray(world[0]), tris, res, dist, max(args.repeats, 5))
                    row["mitsuba_variant"] = variant
                    row["mitsuba_render_ms"] = mitsuba_ms[0] * batch
                    row["mitsuba_update_render_ms"] = mitsuba_ms[1] * batch
                if not args.no_naive and batch == 1 and res == min(resolutions) and mname == next(iter(meshes)):
                    naive = jax.jit(lambda c: naive_visibility(c, tris, res))
                    t, ids_naive = timeit(naive, clip, repeats=2)
                    row["naive_visibility_ms"] = t * 1e3
                    vis = jax.jit(lambda c: rendering.visibility(c, tris, (res, res), config)[0])
                    t, ids = timeit(vis, clip, repeats=args.repeats)
                    row["tiled_visibility_ms"] = t * 1e3
                    row["naive_agrees"] = float(np.mean(np.asarray(ids[0]) == np.asarray(ids_naive)))
                nv = nvdiffrast_times(tris, uvs, clip, res, args.repeats)
                if nv is not None:
                    row["nvdiffrast_fwd_ms"], row["nvdiffrast_fwd_bwd_ms"], row["nvdiffrast_peak_bytes"] = nv
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print(markdown_table(rows, info))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "rows": rows}, f, indent=1)


def markdown_table(rows, info):
    has_nv = any("nvdiffrast_fwd_ms" in r for r in rows)
    head = ["mesh", "tris", "B", "res", "fwd ms", "fwd+bwd ms", "img/s (f+b)", "depth+normal ms", "mem f+b MB"]
    if info.get("mitsuba_variant"):
        head += [f"Mitsuba {info['mitsuba_variant']} render ms", "Mitsuba update+render ms"]
    if has_nv:
        head += ["nvdiffrast fwd ms", "nvdiffrast f+b ms", "ours / nvdiffrast (f+b)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    f = lambda x, d=1: "" if x is None else f"{x:.{d}f}"
    for r in rows:
        cells = [r["mesh"], str(r["triangles"]), str(r["batch"]), str(r["res"])]
        if "skipped" in r:
            cells += ["skipped: " + r["skipped"]] + [""] * (len(head) - 5)
        else:
            mem = r.get("mem_fwd_bwd_bytes")
            cells += [f(r["fwd_ms"]), f(r["fwd_bwd_ms"]), f(r["fwd_bwd_images_per_s"], 0), f(r["depth_normal_ms"]),
                      f(mem / 2**20 if mem else None)]
            if info.get("mitsuba_variant"):
                cells += [f(r.get("mitsuba_render_ms")), f(r.get("mitsuba_update_render_ms"))]
            if has_nv:
                nvb = r.get("nvdiffrast_fwd_bwd_ms")
                cells += [f(r.get("nvdiffrast_fwd_ms"), 2), f(nvb, 2), f(r["fwd_bwd_ms"] / nvb if nvb else None, 2)]
        lines.append("| " + " | ".join(cells) + " |")
    naive = [r for r in rows if "naive_visibility_ms" in r]
    for r in naive:
        lines.append("")
        lines.append(
            f"Visibility only, {r['mesh']} ({r['triangles']} triangles), batch 1, {r['res']}x{r['res']}: tiled "
            f"{r['tiled_visibility_ms']:.1f} ms, naive all-pairs {r['naive_visibility_ms']:.0f} ms "
            f"({r['naive_visibility_ms'] / r['tiled_visibility_ms']:.0f}x); ids agree on {100 * r['naive_agrees']:.2f}% of pixels."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
