"""A trained model as a serialized ``jax.export`` artifact that runs without flax or the model code.

Layout of an artifact folder:

  model.jaxexport   ``jax.export`` serialization: images (b, S, S, 3) in [0, 1] with a
                    symbolic batch b, lowered for CPU and CUDA, plus the weights as inputs
  weights.npz       the model's arrays in the order the function takes them (w00000, ...)
  topology.npz      triangles and UVs of the coarse skin and the dense detailed mesh
  meta.json         input size, output names, platforms, versions

The exported function returns the coarse coefficients, SD-DeTail codes, the posed and
rest meshes, the dense detailed mesh, landmarks and detail maps (``OUTPUTS``). Loading
and running (``load``, ``Artifact.__call__``) need numpy and jax only: flax is imported
by ``export_model`` alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

FORMAT_VERSION = 1
PLATFORMS = ("cpu", "cuda")
OUTPUTS = (
    "identity", "expression", "rotation", "translation", "sh", "albedo_base", "albedo_lips", "albedo_brows",
    "albedo_grid", "static_code", "dynamic_code", "rest_vertices", "vertices", "detailed_vertices", "landmarks",
    "displacement", "displacement_static",
)  # fmt: skip


class ArtifactError(ValueError):
    """An artifact folder that cannot be loaded; the message says why."""


def export_model(model, out: str | os.PathLike, platforms: tuple[str, ...] = PLATFORMS) -> Path:
    """Exports a HiFace model (``hiface_jax.model.hiface.HiFace``) into folder ``out``, atomically."""
    from flax import nnx

    from hiface_jax.app.atomic import atomic_folder
    from hiface_jax.sddetail import detail

    fm_model = model.face_model
    tris, uvc, uvt = (np.asarray(x) for x in (fm_model.triangles, fm_model.uv_coords, fm_model.uv_triangles))
    sub = detail.subdivide(tris, uvc, uvt, 1, fm_model.num_vertices)
    graphdef, state = nnx.split(model)
    leaves, treedef = jax.tree.flatten((state, sub))
    tri_ids = model.geometry.get_value().triangles

    def forward(weights, images):
        state_, sub_ = jax.tree.unflatten(treedef, weights)
        out = nnx.merge(graphdef, state_)(images)
        p = out.params
        dense = detail.detailed_mesh(out.rest_vertices, tri_ids, out.displacement, sub_)
        values = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
        values.update(
            static_code=out.static_code, dynamic_code=out.dynamic_code, rest_vertices=out.rest_vertices,
            vertices=out.vertices, detailed_vertices=dense, landmarks=out.landmarks,
            displacement=out.displacement, displacement_static=out.displacement_static,
        )  # fmt: skip
        return {k: values[k] for k in OUTPUTS}

    (b,) = jax.export.symbolic_shape("b")
    s = model.image_size
    specs = [jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype) for x in leaves]
    exported = jax.export.export(jax.jit(forward), platforms=platforms)(
        specs, jax.ShapeDtypeStruct((b, s, s, 3), jnp.float32)
    )
    meta = {
        "format_version": FORMAT_VERSION,
        "image_size": s,
        "fov_degrees": model.fov_degrees,
        "platforms": list(platforms),
        "outputs": list(OUTPUTS),
        "expression_names": list(model.expression_names),
        "num_compress": int(model.sddetail.compress_basis.shape[0]),
        "jax_version": jax.__version__,
        "input": "images (b, S, S, 3) float32 sRGB in [0, 1]: face crops of hiface_jax.photo.preprocess",
    }
    with atomic_folder(out) as tmp:
        (tmp / "model.jaxexport").write_bytes(exported.serialize())
        np.savez(tmp / "weights.npz", **{f"w{i:05d}": np.asarray(x) for i, x in enumerate(leaves)})
        np.savez(
            tmp / "topology.npz", triangles=tris, uv_coords=uvc, uv_triangles=uvt,
            dense_triangles=np.asarray(sub.triangles), dense_uv_coords=np.asarray(sub.uv_coords),
            dense_uv_triangles=np.asarray(sub.uv_triangles),
        )  # fmt: skip
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return Path(out)


@dataclasses.dataclass
class Artifact:
    """A loaded artifact: call it on (B, S, S, 3) float32 images in [0, 1]."""

    exported: jax.export.Exported
    weights: list[jax.Array]
    topology: dict[str, np.ndarray]
    meta: dict

    @property
    def image_size(self) -> int:
        return int(self.meta["image_size"])

    def __call__(self, images: np.ndarray) -> dict[str, jax.Array]:
        s = self.image_size
        x = jnp.asarray(images, jnp.float32)
        if x.ndim != 4 or x.shape[1:] != (s, s, 3):
            raise ValueError(f"images must be (B, {s}, {s}, 3) in [0, 1], got {x.shape}")
        return self.exported.call(self.weights, x)


def load(path: str | os.PathLike) -> Artifact:
    """Reads an artifact folder (numpy and jax only).

    Raises:
      ArtifactError: missing files, another format version, or a damaged serialization.
    """
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"{path}: artifact format {meta.get('format_version')}, expected {FORMAT_VERSION}")
        exported = jax.export.deserialize(bytearray((path / "model.jaxexport").read_bytes()))
        with np.load(path / "weights.npz") as w:
            weights = [jnp.asarray(w[k]) for k in sorted(w.files)]
        with np.load(path / "topology.npz") as t:
            topology = {k: t[k] for k in t.files}
    except ArtifactError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise ArtifactError(f"{path}: not a readable artifact ({type(e).__name__}: {e})") from e
    return Artifact(exported, weights, topology, meta)
