"""REALY's four regions and 85 keypoints on the ICT-FaceKit topology, built from the mean face.

Nothing here is stored from ICT-FaceKit: the regions and keypoints are computed when the
model is loaded, from the geometry of its mean face and its 68 landmark vertices.
``docs/evaluation_regions.png`` (``launch/evaluation_regions_figure.py``) shows them.

**Face frame.** Origin midway between the outer eye corners (iBUG 36, 45); x from 36 to
45 (the subject's left), y up (nose bridge 27 minus chin 8, made orthogonal to x), z out
of the face; unit d = the outer-eye-corner distance (8.9 cm on the mean face). Frame
coordinates (u, v) below are in units of d.

**Regions** (vertices of the face area, ICT vertices 0..9408, whose vertex normal faces
forwards, n . z > 0.2, so inner lips and eyelid folds are left out):

| region   | rule in the frame (first match wins)                                              |
|----------|-----------------------------------------------------------------------------------|
| nose     | within 0.06 of the outline of landmarks 27-35, and no higher than 27 + 0.02        |
| mouth    | within 0.09 of the outer lip contour 48-59                                          |
| forehead | 0.06 above the brow line (17-26, interpolated across u) up to 0.55 above the highest brow point, abs(u) <= 0.6 |
| cheek    | inside the face outline (jaw contour 0-16 and brows) by 0.10, from 0.10 below the lowest lower-eyelid point down to 0.10 below the mouth corners, farther than 0.10 from the nose outline and 0.12 from the lip contour |

**Keypoints**: the 68 iBUG landmark vertices, then 17 more placed the way REALY's
templates place them (REALY's README: "we extend 68 keypoints to 85 with additional
keypoints in the facial cheek"), by our own rule: a point between two landmarks
(fraction t) plus an offset (du, dv) in the face frame, projected onto the mean face
along -z. Mirrored pairs are (subject's right, left):

| keypoints | where                              | rule                                      |
|-----------|------------------------------------|-------------------------------------------|
| 68, 69    | under the eyes                     | mid lower lid (40-41 / 47-46), dv -0.12   |
| 70, 71    | beside the nose wings              | 31 / 35, du -+0.14, dv +0.09              |
| 72, 73    | beside the mouth corners           | 48 / 54, du -+0.17, dv +0.05              |
| 74, 75    | beside the outer eye corners       | 36 / 45, du -+0.20, dv -0.15              |
| 76, 77    | cheekbones                         | halfway 36-48 / 45-54, du -+0.18          |
| 78-80     | chin below the lower lip           | 35 % of the way 58->7, 57->8, 56->9       |
| 81, 82    | outer cheeks                       | 15 % from mid 1-2 / 15-14 towards 30      |
| 83, 84    | lower cheeks                       | 20 % from 3 / 13 towards 48 / 54          |

Keypoints are barycentric points on triangles of the skin (vertex triples + weights),
so they follow any mesh in the topology.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib.path import Path as Polygon

from hiface_jax.evaluation.surface import Surface
from hiface_jax.face import ict_facekit
from hiface_jax.face.face_model import COARSE_REGIONS, FaceModel
from rendering.normals import vertex_normals

REGIONS = ("nose", "mouth", "forehead", "cheek")
NUM_KEYPOINTS = 85
# REALY's global similarity: outer and inner eye corners, nose base, mouth corners.
SEVEN_KEYPOINTS = (36, 39, 42, 45, 33, 48, 54)
# Keypoints that join each region's rigid ICP (REALY utils/util.py: "nose_part" for the
# nose, which adds the nose-wing keypoints 70, 71; the cheek adds 76, 77).
REGION_KEYPOINTS = {
    "nose": (27, 28, 29, 30, 31, 32, 33, 34, 35, 70, 71),
    "mouth": (48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 64),
    "forehead": (36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26),
    "cheek": (48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 64, 76, 77, 36, 41, 40, 39, 42, 47, 46, 45, 7, 8, 9),
}
# Keypoints that steer the correspondence deformation (REALY evaluates the cheek without).
DEFORMATION_KEYPOINTS = {
    "nose": (27, 28, 29, 30, 31, 32, 33, 34, 35),
    "mouth": REGION_KEYPOINTS["mouth"],
    "forehead": REGION_KEYPOINTS["forehead"],
    "cheek": (),
}

# (landmark a, landmark b, t, du, dv) for keypoints 68..84: (1 - t) L_a + t L_b + (du, dv).
_EXTRA_KEYPOINTS = (
    (40, 41, 0.5, 0.0, -0.12), (47, 46, 0.5, 0.0, -0.12),
    (31, 31, 0.0, -0.14, 0.09), (35, 35, 0.0, 0.14, 0.09),
    (48, 48, 0.0, -0.17, 0.05), (54, 54, 0.0, 0.17, 0.05),
    (36, 36, 0.0, -0.20, -0.15), (45, 45, 0.0, 0.20, -0.15),
    (36, 48, 0.5, -0.18, 0.0), (45, 54, 0.5, 0.18, 0.0),
    (58, 7, 0.35, 0.0, 0.0), (57, 8, 0.35, 0.0, 0.0), (56, 9, 0.35, 0.0, 0.0),
    ((1, 2), 30, 0.15, 0.0, 0.0), ((15, 14), 30, 0.15, 0.0, 0.0),
    (3, 48, 0.2, 0.0, 0.0), (13, 54, 0.2, 0.0, 0.0),
)  # fmt: skip
_FRONT_FACING = 0.2  # minimum n . z of a region vertex
_NOSE, _MOUTH = range(27, 36), range(48, 60)
_JAW, _BROWS = range(17), range(17, 27)


@dataclasses.dataclass(frozen=True)
class FaceRegions:
    """Regions and keypoints on the skin of the ICT topology (its first V_s = 11,248 vertices).

    Attributes:
      labels: (V_s,) int8, index into ``REGIONS`` per skin vertex, -1 outside all four.
      keypoint_vertices: (85, 3) vertex indices of the triangle holding each keypoint.
      keypoint_weights: (85, 3) barycentric weights.
      skin_triangles: (F_s, 3) triangles of the skin (the surface predictions are scored on).
    """

    labels: np.ndarray
    keypoint_vertices: np.ndarray
    keypoint_weights: np.ndarray
    skin_triangles: np.ndarray

    @property
    def num_vertices(self) -> int:
        return len(self.labels)

    def keypoints(self, vertices: np.ndarray) -> np.ndarray:
        """(..., 85, 3) keypoints of a mesh (..., V, 3) in this topology (V >= V_s)."""
        v = np.asarray(vertices, np.float64)
        return np.einsum("...kjc,kj->...kc", v[..., self.keypoint_vertices, :], self.keypoint_weights)

    def mask(self, region: str) -> np.ndarray:
        """(V_s,) bool, the vertices of one region."""
        return self.labels == REGIONS.index(region)


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin (3,), axes (3, 3) as rows x, y, z, and unit d of the face frame of (68, 3) landmarks."""
    lmk = np.asarray(landmarks, np.float64)
    origin = 0.5 * (lmk[36] + lmk[45])
    x = lmk[45] - lmk[36]
    d = float(np.linalg.norm(x))
    x = x / d
    y = lmk[27] - lmk[8]
    y = y - x * (y @ x)
    y = y / np.linalg.norm(y)
    return origin, np.stack([x, y, np.cross(x, y)]), d


def polygon_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) signed distance of 2D points (N, 2) to a closed polygon (P, 2): < 0 inside."""
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    ab = b - a
    t = np.clip(np.einsum("npc,pc->np", points[:, None] - a, ab) / np.maximum((ab**2).sum(1), 1e-12), 0.0, 1.0)
    dist = np.linalg.norm(points[:, None] - (a + t[..., None] * ab), axis=-1).min(1)
    inside = Polygon(polygon).contains_points(points)
    return np.where(inside, -dist, dist)


def _hull(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull

    return points[ConvexHull(points).vertices]


def region_labels(uv: np.ndarray, front: np.ndarray, lmk: np.ndarray) -> np.ndarray:
    """(V,) labels from vertex frame coordinates (V, 2), a front-facing mask (V,) and
    landmark frame coordinates (68, 2); the rules of the module docstring."""
    u, v = uv[:, 0], uv[:, 1]
    nose_d = polygon_distance(uv, _hull(lmk[list(_NOSE)]))
    lips_d = polygon_distance(uv, lmk[list(_MOUTH)])
    brows = lmk[list(_BROWS)]
    order = np.argsort(brows[:, 0])
    brow_line = np.interp(u, brows[order, 0], brows[order, 1])
    outline = np.concatenate([lmk[list(_JAW)], lmk[list(_BROWS)][::-1]])
    lower_lids = lmk[[40, 41, 46, 47], 1].min()
    mouth_corners = lmk[[48, 54], 1].min()

    nose = (nose_d <= 0.06) & (v <= lmk[27, 1] + 0.02)
    mouth = lips_d <= 0.09
    forehead = (v >= brow_line + 0.06) & (v <= brows[:, 1].max() + 0.55) & (np.abs(u) <= 0.6)
    cheek = (
        (polygon_distance(uv, outline) <= -0.10)
        & (v <= lower_lids - 0.10)
        & (v >= mouth_corners - 0.10)
        & (nose_d > 0.10)
        & (lips_d > 0.12)
    )
    labels = np.full(len(uv), -1, np.int8)
    for k, member in reversed(list(enumerate((nose, mouth, forehead, cheek)))):
        labels[member & front] = k
    return labels


def face_regions(model: FaceModel) -> FaceRegions:
    """Regions and keypoints from the model's mean face (full topology or any submesh that
    holds the skin, ``face_model.COARSE_REGIONS``)."""
    skin = model.submesh(*COARSE_REGIONS)
    if not np.array_equal(np.asarray(skin.vertex_ids), np.arange(skin.num_vertices)):
        raise ValueError("the skin must be the prefix of the ICT topology (model.vertex_ids 0..V_s-1)")
    mean = np.asarray(skin.mean_shape, np.float64)
    tris = np.asarray(skin.triangles)
    lmk3 = mean[np.asarray(skin.landmark_indices)]
    origin, axes, d = face_frame(lmk3)
    frame = lambda p: (p - origin) @ axes.T / d
    normals = np.asarray(vertex_normals(mean, tris), np.float64)
    start, stop = ict_facekit.REGION_RANGES["face"]
    in_face = (np.arange(len(mean)) >= start) & (np.arange(len(mean)) < stop)
    front = in_face & (normals @ axes[2] > _FRONT_FACING)
    labels = region_labels(frame(mean)[:, :2], front, frame(lmk3)[:, :2])

    # Keypoints: the 68 landmark vertices, then the 17 extras cast onto the face area.
    lmk_uv = frame(lmk3)[:, :2]
    pick = lambda a: lmk_uv[list(a)].mean(0) if isinstance(a, tuple) else lmk_uv[a]
    extra_uv = np.array([(1 - t) * pick(a) + t * pick(b) + (du, dv) for a, b, t, du, dv in _EXTRA_KEYPOINTS])
    face_tris = tris[in_face[tris].all(1)]
    hits = Surface(mean, face_tris).cast_rays(
        origin + d * (extra_uv @ axes[:2] + 2.0 * axes[2]), np.broadcast_to(-axes[2], (len(extra_uv), 3))
    )
    if (hits.triangles < 0).any():
        raise ValueError(f"keypoints {68 + np.nonzero(hits.triangles < 0)[0]} missed the mean face")
    lmk_ids = np.asarray(skin.landmark_indices, np.int64)
    kp_vertices = np.concatenate([np.stack([lmk_ids] * 3, 1), face_tris[hits.triangles]])
    kp_weights = np.concatenate([np.tile([1.0, 0.0, 0.0], (68, 1)), hits.weights])
    return FaceRegions(labels, kp_vertices.astype(np.int64), kp_weights, tris.astype(np.int64))


def subdivided_labels(labels: np.ndarray, corner_vertices: np.ndarray, corner_weights: np.ndarray) -> np.ndarray:
    """(Vd,) labels of a subdivided mesh (``detail.Subdivision``): a dense vertex takes
    the label its coarse corners share; one between regions gets -1.

    Args:
      labels: (V,) coarse labels.
      corner_vertices, corner_weights: (Vd, 3) coarse corners and barycentric weights.
    """
    lab = np.asarray(labels)[np.asarray(corner_vertices)]
    w = np.asarray(corner_weights)
    top = lab[np.arange(len(lab)), w.argmax(1)]
    agree = ((lab == top[:, None]) | (w <= 0)).all(1)
    return np.where(agree, top, -1).astype(np.int8)
