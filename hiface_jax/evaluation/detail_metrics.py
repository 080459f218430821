"""Detail errors in the wrinkle regions: displacement (mm) and normal angle (degrees).

Detail is compared in UV space on the ground truth's own coarse surface, so that only
the detail differs: for a part D (static D_s, dynamic D_d = D - D_s, or the total D),
the predicted and true maps displace the same coarse mesh, their detailed normal maps
come from ``detail.detailed_normal_map``, and per wrinkle region

    displacement error = mean |D_pred - D_true| (mm),
    normal error       = mean angle between the two normal maps (degrees),

over the region's texels. Wrinkle regions, from the mean face in the face frame of
``regions`` (units d, the outer-eye-corner distance), rasterised into UV:

| region      | rule                                                                         |
|-------------|------------------------------------------------------------------------------|
| forehead    | 0.02 above the brow line to 0.45 above the highest brow point, abs(u) <= 0.6 |
| crows_feet  | beside the outer eye corners: 0.5 <= abs(u) <= 0.78, -0.16 <= v <= 0.12       |
| nasolabial  | within 0.06 of the bowed line from above the nose wing (31 / 35 + 0.045 out, 0.05 up) through 0.04 out from the middle to beside the mouth corner (48 / 54 + 0.08 out, 0.045 down), where the procedural scans draw the fold |

A method without detail is scored with zero maps: the floor for detail. A method that
returns only the total D (no static part) is scored on the total only.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax.evaluation import regions as regions_lib
from hiface_jax.face.face_model import FaceModel
from hiface_jax.geometry import uv
from hiface_jax.sddetail import detail
from rendering.normals import vertex_normals

WRINKLE_REGIONS = ("forehead", "crows_feet", "nasolabial")
PARTS = ("static", "dynamic", "total")


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip((points - a) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def wrinkle_vertex_masks(model: FaceModel) -> dict[str, np.ndarray]:
    """(V,) bool per wrinkle region over the skin's vertices (rules of the module docstring)."""
    skin = model.submesh()
    mean = np.asarray(skin.mean_shape, np.float64)
    lmk3 = mean[np.asarray(skin.landmark_indices)]
    origin, axes, d = regions_lib.face_frame(lmk3)
    f = ((mean - origin) @ axes.T / d)[:, :2]
    lmk = ((lmk3 - origin) @ axes.T / d)[:, :2]
    normals = np.asarray(vertex_normals(mean, np.asarray(skin.triangles)))
    front = (normals @ axes[2] > 0.0) & np.isin(np.arange(len(mean)), skin.region_vertices("face"))
    u, v = f[:, 0], f[:, 1]
    brows = lmk[17:27]
    order = np.argsort(brows[:, 0])
    brow_line = np.interp(u, brows[order, 0], brows[order, 1])
    forehead = (v >= brow_line + 0.02) & (v <= brows[:, 1].max() + 0.45) & (np.abs(u) <= 0.6)
    crows = (np.abs(u) >= 0.5) & (np.abs(u) <= 0.78) & (v >= -0.16) & (v <= 0.12)
    naso = np.zeros(len(f), bool)
    for wing, corner, side in ((31, 48, -1.0), (35, 54, 1.0)):
        a = lmk[wing] + (side * 0.045, 0.05)
        b = lmk[corner] + (side * 0.08, -0.045)
        bow = 0.5 * (a + b) + (side * 0.04, 0.0)  # the fold bows out over the cheek
        naso |= np.minimum(_segment_distance(f, a, bow), _segment_distance(f, bow, b)) <= 0.06
    return {"forehead": forehead & front, "crows_feet": crows & front, "nasolabial": naso & front}


@dataclasses.dataclass(frozen=True)
class DetailTopology:
    """UV geometry of the skin at the ground truth's detail resolution, and region masks.

    Attributes:
      geometry: ``detail.DetailGeometry`` of the skin.
      masks: region -> (H, W) bool texels of the region (covered texels only).
    """

    geometry: detail.DetailGeometry
    masks: dict[str, np.ndarray]


def detail_topology(model: FaceModel, resolution: int) -> DetailTopology:
    skin = model.submesh()
    geometry = detail.detail_geometry(skin, resolution)
    covered = np.asarray(geometry.raster.covered)
    masks = {}
    for name, member in wrinkle_vertex_masks(model).items():
        texels = np.asarray(
            uv.to_uv_map(jnp.asarray(member, jnp.float32)[:, None], geometry.triangles, geometry.raster)
        )
        masks[name] = (texels[..., 0] > 0.5) & covered
    return DetailTopology(geometry, masks)


@jax.jit
def _normal_angles(vertices, predicted, true, geometry):
    n_pred, _ = detail.detailed_normal_map(vertices, predicted, geometry)
    n_true, _ = detail.detailed_normal_map(vertices, true, geometry)
    # atan2 of |cross| and dot: exact near 0 degrees, where arccos of a float32 dot is not.
    sin = jnp.linalg.norm(jnp.cross(n_pred, n_true), axis=-1)
    return jnp.degrees(jnp.arctan2(sin, jnp.sum(n_pred * n_true, axis=-1)))


def _resize(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x if x.shape == shape else np.asarray(jax.image.resize(x, shape, "linear"))


def detail_errors(
    topo: DetailTopology,
    coarse_vertices: np.ndarray,
    true_static: np.ndarray,
    true_dynamic: np.ndarray,
    predicted: np.ndarray | None,
    predicted_static: np.ndarray | None = None,
) -> dict[str, float]:
    """Errors per part and region: ``{part}_{region}_displacement_mm`` and ``..._normal_deg``.

    Args:
      coarse_vertices: (V_s, 3) the ground truth's coarse skin, cm.
      true_static, true_dynamic: (H, W) cm, the ground truth's detail parts.
      predicted: (H', W') cm total displacement, or None (no detail: zeros).
      predicted_static: (H', W') cm its static part, if the method gives it.
    Returns:
      floats; region "all" is the union of the three. Parts a method cannot separate
      are left out.
    """
    shape = tuple(np.shape(true_static))
    none = predicted is None
    total = np.zeros(shape, np.float32) if none else _resize(predicted, shape)
    static = (
        np.zeros(shape, np.float32) if none else None if predicted_static is None else _resize(predicted_static, shape)
    )
    parts = {"total": (total, true_static + true_dynamic)}
    if static is not None:
        parts |= {"static": (static, true_static), "dynamic": (total - static, true_dynamic)}
    verts = jnp.asarray(coarse_vertices, jnp.float32)
    masks = topo.masks | {"all": np.any(np.stack(list(topo.masks.values())), axis=0)}
    out = {}
    for part, (pred, true) in parts.items():
        angles = np.asarray(_normal_angles(verts, jnp.asarray(pred), jnp.asarray(true, jnp.float32), topo.geometry))
        error_mm = np.abs(pred - true) * 10.0
        for region, mask in masks.items():
            out[f"{part}_{region}_displacement_mm"] = float(error_mm[mask].mean())
            out[f"{part}_{region}_normal_deg"] = float(angles[mask].mean())
    return out
