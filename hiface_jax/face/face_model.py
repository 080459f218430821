"""The linear face model (ICT-FaceKit): shape = mean + identity_basis . beta + expression_basis . psi.

``FaceModel`` is a pytree, so it can be passed through ``jax.jit`` and sharded like any
other parameter. Units are those of ICT-FaceKit: centimetres.

Identity scaling: upstream stores each identity mode as the mesh at +1 standard
deviation (its own sampler draws weights from N(0, 1)); we keep that, so beta ~ N(0, I)
is a plausible face. ``tests/test_face_model.py`` checks the spread of random faces
against the stored modes and ``launch/face_model_report.py`` draws it.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
from flax import struct

from hiface_jax.face import ict_facekit
from hiface_jax.validation import check_array

# Regions the coarse reconstruction uses: the skin of face, head and neck. Eyeballs,
# mouth interior, teeth and lashes are separate shells whose UVs overlap the face tile;
# leaving them out keeps one UV tile and one closed-ish skin surface (docs/ARCHITECTURE.md).
COARSE_REGIONS = ("face", "head_neck")


@struct.dataclass
class FaceModel:
    """Arrays of the linear face model. V vertices, F triangles, T UV coordinates.

    Attributes:
      mean_shape: (V, 3) neutral mesh, cm.
      identity_basis: (K_id, V, 3) offsets per unit identity coefficient.
      expression_basis: (K_exp, V, 3) offsets of each ARKit-named expression shape.
      triangles: (F, 3) vertex indices; quads split (a,b,c),(a,c,d).
      uv_coords: (T, 2) per-corner texture coordinates (OBJ convention: v points up).
      uv_triangles: (F, 3) indices into uv_coords, parallel to ``triangles``.
      landmark_indices: (68,) vertex indices of the Multi-PIE 68 landmarks.
      vertex_ids: (V,) index of each vertex in the full published topology.
      expression_names: ARKit names of the expression shapes.
    """

    mean_shape: jnp.ndarray
    identity_basis: jnp.ndarray
    expression_basis: jnp.ndarray
    triangles: jnp.ndarray
    uv_coords: jnp.ndarray
    uv_triangles: jnp.ndarray
    landmark_indices: jnp.ndarray
    vertex_ids: jnp.ndarray
    expression_names: tuple[str, ...] = struct.field(pytree_node=False)

    @property
    def num_vertices(self) -> int:
        return self.mean_shape.shape[0]

    @property
    def num_identity(self) -> int:
        return self.identity_basis.shape[0]

    @property
    def num_expression(self) -> int:
        return self.expression_basis.shape[0]

    def expression_index(self, name: str) -> int:
        """Index of an ARKit expression name, e.g. ``'mouthSmile_L'``."""
        try:
            return self.expression_names.index(name)
        except ValueError:
            raise KeyError(f"unknown expression {name!r}; known: {', '.join(self.expression_names)}") from None

    def region_vertices(self, region: str) -> np.ndarray:
        """Indices (into this model's vertices) of a named region of the published topology."""
        if region not in ict_facekit.REGION_RANGES:
            raise KeyError(f"unknown region {region!r}; known: {', '.join(ict_facekit.REGION_RANGES)}")
        start, stop = ict_facekit.REGION_RANGES[region]
        ids = np.asarray(self.vertex_ids)
        return np.nonzero((ids >= start) & (ids < stop))[0]

    def submesh(self, *regions: str) -> "FaceModel":
        """The model restricted to the union of named regions (default: COARSE_REGIONS).

        Keeps vertex order, drops triangles with a vertex outside, and remaps indices.
        Landmarks must all lie inside the kept vertices.
        """
        regions = regions or COARSE_REGIONS
        keep = np.unique(np.concatenate([self.region_vertices(r) for r in regions]))
        remap = np.full(self.num_vertices, -1, np.int64)
        remap[keep] = np.arange(keep.size)
        tris = np.asarray(self.triangles)
        tri_keep = (remap[tris] >= 0).all(axis=1)
        lmk = remap[np.asarray(self.landmark_indices)]
        if (lmk < 0).any():
            raise ValueError(f"regions {regions} do not contain all 68 landmark vertices")
        uv_tris = np.asarray(self.uv_triangles)[tri_keep]
        uv_used, uv_tris = np.unique(uv_tris, return_inverse=True)
        return FaceModel(
            mean_shape=jnp.asarray(np.asarray(self.mean_shape)[keep]),
            identity_basis=jnp.asarray(np.asarray(self.identity_basis)[:, keep]),
            expression_basis=jnp.asarray(np.asarray(self.expression_basis)[:, keep]),
            triangles=jnp.asarray(remap[tris[tri_keep]].astype(np.int32)),
            uv_coords=jnp.asarray(np.asarray(self.uv_coords)[uv_used]),
            uv_triangles=jnp.asarray(uv_tris.reshape(-1, 3).astype(np.int32)),
            landmark_indices=jnp.asarray(lmk.astype(np.int32)),
            vertex_ids=jnp.asarray(np.asarray(self.vertex_ids)[keep]),
            expression_names=self.expression_names,
        )


def load_face_model(path: str | os.PathLike | None = None, num_identity: int = 100, progress: bool = True) -> FaceModel:
    """Loads ICT-FaceKit (full published topology, 26,719 vertices).

    Args:
      path: the repository ZIP or an unpacked copy; None looks at ``$HIFACE_ICT_DIR``,
        then ``../shared/ict-facekit/`` beside the repository.
      num_identity: keep the first K identity modes (1..100).
      progress: progress bar while converting on first use (cached afterwards).
    Raises:
      ict_facekit.FaceModelSourceError: missing, partial or corrupt files; the message
        names the member and says where the public model can be had.
    """
    if not 1 <= num_identity <= ict_facekit.NUM_IDENTITIES:
        raise ValueError(f"num_identity must be in 1..{ict_facekit.NUM_IDENTITIES}, got {num_identity}")
    a = ict_facekit.load_arrays(path, progress=progress)
    return FaceModel(
        mean_shape=jnp.asarray(a["mean_shape"]),
        identity_basis=jnp.asarray(a["identity_basis"][:num_identity]),
        expression_basis=jnp.asarray(a["expression_basis"]),
        triangles=jnp.asarray(a["triangles"]),
        uv_coords=jnp.asarray(a["uv_coords"]),
        uv_triangles=jnp.asarray(a["uv_triangles"]),
        landmark_indices=jnp.asarray(a["landmark_indices"]),
        vertex_ids=jnp.arange(a["mean_shape"].shape[0], dtype=jnp.int32),
        expression_names=tuple(str(n) for n in a["expression_names"]),
    )


def shape(model: FaceModel, identity: jnp.ndarray, expression: jnp.ndarray) -> jnp.ndarray:
    """Vertices of the face with the given coefficients; batched over leading axes.

    Args:
      model: the face model.
      identity: (..., K_id) identity coefficients beta (N(0, 1) is a plausible face).
      expression: (..., K_exp) expression weights psi (ARKit convention, 0..1 each).
    Returns:
      (..., V, 3) vertices in cm.
    """
    check_array("identity", identity, (model.num_identity,))
    check_array("expression", expression, (model.num_expression,))
    return _combine(model.mean_shape, model.identity_basis, model.expression_basis, identity, expression)


def shape_at(model: FaceModel, identity: jnp.ndarray, expression: jnp.ndarray, vertices: jnp.ndarray) -> jnp.ndarray:
    """(..., N, 3) only the given vertices (N,) of ``shape``: landmark losses evaluate 68
    rows of the bases instead of the whole mesh."""
    check_array("identity", identity, (model.num_identity,))
    check_array("expression", expression, (model.num_expression,))
    take = lambda a: jnp.take(a, vertices, axis=-2)
    return _combine(
        take(model.mean_shape), take(model.identity_basis), take(model.expression_basis), identity, expression
    )


def _combine(mean, identity_basis, expression_basis, identity, expression) -> jnp.ndarray:
    return (
        mean
        + jnp.einsum("...k,kvc->...vc", identity, identity_basis)
        + jnp.einsum("...k,kvc->...vc", expression, expression_basis)
    )


def neutral_shape(model: FaceModel, identity: jnp.ndarray) -> jnp.ndarray:
    """(..., V, 3) the identity's rest mesh: the reference for mesh tension."""
    check_array("identity", identity, (model.num_identity,))
    return model.mean_shape + jnp.einsum("...k,kvc->...vc", identity, model.identity_basis)
