"""Shared set-up of the app tests: photos on disk and one reconstruct run (subprocess)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from helpers import REPO, repo_env
from PIL import Image


def run_module(module: str, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def cli():
    """``run_module`` for the test files."""
    return run_module


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> pathlib.Path:
    """The astronaut plus each awkward case the reconstruct command must handle."""
    folder = tmp_path_factory.mktemp("photos")
    astronaut = skimage.data.astronaut()
    Image.fromarray(astronaut).save(folder / "astronaut.png")
    grey = (astronaut.astype(np.float64) @ [0.299, 0.587, 0.114]).round().astype(np.uint16) * 257
    Image.fromarray(grey).save(folder / "grey16.png")  # 16-bit greyscale
    rgba = np.concatenate([astronaut, np.full(astronaut.shape[:2] + (1,), 255, np.uint8)], -1)
    rgba[:, :40, 3] = 0  # a transparent strip
    Image.fromarray(rgba, mode="RGBA").save(folder / "rgba.png")
    Image.fromarray(np.concatenate([astronaut[:, 96:416], astronaut[:, 96:416]], 1)).save(folder / "two.png")
    Image.fromarray(astronaut).resize((4800, 4800)).save(folder / "huge.jpg", quality=80)
    Image.fromarray(astronaut[:20, :20]).save(folder / "tiny.png")
    (folder / "corrupt.jpg").write_bytes((folder / "huge.jpg").read_bytes()[:2000])
    Image.fromarray(skimage.data.coffee()).save(folder / "coffee.png")  # no face
    return folder


@pytest.fixture(scope="session")
def reconstructed(
    tmp_path_factory, photo_folder, small_detail_basis
) -> tuple[pathlib.Path, subprocess.CompletedProcess]:
    """``launch.reconstruct --method fit`` on the photo folder (short fit, no refinement)."""
    out = tmp_path_factory.mktemp("reconstructed")
    result = run_module(
        "launch.reconstruct", "--method", "fit", "--input", str(photo_folder), "--output", str(out),
        "--landmark_steps", "60", "--set", "photometric_steps=3", "--detail_basis", small_detail_basis, "--batch", "4",
    )  # fmt: skip
    return out, result


@pytest.fixture(scope="session")
def fit_assets(small_detail_basis):
    """``FaceAssets`` of the fit backend with the small detail basis, in this process."""
    from hiface_jax.app import faces
    from hiface_jax.sddetail import detail_basis

    return faces.load_assets(basis=detail_basis.load_detail_basis(small_detail_basis))
