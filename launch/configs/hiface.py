"""HiFace training configs: ``--config launch/configs/hiface.py:<preset>``.

    python -m launch.train --config launch/configs/hiface.py:tiny --workdir DIR --config.train.steps=300

Presets (``model`` / ``loss`` / ``data`` come from ``hiface_jax.model.config``; ``train``
is the trainer's):
  tiny  CPU, minutes: the small encoder at 96 px, UV 64, synthetic faces drawn on device.
  base  one GPU: ResNet-50 at 224 px, UV 256, batch 256, bf16 compute, half real photos.
  pod   many hosts (TPU pod / GPU cluster): base's model at batch 4096, longer schedule.
"""

from __future__ import annotations

from ml_collections import ConfigDict

from hiface_jax.model import config as model_config


def train_config(preset: str) -> ConfigDict:
    """The trainer's section (``launch/train.py`` reads it; ``validate`` checks it).

    Fields:
      steps: optimizer steps of the whole run (a resumed run continues to it).
      batch_size: global batch (all processes and devices together).
      lr, warmup_steps, lr_end_factor: AdamW peak rate, linear warm-up, cosine end as a
        fraction of the peak (``hiface_jax.train.optim``).
      b1, b2, weight_decay, grad_clip: AdamW and global-norm clipping (<= 0: none).
      seed: initialisation, synthetic draws and shuffling.
      checkpoint_every, keep_checkpoints: save interval in steps; how many are kept.
      log_every: steps between metric records; image_every: between image summaries (0: never).
      eval_every, eval_samples, eval_seed: held-out synthetic evaluation (vertex error, mm).
      max_nonfinite_steps: stop after this many skipped (non-finite) steps in a row.
      inject_nonfinite_steps: fault injection, comma-separated steps whose images are made
        NaN (drills of the guard; empty in real runs).
      distributed: call ``jax.distributed.initialize()`` (multi-host; SLURM / TPU find their peers).
      coordinator_address, num_processes, process_id: peers given by hand (e.g. localhost:PORT,
        2, 0 / 1); empty, 0 and -1 leave them to JAX's auto-detection.
      progress: show a progress bar.
    """
    c = ConfigDict()
    c.steps = 300 if preset == "tiny" else (200_000 if preset == "base" else 100_000)
    c.batch_size = {"tiny": 8, "base": 256, "pod": 4096}[preset]
    c.lr = {"tiny": 2e-3, "base": 1e-3, "pod": 4e-3}[preset]
    c.warmup_steps = {"tiny": 20, "base": 2_000, "pod": 2_000}[preset]
    c.lr_end_factor = 0.05
    c.b1 = 0.9
    c.b2 = 0.999
    c.weight_decay = 1e-4
    c.grad_clip = 1.0
    c.seed = 0
    c.checkpoint_every = 50 if preset == "tiny" else 1_000
    c.keep_checkpoints = 3
    c.log_every = 10 if preset == "tiny" else 100
    c.image_every = 100 if preset == "tiny" else 2_000
    c.eval_every = 0 if preset == "tiny" else 5_000
    c.eval_samples = 16 if preset == "tiny" else 256
    c.eval_seed = 1_000_003
    c.max_nonfinite_steps = 5
    c.inject_nonfinite_steps = ""
    c.distributed = preset == "pod"
    c.coordinator_address = ""
    c.num_processes = 0
    c.process_id = -1
    c.progress = True
    return c


def get_config(arg: str | None = None) -> ConfigDict:
    """The full config of a preset (``tiny`` by default)."""
    preset = arg or "tiny"
    config = model_config.full_config(preset)  # raises on an unknown preset, naming the known ones
    config.preset = preset
    config.train = train_config(preset)
    return config
