"""Export a trained model as a ``jax.export`` artifact (symbolic batch, CPU and CUDA).

    python -m launch.export --checkpoint WORKDIR --output DIR [--platforms cpu,cuda]

The folder (``hiface_jax/app/artifact.py``) runs with ``python -m launch.run_artifact``,
which needs numpy, jax and MediaPipe but neither flax nor this project's model code.
"""

from __future__ import annotations

import sys

from absl import app, flags

from hiface_jax.app import runtime

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Training workdir or checkpoint folder.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Artifact folder (replaced).", required=True)
_PLATFORMS = flags.DEFINE_list("platforms", ["cpu", "cuda"], "Platforms to lower for.")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Keep the JAX / absl log lines.")


def main(argv) -> int:
    del argv
    runtime.configure(_VERBOSE.value)
    from hiface_jax.app import artifact, model_backend

    try:
        model = model_backend.load_model(_CHECKPOINT.value)
        path = artifact.export_model(model, _OUTPUT.value, tuple(_PLATFORMS.value))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"exported {_CHECKPOINT.value} for {', '.join(_PLATFORMS.value)} into {path}")
    print(f"run it: python -m launch.run_artifact --artifact {path} --input PHOTO --output DIR")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
