"""The web page: drop a photo, turn the 3D face, move expression sliders.

    python -m launch.demo [--method fit|model] [--checkpoint WORKDIR] [--port 7860] [--host 127.0.0.1]

Serves on this machine only (127.0.0.1) unless ``--host`` says otherwise; nothing leaves
it (no sharing link, no analytics, no web fonts). ``hiface_jax/app/web.py`` has the page.
"""

from __future__ import annotations

import sys

from absl import app, flags

from hiface_jax.app import runtime
from launch import fit_flags

_METHOD = flags.DEFINE_enum("method", None, ["fit", "model"], "Backend (default: model with --checkpoint, else fit).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Trained model: a training workdir.")
_REFINE = flags.DEFINE_integer("refine", 0, "Photometric fitting steps after the backend.")
_LANDMARK_STEPS = flags.DEFINE_integer("landmark_steps", 300, "Landmark-stage steps of --method fit.")
_BASIS = flags.DEFINE_string("detail_basis", None, "Detail basis .npz for --method fit (default: procedural).")
_HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to serve on.")
_PORT = flags.DEFINE_integer("port", 7860, "Port.")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Keep the JAX / MediaPipe / absl log lines.")


def main(argv) -> int:
    del argv
    runtime.configure(_VERBOSE.value)
    from hiface_jax.app import backends, web
    from hiface_jax.face.ict_facekit import FaceModelSourceError

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
        return 1
    page = web.FacePage(backend, verbose=_VERBOSE.value)
    print(f"serving on http://{_HOST.value}:{_PORT.value} (Ctrl-C stops)", flush=True)
    web.serve(page, _HOST.value, _PORT.value, block=True, verbose=_VERBOSE.value)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
