"""Mesh files people open in Blender and MeshLab: OBJ (+MTL, PNG maps), PLY and GLB.

OBJ is written here because it must keep per-corner UVs with the model's vertex order
and count (trimesh would split vertices on UV seams). PLY and GLB go through trimesh.

Maps written beside an OBJ (all optional):
* ``albedo``        -> ``<name>_albedo.png``, 8-bit sRGB, ``map_Kd``;
* ``normal_map``    -> ``<name>_normal.png``, 8-bit, n in [-1, 1] stored as (n + 1) / 2,
                       ``map_Bump`` (Blender's importer makes it a normal map);
* ``displacement``  -> ``<name>_displacement.png``, 16-bit grey, value
                       = base + gain * texel / 65535 with ``disp -mm base gain`` (the MTL
                       spec's range option) so readers that honour it get scene units.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np


class MeshFileError(ValueError):
    """A mesh file is unreadable, truncated or inconsistent; the message names it."""


@dataclasses.dataclass
class Maps:
    """UV-space maps that go with an OBJ. Shapes (H, W, 3), (H, W, 3), (H, W)."""

    albedo: np.ndarray | None = None
    normal_map: np.ndarray | None = None
    displacement: np.ndarray | None = None


def _ensure_writable(path: Path) -> None:
    """Creates the parent folder, or raises OSError saying why it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create output folder {path.parent}: {e.strerror or e}") from e
    if path.exists() and path.is_dir():
        raise IsADirectoryError(f"output path {path} is a folder, expected a file")
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"output folder {path.parent} is not writable")


def _check_mesh(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, np.float64)
    f = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"triangles must be integer (F, 3), got {f.dtype} {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"triangle indices must be in [0, {len(v)}), got [{f.min()}, {f.max()}]")
    if not np.isfinite(v).all():
        raise ValueError(f"vertices hold {int((~np.isfinite(v)).sum())} non-finite values")
    return v, f


def _write_png(path: Path, image: np.ndarray) -> None:
    _ensure_writable(path)
    iio.imwrite(path, image)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(x, np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def write_obj(
    path: str | os.PathLike,
    vertices: np.ndarray,
    triangles: np.ndarray,
    uv_coords: np.ndarray | None = None,
    uv_triangles: np.ndarray | None = None,
    maps: Maps | None = None,
    vertex_colors: np.ndarray | None = None,
) -> list[Path]:
    """Writes an OBJ with per-corner UVs, plus an MTL and PNG maps when ``maps`` is given.

    Args:
      path: the ``.obj`` file.
      vertices: (V, 3).
      triangles: (F, 3) int.
      uv_coords: (T, 2) optional texture coordinates.
      uv_triangles: (F, 3) indices into uv_coords, with uv_coords.
      maps: optional albedo / normal / displacement maps.
      vertex_colors: optional (V, 3) RGB in [0, 1], written as ``v x y z r g b`` (the
        extension MeshLab, Blender and trimesh read).
    Returns:
      The paths written.
    """
    path = Path(path)
    v, f = _check_mesh(vertices, triangles)
    if vertex_colors is not None:
        colors = np.clip(np.asarray(vertex_colors, np.float64), 0.0, 1.0)
        if colors.shape != v.shape:
            raise ValueError(f"vertex_colors must have shape {v.shape}, got {colors.shape}")
        v = np.concatenate([v, colors], axis=1)
    if (uv_coords is None) != (uv_triangles is None):
        raise ValueError("uv_coords and uv_triangles go together")
    if uv_coords is not None:
        uv = np.asarray(uv_coords, np.float64)
        ft = np.asarray(uv_triangles)
        if ft.shape != f.shape:
            raise ValueError(f"uv_triangles must match triangles {f.shape}, got {ft.shape}")
        if ft.size and (ft.min() < 0 or ft.max() >= len(uv)):
            raise ValueError(f"uv_triangles indices must be in [0, {len(uv)})")
    _ensure_writable(path)
    written = [path]
    lines = ["# written by hiface-jax"]
    if maps is not None:
        mtl = path.with_suffix(".mtl")
        written += _write_mtl(mtl, path.stem, maps)
        lines += [f"mtllib {mtl.name}", f"usemtl {path.stem}"]
    header = "\n".join(lines) + "\n"
    body = [_rows("v", v, "%.6f")]
    if uv_coords is not None:
        body.append(_rows("vt", uv, "%.6f"))
        corners = np.stack([f + 1, ft + 1], axis=-1).reshape(len(f), 6)
        body.append(_rows("f", corners, "%d", fmt_row="f {}/{} {}/{} {}/{}"))
    else:
        body.append(_rows("f", f + 1, "%d"))
    with open(path, "w") as fh:
        fh.write(header)
        fh.writelines(body)
    return written


def _rows(tag: str, a: np.ndarray, fmt: str, fmt_row: str | None = None) -> str:
    """One OBJ line per row of ``a``, formatted in bulk (fast for 10^5 rows)."""
    if len(a) == 0:
        return ""
    if fmt_row is None:
        fmt_row = tag + " " + " ".join(["{}"] * a.shape[1])
    template = fmt_row.replace("{}", fmt) + "\n"
    return "".join(template * len(a)) % tuple(a.reshape(-1).tolist())


def _write_mtl(mtl: Path, name: str, maps: Maps) -> list[Path]:
    lines = [f"newmtl {name}", "Ka 0 0 0", "Kd 0.8 0.8 0.8", "Ks 0.05 0.05 0.05", "Ns 18", "illum 2"]
    written = [mtl]
    if maps.albedo is not None:
        p = mtl.with_name(f"{name}_albedo.png")
        _write_png(p, _to_uint8(maps.albedo))
        lines.append(f"map_Kd {p.name}")
        written.append(p)
    if maps.normal_map is not None:
        p = mtl.with_name(f"{name}_normal.png")
        _write_png(p, _to_uint8((np.asarray(maps.normal_map) + 1.0) * 0.5))
        lines.append(f"map_Bump {p.name}")
        written.append(p)
    if maps.displacement is not None:
        d = np.asarray(maps.displacement, np.float64)
        if d.ndim != 2:
            raise ValueError(f"displacement map must be (H, W), got {d.shape}")
        base, gain = float(d.min()), float(max(d.max() - d.min(), 1e-12))
        p = mtl.with_name(f"{name}_displacement.png")
        _write_png(p, np.round((d - base) / gain * 65535.0).astype(np.uint16))
        lines.append(f"disp -mm {base:.9g} {gain:.9g} {p.name}")
        written.append(p)
    _ensure_writable(mtl)
    mtl.write_text("\n".join(lines) + "\n")
    return written


def read_obj(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads an OBJ of triangles or quads (quads split as in ``triangulate``).

    Returns:
      dict with ``vertices`` (V, 3), ``triangles`` (F, 3) and, when present,
      ``uv_coords`` (T, 2) and ``uv_triangles`` (F, 3).
    Raises:
      MeshFileError: unreadable or truncated file, or indices out of range.
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise MeshFileError(f"{path}: cannot read ({e.strerror or e})") from e
    v, vt, polys = parse_obj(text, str(path))
    out = {"vertices": v}
    tris, _ = triangulate(polys[:, :4])
    out["triangles"] = tris
    if polys.shape[1] == 8 and (polys[:, 4:7] >= 0).all():
        out["uv_coords"] = vt
        out["uv_triangles"], _ = triangulate(polys[:, 4:])
    if tris.size and tris.max() >= len(v):
        raise MeshFileError(
            f"{path}: faces reference vertex {tris.max() + 1} but only {len(v)} vertices exist (truncated?)"
        )
    if "uv_triangles" in out and out["uv_triangles"].max() >= len(vt):
        raise MeshFileError(
            f"{path}: faces reference UV {out['uv_triangles'].max() + 1} but only {len(vt)} exist (truncated?)"
        )
    return out


def triangulate(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Splits quads (a, b, c, d) into (a, b, c) and (a, c, d), keeping triangles whole.

    Args:
      polygons: (P, 4) int corner indices, -1 in the last column for triangles.
    Returns:
      (T, 3) triangles in polygon order, and (T,) the polygon each came from.
    """
    is_quad = polygons[:, 3] >= 0
    tris = np.stack([polygons[:, [0, 1, 2]], polygons[:, [0, 2, 3]]], axis=1).reshape(-1, 3)
    source = np.repeat(np.arange(len(polygons)), 2)
    keep = np.stack([np.ones_like(is_quad), is_quad], axis=1).reshape(-1)
    return tris[keep], source[keep]


def parse_obj_vertices(text: bytes, name: str) -> np.ndarray:
    """(V, 3) positions from the ``v`` lines only: the fast path for blendshape files."""
    lines = [line[2:] for line in text.split(b"\n") if line.startswith(b"v ")]
    try:
        return np.array(b" ".join(lines).split(), np.float64).reshape(-1, 3)
    except ValueError as e:
        raise MeshFileError(f"{name}: malformed vertex lines (truncated file?): {e}") from e


def parse_obj(text: bytes, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (V, 3), UVs (T, 2) and polygons (P, 8) of an OBJ's text.

    Polygon rows are 4 vertex then 4 UV indices (0-based), -1 where absent (the 4th
    corner of a triangle, UVs of a face without them). Only triangles and quads; all
    face lines must share one corner format (``v``, ``v/vt``, ``v//vn`` or ``v/vt/vn``).
    """
    v_lines, vt_lines, f_lines = [], [], []
    for line in text.split(b"\n"):
        if line.startswith(b"v "):
            v_lines.append(b" ".join(line[2:].split()[:3]))  # x y z [r g b]
        elif line.startswith(b"vt "):
            vt_lines.append(b" ".join(line[3:].split()[:2]))
        elif line.startswith(b"f "):
            f_lines.append(line[2:])
    try:
        v = np.array(b" ".join(v_lines).split(), np.float64).reshape(-1, 3)
        vt = np.array(b" ".join(vt_lines).split(), np.float64).reshape(-1, 2)
    except ValueError as e:
        raise MeshFileError(f"{name}: malformed 'v'/'vt' lines (truncated file?): {e}") from e
    if not f_lines:
        raise MeshFileError(f"{name}: no faces (truncated or empty file?)")
    return v, vt, _parse_faces(f_lines, name)


def _parse_faces(f_lines: list[bytes], name: str) -> np.ndarray:
    """(P, 8) polygons from face lines, parsed in bulk (no per-corner Python loop)."""
    corners = np.array([len(line.split()) for line in f_lines])
    if not np.isin(corners, (3, 4)).all():
        bad = f_lines[int(np.nonzero(~np.isin(corners, (3, 4)))[0][0])]
        raise MeshFileError(f"{name}: only triangles and quads are supported, got {bad[:60]!r}")
    first = f_lines[0].split()[0]
    fields = first.count(b"/") + 1  # 1: v, 2: v/vt, 3: v/vt/vn or v//vn
    joined = b" ".join(f_lines).replace(b"//", b"/0/")  # an absent vt reads as 0 -> -1
    try:
        values = np.array(joined.replace(b"/", b" ").split(), np.int64).reshape(-1, fields)
    except ValueError as e:
        raise MeshFileError(f"{name}: malformed face lines or mixed corner formats ({e})") from e
    if len(values) != corners.sum():
        raise MeshFileError(f"{name}: face lines mix corner formats; write one format throughout")
    starts = np.concatenate([[0], np.cumsum(corners)[:-1]])
    polys = np.full((len(f_lines), 8), -1, np.int64)
    for k in range(4):
        has = corners > k
        polys[has, k] = values[starts[has] + k, 0] - 1
        if fields > 1:
            polys[has, 4 + k] = values[starts[has] + k, 1] - 1
    return polys


def write_ply(
    path: str | os.PathLike, vertices: np.ndarray, triangles: np.ndarray, vertex_colors: np.ndarray | None = None
) -> Path:
    """Binary PLY (vertex order and count kept); colours (V, 3) in [0, 1] optional."""
    import trimesh

    path = Path(path)
    v, f = _check_mesh(vertices, triangles)
    _ensure_writable(path)
    colors = None if vertex_colors is None else _to_uint8(vertex_colors)
    trimesh.Trimesh(v, f, vertex_colors=colors, process=False).export(path)
    return path


def write_glb(
    path: str | os.PathLike,
    vertices: np.ndarray,
    triangles: np.ndarray,
    uv_coords: np.ndarray | None = None,
    uv_triangles: np.ndarray | None = None,
    albedo: np.ndarray | None = None,
) -> Path:
    """Binary glTF. glTF has one UV per vertex, so vertices are split on UV seams."""
    import trimesh
    from PIL import Image

    path = Path(path)
    v, f = _check_mesh(vertices, triangles)
    _ensure_writable(path)
    if uv_coords is None:
        mesh = trimesh.Trimesh(v, f, process=False)
    else:
        uv = np.asarray(uv_coords)
        ft = np.asarray(uv_triangles)
        # One glTF vertex per distinct (vertex, uv) corner pair.
        pairs, inverse = np.unique(np.stack([f.reshape(-1), ft.reshape(-1)], 1), axis=0, return_inverse=True)
        material = trimesh.visual.material.PBRMaterial(
            baseColorTexture=None if albedo is None else Image.fromarray(_to_uint8(albedo)),
            metallicFactor=0.0,
            roughnessFactor=0.8,
        )
        visual = trimesh.visual.TextureVisuals(uv=uv[pairs[:, 1]], material=material)
        mesh = trimesh.Trimesh(v[pairs[:, 0]], inverse.reshape(-1, 3), visual=visual, process=False)
    mesh.export(path)
    return path


def read_mesh(path: str | os.PathLike):
    """Any format trimesh reads, as one ``trimesh.Trimesh`` (scenes concatenated)."""
    import trimesh

    try:
        return trimesh.load(Path(path), force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for bad files
        raise MeshFileError(f"{path}: cannot read mesh ({e})") from e


def read_displacement_png(path: str | os.PathLike, base: float, gain: float) -> np.ndarray:
    """Inverse of the 16-bit displacement encoding: (H, W) float64 in scene units."""
    return base + gain * iio.imread(Path(path)).astype(np.float64) / 65535.0
