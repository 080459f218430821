"""Mesh files: round trips through our reader and through trimesh, and bad paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import trimesh

from hiface_jax import mesh_io


@pytest.fixture(scope="module")
def skin(coarse_model):
    return {
        "vertices": np.asarray(coarse_model.mean_shape, np.float64),
        "triangles": np.asarray(coarse_model.triangles),
        "uv_coords": np.asarray(coarse_model.uv_coords, np.float64),
        "uv_triangles": np.asarray(coarse_model.uv_triangles),
    }


def test_obj_round_trip_with_maps(tmp_path, skin):
    rng = np.random.default_rng(0)
    albedo = rng.uniform(size=(32, 32, 3))
    normal = rng.uniform(-1, 1, size=(32, 32, 3))
    disp = rng.normal(scale=0.05, size=(32, 32))
    written = mesh_io.write_obj(tmp_path / "m.obj", **skin, maps=mesh_io.Maps(albedo, normal, disp))
    assert all(p.is_file() for p in written)
    back = mesh_io.read_obj(tmp_path / "m.obj")
    np.testing.assert_allclose(back["vertices"], skin["vertices"], atol=1e-6)
    np.testing.assert_array_equal(back["triangles"], skin["triangles"])
    np.testing.assert_allclose(back["uv_coords"], skin["uv_coords"], atol=1e-6)
    np.testing.assert_array_equal(back["uv_triangles"], skin["uv_triangles"])
    # Maps: 8-bit albedo and normals within half a step; 16-bit displacement much finer.
    np.testing.assert_allclose(iio.imread(tmp_path / "m_albedo.png") / 255.0, albedo, atol=0.5 / 255 + 1e-9)
    np.testing.assert_allclose(iio.imread(tmp_path / "m_normal.png") / 255.0 * 2 - 1, normal, atol=1.0 / 255 + 1e-9)
    mtl = (tmp_path / "m.mtl").read_text().split("\n")
    (disp_line,) = [line for line in mtl if line.startswith("disp")]
    _, _, base, gain, name = disp_line.split()
    d = mesh_io.read_displacement_png(tmp_path / name, float(base), float(gain))
    np.testing.assert_allclose(d, disp, atol=float(gain) / 65535)


def test_trimesh_reads_our_obj_with_order_and_texture(tmp_path, skin):
    mesh_io.write_obj(tmp_path / "m.obj", **skin, maps=mesh_io.Maps(albedo=np.full((8, 8, 3), 0.5)))
    mesh = trimesh.load(tmp_path / "m.obj", process=False, maintain_order=True, force="mesh")
    np.testing.assert_allclose(mesh.vertices, skin["vertices"], atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, skin["triangles"])
    assert isinstance(mesh.visual, trimesh.visual.TextureVisuals) and mesh.visual.material.image is not None


def test_ply_and_glb_round_trip_through_trimesh(tmp_path, skin):
    colors = np.random.default_rng(1).uniform(size=(len(skin["vertices"]), 3))
    mesh_io.write_ply(tmp_path / "m.ply", skin["vertices"], skin["triangles"], colors)
    ply = mesh_io.read_mesh(tmp_path / "m.ply")
    np.testing.assert_allclose(ply.vertices, skin["vertices"], atol=1e-5)
    np.testing.assert_array_equal(ply.faces, skin["triangles"])
    np.testing.assert_allclose(ply.visual.vertex_colors[:, :3] / 255.0, colors, atol=0.5 / 255 + 1e-9)
    mesh_io.write_glb(tmp_path / "m.glb", **skin, albedo=np.full((8, 8, 3), 0.5))
    glb = mesh_io.read_mesh(tmp_path / "m.glb")
    # glTF splits seam vertices; the surface is the same: every triangle's corners match.
    np.testing.assert_allclose(glb.vertices[glb.faces], skin["vertices"][skin["triangles"]], atol=1e-5)
    np.testing.assert_allclose(glb.visual.uv[glb.faces], skin["uv_coords"][skin["uv_triangles"]], atol=1e-5)


def test_truncated_obj_is_a_clear_error(tmp_path, skin):
    mesh_io.write_obj(tmp_path / "m.obj", **skin)
    text = (tmp_path / "m.obj").read_bytes()
    (tmp_path / "cut.obj").write_bytes(text[: int(len(text) * 0.9)])  # ends inside the face block
    with pytest.raises(mesh_io.MeshFileError, match="cut.obj"):
        mesh_io.read_obj(tmp_path / "cut.obj")
    (tmp_path / "verts_only.obj").write_bytes(text[: len(text) // 10])
    with pytest.raises(mesh_io.MeshFileError, match="no faces|malformed"):
        mesh_io.read_obj(tmp_path / "verts_only.obj")
    with pytest.raises(mesh_io.MeshFileError, match="cannot read"):
        mesh_io.read_obj(tmp_path / "absent.obj")


def test_unwritable_output_and_bad_arrays(tmp_path, skin):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot create output folder"):
        mesh_io.write_obj(blocker / "sub" / "m.obj", skin["vertices"], skin["triangles"])
    with pytest.raises(IsADirectoryError):
        mesh_io.write_ply(tmp_path, skin["vertices"], skin["triangles"])
    with pytest.raises(ValueError, match="indices must be in"):
        mesh_io.write_obj(tmp_path / "m.obj", skin["vertices"][:10], skin["triangles"])
    with pytest.raises(ValueError, match="non-finite"):
        mesh_io.write_ply(tmp_path / "m.ply", np.full((3, 3), np.nan), np.array([[0, 1, 2]]))


def test_quickstart_writes_files_trimesh_opens(tmp_path, coarse_model):
    out = tmp_path / "qs"
    proc = subprocess.run(
        [sys.executable, "-m", "launch.quickstart", "--output", str(out), "--seed", "3", "--uv_resolution", "128", "--nofit"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    mesh = trimesh.load(out / "face.obj", process=False, maintain_order=True, force="mesh")
    assert len(mesh.vertices) == coarse_model.num_vertices
    assert isinstance(mesh.visual, trimesh.visual.TextureVisuals)
    for name in ("face_albedo.png", "face_normal.png", "tension.png", "face.ply", "face.glb", "coefficients.json"):
        assert (out / name).is_file(), name
    # The mesh is the random face, not the mean: it differs by millimetres or more.
    assert np.abs(mesh.vertices - np.asarray(coarse_model.mean_shape)).max() > 0.1


def test_quickstart_reports_missing_model(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "launch.quickstart", "--output", str(tmp_path), "--ict_dir", str(tmp_path / "none")],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "ICT-VGL/ICT-FaceKit" in proc.stderr and "Traceback" not in proc.stderr


def test_obj_corner_formats(tmp_path):
    """v, v//vn and v/vt/vn corners parse alike; mixed formats are a clear error."""
    head = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nvn 0 0 1\n"
    for faces in ("f 1 2 3 4\n", "f 1//1 2//1 3//1 4//1\n"):
        (tmp_path / "q.obj").write_text(head + faces)
        m = mesh_io.read_obj(tmp_path / "q.obj")
        np.testing.assert_array_equal(m["triangles"], [[0, 1, 2], [0, 2, 3]])
        assert "uv_triangles" not in m
    (tmp_path / "q.obj").write_text(head + "f 1/1/1 2/2/1 3/3/1\nf 1/1/1 3/3/1 4/4/1\n")
    m = mesh_io.read_obj(tmp_path / "q.obj")
    np.testing.assert_array_equal(m["uv_triangles"], [[0, 1, 2], [0, 2, 3]])
    (tmp_path / "mixed.obj").write_text(head + "f 1/1 2/2 3/3\nf 1 3 4\n")
    with pytest.raises(mesh_io.MeshFileError, match="mixed.obj"):
        mesh_io.read_obj(tmp_path / "mixed.obj")
