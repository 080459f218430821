"""Quickstart: the project end to end on what ships with it.

    python -m launch.quickstart --output out/quickstart [--seed 0] [--ict_dir PATH] [--nofit]

1. A random face with a random expression, written as files people open. Into the
   output folder:
  face.obj / face.mtl / face_albedo.png / face_normal.png   coarse skin mesh with UVs and maps
  face.ply, face.glb                                         the same mesh for MeshLab / glTF viewers
  tension.png                                                the expression's mesh tension in UV space
  coefficients.json                                          identity, expression (by ARKit name), seed
2. The photo-to-3D fit (``launch.fit``) of a public-domain photo that ships inside
   scikit-image (``astronaut.png``, Eileen Collins, NASA) into ``<output>/fit/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from hiface_jax import mesh_io
from hiface_jax.face import face_model as fm
from hiface_jax.face.ict_facekit import FaceModelSourceError
from hiface_jax.fit.photo_fit import fit_photos
from hiface_jax.geometry import tension, uv
from rendering.normals import vertex_normals

FLAGS = flags.DEFINE_string("output", None, "Output folder (created if missing).", required=True)
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_ICT = flags.DEFINE_string(
    "ict_dir", None, "ICT-FaceKit ZIP or folder (default: $HIFACE_ICT_DIR, then ../shared/ict-facekit)."
)
_UV_RES = flags.DEFINE_integer("uv_resolution", 512, "Resolution of the UV maps.")
_NUM_EXPR = flags.DEFINE_integer("num_active_expressions", 3, "How many expression shapes are active.")
_FIT = flags.DEFINE_bool("fit", True, "Also fit the astronaut photo shipped in scikit-image.")


def astronaut_photo() -> Path:
    """Path of scikit-image's public-domain astronaut photo (inside the installed package)."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "astronaut.png"


def random_coefficients(key: jax.Array, model: fm.FaceModel, num_active: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """beta ~ N(0, I); psi: ``num_active`` random shapes at weights in [0.4, 1]."""
    k_id, k_pick, k_w = jax.random.split(key, 3)
    identity = jax.random.normal(k_id, (model.num_identity,))
    active = jax.random.choice(k_pick, model.num_expression, (num_active,), replace=False)
    weights = jax.random.uniform(k_w, (num_active,), minval=0.4, maxval=1.0)
    return identity, jnp.zeros(model.num_expression).at[active].set(weights)


def tension_image(t_map: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Diverging colours: red = compressed (t > 0), blue = stretched, white = rest."""
    # Scale by the 99th percentile: eyelids and lips reach extreme values that would wash out the rest.
    t = np.clip(t_map / max(np.percentile(np.abs(t_map[covered]), 99), 1e-6), -1, 1)
    rgb = np.stack([1 - np.clip(-t, 0, 1), 1 - np.abs(t), 1 - np.clip(t, 0, 1)], -1)
    rgb[~covered] = 0.2
    return rgb


def main(argv: list[str]) -> int:
    del argv
    out = Path(FLAGS.value)
    try:
        model = fm.load_face_model(_ICT.value).submesh()
    except FaceModelSourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    identity, expression = random_coefficients(jax.random.key(_SEED.value), model, _NUM_EXPR.value)
    vertices = fm.shape(model, identity, expression)
    rest = fm.neutral_shape(model, identity)
    t = tension.tension(vertices, rest, jnp.asarray(tension.unique_edges(model.triangles)))

    raster = uv.uv_raster(np.asarray(model.uv_coords), np.asarray(model.uv_triangles), _UV_RES.value)
    normal_map = uv.to_uv_map(vertex_normals(vertices, model.triangles), model.triangles, raster)
    tension_map = uv.to_uv_map(t[:, None], model.triangles, raster)[..., 0]
    covered = np.asarray(raster.covered)
    albedo = np.where(
        covered[..., None], np.array([0.80, 0.62, 0.52]), 0.5
    )  # a flat skin tone until the albedo model lands

    v, f = np.asarray(vertices), np.asarray(model.triangles)
    uvc, uvt = np.asarray(model.uv_coords), np.asarray(model.uv_triangles)
    try:
        written = mesh_io.write_obj(
            out / "face.obj", v, f, uvc, uvt, mesh_io.Maps(albedo=albedo, normal_map=np.asarray(normal_map))
        )
        written.append(mesh_io.write_ply(out / "face.ply", v, f))
        written.append(mesh_io.write_glb(out / "face.glb", v, f, uvc, uvt, albedo))
        import imageio.v3 as iio

        iio.imwrite(
            out / "tension.png", np.round(tension_image(np.asarray(tension_map), covered) * 255).astype(np.uint8)
        )
        written.append(out / "tension.png")
        coeffs = {
            "seed": _SEED.value,
            "identity": np.asarray(identity).round(6).tolist(),
            "expression": {
                n: round(float(w), 6) for n, w in zip(model.expression_names, np.asarray(expression)) if w > 0
            },
            "units": "cm",
        }
        (out / "coefficients.json").write_text(json.dumps(coeffs, indent=1))
        written.append(out / "coefficients.json")
    except OSError as e:
        print(f"error: cannot write output: {e}", file=sys.stderr)
        return 2
    print(f"expression: {', '.join(f'{k}={w:.2f}' for k, w in coeffs['expression'].items())}")
    print(f"tension: min {float(t.min()):+.3f} (stretched), max {float(t.max()):+.3f} (compressed)")
    for p in written:
        print(f"wrote {p}")
    if not _FIT.value:
        return 0
    print(f"\nfitting {astronaut_photo()} (launch.fit) into {out / 'fit'}")
    return fit_photos([astronaut_photo()], out / "fit", _ICT.value)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
