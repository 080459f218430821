"""MediaPipe's 478 dense landmarks embedded on the ICT mesh, and their silhouette points.

The embedding is computed once from MediaPipe's own canonical face (the mesh inside the
landmarker's ``.task`` bundle, member ``geometry_pipeline_metadata_landmarks.binarypb``):

1. a similarity transform takes the canonical face onto the ICT mean face through the 51
   inner iBUG points, whose MediaPipe indices (``MEDIAPIPE_TO_IBUG68``) and ICT vertices
   (``landmark_indices``) are both known;
2. a thin-plate warp of the remaining residuals makes those 51 points coincide exactly,
   bending the rest of the canonical face smoothly with them;
3. every warped canonical vertex is snapped to the closest point of the ICT skin surface:
   a triangle and barycentric weights, so the points follow identity and expression.

The iris centres (468..477) have no canonical vertex and are not embedded. The result is
cached under ``~/.cache/hiface`` (derived from ICT-FaceKit: never part of the project).

**Contour points.** MediaPipe's face-oval points sit on the visible outline of the face,
which slides over the skin as the head turns; a fixed surface point there is wrong for a
turned face. Each oval point therefore gets a strip of candidate vertices (the skin on the
ray from the face centre through it, in the mean face's frontal plane) and, in a given pose,
is matched to the candidate that projects furthest out along the detected point's outward
direction: the silhouette on that strip ("landmark marching").
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax.face import face_model as fm
from hiface_jax.photo import landmark_detector as ld

CANONICAL_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"
NUM_CANONICAL = 468  # MediaPipe's face mesh; 468..477 are iris points with no canonical vertex
FORMAT_VERSION = 3
STRIP_HALF_WIDTH_CM = 0.4  # half-width of each contour point's candidate strip
# The strip spans these fractions of the oval point's distance from the oval's centre: inward
# far enough for the far cheek of a turned face, outward no further than the point (measured on
# synthetic renders: strips to 1.1 or 1.25 of the radius reach the ears and double the error).
STRIP_START, STRIP_END = 0.55, 1.0
INNER_IBUG = np.arange(17, 68)  # the iBUG points off the jaw line: fixed on the skin


class CanonicalFaceError(ValueError):
    """The ``.task`` bundle holds no canonical face we can read."""


@dataclasses.dataclass(frozen=True)
class DenseEmbedding:
    """MediaPipe landmarks on a face model's mesh.

    Attributes:
      landmark_ids: (N,) MediaPipe indices (0..467) of the embedded points.
      vertices: (N, 3) the model's vertices of each point's triangle.
      weights: (N, 3) barycentric weights of those vertices.
      contour: (N,) bool, face-oval points (matched to the silhouette, see the module).
      candidates: (N, C) candidate vertices of each point's silhouette strip (padded by repeating
        the first; non-contour rows hold the point's first vertex).
      lid_gap_bias: (4,) how much more open MediaPipe's mapped iBUG lid pairs read an eye than
        the model's lid points (``losses.lid_gaps``, eye widths; zeros where not measured, see
        ``landmark_calibration``).
    """

    landmark_ids: np.ndarray
    vertices: np.ndarray
    weights: np.ndarray
    contour: np.ndarray
    candidates: np.ndarray
    lid_gap_bias: np.ndarray


# ------------------------------------------------------------------ the canonical face


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message, in order (wire types 0, 1, 2, 5)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        else:
            raise CanonicalFaceError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def read_canonical_face(task_path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's canonical face mesh from the landmarker bundle.

    ``GeometryPipelineMetadata.canonical_mesh`` (field 1) is a ``Mesh3d``: vertex_buffer
    (field 3, x y z u v per vertex, cm) and index_buffer (field 4, triangles).

    Returns:
      vertices (468, 3) float64 cm, triangles (F, 3) int64.
    """
    path = Path(task_path) if task_path else ld.find_model_file()
    try:
        with zipfile.ZipFile(path) as bundle:
            metadata = bundle.read(CANONICAL_MEMBER)
    except (zipfile.BadZipFile, KeyError) as e:
        raise CanonicalFaceError(f"{path} holds no {CANONICAL_MEMBER}: {e}") from e
    meshes = [v for f, w, v in _fields(metadata) if f == 1 and w == 2]
    if not meshes:
        raise CanonicalFaceError(f"{path}: {CANONICAL_MEMBER} has no canonical mesh")
    floats, indices = [], []
    for f, w, v in _fields(meshes[0]):
        if f == 3:
            floats.append(np.frombuffer(v, "<f4") if w == 2 else np.frombuffer(v, "<f4", 1))
        elif f == 4:
            if w == 0:
                indices.append(v)
            else:  # packed
                i = 0
                while i < len(v):
                    x, i = _varint(v, i)
                    indices.append(x)
    buffer = np.concatenate(floats).astype(np.float64).reshape(-1, 5)
    triangles = np.asarray(indices, np.int64).reshape(-1, 3)
    if buffer.shape[0] != NUM_CANONICAL:
        raise CanonicalFaceError(f"expected {NUM_CANONICAL} canonical vertices, found {buffer.shape[0]}")
    return buffer[:, :3], triangles


# ------------------------------------------------------------------ the embedding


def _thin_plate_warp(source: np.ndarray, target: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Moves ``points`` by the thin-plate interpolation of the displacements source -> target."""
    from scipy.interpolate import RBFInterpolator

    warp = RBFInterpolator(source, target - source, kernel="thin_plate_spline", degree=1)
    return points + warp(points)


def embed(model: fm.FaceModel, canonical: np.ndarray) -> DenseEmbedding:
    """Embeds the (468, 3) canonical face on ``model``'s mean face (see the module docstring)."""
    from hiface_jax.evaluation.surface import Surface
    from hiface_jax.geometry.procrustes import procrustes

    mean = np.asarray(model.mean_shape, np.float64)
    mp_ids = np.asarray(ld.MEDIAPIPE_TO_IBUG68)[INNER_IBUG]
    ict = mean[np.asarray(model.landmark_indices)[INNER_IBUG]]
    r, s, t = procrustes(canonical[mp_ids], ict, with_scale=True)
    aligned = s * canonical @ r.T + t
    warped = _thin_plate_warp(aligned[mp_ids], ict, aligned)
    triangles = np.asarray(model.triangles)
    hit = Surface(mean, triangles).closest_points(warped)
    vertices = triangles[hit.triangles]
    contour = np.isin(np.arange(NUM_CANONICAL), ld.FACE_OVAL_RING)
    candidates = _silhouette_strips(model, hit.points, contour, vertices[:, 0])
    return DenseEmbedding(np.arange(NUM_CANONICAL), vertices, hit.weights, contour, candidates, np.zeros(4))


def _silhouette_strips(model: fm.FaceModel, points: np.ndarray, contour: np.ndarray, fallback: np.ndarray):
    """(N, C) candidate vertices: for each oval point, the face-region skin near the ray from the
    oval's centre through it (frontal plane of the mean face), ``STRIP_START`` to ``STRIP_END`` of its radius."""
    mean = np.asarray(model.mean_shape, np.float64)
    face = model.region_vertices("face")
    centre = points[contour].mean(0)
    strips = []
    for k in np.nonzero(contour)[0]:
        radial = points[k, :2] - centre[:2]
        radius = np.linalg.norm(radial)
        u = radial / radius
        rel = mean[face, :2] - centre[:2]
        along = rel @ u
        across = np.abs(rel @ np.array([-u[1], u[0]]))
        inside = (along > STRIP_START * radius) & (along < STRIP_END * radius)
        keep = face[(across < STRIP_HALF_WIDTH_CM) & inside & (mean[face, 2] > centre[2] - 6)]
        strips.append(keep)
    width = max(len(x) for x in strips)
    out = np.repeat(fallback[:, None], width, 1)
    for k, strip in zip(np.nonzero(contour)[0], strips):
        out[k] = np.concatenate([strip, np.full(width - len(strip), strip[0])])
    return out


def _cache_key(model: fm.FaceModel, canonical: np.ndarray) -> str:
    h = hashlib.sha256(f"dense-v{FORMAT_VERSION}-{STRIP_START}-{STRIP_END}".encode())
    for a in (model.mean_shape, model.triangles, model.vertex_ids, canonical):
        h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
    return h.hexdigest()[:16]


def dense_embedding(model: fm.FaceModel, cache_dir: str | os.PathLike | None = None) -> DenseEmbedding:
    """``embed`` of MediaPipe's canonical face on ``model``, cached under ``cache_dir``
    (default ``~/.cache/hiface``) by a hash of the model's mean mesh and the canonical face."""
    canonical, _ = read_canonical_face()
    return cached(cache_dir, f"dense_landmarks_{_cache_key(model, canonical)}", lambda: embed(model, canonical))


def cached(cache_dir: str | os.PathLike | None, name: str, build: Callable[[], DenseEmbedding]) -> DenseEmbedding:
    """The embedding stored as ``name``.npz under ``cache_dir`` (default ``~/.cache/hiface``),
    or ``build()``'s, written there atomically first."""
    root = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "hiface"
    path = root / f"{name}.npz"
    if path.is_file():
        with np.load(path) as z:
            return DenseEmbedding(**{f.name: z[f.name] for f in dataclasses.fields(DenseEmbedding)})
    emb = build()
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **dataclasses.asdict(emb))
    os.replace(tmp, path)
    return emb


# ------------------------------------------------------------------ in the fit


def silhouette_points(projected_candidates: jnp.ndarray, target: jnp.ndarray, centre: jnp.ndarray) -> jnp.ndarray:
    """The candidate of each point that projects furthest out along its target's direction.

    Args:
      projected_candidates: (B, N, C, 2) pixels.
      target: (B, N, 2) detected points, pixels.
      centre: (B, 2) centre of the detected oval.
    Returns:
      (B, N, 2) the chosen projected candidates (the choice carries no gradient; the point does).
    """
    outward = target - centre[:, None]
    outward = outward / jnp.maximum(jnp.linalg.norm(outward, axis=-1, keepdims=True), 1e-6)
    reach = jnp.einsum("bncd,bnd->bnc", jax.lax.stop_gradient(projected_candidates), outward)
    pick = jnp.argmax(reach, axis=-1)
    return jnp.take_along_axis(projected_candidates, pick[..., None, None], axis=2)[:, :, 0]
