"""Photos to fitted 3D faces on disk: detection, the two fitting stages, and the files.

``fit_photos`` is what ``launch.fit`` and ``launch.quickstart`` run; see ``launch/fit.py``
for the files it writes per face.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from hiface_jax import mesh_io  # noqa: E402
from hiface_jax.face import albedo as albedo_lib  # noqa: E402
from hiface_jax.face import face_model as fm  # noqa: E402
from hiface_jax.face import face_render  # noqa: E402
from hiface_jax.face.ict_facekit import FaceModelSourceError  # noqa: E402
from hiface_jax.fit import fitting  # noqa: E402
from hiface_jax.photo import image_io, preprocess  # noqa: E402
from hiface_jax.photo import landmark_detector as ld  # noqa: E402

ALBEDO_RESOLUTION = 256


def _detected_faces(paths: list[Path], size: int, failures: dict[Path, str], timer: dict[str, float]):
    """Yields (face index within its photo, crop, blendshape scores or None) photo by photo;
    records failed photos.

    A generator, so a folder of any size is fitted in batches without holding every crop.
    The blendshape scores come from the landmarker run again on the aligned crop.
    """
    with ld.FaceLandmarkDetector() as detector:
        for path in tqdm(paths, desc="photos", unit="photo"):
            t = time.perf_counter()
            try:
                crops = preprocess.preprocess_file(path, detector, size=size)
                scores = [_blendshapes(detector, crop) for crop in crops]
            except (image_io.ImageReadError, ld.NoFaceFoundError) as e:
                failures[path] = str(e)
                tqdm.write(f"skipped {path}: {e}")
                continue
            finally:
                timer["detection"] += time.perf_counter() - t
            for k, (crop, score) in enumerate(zip(crops, scores)):
                yield k, crop, score


def _blendshapes(detector: ld.FaceLandmarkDetector, crop: preprocess.FaceCrop) -> np.ndarray | None:
    """(52,) the landmarker's blendshape scores of the face in the middle of a crop, or None."""
    faces = detector.detect(np.ascontiguousarray(crop.image))
    if not faces:
        return None
    middle = np.asarray(crop.image.shape[:2][::-1]) / 2.0
    return min(faces, key=lambda f: float(np.sum((f.landmarks_478.mean(0) - middle) ** 2))).blendshapes


def _batches(faces, batch_size: int):
    """Groups an iterable into lists of at most ``batch_size``."""
    batch = []
    for face in faces:
        batch.append(face)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stack(crops: list[preprocess.FaceCrop]) -> dict[str, jnp.ndarray]:
    images = np.stack([c.image for c in crops]).astype(np.float32) / 255.0
    return {
        "images": jnp.asarray(albedo_lib.srgb_to_linear(images), jnp.float32),
        "masks": jnp.asarray(np.stack([c.mask for c in crops]), jnp.float32),
        "landmarks": jnp.asarray(np.stack([c.landmarks_68 for c in crops]), jnp.float32),
        "landmarks_478": np.stack([c.landmarks_478 for c in crops]).astype(np.float32),
    }


def _to_uint8(linear: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(albedo_lib.linear_to_srgb(jnp.asarray(linear))) * 255).astype(np.uint8)


def _draw_points(image: np.ndarray, points: np.ndarray, colour) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    for x, y in points:
        i, j = int(y), int(x)  # pixel (i, j) spans [j, j+1) x [i, i+1)
        out[max(i - 1, 0) : min(i + 2, h), max(j - 1, 0) : min(j + 2, w)] = colour
    return out


def _write_face(out: Path, crop, model, full, p: fitting.FaceParams, k: int, rendered, history, layout, cam):
    """Writes one face's files. ``p`` and ``rendered`` hold this face at index k."""
    out.mkdir(parents=True, exist_ok=True)
    pick = lambda tree: jax.tree.map(lambda x: np.asarray(x[k]), tree)
    q = pick(p)
    verts_full = np.asarray(fm.shape(full, q.identity, q.expression))
    mesh_io.write_obj(
        out / "mesh.obj",
        verts_full,
        np.asarray(full.triangles),
        np.asarray(full.uv_coords),
        np.asarray(full.uv_triangles),
    )
    albedo = np.asarray(fitting.albedo_of(jax.tree.map(lambda x: jnp.asarray(x)[None], q), layout))[0]
    skin_v = np.asarray(fm.shape(model, q.identity, q.expression))
    mesh_io.write_obj(
        out / "skin.obj",
        skin_v,
        np.asarray(model.triangles),
        np.asarray(model.uv_coords),
        np.asarray(model.uv_triangles),
        mesh_io.Maps(albedo=_to_uint8(albedo) / 255.0),
    )
    fitted = np.asarray(fitting.project_landmarks(model, jax.tree.map(lambda x: jnp.asarray(x)[None], q), cam))[0]
    to_orig = crop.crop_to_original
    orig = lambda pts: pts @ to_orig[:2, :2].T + to_orig[:2, 2]
    (out / "landmarks.json").write_text(
        json.dumps(
            {
                "convention": "pixels of the original photo; (0, 0) is the top-left corner, pixel centres at +0.5",
                "source": str(crop.source),
                "fitted_68": np.round(orig(fitted), 3).tolist(),
                "detected_68": np.round(orig(np.asarray(crop.landmarks_68)), 3).tolist(),
            },
            indent=1,
        )
    )
    (out / "coefficients.json").write_text(
        json.dumps(
            {
                "units": "cm; camera space: x right, y up, camera looking down -z",
                "identity": q.identity.round(6).tolist(),
                "expression": {n: round(float(w), 6) for n, w in zip(model.expression_names, q.expression)},
                "rotation_axis_angle": q.rotation.round(6).tolist(),
                "translation": q.translation.round(4).tolist(),
                "sh": q.sh.round(6).tolist(),
                "albedo": {
                    "base": q.albedo_base.tolist(),
                    "lips": q.albedo_lips.tolist(),
                    "brows": q.albedo_brows.tolist(),
                    "grid": q.albedo_grid.tolist(),
                },
                "specular": round(float(q.specular), 6),
                "camera": {"image_size": cam.image_size, "fov_degrees": cam.fov_degrees},
                "crop_to_original": np.asarray(to_orig).tolist(),
            },
            indent=1,
        )
    )
    photo = crop.image
    render = _to_uint8(rendered["image"][k])
    mask = np.asarray(rendered["mask"][k])[..., None]
    blend = np.round(photo * (1 - 0.6 * mask) + render * 0.6 * mask).astype(np.uint8)
    normals = np.round((np.asarray(rendered["normals"][k]) * 0.5 + 0.5) * mask * 255).astype(np.uint8)
    marks = _draw_points(_draw_points(photo, crop.landmarks_68, (0, 255, 0)), fitted, (255, 0, 0))
    iio.imwrite(out / "overlay.png", np.concatenate([photo, marks, render, blend, normals], axis=1))
    fig, axes = plt.subplots(1, len(history), figsize=(6 * len(history), 4), squeeze=False)
    for ax, (stage, terms) in zip(axes[0], history.items()):
        for name, values in terms.items():
            ax.semilogy(np.maximum(np.asarray(values), 1e-12), label=name)
        ax.set(title=f"{stage} stage", xlabel="step", ylabel="weighted loss (batch mean)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=80)
    plt.close(fig)


def fit_photos(
    paths: list[Path],
    out: Path,
    ict_dir: str | None = None,
    size: int = 224,
    batch_size: int = 4,
    config: fitting.FitConfig | None = None,
    same_person: bool = False,
) -> int:
    """Fits every face in ``paths`` with ``config`` (default: ``FitConfig()``) and writes the
    files listed in the module docstring.

    ``same_person``: every face found is one person: all are fitted in one batch with one
    identity (``FitConfig.shared_identity``), and ``DIR/person_neutral.obj`` holds that
    identity without expression.

    Returns:
      the number of photos that failed (0: all fitted); 100 for a setup error.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        full = fm.load_face_model(ict_dir)
    except FaceModelSourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 100
    except OSError as e:
        print(f"error: cannot create output folder {out}: {e}", file=sys.stderr)
        return 100
    model = full.submesh()
    cam = fitting.FitCamera(size)
    cfg = dataclasses.replace(config or fitting.FitConfig(), shared_identity=same_person)
    renderer = face_render.make_renderer(model, cam.image_size, cam.fov_degrees)
    layout = albedo_lib.albedo_layout(
        np.asarray(model.uv_coords), np.asarray(model.uv_triangles), np.asarray(model.triangles),
        np.asarray(model.landmark_indices), model.num_vertices, ALBEDO_RESOLUTION,
    )  # fmt: skip
    weights = jnp.asarray(ld.IBUG68_WEIGHTS, jnp.float32)
    embedding = fitting.landmark_embedding(model, cfg, ict_dir) if cfg.use_dense else None
    failures: dict[Path, str] = {}
    times = {"detection": 0.0, "fit": 0.0}
    fitted_faces = 0
    faces = _detected_faces(paths, cam.image_size, failures, times)
    if same_person:
        faces = list(faces)
        batch_size = max(1, len(faces))
    else:
        batch_size = max(1, min(batch_size, len(paths)))  # no padding work for a single photo
    for batch in _batches(faces, batch_size):
        crops = [crop for _, crop, _ in batch]
        pad = batch_size - len(crops)
        padded = crops + [crops[-1]] * pad  # fixed shapes: one compilation
        data = _stack(padded)
        scores = [s for _, _, s in batch] + [batch[-1][2]] * pad
        scores = None if any(s is None for s in scores) else np.stack(scores)
        t = time.perf_counter()
        params, history = fitting.fit_detected(
            model, data["landmarks_478"], scores, cam, cfg, data["images"], data["masks"], renderer, layout,
            weights, embedding,
        )  # fmt: skip
        jax.block_until_ready(params)
        times["fit"] += time.perf_counter() - t
        rendered = fitting.render_params(model, params, renderer, layout, data["images"])
        if int(np.max(rendered["overflow"])) > 0:
            print(f"error: {rendering_overflow(rendered['overflow'])}", file=sys.stderr)
            return 100
        if same_person and np.isfinite(np.asarray(params.identity[0])).all():
            neutral = np.asarray(fm.neutral_shape(full, params.identity[0]))
            mesh_io.write_obj(
                out / "person_neutral.obj", neutral, np.asarray(full.triangles),
                np.asarray(full.uv_coords), np.asarray(full.uv_triangles),
            )  # fmt: skip
        for k, (index, crop, _) in enumerate(batch):
            if not all(np.isfinite(np.asarray(x[k])).all() for x in jax.tree.leaves(params)):
                failures[Path(crop.source)] = "fit diverged (non-finite parameters)"
                tqdm.write(f"failed {crop.source}: fit diverged")
                continue
            name = f"{Path(crop.source).stem}_face{index}"
            _write_face(out / name, crop, model, full, params, k, rendered, history, layout, cam)
            fitted_faces += 1
    n = max(fitted_faces, 1)
    print(f"\nfitted {fitted_faces} face(s) from {len(paths) - len(failures)} of {len(paths)} photo(s) into {out}")
    print(
        f"time: detection {times['detection'] / max(len(paths), 1):.2f} s/photo, fitting (both stages) "
        f"{times['fit'] / n:.2f} s/face (compilation included)"
    )
    for path, why in failures.items():
        print(f"  failed: {path}: {why}")
    return min(len(failures), 100)


def rendering_overflow(counts) -> RuntimeError:
    return RuntimeError(
        f"the rasterizer's tile capacity overflowed ({np.asarray(counts).tolist()} pairs dropped); "
        "raise face_render.FaceRenderer.raster (rendering.RasterConfig tile_capacity / pair_capacity)"
    )
