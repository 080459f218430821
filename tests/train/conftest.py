"""Shared set-up of the trainer's tests: a micro config and one reference run, in this process."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest
from helpers import REPO, repo_env

# The micro run: tiny's small encoder at 64 px, UV 64, batch 4, designed albedo only.
MICRO = {
    "model.image_size": 64,
    "model.uv_resolution": 64,
    "data.photo_albedo": None,
    "train.steps": 4,
    "train.batch_size": 4,
    "train.checkpoint_every": 2,
    "train.log_every": 1,
    "train.image_every": 4,
    "train.eval_every": 0,
    "train.progress": False,
}


def micro_config(**overrides):
    from launch.configs import hiface

    config = hiface.get_config("tiny")
    for path, value in {**MICRO, **overrides}.items():
        section, name = path.split(".")
        config[section][name] = value
    return config


def cli_flags(**overrides) -> list[str]:
    """The micro config as ``launch.train`` command-line flags."""
    values = {**MICRO, **overrides}
    return ["--config", f"{REPO}/launch/configs/hiface.py:tiny"] + [
        f"--config.{k}={'None' if v is None else v}" for k, v in values.items()
    ]


def run_cli(args: list[str], env_extra: dict | None = None, **kwargs) -> subprocess.Popen:
    env = repo_env(**(env_extra or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "launch.train", *args], env=env, cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def saved_state(workdir: pathlib.Path, step: int) -> dict[str, np.ndarray]:
    """The train state saved at ``step`` (flat names -> arrays), read straight from orbax onto this
    process's first device (the run may have saved it from other devices or processes)."""
    import jax

    path = pathlib.Path(workdir) / "checkpoints" / str(step) / "state"
    checkpointer = ocp.StandardCheckpointer()
    here = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    saved = dict(checkpointer.metadata(path).item_metadata)
    target = {k: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=here) for k, m in saved.items()}
    restored = checkpointer.restore(path, target)
    return {k: np.asarray(v) for k, v in restored.items()}


def assert_same_state(a: dict, b: dict, **tolerance) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if tolerance:
            np.testing.assert_allclose(value, b[key], err_msg=key, **tolerance)
        else:
            np.testing.assert_array_equal(value, b[key], err_msg=key)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """The uninterrupted micro run (4 steps, checkpoints at 2 and 4), trained in this process."""
    from launch import train

    workdir = tmp_path_factory.mktemp("reference")
    messages = []
    result = train.train(micro_config(), workdir, log=messages.append)
    assert result["status"] == "finished" and result["step"] == 4, messages
    return workdir


@pytest.fixture(scope="session")
def micro_shards(tmp_path_factory) -> tuple[str, str]:
    """16 synthetic samples with the micro config's generator settings (seed 5: neither a training
    nor the held-out seed), as TFDS shards of 8: (data_dir, dataset name) for ``synthetic_source='shards'``."""
    import dataclasses

    from hiface_jax.data.datasets import hiface_synthetic
    from hiface_jax.model import batches

    fields = dataclasses.asdict(batches.synthetic_config(micro_config()))
    del fields["seed"]
    config = hiface_synthetic.synthetic_builder_config(16, chunk_size=8, samples_per_shard=8, seed=5, **fields)
    data_dir = tmp_path_factory.mktemp("shards")
    hiface_synthetic.HifaceSynthetic(config=config, data_dir=str(data_dir)).download_and_prepare()
    return str(data_dir), f"hiface_synthetic/{config.name}"
