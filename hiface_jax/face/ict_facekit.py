"""Reading ICT-FaceKit (MIT) from its published files and caching it as arrays.

The model is never shipped with this project. Users point at either

* the repository ZIP exactly as GitHub serves it (``ICT-FaceKit-master.zip``), or
* an unpacked copy of it (a folder holding ``FaceXModel/``), or ``FaceXModel/`` itself.

Parsing the 155 OBJ files takes seconds, so the converted arrays are cached in
``~/.cache/hiface`` (or ``$HIFACE_CACHE``) together with a fingerprint of the
source members (name, size and CRC for a ZIP; name, size and mtime for a folder).
A cache whose fingerprint or format no longer matches is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from hiface_jax.mesh_io import MeshFileError, parse_obj, parse_obj_vertices, triangulate

ENV_VAR = "HIFACE_ICT_DIR"
CACHE_ENV_VAR = "HIFACE_CACHE"
CACHE_FORMAT = 1
WHERE_TO_GET_IT = (
    "ICT-FaceKit is public under the MIT licence: download the repository ZIP of "
    "github.com/ICT-VGL/ICT-FaceKit ('Code > Download ZIP') and pass its path (or an "
    f"unpacked copy) with --ict-dir or the {ENV_VAR} environment variable."
)
NEUTRAL = "generic_neutral_mesh.obj"
VERTEX_INDICES = "vertex_indices.json"
NUM_IDENTITIES = 100
NUM_VERTICES = 26719

# Vertex ranges [start, stop) of the published topology (ICT-FaceKit README, "Face Model
# Topology" and "Face Area Details"). "face" and "narrow_face" overlap; the rest partition.
REGION_RANGES: dict[str, tuple[int, int]] = {
    "face": (0, 9409),
    "narrow_face": (0, 6706),
    "head_neck": (9409, 11248),
    "mouth_socket": (11248, 13294),
    "eye_socket_left": (13294, 13678),
    "eye_socket_right": (13678, 14062),
    "gums_tongue": (14062, 17039),
    "teeth": (17039, 21451),
    "eyeball_left": (21451, 23021),
    "eyeball_right": (23021, 24591),
    "lacrimal_fluid": (24591, 24999),
    "eye_blend": (24999, 25047),
    "eye_occlusion": (25047, 25351),
    "eyelashes": (25351, 26719),
}


class FaceModelSourceError(FileNotFoundError):
    """The ICT-FaceKit files are missing, partial or corrupt. The message says which."""


class _Source:
    """Uniform read access to the FaceXModel members of a ZIP or a folder."""

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as e:
                raise FaceModelSourceError(f"{path} is not a readable ZIP archive ({e}). {WHERE_TO_GET_IT}") from e
            names = [n for n in self._zip.namelist() if n.endswith("FaceXModel/" + NEUTRAL)]
            if not names:
                raise FaceModelSourceError(
                    f"{path} holds no FaceXModel/{NEUTRAL}: not an ICT-FaceKit archive. {WHERE_TO_GET_IT}"
                )
            self._prefix = names[0][: -len(NEUTRAL)]
        else:
            model_dir = path / "FaceXModel" if (path / "FaceXModel").is_dir() else path
            self._prefix = str(model_dir) + os.sep

    def _name(self, member: str) -> str:
        return self._prefix + member

    def read(self, member: str) -> bytes:
        """Bytes of ``FaceXModel/<member>``; FaceModelSourceError names what failed."""
        name = self._name(member)
        try:
            if self._zip is not None:
                return self._zip.read(name)
            return Path(name).read_bytes()
        except KeyError as e:
            raise FaceModelSourceError(
                f"{self.path}: member FaceXModel/{member} is missing (partial archive?). {WHERE_TO_GET_IT}"
            ) from e
        except FileNotFoundError as e:
            raise FaceModelSourceError(
                f"{self.path}: FaceXModel/{member} is missing (partial copy?). {WHERE_TO_GET_IT}"
            ) from e
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
            raise FaceModelSourceError(f"{self.path}: member FaceXModel/{member} is corrupt ({e}).") from e

    def fingerprint(self, members: Iterable[str]) -> str:
        """Hash of (name, size, CRC or mtime) of the members: cheap, no decompression."""
        h = hashlib.sha256()
        for member in members:
            name = self._name(member)
            if self._zip is not None:
                try:
                    info = self._zip.getinfo(name)
                except KeyError as e:
                    raise FaceModelSourceError(
                        f"{self.path}: member FaceXModel/{member} is missing (partial archive?). {WHERE_TO_GET_IT}"
                    ) from e
                h.update(f"{member}:{info.file_size}:{info.CRC}\n".encode())
            else:
                try:
                    st = os.stat(name)
                except FileNotFoundError as e:
                    raise FaceModelSourceError(
                        f"{self.path}: FaceXModel/{member} is missing (partial copy?). {WHERE_TO_GET_IT}"
                    ) from e
                h.update(f"{member}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return h.hexdigest()


def locate(path: str | os.PathLike | None = None) -> Path:
    """Finds the ICT-FaceKit ZIP or folder: ``path``, then ``$HIFACE_ICT_DIR``, then
    ``../shared/ict-facekit/`` beside the repository.

    A folder that holds exactly one ``*.zip`` and no ``FaceXModel/`` resolves to the ZIP.
    """
    repo = Path(__file__).resolve().parents[2]
    tried: list[str] = []
    candidates = []
    if path is not None:
        candidates.append(("the given path", Path(path)))
    elif os.environ.get(ENV_VAR):
        candidates.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR])))
    else:
        candidates.append(("the default", repo.parent / "shared" / "ict-facekit"))
    for what, cand in candidates:
        cand = cand.expanduser()
        tried.append(f"{cand} ({what})")
        if cand.is_file():
            return cand
        if cand.is_dir():
            if (cand / "FaceXModel").is_dir() or (cand / NEUTRAL).is_file():
                return cand
            zips = sorted(cand.glob("*.zip"))
            if len(zips) == 1:
                return zips[0]
            if len(zips) > 1:
                raise FaceModelSourceError(
                    f"{cand} holds several ZIPs ({', '.join(z.name for z in zips)}); pass the one to use."
                )
            raise FaceModelSourceError(f"{cand} holds neither FaceXModel/ nor an ICT-FaceKit ZIP. {WHERE_TO_GET_IT}")
    raise FaceModelSourceError(f"ICT-FaceKit not found; looked at {', '.join(tried)}. {WHERE_TO_GET_IT}")


def _members(source: _Source) -> tuple[list[str], list[str]]:
    meta = json.loads(source.read(VERTEX_INDICES))
    expressions = list(meta["expressions"])
    objs = [NEUTRAL] + [f"identity{i:03d}.obj" for i in range(NUM_IDENTITIES)] + [e + ".obj" for e in expressions]
    return objs, expressions


def convert(path: Path, progress: bool = True) -> dict[str, np.ndarray]:
    """Parses the upstream OBJ/JSON files into the arrays the face model holds.

    Identity and expression OBJs are full meshes; the model stores their offsets from
    the neutral mesh. Units stay those of the source: centimetres.
    """
    source = _Source(path)
    objs, expressions = _members(source)
    meta = json.loads(source.read(VERTEX_INDICES))
    try:
        neutral, uv_coords, polygons = parse_obj(source.read(NEUTRAL), f"FaceXModel/{NEUTRAL}")
    except MeshFileError as e:
        raise FaceModelSourceError(str(e)) from e
    if neutral.shape[0] != NUM_VERTICES:
        raise FaceModelSourceError(
            f"FaceXModel/{NEUTRAL}: {neutral.shape[0]} vertices, expected {NUM_VERTICES} (truncated?)"
        )
    offsets = np.empty((len(objs) - 1, NUM_VERTICES, 3), np.float32)
    iterator = objs[1:]
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="converting ICT-FaceKit", unit="obj", leave=False)
    for k, member in enumerate(iterator):
        try:
            verts = parse_obj_vertices(source.read(member), f"FaceXModel/{member}")
        except MeshFileError as e:
            raise FaceModelSourceError(str(e)) from e
        if verts.shape != neutral.shape:
            raise FaceModelSourceError(
                f"FaceXModel/{member}: {verts.shape[0]} vertices, expected {NUM_VERTICES} (truncated or not ICT topology)"
            )
        offsets[k] = verts - neutral
    triangles, _ = triangulate(polygons[:, :4])
    uv_triangles, _ = triangulate(polygons[:, 4:])
    if (uv_triangles < 0).any() or uv_triangles.max() >= len(uv_coords) or triangles.max() >= NUM_VERTICES:
        raise FaceModelSourceError(f"FaceXModel/{NEUTRAL}: face indices out of range (truncated?)")
    return {
        "format": np.int64(CACHE_FORMAT),
        "mean_shape": neutral.astype(np.float32),
        "identity_basis": offsets[:NUM_IDENTITIES],
        "expression_basis": offsets[NUM_IDENTITIES:],
        "expression_names": np.asarray(expressions),
        "triangles": triangles.astype(np.int32),
        "uv_coords": uv_coords.astype(np.float32),
        "uv_triangles": uv_triangles.astype(np.int32),
        "landmark_indices": np.asarray(meta["idx_to_landmark_verts"], np.int32),
    }


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV_VAR, Path.home() / ".cache" / "hiface")).expanduser()


def load_arrays(path: str | os.PathLike | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """The model's arrays, from the cache when it matches the source, else converted anew.

    Args:
      path: ZIP or folder; None searches as in ``locate``.
      progress: show a progress bar while converting.
    """
    src_path = locate(path).resolve()
    source = _Source(src_path)
    objs, _ = _members(source)
    fingerprint = source.fingerprint([VERTEX_INDICES] + objs)
    key = hashlib.sha256(str(src_path).encode()).hexdigest()[:16]
    cache = cache_dir() / f"ict_facekit_{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as f:
                if str(f["fingerprint"]) == fingerprint and int(f["format"]) == CACHE_FORMAT:
                    return {k: f[k] for k in f.files if k != "fingerprint"}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            pass  # unreadable cache: rebuild below
    arrays = convert(src_path, progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, fingerprint=np.asarray(fingerprint), **arrays)
    os.replace(tmp, cache)  # atomic: a killed run never leaves a half-written cache
    return arrays
