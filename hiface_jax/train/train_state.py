"""The train state: a HiFace model and its optimizer, split into what training changes and what it only reads.

    graphdef, constants, state = create(config)
    model, optimizer = nnx.merge(graphdef, constants, state)

``state`` holds every variable but the constants: ``nnx.Param`` (and any other learned
or running variable) and the optimizer's moments and step. ``constants`` are the
``CONSTANTS`` variable types: the face model, UV geometry, albedo layout
(``hiface.ModelConst``) and the frozen parts of SD-DeTail (``detail.DetailConst``). They
are rebuilt from the face model and the config on every start, so checkpoints hold only
``state`` (and nothing derived from ICT-FaceKit).
"""

from __future__ import annotations

import ml_collections
from flax import nnx

from hiface_jax.face import face_model as fm
from hiface_jax.model import hiface
from hiface_jax.sddetail import detail
from hiface_jax.train import optim

CONSTANTS = (hiface.ModelConst, detail.DetailConst)


def split(model: hiface.HiFace, optimizer: nnx.Optimizer) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """(graphdef, constants, state) of a model and its optimizer."""
    return nnx.split((model, optimizer), CONSTANTS, ...)


def create(
    config: ml_collections.ConfigDict, face_model: fm.FaceModel | None = None
) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """A freshly initialised model (seed ``config.train.seed``) and optimizer, split by ``split``."""
    model = hiface.build_model(config, rngs=nnx.Rngs(config.train.seed), face_model=face_model)
    optimizer = nnx.Optimizer(
        model, optim.make_optimizer(config.train, hiface.parameter_labels, hiface.DETAIL_MAP_LR_SCALE), wrt=nnx.Param
    )
    return split(model, optimizer)


def merge(graphdef: nnx.GraphDef, constants: nnx.State, state: nnx.State) -> tuple[hiface.HiFace, nnx.Optimizer]:
    """The inverse of ``split``."""
    return nnx.merge(graphdef, constants, state)
