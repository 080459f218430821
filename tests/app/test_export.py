"""The exported artifact: same numbers as the in-process model, run where flax is never imported;
and the ``model`` backend of the reconstruct pipeline."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
import skimage.data
from flax import nnx
from PIL import Image

from hiface_jax.app import artifact, model_backend, pipeline
from hiface_jax.model import config as model_config
from hiface_jax.model import hiface

# Runs the runner as ``python -m`` would, then reports which modules were ever imported.
RUNNER = """
import json, runpy, sys
sys.argv = ["run_artifact"] + sys.argv[1:]
try:
    runpy.run_module("launch.run_artifact", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
mods = sorted(m for m in sys.modules if m.split(".")[0] == "flax" or m.startswith("hiface_jax.model"))
print("IMPORTED " + json.dumps(mods))
sys.exit(code)
"""


@pytest.fixture(scope="session")
def tiny_model(coarse_model, small_detail_basis):
    """The ``tiny`` HiFace with random heads (zero-kernel heads would ignore the image)."""
    cfg = model_config.full_config("tiny")
    cfg.model.detail_basis = small_detail_basis
    model = hiface.build_model(cfg, rngs=nnx.Rngs(0), face_model=coarse_model)
    params = nnx.state(model, nnx.Param)
    keys = iter(jax.random.split(jax.random.key(1), len(jax.tree.leaves(params))))
    nnx.update(model, jax.tree.map(lambda x: x + 0.01 * jax.random.normal(next(keys), x.shape, x.dtype), params))
    return model


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_model):
    return artifact.export_model(tiny_model, tmp_path_factory.mktemp("artifact") / "hiface")


def test_artifact_runs_without_flax_and_matches_the_model(exported, tiny_model, tmp_path, repo):
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, "--artifact", str(exported), "--input", str(photo), "--output", str(out)],
        cwd=repo, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    imported = json.loads(result.stdout.split("IMPORTED ")[1])
    assert imported == [], imported
    saved = np.load(out / "astronaut_face0" / "outputs.npz")
    ref = tiny_model(jax.numpy.asarray(saved["image"][None] / np.float32(255.0)))
    for name, want in (
        ("vertices", ref.vertices), ("displacement", ref.displacement), ("expression", ref.params.expression),
        ("static_code", ref.static_code), ("landmarks", ref.landmarks),
    ):  # fmt: skip
        np.testing.assert_allclose(saved[name], np.asarray(want)[0], rtol=1e-5, atol=1e-5, err_msg=name)
    assert (out / "astronaut_face0" / "detailed.obj").stat().st_size > 0


def test_artifact_batch_is_symbolic(exported, tiny_model):
    art = artifact.load(exported)
    assert set(art.meta["platforms"]) == {"cpu", "cuda"}
    x = np.random.default_rng(0).uniform(size=(3, art.image_size, art.image_size, 3)).astype(np.float32)
    one, three = art(x[:1]), art(x)
    np.testing.assert_allclose(np.asarray(one["vertices"])[0], np.asarray(three["vertices"])[0], atol=1e-4)
    with pytest.raises(ValueError, match="images must be"):
        art(x[:, :10])
    with pytest.raises(artifact.ArtifactError, match="not a readable artifact"):
        artifact.load(exported.parent)


def test_model_backend_writes_faces(tiny_model, photo_folder, tmp_path):
    backend = model_backend.ModelBackend(tiny_model, model_backend.model_assets(tiny_model), refine_steps=0)
    report = pipeline.reconstruct_photos([photo_folder / "astronaut.png"], tmp_path, backend)
    assert not report.failures and [p.name for p in report.written] == ["astronaut_face0"]
    coeffs = json.loads((tmp_path / "astronaut_face0" / "coefficients.json").read_text())
    assert (
        coeffs["method"] == "model"
        and len(coeffs["detail_codes"]["static"]) == tiny_model.sddetail.static_basis.shape[0]
    )


def test_export_cli_refuses_a_folder_without_a_checkpoint(tmp_path, cli):
    result = cli("launch.export", "--checkpoint", str(tmp_path), "--output", str(tmp_path / "artifact"))
    assert result.returncode == 1 and "neither a training workdir" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "artifact").exists()
