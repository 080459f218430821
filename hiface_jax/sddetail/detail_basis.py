"""The SD-DeTail basis from detail scans, by PCA; reading and writing it.

Input: a folder with, per person, a static scan and optionally a compressed and a
stretched one, as either

* UV displacement maps over the face tile: ``<person>_<kind>.npy`` (float (H, W)),
  ``<person>_<kind>.png`` (16-bit grey with a JSON sidecar), or ``<person>.npz`` with
  arrays ``static`` and optionally ``compressed`` and ``stretched``; or
* detailed meshes registered to the face model, ``<person>_<kind>.obj``: the face
  model's topology or a subdivision of it that keeps the original vertices first, with
  UVs in the model's layout (cm). The coarse surface is the face model fitted to the
  original vertices; each vertex's offset along the coarse normal at its UV becomes
  the displacement, rasterised through the mesh's own UV triangles.

``kind`` is ``static``, ``compressed`` or ``stretched``; a bare ``<person>.npy`` /
``.png`` / ``.obj`` is static. Map units come from a sidecar ``<file stem>.json`` or a
folder-wide ``displacement.json``: ``{"unit": "mm" | "cm" | "m", "scale": s,
"offset": o}`` means value = o + s x, with x the float texel or the 16-bit texel / 65535.
Float maps without a sidecar are in cm (model units).

Output: the static PCA basis, the compress / stretch maps as mean and PCA of the
per-person offsets from static detail (D_c - D_s, D_t - D_s), and least-squares
regressions of dynamic codes from static codes (they initialise ``detail.SDDetail``'s
head). Bases are scaled by each component's standard deviation, so codes are unit
variance. ``BasisReport.table()`` lists the explained variance.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import imageio.v3 as iio
import jax.numpy as jnp
import numpy as np

from hiface_jax import mesh_io
from hiface_jax.face import ict_facekit
from hiface_jax.face.face_model import FaceModel
from hiface_jax.geometry import uv
from hiface_jax.sddetail.detail import DetailBasis
from rendering.normals import safe_normalize, vertex_normals

KINDS = ("static", "compressed", "stretched")
MAP_SUFFIXES = (".npy", ".png", ".npz", ".obj")
UNITS_IN_CM = {"mm": 0.1, "cm": 1.0, "m": 100.0}
FOLDER_SIDECAR = "displacement.json"
FORMAT_VERSION = 1
_NAME = re.compile(r"^(?P<person>.+?)[_-](?P<kind>static|compressed|stretched)$")


class DetailScanError(ValueError):
    """A scan file has the wrong layout or content; the message names the file."""


# --------------------------------------------------------------------------- reading


@dataclasses.dataclass
class ScanSet:
    """Per-person maps in cm: static (N, H, W); compressed / stretched (N, H, W) or None."""

    names: list[str]
    static: np.ndarray
    compressed: np.ndarray | None
    stretched: np.ndarray | None


def read_scan_folder(
    folder: str | os.PathLike, resolution: int | None = None, model: FaceModel | None = None
) -> ScanSet:
    """Reads and checks every scan in ``folder`` (layout in the module docstring).

    Args:
      folder: the scans.
      resolution: required map size; None takes the first map's (meshes need it).
      model: the coarse face model, needed for mesh scans.
    Raises:
      DetailScanError: unreadable files, wrong resolution, channels or bit depth,
        non-finite values, a missing sidecar, or people lacking a kind others have.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DetailScanError(f"{folder}: not a folder of detail scans")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MAP_SUFFIXES and p.is_file())
    if not files:
        raise DetailScanError(
            f"{folder}: no scans found (expected <person>_<kind>{{{','.join(MAP_SUFFIXES)}}}, kind in {KINDS})"
        )
    maps: dict[tuple[str, str], np.ndarray] = {}
    source: dict[tuple[str, str], Path] = {}
    shape = None if resolution is None else (resolution, resolution)
    shared: dict[str, uv.UVRaster] = {}  # the coarse model's fine UV raster, made once for all meshes
    for path in files:
        for (person, kind), value in _read_scan_file(path, folder, resolution, model, shared).items():
            if (person, kind) in maps:
                raise DetailScanError(f"{path}: {person!r} already has a {kind} map, from {source[person, kind].name}")
            if shape is None:
                shape, reference = value.shape, path.name
            if value.shape != shape:
                like = f" like {reference}" if resolution is None else " (--resolution)"
                raise DetailScanError(
                    f"{path}: map is {value.shape[0]}x{value.shape[1]}, expected {shape[0]}x{shape[1]}{like}"
                )
            maps[person, kind], source[person, kind] = value, path
    people = sorted({p for p, _ in maps})
    missing_static = [p for p in people if (p, "static") not in maps]
    if missing_static:
        raise DetailScanError(f"{folder}: no static map for {', '.join(missing_static)}")
    if len(people) < 2:
        raise DetailScanError(f"{folder}: PCA needs at least 2 people, found {len(people)}")
    stacked = {}
    for kind in KINDS:
        have = [p for p in people if (p, kind) in maps]
        if have and len(have) != len(people):
            lacking = [p for p in people if (p, kind) not in maps]
            raise DetailScanError(f"{folder}: {len(have)} people have a {kind} map but {', '.join(lacking)} lack one")
        stacked[kind] = np.stack([maps[p, kind] for p in people]) if have else None
    return ScanSet(people, stacked["static"], stacked["compressed"], stacked["stretched"])


def _read_scan_file(
    path: Path, folder: Path, resolution: int | None, model: FaceModel | None, shared: dict[str, uv.UVRaster]
) -> dict[tuple[str, str], np.ndarray]:
    """{(person, kind): (H, W) cm} from one file."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError) as e:
            raise DetailScanError(f"{path}: unreadable .npz ({e})") from e
        found = {k: arrays[k] for k in KINDS if k in arrays}
        if "static" not in found:
            raise DetailScanError(f"{path}: an .npz scan needs an array 'static' (has {', '.join(arrays) or 'none'})")
        scale, offset = _units(path, folder, required=False)
        return {(path.stem, k): _check_map(path, v, k, scale, offset) for k, v in found.items()}
    match = _NAME.match(path.stem)
    person, kind = (match["person"], match["kind"]) if match else (path.stem, "static")
    if suffix == ".obj":
        if model is None or resolution is None:
            raise DetailScanError(f"{path}: mesh scans need the face model and a resolution")
        if "fine" not in shared:
            shared["fine"] = coarse_raster(model, resolution)
        return {(person, kind): mesh_displacement_map(path, model, resolution, shared["fine"])}
    if suffix == ".npy":
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DetailScanError(f"{path}: unreadable .npy ({e})") from e
        scale, offset = _units(path, folder, required=False)
    else:
        try:
            value = iio.imread(path)
        except Exception as e:  # imageio raises many types for broken files
            raise DetailScanError(f"{path}: unreadable PNG ({e})") from e
        if value.dtype != np.uint16:
            raise DetailScanError(
                f"{path}: PNG displacement must be 16-bit, got {value.dtype} (8 bits cannot hold fine detail)"
            )
        scale, offset = _units(path, folder, required=True)
        value = value.astype(np.float64) / 65535.0
    return {(person, kind): _check_map(path, value, kind, scale, offset)}


def _check_map(path: Path, value: np.ndarray, kind: str, scale: float, offset: float) -> np.ndarray:
    """(H, W) float64 cm, or DetailScanError naming the file."""
    if value.ndim == 3 and value.shape[-1] == 1:
        value = value[..., 0]
    if value.ndim != 2:
        detail = f"{value.shape[-1]} channels" if value.ndim == 3 else f"shape {value.shape}"
        raise DetailScanError(f"{path}: {kind} map must be one channel (H, W), got {detail}")
    if not np.issubdtype(value.dtype, np.floating):
        raise DetailScanError(f"{path}: {kind} map must be floating point, got {value.dtype}")
    bad = ~np.isfinite(value)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DetailScanError(f"{path}: {kind} map has {int(bad.sum())} non-finite values (first at row, col {first})")
    return offset + scale * value.astype(np.float64)


def _units(path: Path, folder: Path, required: bool) -> tuple[float, float]:
    """(scale, offset) to cm from ``<stem>.json`` or the folder's ``displacement.json``."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        sidecar = folder / FOLDER_SIDECAR
    if not sidecar.is_file():
        if required:
            raise DetailScanError(
                f"{path}: needs a sidecar {path.with_suffix('.json').name} or {FOLDER_SIDECAR} with unit, scale, offset"
            )
        return 1.0, 0.0
    try:
        meta = json.loads(sidecar.read_text())
        unit = UNITS_IN_CM[meta.get("unit", "cm")]
        return float(meta.get("scale", 1.0)) * unit, float(meta.get("offset", 0.0)) * unit
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise DetailScanError(f"{sidecar}: unreadable sidecar for {path.name} ({e})") from e
    except KeyError as e:
        raise DetailScanError(f"{sidecar}: unit must be one of {', '.join(UNITS_IN_CM)}, got {e}") from e


# ------------------------------------------------------------------------ mesh scans


def fit_coarse(model: FaceModel, vertices: np.ndarray, ridge: float = 1e-4) -> np.ndarray:
    """(V, 3) the face model (identity + expression) fitted by least squares to vertices (V, 3).

    The linear model cannot follow millimetre detail, so the fit is the coarse surface;
    detail with wavelengths of centimetres is partly absorbed (a 2 cm sinusoid loses
    5-10 % of its amplitude to the fit).
    """
    basis = np.concatenate([np.asarray(model.identity_basis), np.asarray(model.expression_basis)]).reshape(
        -1, vertices.size
    )
    mean = np.asarray(model.mean_shape, np.float64).reshape(-1)
    a = basis.astype(np.float64)
    x = np.linalg.solve(a @ a.T + ridge * np.eye(len(a)), a @ (vertices.reshape(-1) - mean))
    return (mean + x @ a).reshape(-1, 3)


def coarse_raster(model: FaceModel, resolution: int) -> uv.UVRaster:
    """The coarse model's UV raster, fine enough (>= 1024) that bilinear lookups of its
    position map stay within ~0.01 mm of the piecewise-linear surface."""
    return uv.uv_raster(np.asarray(model.uv_coords), np.asarray(model.uv_triangles), max(4 * resolution, 1024))


def mesh_displacement_map(
    path: str | os.PathLike, model: FaceModel, resolution: int, fine: uv.UVRaster | None = None
) -> np.ndarray:
    """(H, W) cm: a detailed registered mesh's offset from the fitted coarse surface, in UV.

    Args:
      path: OBJ with UVs; vertex ``model.vertex_ids[i]`` is coarse vertex i (the face
        model's topology, or a subdivision that keeps the original vertices first).
      model: the coarse face model.
      resolution: of the map.
      fine: ``coarse_raster(model, resolution)``, to share between meshes.
    """
    path = Path(path)
    try:
        mesh = mesh_io.read_obj(path)
    except mesh_io.MeshFileError as e:
        raise DetailScanError(str(e)) from e
    if "uv_coords" not in mesh:
        raise DetailScanError(f"{path}: mesh has no UVs; a registered scan needs the face model's UV layout")
    ids = np.asarray(model.vertex_ids)
    verts = mesh["vertices"]
    if len(verts) <= ids.max():
        raise DetailScanError(
            f"{path}: {len(verts)} vertices, fewer than the face model's {ids.max() + 1}; not registered to its topology"
        )
    coarse = fit_coarse(model, verts[ids])
    # Coarse surface point and normal at each scan vertex's UV, from fine UV maps.
    fine = coarse_raster(model, resolution) if fine is None else fine
    coarse_j = jnp.asarray(coarse, jnp.float32)
    pos_map = uv.to_uv_map(coarse_j, model.triangles, fine)
    nrm_map = uv.to_uv_map(vertex_normals(coarse_j, model.triangles), model.triangles, fine)
    tris, uv_tris, uv_coords = mesh["triangles"], mesh["uv_triangles"], mesh["uv_coords"]
    in_tile = np.all((uv_coords[uv_tris] >= 0.0) & (uv_coords[uv_tris] <= 1.0), axis=(1, 2))
    if not in_tile.any():
        raise DetailScanError(f"{path}: no UV triangle lies in the face tile [0, 1]^2")
    vert_uv = uv_coords[uv.vertex_uvs(tris[in_tile], uv_tris[in_tile], len(verts))]
    at = jnp.asarray(vert_uv, jnp.float32)
    offset = np.sum(
        (verts - np.asarray(uv.sample_uv_map(pos_map, at))) * np.asarray(safe_normalize(uv.sample_uv_map(nrm_map, at))),
        -1,
    )
    raster = uv.uv_raster(uv_coords, uv_tris, resolution)
    return np.asarray(uv.to_uv_map(jnp.asarray(offset[:, None], jnp.float32), jnp.asarray(tris), raster))[
        ..., 0
    ].astype(np.float64)


# ------------------------------------------------------------------------------- PCA


@dataclasses.dataclass(frozen=True)
class PCA:
    """mean (D,), components (K, D) scaled by their standard deviation, codes (N, K) of
    unit variance, explained (K,) fraction of the total variance per component."""

    mean: np.ndarray
    components: np.ndarray
    codes: np.ndarray
    explained: np.ndarray


def pca(x: np.ndarray, k: int) -> PCA:
    """PCA of rows x (N, D) keeping min(k, N - 1) components; signs fixed so each
    component's largest-magnitude entry is positive (reproducible output)."""
    n = len(x)
    mean = x.mean(0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(k, n - 1)
    total = float(np.sum(s**2))
    sign = np.sign(vt[np.arange(k), np.argmax(np.abs(vt[:k]), axis=1)])
    sign[sign == 0] = 1.0
    std = s[:k] / np.sqrt(n - 1)
    return PCA(
        mean=mean,
        components=(vt[:k] * sign[:, None]) * std[:, None],
        codes=u[:, :k] * sign * np.sqrt(n - 1),
        explained=(s[:k] ** 2 / total) if total > 0 else np.zeros(k),
    )


@dataclasses.dataclass(frozen=True)
class BasisReport:
    """What the builder found: explained-variance fractions per component and the fit
    of the dynamic codes from the static ones (R^2)."""

    num_people: int
    resolution: tuple[int, int]
    static_explained: np.ndarray
    compress_explained: np.ndarray
    stretch_explained: np.ndarray
    compress_r2: float
    stretch_r2: float
    notes: tuple[str, ...] = ()

    def table(self, rows: int = 12) -> str:
        """Explained variance (% and cumulative %) per component, as text."""
        cols = [
            ("static", self.static_explained),
            ("compress", self.compress_explained),
            ("stretch", self.stretch_explained),
        ]
        lines = [
            f"{self.num_people} people, UV {self.resolution[0]}x{self.resolution[1]}",
            "component " + "".join(f"| {name:>8} % cum %  " for name, _ in cols),
        ]
        n = max(len(e) for _, e in cols)
        shown = list(range(min(n, rows))) + ([n - 1] if n > rows else [])
        for k in shown:
            cells = "".join(
                f"| {100 * e[k]:10.2f} {100 * e[: k + 1].sum():5.1f}  " if k < len(e) else "|" + " " * 19
                for _, e in cols
            )
            lines.append(f"{k:>9} " + cells)
        lines.append("kept      " + "".join(f"| {len(e):4d} comps {100 * e.sum():5.1f}%  " for _, e in cols))
        lines.append(
            f"dynamic codes from static codes: R^2 compress {self.compress_r2:.3f}, stretch {self.stretch_r2:.3f}"
        )
        return "\n".join(lines + list(self.notes))


def build_detail_basis(
    static: np.ndarray,
    compressed: np.ndarray | None = None,
    stretched: np.ndarray | None = None,
    num_static: int = 64,
    num_dynamic: int = 16,
    ridge: float = 1e-3,
) -> tuple[DetailBasis, BasisReport]:
    """PCA of static maps and of the compressed / stretched offsets from them.

    Args:
      static: (N, H, W) cm, one per person.
      compressed, stretched: (N, H, W) cm of the same people, or None (then the maps
        are zero and dynamic detail is off).
      num_static, num_dynamic: components to keep (at most N - 1).
      ridge: regularises the code regressions (times N).
    """
    static = np.asarray(static, np.float64)
    n, h, w = static.shape
    notes = []
    if n - 1 < max(num_static, num_dynamic):
        notes.append(f"note: {n} people give at most {n - 1} components")
    ps = pca(static.reshape(n, -1), num_static)

    def dynamic(maps: np.ndarray | None) -> tuple[PCA, np.ndarray, float]:
        if maps is None:
            empty = PCA(np.zeros(h * w), np.zeros((0, h * w)), np.zeros((n, 0)), np.zeros(0))
            return empty, np.zeros((ps.codes.shape[1], 0)), 0.0
        pd = pca((np.asarray(maps, np.float64) - static).reshape(n, -1), num_dynamic)
        cs = ps.codes
        reg = np.linalg.solve(cs.T @ cs + ridge * n * np.eye(cs.shape[1]), cs.T @ pd.codes)
        denom = float(np.sum(pd.codes**2))
        r2 = 1.0 - float(np.sum((pd.codes - cs @ reg) ** 2)) / denom if denom > 0 else 0.0
        return pd, reg, r2

    pc, reg_c, r2_c = dynamic(compressed)
    pt, reg_t, r2_t = dynamic(stretched)

    def f32(a: np.ndarray, *shape: int) -> jnp.ndarray:
        return jnp.asarray(a.reshape(*shape), jnp.float32)

    basis = DetailBasis(
        static_mean=f32(ps.mean, h, w),
        static_basis=f32(ps.components, -1, h, w),
        compress_mean=f32(pc.mean, h, w),
        compress_basis=f32(pc.components, -1, h, w),
        stretch_mean=f32(pt.mean, h, w),
        stretch_basis=f32(pt.components, -1, h, w),
        compress_from_static=f32(reg_c, ps.codes.shape[1], -1),
        stretch_from_static=f32(reg_t, ps.codes.shape[1], -1),
    )
    report = BasisReport(n, (h, w), ps.explained, pc.explained, pt.explained, r2_c, r2_t, tuple(notes))
    return basis, report


# ------------------------------------------------------------------------ basis files


def default_basis_path(resolution: int = 256) -> Path:
    """Where ``launch.build_detail_basis --procedural N`` puts the default basis."""
    return ict_facekit.cache_dir() / f"detail_basis_{resolution}.npz"


def save_detail_basis(path: str | os.PathLike, basis: DetailBasis, report: BasisReport | None = None) -> Path:
    """Writes the basis (and the report's explained variance) as .npz, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f.name: np.asarray(getattr(basis, f.name)) for f in dataclasses.fields(basis)}
    if report is not None:
        arrays.update(
            static_explained=report.static_explained,
            compress_explained=report.compress_explained,
            stretch_explained=report.stretch_explained,
            num_people=np.asarray(report.num_people),
        )
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, format_version=np.asarray(FORMAT_VERSION), **arrays)
    os.replace(tmp, path)
    return path


def load_detail_basis(path: str | os.PathLike | None = None, resolution: int = 256) -> DetailBasis:
    """Reads a basis file; None reads the default one, built on first use by the CLI."""
    path = Path(path) if path is not None else default_basis_path(resolution)
    if not path.is_file():
        raise FileNotFoundError(
            f"no detail basis at {path}; build one with `python -m launch.build_detail_basis --procedural 200"
            f" --resolution {resolution}` (procedural scans) or `--input SCANS --output {path}`"
        )
    with np.load(path, allow_pickle=False) as f:
        version = int(f["format_version"]) if "format_version" in f.files else -1
        if version != FORMAT_VERSION:
            raise ValueError(f"{path}: detail basis format {version}, expected {FORMAT_VERSION}; rebuild it")
        return DetailBasis(**{fl.name: jnp.asarray(f[fl.name]) for fl in dataclasses.fields(DetailBasis)})


def build_procedural_basis(
    model: FaceModel, resolution: int = 256, num_scans: int = 200, seed: int = 0, num_static: int = 64, num_dynamic: int = 16
) -> tuple[DetailBasis, BasisReport, list]:
    """The default basis: PCA of ``num_scans`` procedural people (``detail_scans``)."""
    from hiface_jax.sddetail import detail_scans  # the scans are only needed to build the default

    layout = detail_scans.scan_layout(model, resolution)
    people = detail_scans.procedural_scans(layout, num_scans, seed)
    static, compressed, stretched = (np.stack([getattr(p, k) for p in people]) for k in KINDS)
    basis, report = build_detail_basis(static, compressed, stretched, num_static, num_dynamic)
    return basis, report, people


def load_or_build_default_basis(model: FaceModel, resolution: int = 256) -> DetailBasis:
    """The default basis from the cache, built from procedural scans on first use (~20 s at 256)."""
    path = default_basis_path(resolution)
    if not path.is_file():
        print(f"building the default detail basis from procedural scans into {path} (first use only)")
        basis, report, _ = build_procedural_basis(model, resolution)
        save_detail_basis(path, basis, report)
    return load_detail_basis(path, resolution)
