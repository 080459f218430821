"""The converter on the real ICT-FaceKit files, its cache, and its errors."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hiface_jax.face import face_model as fm
from hiface_jax.face import ict_facekit
from hiface_jax.mesh_io import parse_obj_vertices

SHARED_ZIP = Path(__file__).resolve().parents[3] / "shared" / "ict-facekit" / "ICT-FaceKit-master.zip"
README_LANDMARKS = [1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088, 3443, 268, 493, 1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140, 2075, 1147, 4269, 3360, 1507, 1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725, 3732, 5708, 5695, 2081, 0, 4275, 6200, 6213, 6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533, 6216, 6207, 6470, 5517, 5966]  # fmt: skip


def _member(name: str) -> bytes:
    with zipfile.ZipFile(SHARED_ZIP) as z:
        return z.read(f"ICT-FaceKit-master/FaceXModel/{name}")


def _small_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(f"ICT-FaceKit-master/FaceXModel/{name}", data)
    return path


def test_converted_model_matches_published_files(face_model):
    assert face_model.num_vertices == 26719
    assert face_model.identity_basis.shape == (100, 26719, 3)
    assert face_model.expression_basis.shape == (53, 26719, 3)
    # 25,836 quads split in two plus 548 triangles (counted from the OBJ's face lines).
    assert face_model.triangles.shape == (25836 * 2 + 548, 3)
    assert face_model.landmark_indices.tolist() == README_LANDMARKS
    assert "mouthSmile_L" in face_model.expression_names and len(set(face_model.expression_names)) == 53
    # Offsets are the upstream full meshes minus the neutral mesh.
    neutral = parse_obj_vertices(_member("generic_neutral_mesh.obj"), "neutral")
    ident = parse_obj_vertices(_member("identity007.obj"), "identity007")
    smile = parse_obj_vertices(_member("mouthSmile_L.obj"), "smile")
    np.testing.assert_allclose(face_model.mean_shape, neutral, atol=1e-5)
    np.testing.assert_allclose(face_model.identity_basis[7], ident - neutral, atol=1e-5)
    k = face_model.expression_index("mouthSmile_L")
    np.testing.assert_allclose(face_model.expression_basis[k], smile - neutral, atol=1e-5)


def test_quads_split_consistently(face_model):
    """Splitting keeps the winding: trimesh finds the skin consistently oriented."""
    import trimesh

    skin = face_model.submesh()
    mesh = trimesh.Trimesh(np.asarray(skin.mean_shape), np.asarray(skin.triangles), process=False)
    assert mesh.is_winding_consistent
    # Outward orientation: the nose tip's normals point forwards (+z, the face's gaze).
    nose_tip = int(skin.landmark_indices[30])
    assert mesh.vertex_normals[nose_tip, 2] > 0.5


def test_cache_is_used_and_stale_cache_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv(ict_facekit.CACHE_ENV_VAR, str(tmp_path / "cache"))
    src = tmp_path / "ict.zip"
    shutil.copy(SHARED_ZIP, src)
    a = ict_facekit.load_arrays(src, progress=False)
    (cache,) = (tmp_path / "cache").glob("*.npz")
    stamp = cache.stat().st_mtime_ns
    b = ict_facekit.load_arrays(src, progress=False)
    assert cache.stat().st_mtime_ns == stamp, "second load must come from the cache"
    np.testing.assert_array_equal(a["identity_basis"], b["identity_basis"])
    # Change one member of the source: the cache must be detected as stale and rebuilt.
    with zipfile.ZipFile(SHARED_ZIP) as zin, zipfile.ZipFile(src, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("identity003.obj"):
                start = data.index(b"\nv ") + 1
                end = data.index(b"\n", start)
                data = data[:start] + b"v 5.0 5.0 5.0" + data[end:]  # move the first vertex
            zout.writestr(info, data, compress_type=zipfile.ZIP_STORED)  # stored: fast to write
    c = ict_facekit.load_arrays(src, progress=False)
    assert cache.stat().st_mtime_ns != stamp
    assert not np.array_equal(c["identity_basis"][3], a["identity_basis"][3])
    np.testing.assert_array_equal(c["identity_basis"][4], a["identity_basis"][4])
    # A corrupt cache file is rebuilt, not trusted.
    cache.write_bytes(b"not an npz")
    d = ict_facekit.load_arrays(src, progress=False)
    np.testing.assert_array_equal(d["identity_basis"], c["identity_basis"])


def test_unpacked_folder_equals_zip(tmp_path, face_model, monkeypatch):
    monkeypatch.setenv(ict_facekit.CACHE_ENV_VAR, str(tmp_path / "cache"))
    with zipfile.ZipFile(SHARED_ZIP) as z:
        z.extractall(tmp_path / "unpacked", [n for n in z.namelist() if "FaceXModel/" in n])
    root = tmp_path / "unpacked" / "ICT-FaceKit-master"
    for path in (root, root / "FaceXModel"):
        m = fm.load_face_model(path, progress=False)
        np.testing.assert_array_equal(m.identity_basis, face_model.identity_basis)
        np.testing.assert_array_equal(m.triangles, face_model.triangles)


def test_lookup_order_flag_then_env(tmp_path, monkeypatch):
    monkeypatch.setenv(ict_facekit.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(ict_facekit.FaceModelSourceError, match="HIFACE_ICT_DIR"):
        ict_facekit.locate()
    assert ict_facekit.locate(SHARED_ZIP) == SHARED_ZIP  # the flag wins over the env var
    monkeypatch.delenv(ict_facekit.ENV_VAR)
    assert ict_facekit.locate() == SHARED_ZIP  # ../shared/ict-facekit beside the repository


def test_missing_model_folder_says_where_to_get_it(tmp_path):
    with pytest.raises(ict_facekit.FaceModelSourceError) as e:
        fm.load_face_model(tmp_path / "missing")
    assert "ICT-VGL/ICT-FaceKit" in str(e.value) and "missing" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ict_facekit.FaceModelSourceError, match="neither FaceXModel"):
        fm.load_face_model(tmp_path / "empty")


def test_partial_and_corrupt_archives_name_the_member(tmp_path, monkeypatch):
    monkeypatch.setenv(ict_facekit.CACHE_ENV_VAR, str(tmp_path / "cache"))
    meta = _member("vertex_indices.json")
    neutral = _member("generic_neutral_mesh.obj")
    partial = _small_zip(tmp_path / "partial.zip", {"vertex_indices.json": meta, "generic_neutral_mesh.obj": neutral})
    with pytest.raises(ict_facekit.FaceModelSourceError, match="identity000.obj is missing"):
        fm.load_face_model(partial)
    # All members present, one of them truncated mid-file.
    members = {"vertex_indices.json": meta, "generic_neutral_mesh.obj": neutral}
    names = [f"identity{i:03d}.obj" for i in range(100)] + [e + ".obj" for e in json.loads(meta)["expressions"]]
    for n in names:
        members[n] = neutral
    members["identity042.obj"] = neutral[: len(neutral) // 5]  # cut inside the vertex block
    truncated = _small_zip(tmp_path / "truncated.zip", members)
    with pytest.raises(ict_facekit.FaceModelSourceError, match="identity042.obj"):
        fm.load_face_model(truncated)
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(ict_facekit.FaceModelSourceError, match="not a readable ZIP"):
        fm.load_face_model(garbage)
