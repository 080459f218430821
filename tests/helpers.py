"""Small helpers the tests share: the repository root, a free port, a subprocess environment."""

from __future__ import annotations

import os
import pathlib
import socket

REPO = pathlib.Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on now (for a coordinator or a web server of a test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def repo_env(**extra: str) -> dict[str, str]:
    """This process's environment with the repository importable, plus ``extra``: for the
    real subprocesses the tests start (``python -m launch.…``, multi-process runs)."""
    return dict(os.environ, PYTHONPATH=str(REPO), **extra)
