"""Shared fixtures: the real ICT-FaceKit model, loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

# JAX's persistent compilation cache, set before jax is imported so that the test process and every
# subprocess it starts (multi-device, multi-host, CLI tests) share it: compilation dominates the
# suite's time, and a second run skips most of it.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path.home() / ".cache" / "hiface" / "jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import pytest

from hiface_jax.face import face_model as fm


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
def small_photo_albedo_bank(tmp_path_factory, coarse_model) -> str:
    """A two-map photo-albedo bank at UV 64 (designed albedos in the bank's format), so the
    sampler's photo path runs without fitting the packaged photos."""
    import jax
    import numpy as np

    from hiface_jax.data import photo_albedo
    from hiface_jax.face import albedo

    m = coarse_model
    layout = albedo.albedo_layout(
        np.asarray(m.uv_coords), np.asarray(m.uv_triangles), np.asarray(m.triangles),
        np.asarray(m.landmark_indices), m.num_vertices, 64,
    )  # fmt: skip
    p = albedo.sample_albedo(jax.random.key(1), 2)
    maps = np.asarray(albedo.albedo_map(p["base"], p["lips"], p["brows"], p["grid"], layout))
    bank = {"maps": maps.astype(np.float16), "skin_colour": np.asarray(p["base"]), "names": np.array(["a", "b"])}
    return str(photo_albedo.save_bank(tmp_path_factory.mktemp("albedo") / "bank.npz", bank))


@pytest.fixture(scope="session")
def small_synthetic_config(small_detail_basis, small_photo_albedo_bank):
    """Synthetic images at 96 px with the small basis: fast enough for tests."""
    from hiface_jax.data import synthetic

    return synthetic.SyntheticConfig(
        seed=7, image_size=96, uv_resolution=64, detail_basis=small_detail_basis, photo_albedo=small_photo_albedo_bank
    )


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """Frees each test module's compiled programs when it ends. Every XLA CPU executable holds a
    few memory mappings; the suite's programs, all kept in one process, passed the kernel's limit
    (``vm.max_map_count``, 65,530) in the train tests, and XLA crashed there, in a compile or in
    the persistent cache's serialisation (segfault or abort). Cleared, a module peaks near 12,000."""
    yield
    import gc

    import jax

    jax.clear_caches()
    gc.collect()


# The slowest files first: pytest-xdist (``-n 2 --dist loadfile``, pyproject.toml) hands files out
# in this order, so these overlap the rest of the suite instead of running alone at its end.
_SLOW_FIRST = (
    "tests/train/test_distributed.py",
    "tests/train/test_devices.py",
    "tests/train/test_train.py",
    "tests/train/test_learning.py",
    "tests/data/test_datasets.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(_SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order
