"""`python -m launch.make_dataset` end to end, in a subprocess."""

import subprocess
import sys

import numpy as np
import skimage.data
from helpers import REPO, repo_env
from PIL import Image

from hiface_jax.data import data_loader


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "launch.make_dataset", *args],
        cwd=REPO,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_photos_build_then_refuse_then_overwrite(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    astronaut = skimage.data.astronaut()
    Image.fromarray(astronaut).save(photos / "astronaut.jpg")
    Image.fromarray(astronaut[:10, :10]).save(photos / "tiny.png")
    (photos / "readme.jpg").write_text("not an image")
    out = tmp_path / "data"

    first = _run("--photos", str(photos), "--output", str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "face_images/1.0.0" in first.stdout
    assert "photos: 3, included 1 (1 faces), skipped 2" in first.stdout
    assert "tiny.png: too small" in first.stdout and "readme.jpg: not a recognised image format" in first.stdout
    source = data_loader.open_source(str(out), "face_images")
    assert len(source) == 1 and source[0]["source"] == b"astronaut.jpg"
    shard = next((out / "face_images" / "1.0.0").glob("face_images-train.array_record-*"))
    built = shard.stat().st_mtime_ns

    again = _run("--photos", str(photos), "--output", str(out))
    assert again.returncode == 1
    assert "face_images/1.0.0 already exists" in again.stderr and "--overwrite" in again.stderr
    assert shard.stat().st_mtime_ns == built  # untouched

    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(photos / "mirror.png")
    rebuilt = _run("--photos", str(photos), "--output", str(out), "--overwrite")
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert "photos: 4, included 2 (2 faces), skipped 2" in rebuilt.stdout
    assert len(data_loader.open_source(str(out), "face_images")) == 2


def test_nothing_to_build_is_a_usage_error(tmp_path):
    result = _run("--output", str(tmp_path))
    assert result.returncode != 0 and "nothing to build" in result.stderr
