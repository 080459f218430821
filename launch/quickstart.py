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
3. A short training run of the ``tiny`` model on synthetic faces (``launch.train``,
   ``--train_steps``, into ``<output>/train/``) and its evaluation against the mean face
   and the fitter (``launch.evaluate --max_per_expression 1``, ``<output>/evaluation/``).
   ``--train_steps 0`` skips both, and a failed run falls back to the fitter.
4. ``launch.reconstruct`` (the trained model, else the fitter; 30 photometric refinement
   steps) of that photo and of matplotlib's Grace Hopper (``grace_hopper.jpg``, public
   domain) into ``<output>/reconstruct/``, and ``launch.animate`` of the astronaut (smile,
   brows up, squint, surprise) with Grace Hopper's static detail into ``<output>/animation/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from hiface_jax import mesh_io
from hiface_jax.app import runtime
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
_VERBOSE = flags.DEFINE_bool("verbose", False, "Keep the JAX / MediaPipe / absl log lines.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 30, "Steps of the tiny training run (0: none, use the fitter).")
_FIT = flags.DEFINE_bool("fit", True, "Also fit, train, reconstruct and animate (steps 2-4).")


REPO = Path(__file__).resolve().parents[1]


def astronaut_photo() -> Path:
    """Path of scikit-image's public-domain astronaut photo (inside the installed package)."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "astronaut.png"


def grace_hopper_photo() -> Path:
    """Path of matplotlib's public-domain Grace Hopper photo (inside the installed package)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def run_logged(module: str, args: list[str], log: Path) -> bool:
    """``python -m module args`` from the repository root, its output into ``log``; True if it worked."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        cmd = [sys.executable, "-m", module, *args]
        proc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        print(f"  {module} failed (exit {proc.returncode}); the end of {log}:")
        print("    " + "\n    ".join(log.read_text().splitlines()[-8:]))
    return proc.returncode == 0


def train_and_evaluate(out: Path, steps: int, ict_dir: str | None) -> Path | None:
    """Step 3: trains ``tiny`` for ``steps`` and evaluates it; the workdir, or None if training failed."""
    workdir = out / "train"
    print(f"\ntraining the tiny model on synthetic faces for {steps} steps into {workdir} (a few minutes)")
    ict = ["--ict_dir", ict_dir] if ict_dir else []
    config = ["--config", str(REPO / "launch" / "configs" / "hiface.py") + ":tiny"]
    steps_flags = [f"--config.train.steps={steps}", f"--config.train.checkpoint_every={steps}"]
    if not run_logged("launch.train", [*config, "--workdir", str(workdir), *steps_flags], out / "train.log"):
        return None
    print(f"evaluating mean face, fitter and model (launch.evaluate) into {out / 'evaluation'}")
    methods = f"mean,fit,model:{workdir}"
    args = ["--methods", methods, "--max_per_expression", "1", "--output", str(out / "evaluation"), *ict]
    if run_logged("launch.evaluate", args, out / "evaluation.log"):
        print(f"  the table: {out / 'evaluation'} (log: {out / 'evaluation.log'})")
    return workdir


def reconstruct_and_animate(
    out: Path, ict_dir: str | None, checkpoint: Path | None = None, refine_steps: int = 30, verbose: bool = False
) -> int:
    """Step 4: both packaged photos to face folders (the trained model if ``checkpoint``,
    else the fitter), then the astronaut animated with Grace Hopper's static detail.
    Returns the number of photos that failed."""
    from hiface_jax.app import animation, backends, outputs, pipeline

    backend = backends.make_backend(None, str(checkpoint) if checkpoint else None, ict_dir, refine_steps)
    photos_named = f"{astronaut_photo().name} and {grace_hopper_photo().name}"
    print(f"\nreconstructing {photos_named} (launch.reconstruct, {backend.name})")
    photos = [astronaut_photo(), grace_hopper_photo()]
    report = pipeline.reconstruct_photos(photos, out / "reconstruct", backend, verbose=verbose)
    for path, why in report.failures.items():
        print(f"  failed: {path}: {why}")
    names = backend.assets.skin.expression_names
    faces = {p.name: p for p in report.written}
    if "astronaut_face0" not in faces:
        return len(report.failures) or 1
    params, codes = outputs.read_coefficients(faces["astronaut_face0"], names)
    if "grace_hopper_face0" in faces:
        codes = animation.transfer_detail(codes, outputs.read_coefficients(faces["grace_hopper_face0"], names)[1])
    weights, labels = animation.builtin_sequence(names)
    profile = animation.write_animation(out / "animation", backend.assets, params, codes, weights, labels)
    print(f"\nreconstructed {len(report.written)} face(s) into {out / 'reconstruct'}: " + ", ".join(sorted(faces)))
    print(
        f"animated the astronaut ({len(weights)} frames) into {out / 'animation'}: animation.gif, frames/, wrinkles.csv"
    )
    for region, mm in profile.items():
        print(f"  {region}: expression wrinkles up to {mm.max():.3f} mm")
    return len(report.failures)


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
    runtime.configure(_VERBOSE.value)
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
    print(f"\nfitting {astronaut_photo()} (launch.fit) into {out / 'fit'} (a minute or two)")
    with runtime.silenced_stderr(not _VERBOSE.value):  # MediaPipe's native log lines
        failed = fit_photos([astronaut_photo()], out / "fit", _ICT.value)
    workdir = train_and_evaluate(out, _TRAIN_STEPS.value, _ICT.value) if _TRAIN_STEPS.value > 0 else None
    failed += reconstruct_and_animate(out, _ICT.value, workdir, verbose=_VERBOSE.value)
    trained = "train/ (model), evaluation/, " if workdir else ""
    print(f"\neverything is in {out}: face.* (random face), fit/, {trained}reconstruct/, animation/")
    return min(failed, 100)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
