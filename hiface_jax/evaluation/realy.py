"""REALY's region-aware shape error (Chai et al., ECCV 2022; protocol of czh-98/REALY).

For one predicted mesh in the ICT topology (any units, any pose) against one
ground-truth mesh with its 85 keypoints and per-vertex region labels (mm):

1. **Global similarity** from 7 keypoints (eye corners, nose base, mouth corners):
   the prediction is scaled, rotated and moved onto the ground truth (Umeyama).
2. **Rigid ICP per region** (no scale, up to 100 iterations): every ground-truth
   vertex of the region is paired with its closest point on the predicted *surface*
   (point-to-triangle, Open3D), and the region's keypoint pairs join with a weight
   that gives them about half of the total (a fifth for the cheek), as REALY repeats
   them ``N_region / N_keypoints`` times (divided by 4 for the cheek).
3. **Bidirectional correspondence**: the ground-truth region is deformed a little
   towards its closest predicted points (a smooth field, stiff at first, then less,
   steered by the region's keypoints except on the cheek), and re-queried;
   the error of a ground-truth vertex is its distance to the predicted point that its
   deformed copy lands on. A closest point alone lets a vertex match the nearest side
   of a misplaced feature; the smooth deformation makes correspondences move together.

Region error = mean over its ground-truth vertices (mm); "all" = mean of the four
region means. REALY deforms the scan with optimal-step non-rigid ICP (a per-vertex
affine map, Amberg et al. 2007). Here the deformation is a smooth translation field plus
a less smooth offset along the normal, in three coarse-to-fine stages with smoothing
lengths in mm (so the stiffness does not depend on the scan's density), the keypoints
steering the first stage and fading after, as REALY's do. A translation field alone
slides sideways on curved parts and overstated a uniform 0.5 mm normal offset as
0.66-0.75 mm on the nose; with the offset term it scores 0.50 (``tests/evaluation``).
The deformation only chooses which predicted point a vertex is compared with: the
error is always measured from the undeformed ground truth.

Ground truth for a user's scan: ``ground_truth_from_scan`` takes the scan mesh, its 85
keypoints in REALY's order (``regions`` module) and, optionally, its region labels;
without labels they are transferred from the ICT mean face aligned to the scan's 85
keypoints, so every method is scored on the same scan vertices.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import trimesh

from hiface_jax.evaluation import regions as regions_lib
from hiface_jax.evaluation.surface import Surface
from hiface_jax.geometry.procrustes import procrustes

UNITS_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
FULL_TOPOLOGY_VERTICES = 26719


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    """A ground-truth surface in mm.

    Attributes:
      vertices: (N, 3) mm.
      triangles: (M, 3) int.
      labels: (N,) int8, index into ``regions.REGIONS``, -1 for vertices outside all four.
      keypoints: (85, 3) mm, REALY's order (iBUG 68, then the 17 of ``regions``).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    labels: np.ndarray
    keypoints: np.ndarray


@dataclasses.dataclass(frozen=True)
class RealyConfig:
    """Iteration counts, tolerances and weights of the protocol (defaults: REALY's)."""

    icp_iterations: int = 100
    icp_tolerance: float = 1e-6  # change of the weighted mean squared residual, mm^2
    cheek_keypoint_share: float = 0.25  # REALY divides the cheek's keypoint repeat by 4
    # Coarse-to-fine deformation stages: smoothing lengths (mm) of the translation field
    # and of the offset along the normal, and the keypoints' share of the total pull
    # (they steer first, then fade out).
    translation_smoothing_mm: tuple[float, ...] = (20.0, 10.0, 5.0)
    offset_smoothing_mm: tuple[float, ...] = (5.0, 2.0, 1.0)
    keypoint_share: tuple[float, ...] = (1.0, 0.3, 0.1)
    deformation_steps: int = 10
    deformation_tolerance: float = 0.01  # mm, largest change of the deformation
    keypoint_reach: float = 10.0  # mm: a deformation keypoint farther from the region is left out
    align: bool = True  # False: the prediction is already in the ground truth's frame, mm


@dataclasses.dataclass(frozen=True)
class RegionError:
    """Per-vertex errors of one region (mm) and their mean, median and std."""

    errors: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.errors.mean())

    @property
    def median(self) -> float:
        return float(np.median(self.errors))

    @property
    def std(self) -> float:
        return float(self.errors.std())


@dataclasses.dataclass(frozen=True)
class RealyResult:
    """The errors of one predicted mesh.

    Attributes:
      regions: region name -> ``RegionError``.
      vertex_errors: (N,) mm per ground-truth vertex, NaN outside the four regions.
      scale: the global similarity's scale (prediction units -> mm).
    """

    regions: dict[str, RegionError]
    vertex_errors: np.ndarray
    scale: float

    @property
    def all(self) -> float:
        """REALY's "all": the mean of the four region means."""
        return float(np.mean([self.regions[r].mean for r in regions_lib.REGIONS]))

    def summary(self) -> dict[str, float]:
        """Flat JSON-ready numbers: all, <region>_mean / _median / _std (mm)."""
        out = {"all": self.all}
        for name, e in self.regions.items():
            out |= {f"{name}_mean": e.mean, f"{name}_median": e.median, f"{name}_std": e.std}
        return out


class _MovedSurface:
    """A surface moved by a rigid motion x -> R x + t without rebuilding its BVH."""

    def __init__(self, surface: Surface):
        self.surface, self.rotation, self.translation = surface, np.eye(3), np.zeros(3)

    def move(self, rotation: np.ndarray, translation: np.ndarray) -> None:
        """Composes another motion after the current one."""
        self.rotation, self.translation = rotation @ self.rotation, rotation @ self.translation + translation

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation

    def closest_points(self, query: np.ndarray) -> np.ndarray:
        local = (query - self.translation) @ self.rotation
        return self.apply(self.surface.closest_points(local).points)


def check_prediction(vertices: np.ndarray, regions: regions_lib.FaceRegions) -> np.ndarray:
    """(V_s, 3) float64 skin vertices of a prediction in the full (26,719) or skin topology."""
    v = np.asarray(vertices, np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] not in (FULL_TOPOLOGY_VERTICES, regions.num_vertices):
        raise ValueError(
            f"a prediction must be a mesh in the ICT topology, ({FULL_TOPOLOGY_VERTICES}, 3) or "
            f"({regions.num_vertices}, 3) vertices (the skin), got {v.shape}"
        )
    if not np.isfinite(v).all():
        raise ValueError(f"the prediction holds {int((~np.isfinite(v)).sum())} non-finite values")
    return v[: regions.num_vertices]


def global_similarity(
    predicted_keypoints: np.ndarray, gt_keypoints: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """R, s, t taking the prediction's 7 alignment keypoints onto the ground truth's."""
    k = list(regions_lib.SEVEN_KEYPOINTS)
    return procrustes(predicted_keypoints[k], gt_keypoints[k], with_scale=True)


def region_icp(
    surface: _MovedSurface,
    query: np.ndarray,
    predicted_keypoints: np.ndarray,
    gt_keypoints: np.ndarray,
    keypoint_weight: float,
    config: RealyConfig,
) -> None:
    """Rigid ICP of the predicted surface onto a ground-truth region; moves ``surface``.

    Args:
      query: (n, 3) the region's ground-truth vertices.
      predicted_keypoints, gt_keypoints: (k, 3) the region's keypoint pairs (the
        predicted ones in the surface's unmoved frame).
      keypoint_weight: weight of each keypoint pair (each surface pair weighs 1).
    """
    weights = np.concatenate([np.ones(len(query)), np.full(len(gt_keypoints), keypoint_weight)])
    target = np.concatenate([query, gt_keypoints])
    previous = np.inf
    for _ in range(config.icp_iterations):
        source = np.concatenate([surface.closest_points(query), surface.apply(predicted_keypoints)])
        r, _, t = procrustes(source, target, weights=weights)
        surface.move(r, t)
        residual = float(weights @ ((source @ r.T + t - target) ** 2).sum(1) / weights.sum())
        if abs(previous - residual) < config.icp_tolerance:
            break
        previous = residual


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N, 3) unit vertex normals (trimesh); zero for vertices of no triangle."""
    if len(triangles) == 0:
        return np.zeros_like(vertices)
    return np.asarray(trimesh.Trimesh(vertices, triangles, process=False).vertex_normals, np.float64)


def edge_laplacian(triangles: np.ndarray, num_vertices: int) -> scipy.sparse.csr_matrix:
    """(n, n) graph Laplacian D^T D of the unique edges of a triangle mesh."""
    e = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    e = np.unique(e, axis=0)
    rows = np.repeat(np.arange(len(e)), 2)
    incidence = scipy.sparse.csr_matrix((np.tile([1.0, -1.0], len(e)), (rows, e.reshape(-1))), (len(e), num_vertices))
    return (incidence.T @ incidence).tocsc()


def correspondence_errors(
    surface: _MovedSurface,
    vertices: np.ndarray,
    normals: np.ndarray,
    triangles: np.ndarray,
    keypoint_vertices: np.ndarray,
    keypoint_targets: np.ndarray,
    config: RealyConfig,
) -> np.ndarray:
    """(n,) distance of each ground-truth region vertex to its predicted correspondence.

    The region x (n, 3) with its unit vertex normals n (n, 3) and triangles (m, 3) is deformed to
    x + t + s n, a smooth translation field t (n, 3) plus a less smooth offset s (n,)
    along the normal, towards its closest predicted points c (pairs farther than
    max(2 x mean, 1 mm) left out: w = 0), with ``keypoint_vertices`` pulled to
    ``keypoint_targets`` p. Stage by stage (smoothing lengths l_t, l_s; keypoint share k)
    it minimises

        sum_i w_i |x_i + t_i + s_i n_i - c_i|^2 + (l_t / h)^2 sum_edges |t_i - t_j|^2
          + (l_s / h)^2 sum_edges (s_i - s_j)^2 + k n / n_kp sum_kp |x_k + t_k + s_k n_k - p_k|^2,

    h the mean edge length, so the lengths hold whatever the mesh density. The offset
    lets a surface that lies a distance off along its normal match at its foot points
    (a pure translation field would slide sideways on curved parts and overstate the
    error); the stiffer translation carries misplaced features as a whole.
    """
    n = len(vertices)
    laplacian = edge_laplacian(triangles, n)
    if len(triangles):
        edge = float(np.linalg.norm(vertices[triangles] - vertices[np.roll(triangles, 1, axis=1)], axis=-1).mean())
    else:
        edge = 1.0  # a point cloud: no stiffness (the Laplacian is zero) and no offset term
    # Unknowns z = (t (n, 3), s (n,)) interleaved per vertex: z[4i:4i+3] = t_i, z[4i+3] = s_i.
    # The data term of vertex i is w_i |t_i + s_i n_i - r_i|^2: a 4 x 4 block per vertex.
    lift = np.concatenate([np.tile(np.eye(3), (n, 1, 1)), normals[:, :, None]], axis=2)  # (n, 3, 4)
    block = np.einsum("nci,ncj->nij", lift, lift)
    r_idx = (4 * np.arange(n))[:, None, None] + np.arange(4)[None, :, None] + np.zeros((1, 1, 4), np.int64)
    c_idx = np.swapaxes(r_idx, 1, 2)
    z = np.zeros((n, 4))
    for l_t, l_s, share in zip(config.translation_smoothing_mm, config.offset_smoothing_mm, config.keypoint_share):
        beta2 = np.zeros(n)
        np.add.at(beta2, keypoint_vertices, share * n / max(len(keypoint_vertices), 1))
        kp_target = vertices.copy()
        kp_target[keypoint_vertices] = keypoint_targets
        stiffness = scipy.sparse.kron(laplacian, np.diag([l_t**2] * 3 + [l_s**2]) / edge**2)
        factor = None
        for _ in range(config.deformation_steps):
            moved = vertices + np.einsum("nci,ni->nc", lift, z)
            closest = surface.closest_points(moved)
            if factor is None:  # pairs are chosen, and the system factored, once a stage
                dist = np.linalg.norm(closest - moved, axis=1)
                w = (dist < max(2.0 * dist.mean(), 1.0)).astype(np.float64)
                data = scipy.sparse.csc_matrix(
                    (((w + beta2)[:, None, None] * block).reshape(-1), (r_idx.reshape(-1), c_idx.reshape(-1))),
                    (4 * n, 4 * n),
                )
                factor = scipy.sparse.linalg.splu((stiffness + data + 1e-9 * scipy.sparse.identity(4 * n)).tocsc())
            residual = w[:, None] * (closest - vertices) + beta2[:, None] * (kp_target - vertices)
            z_new = factor.solve(np.einsum("nci,nc->ni", lift, residual).reshape(-1)).reshape(n, 4)
            change = float(np.abs(z_new - z).max())
            z = z_new
            if change < config.deformation_tolerance:
                break
    deformed = vertices + np.einsum("nci,ni->nc", lift, z)
    return np.linalg.norm(surface.closest_points(deformed) - vertices, axis=1)


def _keypoints_on_region(
    vertices: np.ndarray, keypoints: np.ndarray, region: str, reach: float
) -> tuple[list[int], np.ndarray]:
    """The region's deformation keypoints that lie on it (within ``reach`` mm of a region
    vertex), and the index of that nearest vertex of each."""
    kps = np.array(regions_lib.DEFORMATION_KEYPOINTS[region], np.int64)
    if len(kps) == 0:
        return [], np.zeros(0, np.int64)
    d2 = ((vertices[None] - keypoints[kps][:, None]) ** 2).sum(-1)
    nearest = np.argmin(d2, axis=1)
    on = np.sqrt(d2[np.arange(len(kps)), nearest]) <= reach
    return kps[on].tolist(), nearest[on]


def region_submesh(gt: GroundTruth, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex indices (n,) of a region and its triangles (m, 3) re-indexed into them."""
    ids = np.nonzero(gt.labels == label)[0]
    remap = np.full(len(gt.vertices), -1, np.int64)
    remap[ids] = np.arange(len(ids))
    tris = remap[gt.triangles]
    return ids, tris[(tris >= 0).all(1)]


def realy_errors(
    predicted_vertices: np.ndarray,
    gt: GroundTruth,
    regions: regions_lib.FaceRegions,
    config: RealyConfig = RealyConfig(),
) -> RealyResult:
    """The REALY errors of one prediction (module docstring).

    Args:
      predicted_vertices: (26719, 3) or (11248, 3) mesh in the ICT topology, any units and pose.
      gt: the ground truth (mm).
      regions: ``regions.face_regions(model)``.
    Raises:
      ValueError: a prediction outside the topology, non-finite values, or a ground
        truth with a region of fewer than 10 vertices.
    """
    pred = check_prediction(predicted_vertices, regions)
    gt_normals = vertex_normals(gt.vertices, gt.triangles)
    pred_kp = regions.keypoints(pred)
    if config.align:
        r, s, t = global_similarity(pred_kp, gt.keypoints)
    else:
        r, s, t = np.eye(3), 1.0, np.zeros(3)
    pred, pred_kp = s * pred @ r.T + t, s * pred_kp @ r.T + t
    surface = Surface(pred, regions.skin_triangles)
    vertex_errors = np.full(len(gt.vertices), np.nan)
    out = {}
    for label, name in enumerate(regions_lib.REGIONS):
        ids, tris = region_submesh(gt, label)
        if len(ids) < 10:
            raise ValueError(f"the ground truth's {name} region has {len(ids)} vertices; at least 10 are needed")
        moved = _MovedSurface(surface)
        if config.align:
            kps = list(regions_lib.REGION_KEYPOINTS[name])
            share = config.cheek_keypoint_share if name == "cheek" else 1.0
            weight = share * len(ids) / len(kps)
            region_icp(moved, gt.vertices[ids], pred_kp[kps], gt.keypoints[kps], weight, config)
        region_vertices = gt.vertices[ids]
        kps, nearest = _keypoints_on_region(region_vertices, gt.keypoints, name, config.keypoint_reach)
        # Each keypoint's nearest region vertex moves as the keypoint pair does.
        targets = region_vertices[nearest] + moved.apply(pred_kp[kps]) - gt.keypoints[kps]
        errors = correspondence_errors(moved, region_vertices, gt_normals[ids], tris, nearest, targets, config)
        vertex_errors[ids] = errors
        out[name] = RegionError(errors)
    return RealyResult(out, vertex_errors, float(s))


def transfer_labels(
    vertices: np.ndarray,
    keypoints: np.ndarray,
    regions: regions_lib.FaceRegions,
    mean_face: np.ndarray,
    max_distance: float = 5.0,
) -> np.ndarray:
    """(N,) region labels for a scan (mm) from the ICT mean face warped onto its keypoints.

    The mean face is aligned by a similarity on all 85 keypoints, then warped by the
    thin-plate spline that takes its keypoints onto the scan's (SciPy), so regions land
    where the scan's own features are; each scan vertex takes the label of the nearest
    corner of its closest warped triangle, or -1 if that point is farther than
    ``max_distance`` mm (hair, ears, clothes, scanner noise).
    """
    from scipy.interpolate import RBFInterpolator

    mean = check_prediction(mean_face, regions)
    r, s, t = procrustes(regions.keypoints(mean), keypoints, with_scale=True)
    mean = s * mean @ r.T + t
    source = regions.keypoints(mean)
    warp = RBFInterpolator(source, keypoints - source, kernel="thin_plate_spline", smoothing=1.0)
    found = Surface(mean + warp(mean), regions.skin_triangles).closest_points(vertices)
    corner = regions.skin_triangles[found.triangles, np.argmax(found.weights, axis=1)]
    near = np.linalg.norm(found.points - vertices, axis=1) <= max_distance
    return np.where(near, regions.labels[corner], -1).astype(np.int8)


def ground_truth_from_scan(
    vertices: np.ndarray,
    triangles: np.ndarray,
    keypoints: np.ndarray,
    regions: regions_lib.FaceRegions,
    mean_face: np.ndarray,
    labels: np.ndarray | None = None,
    units: str = "mm",
) -> GroundTruth:
    """A user's scan as ground truth: mesh, its 85 keypoints (same units), optional labels.

    Args:
      vertices: (N, 3), triangles: (M, 3) int, keypoints: (85, 3).
      mean_face: the ICT mean face (for label transfer when ``labels`` is None).
      labels: (N,) ints, index into ``regions.REGIONS`` or -1.
      units: "mm", "cm" or "m".
    """
    if units not in UNITS_TO_MM:
        raise ValueError(f"units must be one of {', '.join(UNITS_TO_MM)}, got {units!r}")
    v = np.asarray(vertices, np.float64)
    f = np.asarray(triangles)
    kp = np.asarray(keypoints, np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"the scan must be (N, 3) vertices and (M, 3) triangles, got {v.shape}, {f.shape}")
    if kp.shape != (regions_lib.NUM_KEYPOINTS, 3):
        raise ValueError(
            f"the scan's keypoints must be ({regions_lib.NUM_KEYPOINTS}, 3) in REALY's order, got {kp.shape}"
        )
    if not (np.isfinite(v).all() and np.isfinite(kp).all()):
        raise ValueError("the scan or its keypoints hold non-finite values")
    v, kp = v * UNITS_TO_MM[units], kp * UNITS_TO_MM[units]
    if labels is None:
        labels = transfer_labels(v, kp, regions, mean_face)
    labels = np.asarray(labels)
    if labels.shape != (len(v),) or not np.isin(labels, np.arange(-1, len(regions_lib.REGIONS))).all():
        raise ValueError(f"labels must be ({len(v)},) ints in -1..{len(regions_lib.REGIONS) - 1}, got {labels.shape}")
    return GroundTruth(v, f.astype(np.int64), labels.astype(np.int8), kp)
