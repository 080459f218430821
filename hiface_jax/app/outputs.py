"""Writing one reconstructed face's files, all or nothing.

Files go into a hidden temporary folder beside the target that is renamed when complete,
so an interrupted or failed write never leaves a partial face folder. Per face:

  coarse.obj (+ .mtl, _albedo/_normal/_displacement.png)  full ICT topology, original vertex order, cm
  detailed.obj (+ .mtl, _albedo.png)                      the skin subdivided once, displacement baked in
  displacement.png, displacement_static.png,              16-bit UV displacement (total, static, dynamic);
  displacement_dynamic.png                                 cm = base + gain * value / 65535 (detail.json)
  normal.png, normal_static.png, normal_dynamic.png       UV normal maps, model frame, (n + 1) / 2
  albedo.png                                              UV albedo, sRGB
  coefficients.json                                       coarse coefficients (ARKit expression names), codes
  landmarks.json                                          fitted and detected 68 landmarks, photo pixels
  detail.json                                             displacement encodings and ranges
  summary.png                                             input | landmarks | coarse | detailed | normals
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import imageio.v3 as iio
import jax.numpy as jnp
import numpy as np

from hiface_jax import mesh_io
from hiface_jax.app import faces
from hiface_jax.app.atomic import atomic_folder
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.fit import fitting
from hiface_jax.photo import preprocess
from hiface_jax.sddetail import detail

DISPLACEMENT_PARTS = ("displacement", "static", "dynamic")
COEFFICIENTS_VERSION = 1


def to_srgb8(linear: np.ndarray) -> np.ndarray:
    """Linear RGB in [0, 1] -> uint8 sRGB."""
    return np.round(np.asarray(albedo_lib.linear_to_srgb(jnp.clip(jnp.asarray(linear), 0, 1))) * 255).astype(np.uint8)


def encode_displacement(d: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(H, W) cm -> uint16 PNG values and (base, gain): cm = base + gain * value / 65535."""
    d = np.asarray(d, np.float64)
    base, gain = float(d.min()), float(max(np.ptp(d), 1e-12))
    return np.round((d - base) / gain * 65535.0).astype(np.uint16), base, gain


def normal_png(n: np.ndarray) -> np.ndarray:
    return np.round((np.clip(np.asarray(n), -1, 1) + 1.0) * 0.5 * 255.0).astype(np.uint8)


def draw_points(image: np.ndarray, points: np.ndarray, colour) -> np.ndarray:
    """3x3 dots at (N, 2) pixel positions (x right, y down)."""
    out = image.copy()
    h, w = out.shape[:2]
    for x, y in np.asarray(points):
        if np.isfinite(x) and np.isfinite(y):
            i, j = int(y), int(x)
            out[max(i - 1, 0) : min(i + 2, h), max(j - 1, 0) : min(j + 2, w)] = colour
    return out


def summary_image(crop: preprocess.FaceCrop, face: dict[str, np.ndarray]) -> np.ndarray:
    """input | landmarks (green detected, red fitted) | coarse render | detailed render | normals."""
    marks = draw_points(draw_points(crop.image, crop.landmarks_68, (0, 255, 0)), face["landmarks"], (255, 0, 0))
    normals = normal_png(face["render_normals"])
    normals[np.all(face["render_normals"] == 0, axis=-1)] = 0
    panels = [crop.image, marks, to_srgb8(face["coarse_render"]), to_srgb8(face["detailed_render"]), normals]
    return np.concatenate(panels, axis=1)


def coefficients(params: fitting.FaceParams, codes: detail.DetailCodes, names: tuple[str, ...], **extra) -> dict:
    """One face's coefficients as JSON-ready values (``read_coefficients`` inverts it)."""
    r = lambda x, n=6: np.round(np.asarray(x, np.float64), n).tolist()
    return {
        "format_version": COEFFICIENTS_VERSION,
        "units": "cm; camera space: x right, y up, camera looking down -z",
        "identity": r(params.identity),
        "expression": {n: round(float(w), 6) for n, w in zip(names, np.asarray(params.expression))},
        "rotation_axis_angle": r(params.rotation),
        "translation": r(params.translation, 4),
        "sh": r(params.sh),
        "albedo": {
            "base": r(params.albedo_base),
            "lips": r(params.albedo_lips),
            "brows": r(params.albedo_brows),
            "grid": r(params.albedo_grid),
        },
        "specular": round(float(params.specular), 6),
        "detail_codes": {"static": r(codes.static), "compress": r(codes.compress), "stretch": r(codes.stretch)},
        **extra,
    }


class CoefficientsError(ValueError):
    """A coefficients JSON that cannot drive the face model; the message says why."""


def read_coefficients(path: str | os.PathLike, names: tuple[str, ...]) -> tuple[fitting.FaceParams, detail.DetailCodes]:
    """A ``coefficients.json`` (or the face folder holding one) -> unbatched params and codes.

    Raises:
      CoefficientsError: missing file, bad JSON, or fields that do not fit the model.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "coefficients.json"
    try:
        c = json.loads(path.read_text())
        expression = c["expression"]
        unknown = sorted(set(expression) - set(names))
        if unknown:
            raise CoefficientsError(f"{path}: expression names not in the face model: {unknown[:5]}")
        f32 = lambda x: np.asarray(x, np.float32)
        params = fitting.FaceParams(
            identity=f32(c["identity"]),
            expression=f32([expression.get(n, 0.0) for n in names]),
            rotation=f32(c["rotation_axis_angle"]),
            translation=f32(c["translation"]),
            sh=f32(c["sh"]),
            albedo_base=f32(c["albedo"]["base"]),
            albedo_lips=f32(c["albedo"]["lips"]),
            albedo_brows=f32(c["albedo"]["brows"]),
            albedo_grid=f32(c["albedo"]["grid"]),
            specular=f32(c.get("specular", 0.0)),  # absent from files written before it was fitted
        )
        codes = detail.DetailCodes(*(f32(c["detail_codes"][k]) for k in ("static", "compress", "stretch")))
    except CoefficientsError:
        raise
    except OSError as e:
        raise CoefficientsError(f"{path}: cannot read ({e.strerror or e})") from e
    except (ValueError, KeyError, TypeError) as e:
        raise CoefficientsError(f"{path}: not a coefficients file ({type(e).__name__}: {e})") from e
    return params, codes


def write_face(
    out: Path,
    assets: faces.FaceAssets,
    crop: preprocess.FaceCrop,
    params: fitting.FaceParams,
    codes: detail.DetailCodes,
    face: dict[str, np.ndarray],
    method: str,
) -> Path:
    """Writes one face (unbatched ``params``, ``codes``, ``face``) into folder ``out``, atomically.

    An existing ``out`` is replaced. Returns ``out``.
    """
    with atomic_folder(out) as tmp:
        _write_files(tmp, assets, crop, params, codes, face, method)
    return out


def _write_files(tmp: Path, assets, crop, params, codes, face, method) -> None:
    full, skin, sub = assets.full, assets.skin, assets.subdivision
    albedo = to_srgb8(face["albedo"]) / 255.0
    mesh_io.write_obj(
        tmp / "coarse.obj", face["coarse_full"], np.asarray(full.triangles), np.asarray(full.uv_coords),
        np.asarray(full.uv_triangles),
        mesh_io.Maps(albedo=albedo, normal_map=face["normal"], displacement=face["displacement"]),
    )  # fmt: skip
    mesh_io.write_obj(
        tmp / "detailed.obj", face["dense"], np.asarray(sub.triangles), np.asarray(sub.uv_coords),
        np.asarray(sub.uv_triangles), mesh_io.Maps(albedo=albedo),
    )  # fmt: skip
    encodings = {}
    for part in DISPLACEMENT_PARTS:
        name = "displacement" if part == "displacement" else f"displacement_{part}"
        values, base, gain = encode_displacement(face[part])
        iio.imwrite(tmp / f"{name}.png", values)
        encodings[name] = {"base_cm": base, "gain_cm": gain, "min_cm": base, "max_cm": base + gain}
        normal = face["normal" if part == "displacement" else f"normal_{part}"]
        iio.imwrite(tmp / f"{name.replace('displacement', 'normal')}.png", normal_png(normal))
    iio.imwrite(tmp / "albedo.png", to_srgb8(face["albedo"]))
    (tmp / "detail.json").write_text(
        json.dumps(
            {
                "encoding": "cm = base_cm + gain_cm * png_value / 65535, along the coarse normal (outwards > 0)",
                "uv": "face UV tile [0, 1]^2, row 0 at v = 1",
                "maps": encodings,
            },
            indent=1,
        )
    )
    to_orig = np.asarray(crop.crop_to_original)
    orig = lambda pts: np.asarray(pts, np.float64) @ to_orig[:2, :2].T + to_orig[:2, 2]
    (tmp / "landmarks.json").write_text(
        json.dumps(
            {
                "convention": "pixels of the original photo; (0, 0) is the top-left corner, pixel centres at +0.5",
                "source": crop.source,
                "fitted_68": np.round(orig(face["landmarks"]), 3).tolist(),
                "detected_68": np.round(orig(crop.landmarks_68), 3).tolist(),
            },
            indent=1,
        )
    )
    extra = {
        "method": method,
        "source": crop.source,
        "camera": {"image_size": assets.camera.image_size, "fov_degrees": assets.camera.fov_degrees},
        "crop_to_original": to_orig.tolist(),
        "tension_scale": assets.tension_scale,
        "tension_bias": assets.tension_bias,
    }
    (tmp / "coefficients.json").write_text(json.dumps(coefficients(params, codes, skin.expression_names, **extra)))
    iio.imwrite(tmp / "summary.png", summary_image(crop, face))
