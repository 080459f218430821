"""Photo(s) to 3D faces by analysis-by-synthesis.

    python -m launch.fit --input PHOTO_OR_FOLDER --output DIR [--size 224] [--batch 4] [--same_person] [--neutral]
    python -m launch.fit --input PHOTO --output DIR --set w_photometric=0.3   # any FitConfig field

For every face found (several per photo are cropped and fitted separately) it writes
``DIR/<photo stem>_face<k>/``:

  mesh.obj            fitted coarse face, full ICT-FaceKit topology (26,719 vertices, original order), cm
  skin.obj/.mtl/.png  the face + head/neck skin with the fitted albedo texture
  coefficients.json   identity, expression (ARKit names), pose, SH lighting, albedo, camera, crop transform
  landmarks.json      the model's 68 landmarks projected into the original photo's pixels, and the detector's
  overlay.png         input | landmarks (green: detected, red: fitted) | render | blend | normals
  loss.png            loss curves of both stages

``--same_person``: the photos show one person; every face found is fitted together with
one shared identity (per-photo pose, expression, light and albedo), and
``DIR/person_neutral.obj`` is that identity without expression (full topology, cm).

``--neutral``: the photos show neutral faces; the expression is held at zero. From one photo
the fitter cannot tell a subtle expression from the shape of a face, and gives a neutral one
about 1 of ARKit weight spread thin (docs/ARCHITECTURE.md "Fit accuracy").

Bad inputs (corrupt, non-image, faceless, ...) are reported per file and skipped. The
exit status is the number of photos that failed (0: all fitted), at most 100.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from absl import app, flags

from hiface_jax.fit import fitting
from hiface_jax.fit.photo_fit import fit_photos
from hiface_jax.photo import image_io
from launch import fit_flags

_INPUT = flags.DEFINE_string("input", None, "A photo or a folder of photos.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output folder.", required=True)
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit ZIP or folder.")
_SIZE = flags.DEFINE_integer("size", 224, "Crop and render resolution.")
_BATCH = flags.DEFINE_integer("batch", 4, "Faces fitted together.")
_LM_STEPS = flags.DEFINE_integer("landmark_steps", fitting.FitConfig.landmark_steps, "Landmark-stage steps.")
_PH_STEPS = flags.DEFINE_integer(
    "photometric_steps", fitting.FitConfig.photometric_steps, "Photometric-stage steps (0 skips it)."
)
_SAME = flags.DEFINE_bool("same_person", False, "All photos show one person: fit one shared identity.")
_NEUTRAL = flags.DEFINE_bool("neutral", False, "The faces are neutral: hold the expression at zero.")


def main(argv) -> int:
    del argv
    src = Path(_INPUT.value)
    if not src.exists():
        print(f"error: input {src} does not exist", file=sys.stderr)
        return 100
    paths = image_io.list_images(src) if src.is_dir() else [src]
    if not paths:
        print(f"error: no images in {src}", file=sys.stderr)
        return 100
    config = fit_flags.fit_config({"landmark_steps": _LM_STEPS, "photometric_steps": _PH_STEPS})
    if _NEUTRAL.value:
        config = dataclasses.replace(config, fit_expression=False)
    return fit_photos(paths, Path(_OUTPUT.value), _ICT.value, _SIZE.value, _BATCH.value, config, _SAME.value)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
