"""Shared fixtures: the real ICT-FaceKit model, loaded once per test session."""

from __future__ import annotations

import pytest

from hiface_jax import face_model as fm


@pytest.fixture(scope="session")
def face_model() -> fm.FaceModel:
    """Full published topology (26,719 vertices)."""
    return fm.load_face_model(progress=False)


@pytest.fixture(scope="session")
def coarse_model(face_model) -> fm.FaceModel:
    """Face + head/neck skin, the part the coarse reconstruction uses."""
    return face_model.submesh()
