"""Process set-up of the commands: quiet logs and JAX's persistent compilation cache.

Quiet runs: no TPU-probe, LiteRT or absl INFO lines on a normal run; ``--verbose`` keeps them.

Python-side noise (JAX's backend probe) goes through absl / ``logging`` and is filtered by
level. MediaPipe's C++ (LiteRT, glog) writes straight to file descriptor 2, below Python,
so while it runs descriptor 2 is pointed at /dev/null (``silenced_stderr``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from hiface_jax.photo import landmark_detector as ld

# The detector's own threshold is 0.5; on upscaled or huge photos its tiles then find
# "faces" in textures (0.52-0.55 on a 4800 px astronaut) while real faces score > 0.9.
MIN_SCORE = 0.7


def configure(verbose: bool) -> None:
    """Sets log levels and the compilation cache; call before JAX initialises its backends.

    Compiled programs are kept in ``$JAX_COMPILATION_CACHE_DIR`` (default
    ``~/.cache/hiface/jax_cache``), so a second run skips most compilation.
    """
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # XLA's C++ INFO lines (MediaPipe ignores it)
    import jax

    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR", str(Path.home() / ".cache" / "hiface" / "jax_cache"))
    jax.config.update("jax_compilation_cache_dir", cache)  # env vars are read at import; this works after
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    if verbose:
        return
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)  # also the libraries' warnings (orbax: "read only")
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


@contextlib.contextmanager
def silenced_stderr(enabled: bool = True):
    """Points descriptor 2 at /dev/null inside the block (Python's own writes included)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class QuietDetector:
    """``FaceLandmarkDetector`` whose native log lines are dropped unless ``verbose``."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        with silenced_stderr(not verbose):
            self._detector = ld.FaceLandmarkDetector()

    def detect(self, image):
        with silenced_stderr(not self.verbose):
            return self._detector.detect(image)

    def close(self) -> None:
        with silenced_stderr(not self.verbose):
            self._detector.close()

    def __enter__(self) -> QuietDetector:  # noqa: PYI034 (a final class)
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
