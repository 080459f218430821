"""Driving a reconstructed face through expressions: coarse shape, wrinkles, frames.

A sequence is (T, K_exp) ARKit weights: built in (each archetype of
``face.expressions.ARCHETYPES`` eased in and out) or read from a CSV (a header of ARKit
names, one row per frame) or JSON (a list of {name: weight} per frame, or
{"frames": [...]}). The person's identity, pose, lighting and detail codes stay; every
frame's dynamic detail comes from that frame's mesh tension (``detail.animate_detail``),
so wrinkles appear and vanish with the expression. ``transfer_detail`` puts another
person's static detail (pores, permanent lines) under this person's wrinkles.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax import mesh_io
from hiface_jax.app import faces, outputs
from hiface_jax.app.atomic import atomic_folder
from hiface_jax.evaluation import detail_metrics
from hiface_jax.face import expressions, face_render
from hiface_jax.fit import fitting
from hiface_jax.sddetail import detail

DEFAULT_ARCHETYPES = ("smile", "brow_raise", "squint", "surprise")
IGNORED_COLUMNS = ("frame", "time", "timecode", "blendshapecount")


class SequenceError(ValueError):
    """An expression sequence file that cannot be used; the message says why."""


def builtin_sequence(
    expression_names: tuple[str, ...], archetypes: tuple[str, ...] = DEFAULT_ARCHETYPES, frames_each: int = 12
) -> tuple[np.ndarray, list[str]]:
    """Each archetype eased from neutral to full and back: (T, K) weights and a label per frame."""
    unknown = [a for a in archetypes if a not in expressions.ARCHETYPES]
    if unknown:
        raise SequenceError(f"unknown built-in expressions {unknown}; choose from {sorted(expressions.ARCHETYPES)}")
    matrix = expressions.archetype_matrix(expression_names)
    order = list(expressions.ARCHETYPES)
    ease = np.sin(np.linspace(0.0, np.pi, frames_each)) ** 2  # 0 -> 1 -> 0, smooth at both ends
    rows = [ease[:, None] * matrix[order.index(a)][None] for a in archetypes]
    labels = [a for a in archetypes for _ in range(frames_each)]
    return np.clip(np.concatenate(rows), 0.0, 1.0).astype(np.float32), labels


def _weights_from_rows(rows: list[dict], expression_names: tuple[str, ...], path: Path) -> np.ndarray:
    index = {n.lower(): i for i, n in enumerate(expression_names)}
    out = np.zeros((len(rows), len(expression_names)), np.float32)
    for t, row in enumerate(rows):
        for name, value in row.items():
            key = name.strip().lower()
            if key in IGNORED_COLUMNS:
                continue
            if key not in index:
                raise SequenceError(f"{path}: {name!r} is not an ARKit expression of the face model")
            try:
                out[t, index[key]] = float(value)
            except (TypeError, ValueError) as e:
                raise SequenceError(f"{path}: frame {t}, {name}: not a number ({value!r})") from e
    if not np.isfinite(out).all():
        raise SequenceError(f"{path}: non-finite weights")
    return out


def read_sequence(path: str | os.PathLike, expression_names: tuple[str, ...]) -> np.ndarray:
    """(T, K) weights from a CSV or JSON file; names match case-insensitively, missing ones are 0.

    Raises:
      SequenceError: unreadable, empty, unknown names or non-numeric weights.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SequenceError(f"{path}: cannot read ({e.strerror or e})") from e
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SequenceError(f"{path}: not JSON ({e})") from e
        rows = data.get("frames") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise SequenceError(f"{path}: expected a list of {{name: weight}} frames (or {{'frames': [...]}})")
    elif path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    else:
        raise SequenceError(f"{path}: expected a .csv or .json file")
    if not rows:
        raise SequenceError(f"{path}: no frames")
    return _weights_from_rows(rows, expression_names, path)


def transfer_detail(person: detail.DetailCodes, donor: detail.DetailCodes) -> detail.DetailCodes:
    """The donor's static detail under the person's own wrinkles (``detail.transfer_detail``)."""
    return detail.transfer_detail(source=donor, target=person)


@jax.jit
def animate(
    assets: faces.FaceAssets, params: fitting.FaceParams, codes: detail.DetailCodes, weights: jnp.ndarray
) -> dict[str, jnp.ndarray]:
    """One face (unbatched params / codes) under T expressions.

    Returns:
      skin (T, V, 3) model frame; dense (T, Vd, 3) detailed meshes; displacement, static
      and dynamic (T, H, W) cm; textured and clay (T, S, S, 3) linear renders with the
      detailed normals.
    """
    t = weights.shape[0]
    p = jax.tree.map(lambda x: jnp.broadcast_to(x, (t, *jnp.shape(x))), params)
    p = p.replace(expression=weights)
    skin_v, maps = faces.detail_parts(assets, codes, p.identity, p.expression)
    cam_v = faces.posed(p, skin_v)
    normals, _ = detail.detailed_normal_map(cam_v, maps.displacement, assets.geometry)
    albedo = fitting.albedo_of(p, assets.layout)
    textured = face_render.render(assets.renderer, cam_v, albedo, p.sh, 0.18, normal_map=normals)
    clay = faces.render_detailed(assets, p, skin_v, maps.displacement, 0.18)
    return {
        "skin": skin_v,
        "dense": detail.detailed_mesh(skin_v, assets.geometry.triangles, maps.displacement, assets.subdivision),
        "displacement": maps.displacement,
        "static": maps.static,
        "dynamic": maps.displacement - maps.static,
        "textured": textured["image"],
        "clay": clay["image"],
    }


def wrinkle_regions(assets: faces.FaceAssets) -> dict[str, np.ndarray]:
    """(H, W) bool texels of the forehead, crow's feet and nasolabial folds (evaluation's rules)."""
    return detail_metrics.detail_topology(assets.full, assets.basis.resolution[0]).masks


def wrinkle_profile(dynamic: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mean |dynamic displacement| (mm) per region and frame, from (T, H, W) cm maps."""
    d = np.abs(np.asarray(dynamic)) * 10.0
    return {name: d[:, mask].mean(axis=1) for name, mask in regions.items()}


def write_animation(
    out: str | os.PathLike,
    assets: faces.FaceAssets,
    params: fitting.FaceParams,
    codes: detail.DetailCodes,
    weights: np.ndarray,
    labels: list[str],
    video_format: str = "gif",
    meshes: str = "coarse",
    fps: int = 12,
) -> dict[str, np.ndarray]:
    """Animates one face and writes the folder ``launch.animate`` documents, atomically.

    Returns the wrinkle profile (``wrinkle_profile``) it wrote to wrinkles.csv.
    """
    frames = jax.device_get(animate(assets, params, codes, jnp.asarray(weights)))
    profile = wrinkle_profile(frames["dynamic"], wrinkle_regions(assets))
    video = np.concatenate([outputs.to_srgb8(frames["textured"]), outputs.to_srgb8(frames["clay"])], axis=2)
    names = assets.skin.expression_names
    with atomic_folder(out) as tmp:
        if video_format == "gif":
            iio.imwrite(tmp / "animation.gif", video, duration=1000 / fps, loop=0)
        elif video_format == "mp4":
            iio.imwrite(tmp / "animation.mp4", video, fps=fps, codec="libx264", plugin="FFMPEG")
        else:
            raise ValueError(f"video format must be gif or mp4, got {video_format!r}")
        if meshes != "none":
            mesh, topo = (
                (frames["dense"], assets.subdivision) if meshes == "detailed" else (frames["skin"], assets.skin)
            )
            for t, v in enumerate(mesh):
                mesh_io.write_obj(
                    tmp / "frames" / f"frame_{t:04d}.obj", v, np.asarray(topo.triangles),
                    np.asarray(topo.uv_coords), np.asarray(topo.uv_triangles),
                )  # fmt: skip
        with open(tmp / "wrinkles.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["frame", "expression", *(f"{r}_mm" for r in profile)])
            for t in range(len(weights)):
                w.writerow([t, labels[t], *(f"{profile[r][t]:.6f}" for r in profile)])
        with open(tmp / "sequence.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(names)
            w.writerows(np.round(weights, 6).tolist())
    return profile
