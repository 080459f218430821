"""Photo(s) to detailed, animatable 3D faces on disk.

    python -m launch.reconstruct --input IMAGE_OR_FOLDER --output DIR \
        [--method fit|model] [--checkpoint FILE_OR_WORKDIR] [--refine N] [--batch 4] [--verbose]
        [--set FITCONFIG_FIELD=VALUE]

``--method model`` (the default when ``--checkpoint`` is given) runs a trained HiFace
checkpoint; ``--method fit`` runs the analysis-by-synthesis fitter of ``launch.fit`` (both
stages; ``--set`` changes any ``FitConfig`` field). ``--refine N`` adds N photometric fitting
steps after either. Every face found becomes
``DIR/<photo stem>_face<k>/`` with the files listed in ``hiface_jax/app/outputs.py``
(coarse and detailed OBJ, 16-bit displacement and normal maps with static and dynamic
parts, albedo, coefficients and landmarks JSON, summary PNG).

Bad photos get one message each and the rest go on; nothing partial is left on disk.
The exit status is the number of photos that failed (0: all done), at most 100.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags

from hiface_jax.app import runtime
from launch import fit_flags

_INPUT = flags.DEFINE_string("input", None, "A photo or a folder of photos.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output folder.", required=True)
_METHOD = flags.DEFINE_enum("method", None, ["fit", "model"], "Backend (default: model with --checkpoint, else fit).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Trained model: a training workdir or checkpoint folder.")
_REFINE = flags.DEFINE_integer("refine", 0, "Photometric fitting steps after the backend (0: none).")
_BATCH = flags.DEFINE_integer("batch", 4, "Faces processed together.")
_LANDMARK_STEPS = flags.DEFINE_integer("landmark_steps", 300, "Landmark-stage steps of --method fit.")
_BASIS = flags.DEFINE_string("detail_basis", None, "Detail basis .npz for --method fit (default: procedural).")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Keep the JAX / MediaPipe / absl log lines.")


def main(argv) -> int:
    del argv
    runtime.configure(_VERBOSE.value)
    from hiface_jax.app import backends, pipeline
    from hiface_jax.face.ict_facekit import FaceModelSourceError
    from hiface_jax.photo import image_io

    src = Path(_INPUT.value)
    if not src.exists():
        print(f"error: input {src} does not exist", file=sys.stderr)
        return 100
    paths = image_io.list_images(src) if src.is_dir() else [src]
    if not paths:
        print(f"error: no images in {src}", file=sys.stderr)
        return 100
    try:
        backend = backends.make_backend(
            _METHOD.value,
            _CHECKPOINT.value,
            _ICT.value,
            _REFINE.value,
            _BASIS.value,
            fit_flags.fit_config({"landmark_steps": _LANDMARK_STEPS}),
        )
    except (FaceModelSourceError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 100
    report = pipeline.reconstruct_photos(paths, Path(_OUTPUT.value), backend, _BATCH.value, _VERBOSE.value)
    ok = report.photos - len(report.failures)
    print(f"\nreconstructed {len(report.written)} face(s) from {ok} of {report.photos} photo(s) into {_OUTPUT.value}")
    s = report.seconds
    print("seconds per photo: " + ", ".join(f"{k} {v / max(report.photos, 1):.2f}" for k, v in s.items()))
    for path, why in report.failures.items():
        print(f"  failed: {path}: {why}")
    return min(len(report.failures), 100)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
