"""tiny learns: held-out terms go down.

Two runs. The first trains on stored shards (20 steps of 4 faces from 16 stored samples;
held-out faces drawn on the device from another seed) and checks the photometric terms, which
light and albedo lower within tens of steps. The second is the shape test: 150 steps of 16
faces drawn on the device, whose held-out vertex error falls along with every data term.
Shape needs thousands of distinct faces (BENCHMARKS.md, "Learning on CPU"), which the device
sampler gives; 20 steps on 16 stored faces only move the identity head's first steps."""

import numpy as np
from conftest import micro_config

from hiface_jax.model import config as model_config
from launch import train

STEPS = 20


def test_tiny_lowers_the_heldout_photometric_terms(tmp_path, micro_shards):
    data_dir, name = micro_shards
    config = micro_config(
        **{
            "data.synthetic_source": "shards",
            "data.data_dir": data_dir,
            "data.synthetic_name": name,
            "train.steps": STEPS,
            "train.warmup_steps": 5,
            "train.eval_every": STEPS,
            "train.eval_samples": 8,
            "train.checkpoint_every": STEPS,
            "train.image_every": 0,
            "train.log_every": 10,
        }
    )
    result = train.train(config, tmp_path, log=lambda m: None)
    before, after = result["eval_initial"], result["eval"]
    for term in ("photometric_coarse", "photometric_detail"):
        assert after[f"eval/{term}"] < 0.8 * before[f"eval/{term}"], (term, before, after)
    assert set(after) == set(before) >= {"eval/vertex", "eval/landmark", "eval/coefficients"}
    assert all(np.isfinite(v) for v in after.values()), after


VERTEX_STEPS = 150


def test_tiny_lowers_every_heldout_term_and_the_vertex_error(tmp_path):
    """The issue's learning test: ``tiny`` (small encoder, 64 px) trained for 150 steps of 16
    faces drawn on the device (2,400 distinct faces: repeats are memorised, see BENCHMARKS.md
    "Learning on CPU"), synthetic supervision with the vertex term weighted up (10) and the
    coefficient term down (0.1), lowers the held-out vertex error (32 faces from ``eval_seed``)
    and every other held-out data term. Measured: vertex 3.154 -> 3.120 mm (with seed 1: 3.136;
    both rose to 3.21-3.23 at step 50 before falling), coefficients 4.09 -> 3.94, landmark
    0.0139 -> 0.0094, photometric 0.438 -> 0.209, eye and lip closure and dynamic detail down,
    static detail held (0.00342 -> 0.00344). About 2.3 minutes on two CPU cores."""
    config = micro_config(
        **{
            "train.batch_size": 16,
            "train.steps": VERTEX_STEPS,
            "train.eval_every": VERTEX_STEPS,
            "train.eval_samples": 32,
            "train.checkpoint_every": VERTEX_STEPS,
            "train.image_every": 0,
            "train.log_every": 50,
            "loss.vertex": 10.0,
            "loss.coefficients": 0.1,
            "loss.photometric_coarse": 0.0,
            "loss.photometric_detail": 0.0,
        }
    )
    result = train.train(config, tmp_path, log=lambda m: None)
    before, after = result["eval_initial"], result["eval"]
    assert after["eval/vertex"] < before["eval/vertex"], (before, after)
    for term in ("coefficients", "landmark", "photometric_coarse", "photometric_detail"):
        assert after[f"eval/{term}"] < before[f"eval/{term}"], (term, before, after)
    # The data terms; the priors and regularisers start at 0 (zero codes) and can only rise.
    for term in model_config.SYNTHETIC_TERMS + model_config.IMAGE_TERMS:
        assert after[f"eval/{term}"] <= before[f"eval/{term}"] + 1e-4, (term, before, after)
