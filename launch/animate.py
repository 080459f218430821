"""Animate a reconstructed face: expressions drive the mesh, tension drives the wrinkles.

    python -m launch.animate --face DIR/astronaut_face0 --output DIR/anim \
        [--sequence smile,brow_raise | --sequence weights.csv | weights.json] [--frames_each 12] \
        [--detail_from OTHER_FACE] [--format gif|mp4] [--meshes coarse|detailed|none] [--fps 12]

``--face`` is a face folder written by ``launch.reconstruct`` (or its coefficients.json).
``--sequence`` names built-in expressions (``face/expressions.py``: smile, brow_raise,
squint, surprise, ...) eased in and out, or a CSV / JSON of ARKit weights per frame.
``--detail_from`` transfers another face's static detail (pores, permanent lines) under
this face's expression wrinkles. Into ``--output`` (replaced as a whole, never partial):

  animation.gif / .mp4     textured | clay render per frame, detailed normals
  frames/frame_NNNN.obj    per-frame meshes (coarse skin, or the dense detailed mesh)
  wrinkles.csv             mean |dynamic displacement| (mm) per wrinkle region and frame
  sequence.csv             the ARKit weights used
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags

from hiface_jax.app import runtime

_FACE = flags.DEFINE_string(
    "face", None, "Face folder (or its coefficients.json) from launch.reconstruct.", required=True
)
_OUTPUT = flags.DEFINE_string("output", None, "Output folder.", required=True)
_SEQUENCE = flags.DEFINE_string("sequence", "smile,brow_raise,squint,surprise", "Built-in names, or a .csv/.json.")
_FRAMES_EACH = flags.DEFINE_integer("frames_each", 12, "Frames per built-in expression.")
_DETAIL_FROM = flags.DEFINE_string("detail_from", None, "Face folder whose static detail is transferred.")
_FORMAT = flags.DEFINE_enum("format", "gif", ["gif", "mp4"], "Video format (mp4 needs imageio-ffmpeg).")
_MESHES = flags.DEFINE_enum("meshes", "coarse", ["coarse", "detailed", "none"], "Per-frame OBJ files.")
_FPS = flags.DEFINE_integer("fps", 12, "Frames per second.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "The model that reconstructed a --method model face.")
_BASIS = flags.DEFINE_string("detail_basis", None, "Detail basis .npz of a --method fit face (default: procedural).")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Keep the JAX / absl log lines.")


def main(argv) -> int:
    del argv
    runtime.configure(_VERBOSE.value)
    from hiface_jax.app import animation, backends, outputs
    from hiface_jax.face.ict_facekit import FaceModelSourceError

    face = Path(_FACE.value)
    try:
        coeff_file = face / "coefficients.json" if face.is_dir() else face
        method = json.loads(coeff_file.read_text()).get("method", "fit")
        backend = backends.make_backend(method, _CHECKPOINT.value, _ICT.value, 0, _BASIS.value)
        assets = backend.assets
        names = assets.skin.expression_names
        params, codes = outputs.read_coefficients(face, names)
        if _DETAIL_FROM.value:
            codes = animation.transfer_detail(codes, outputs.read_coefficients(_DETAIL_FROM.value, names)[1])
        seq = Path(_SEQUENCE.value)
        if seq.suffix.lower() in (".csv", ".json"):
            weights = animation.read_sequence(seq, names)
            labels = [seq.stem] * len(weights)
        else:
            archetypes = tuple(s.strip() for s in _SEQUENCE.value.split(","))
            weights, labels = animation.builtin_sequence(names, archetypes, _FRAMES_EACH.value)
    except (OSError, ValueError, FaceModelSourceError) as e:  # SequenceError, CoefficientsError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 1

    out = Path(_OUTPUT.value)
    try:
        profile = animation.write_animation(
            out, assets, params, codes, weights, labels, _FORMAT.value, _MESHES.value, _FPS.value
        )
    except OSError as e:
        print(f"error: cannot write {out}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(weights)} frames into {out} (animation.{_FORMAT.value}, meshes: {_MESHES.value})")
    for r, v in profile.items():
        print(f"  {r}: dynamic detail {v.min():.4f} .. {v.max():.4f} mm (mean |D - D_static|)")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
