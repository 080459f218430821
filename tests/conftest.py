"""Shared fixtures: the real ICT-FaceKit model, loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

# JAX's persistent compilation cache, set before jax is imported so that the test
# process and every subprocess it starts (multi-device, multi-host, CLI tests) share it:
# compilation dominates the suite's time, and a second run skips most of it.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path.home() / ".cache" / "hiface" / "jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import pytest  # noqa: E402

from hiface_jax.face import face_model as fm  # noqa: E402


@pytest.fixture(scope="session")
def face_model() -> fm.FaceModel:
    """Full published topology (26,719 vertices)."""
    return fm.load_face_model(progress=False)


@pytest.fixture(scope="session")
def coarse_model(face_model) -> fm.FaceModel:
    """Face + head/neck skin, the part the coarse reconstruction uses."""
    return face_model.submesh()


@pytest.fixture(scope="session")
def small_detail_basis(tmp_path_factory, coarse_model) -> str:
    """A small default-style detail basis (64 x 64 UV, 12 procedural people) on disk."""
    from hiface_jax.sddetail import detail_basis

    basis, report, _ = detail_basis.build_procedural_basis(coarse_model, 64, num_scans=12, num_static=8, num_dynamic=4)
    return str(detail_basis.save_detail_basis(tmp_path_factory.mktemp("basis") / "basis_64.npz", basis, report))


@pytest.fixture(scope="session")
def small_synthetic_config(small_detail_basis):
    """Synthetic images at 96 px with the small basis: fast enough for tests."""
    from hiface_jax.data import synthetic

    return synthetic.SyntheticConfig(seed=7, image_size=96, uv_resolution=64, detail_basis=small_detail_basis)
