"""Reconstruct photos with an exported artifact: numpy, jax and MediaPipe only (never flax
or the model code), the way a deployment would run it.

    python -m launch.run_artifact --artifact DIR --input IMAGE_OR_FOLDER --output DIR [--batch 8]

Per face, into ``DIR/<photo stem>_face<k>/``: coarse.obj (coarse skin, model frame, cm,
with its 16-bit displacement map in the MTL), detailed.obj (dense, displacement baked in),
coefficients.json (ARKit expression names), landmarks.json (photo pixels) and
outputs.npz (every output of the artifact and the crop it saw). The exit status is the
number of photos that failed, at most 100.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags

from hiface_jax.app import runtime

_ARTIFACT = flags.DEFINE_string("artifact", None, "Folder written by launch.export.", required=True)
_INPUT = flags.DEFINE_string("input", None, "A photo or a folder of photos.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output folder.", required=True)
_BATCH = flags.DEFINE_integer("batch", 8, "Faces per call of the artifact.")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Keep the JAX / MediaPipe log lines.")


def write_face(out: Path, art, crop, values: dict) -> None:
    import numpy as np

    from hiface_jax import mesh_io
    from hiface_jax.app.atomic import atomic_folder

    topo = art.topology
    with atomic_folder(out) as tmp:
        mesh_io.write_obj(
            tmp / "coarse.obj", values["rest_vertices"], topo["triangles"], topo["uv_coords"], topo["uv_triangles"],
            mesh_io.Maps(displacement=values["displacement"]),
        )  # fmt: skip
        mesh_io.write_obj(
            tmp / "detailed.obj", values["detailed_vertices"], topo["dense_triangles"], topo["dense_uv_coords"],
            topo["dense_uv_triangles"],
        )  # fmt: skip
        names = art.meta["expression_names"]
        coeffs = {k: np.asarray(v).round(6).tolist() for k, v in values.items() if np.ndim(v) <= 3 and k != "landmarks"}
        coeffs["expression"] = {n: round(float(w), 6) for n, w in zip(names, values["expression"])}
        for k in ("rest_vertices", "vertices", "detailed_vertices", "displacement", "displacement_static"):
            coeffs.pop(k, None)
        (tmp / "coefficients.json").write_text(json.dumps(coeffs))
        to_orig = np.asarray(crop.crop_to_original)
        orig = lambda p: np.asarray(p, np.float64) @ to_orig[:2, :2].T + to_orig[:2, 2]
        marks = {"fitted_68": orig(values["landmarks"]).round(3).tolist(), "source": crop.source}
        (tmp / "landmarks.json").write_text(json.dumps(marks))
        np.savez(tmp / "outputs.npz", image=crop.image, **values)


def main(argv) -> int:
    del argv
    runtime.configure(_VERBOSE.value)
    import jax
    import numpy as np
    from tqdm import tqdm

    from hiface_jax.app import artifact
    from hiface_jax.photo import image_io, preprocess
    from hiface_jax.photo import landmark_detector as ld

    try:
        art = artifact.load(_ARTIFACT.value)
    except artifact.ArtifactError as e:
        print(f"error: {e}", file=sys.stderr)
        return 100
    src = Path(_INPUT.value)
    paths = image_io.list_images(src) if src.is_dir() else [src]
    failures, faces = {}, []
    with runtime.QuietDetector(_VERBOSE.value) as detector:
        for path in tqdm(paths, desc="detection", unit="photo"):
            try:
                crops = preprocess.preprocess_file(path, detector, size=art.image_size)
            except (image_io.ImageReadError, ld.NoFaceFoundError) as e:
                failures[str(path)] = str(e)
                continue
            faces += [(path, k, c) for k, c in enumerate(crops) if c.score >= runtime.MIN_SCORE]
    out = Path(_OUTPUT.value)
    for start in tqdm(range(0, len(faces), _BATCH.value), desc="artifact", unit="batch"):
        chunk = faces[start : start + _BATCH.value]
        images = np.stack([c.image for _, _, c in chunk]).astype(np.float32) / 255.0
        values = jax.device_get(art(images))
        for i, (path, k, crop) in enumerate(chunk):
            write_face(out / f"{path.stem}_face{k}", art, crop, {n: v[i] for n, v in values.items()})
    print(f"reconstructed {len(faces)} face(s) from {len(paths) - len(failures)} of {len(paths)} photo(s) into {out}")
    for path, why in failures.items():
        print(f"  failed: {path}: {why}")
    return min(len(failures), 100)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
