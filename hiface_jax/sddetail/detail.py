"""SD-DeTail: static and dynamic displacement detail in UV space (HiFace, ICCV 2023).

Detail is a displacement D (cm, along the coarse surface normal, outwards > 0) over the
face UV tile [0, 1]^2, at a UV resolution H x W (default 256):

    D_s = static_mean + static_basis . c_s                      static detail (the person)
    D_c = D_s + compress_mean + compress_basis . c_c            compress map
    D_t = D_s + stretch_mean + stretch_basis . c_t              stretch map
    w_c = clip(s t - b, 0, 1),   w_s = clip(-s t + b, 0, 1)       t: tension rasterised to UV
    D   = D_s + w_c (D_c - D_s) + w_s (D_t - D_s)

t is the tension of the expressive mesh against the same identity's neutral mesh
(``tension.tension``): t > 0 where the skin is compressed, so the compressed wrinkles
appear there; t < 0 where it is stretched, which smooths.

The compress and stretch maps are stored as offsets from the person's static detail, so
static and dynamic parts can be read and swapped separately (``transfer_detail``): a
person's static detail moved onto someone else keeps its own pores inside the other's
wrinkles. Dynamic codes are regressed from the identity and static codes by a small
head (``SDDetail``) or given explicitly (``DetailCodes``).

Applying D to the coarse surface gives a detailed normal map in UV space for rendering
(``detailed_normal_map``) and a dense detailed mesh for export and evaluation
(``subdivide`` + ``detailed_mesh``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from hiface_jax.face.face_model import FaceModel
from hiface_jax.geometry import tension as tension_lib
from hiface_jax.geometry import uv
from hiface_jax.validation import check_array
from rendering.normals import safe_normalize, vertex_normals

# ICT-FaceKit's full expressions reach tension t ~ 0.1-0.3 where wrinkles form (smile,
# squint, brows up): s = 4 lets them reach the compressed map (s = 1 caps w_c near 0.3).
TENSION_SCALE = 4.0

# ----------------------------------------------------------------------------- parameters


@struct.dataclass
class DetailBasis:
    """The SD-DeTail maps, all in cm. K static, Kc compress and Kt stretch components.

    Bases are principal directions times their standard deviation, so codes ~ N(0, I)
    give plausible detail (the face model's identity convention).

    Attributes:
      static_mean: (H, W) mean static detail.
      static_basis: (K, H, W).
      compress_mean: (H, W) mean of D_c - D_s (the wrinkles compression adds).
      compress_basis: (Kc, H, W).
      stretch_mean: (H, W) mean of D_t - D_s (what stretching smooths away).
      stretch_basis: (Kt, H, W).
      compress_from_static: (K, Kc) linear regression c_c ~ c_s (initialises the head).
      stretch_from_static: (K, Kt) linear regression c_t ~ c_s.
    """

    static_mean: jnp.ndarray
    static_basis: jnp.ndarray
    compress_mean: jnp.ndarray
    compress_basis: jnp.ndarray
    stretch_mean: jnp.ndarray
    stretch_basis: jnp.ndarray
    compress_from_static: jnp.ndarray
    stretch_from_static: jnp.ndarray

    @property
    def resolution(self) -> tuple[int, int]:
        return tuple(self.static_mean.shape)

    @property
    def num_static(self) -> int:
        return self.static_basis.shape[0]

    @property
    def num_compress(self) -> int:
        return self.compress_basis.shape[0]

    @property
    def num_stretch(self) -> int:
        return self.stretch_basis.shape[0]


@struct.dataclass
class DetailCodes:
    """One person's (or a batch's) detail codes: static (..., K), compress (..., Kc), stretch (..., Kt)."""

    static: jnp.ndarray
    compress: jnp.ndarray
    stretch: jnp.ndarray


@struct.dataclass
class DetailMaps:
    """The parts of the detail, each (..., H, W) in cm (weights unitless)."""

    static: jnp.ndarray
    compressed: jnp.ndarray
    stretched: jnp.ndarray
    compress_weight: jnp.ndarray
    stretch_weight: jnp.ndarray
    displacement: jnp.ndarray


# ----------------------------------------------------------------------- pure functions


def static_detail(basis: DetailBasis, static_code: jnp.ndarray) -> jnp.ndarray:
    """D_s = static_mean + static_basis . c_s: (..., K) codes -> (..., H, W) cm."""
    check_array("static_code", static_code, (basis.num_static,))
    return basis.static_mean + jnp.einsum("...k,khw->...hw", static_code, basis.static_basis)


def dynamic_maps(
    basis: DetailBasis, static: jnp.ndarray, compress_code: jnp.ndarray, stretch_code: jnp.ndarray
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The compress map D_c and stretch map D_t (each (..., H, W)) around static detail D_s.

    Args:
      basis: the maps.
      static: (..., H, W) D_s.
      compress_code: (..., Kc).
      stretch_code: (..., Kt).
    """
    check_array("compress_code", compress_code, (basis.num_compress,))
    check_array("stretch_code", stretch_code, (basis.num_stretch,))
    compressed = static + basis.compress_mean + jnp.einsum("...k,khw->...hw", compress_code, basis.compress_basis)
    stretched = static + basis.stretch_mean + jnp.einsum("...k,khw->...hw", stretch_code, basis.stretch_basis)
    return compressed, stretched


def blend_weights(
    tension_uv: jnp.ndarray, scale: float = TENSION_SCALE, bias: float = 0.0
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Compression and stretch weights w_c = clip(s t - b, 0, 1), w_s = clip(-s t + b, 0, 1)."""
    w_c = jnp.clip(scale * tension_uv - bias, 0.0, 1.0)
    w_s = jnp.clip(-scale * tension_uv + bias, 0.0, 1.0)
    return w_c, w_s


def detail_displacement(
    static: jnp.ndarray, compressed: jnp.ndarray, stretched: jnp.ndarray, w_c: jnp.ndarray, w_s: jnp.ndarray
) -> jnp.ndarray:
    """D = D_s + w_c (D_c - D_s) + w_s (D_t - D_s); all (..., H, W)."""
    return static + w_c * (compressed - static) + w_s * (stretched - static)


def evaluate_detail(
    basis: DetailBasis, codes: DetailCodes, tension_uv: jnp.ndarray, scale: float = TENSION_SCALE, bias: float = 0.0
) -> DetailMaps:
    """All parts of the detail for codes and a tension map (..., H, W); batched."""
    d_s = static_detail(basis, codes.static)
    d_c, d_t = dynamic_maps(basis, d_s, codes.compress, codes.stretch)
    w_c, w_s = blend_weights(tension_uv, scale, bias)
    return DetailMaps(d_s, d_c, d_t, w_c, w_s, detail_displacement(d_s, d_c, d_t, w_c, w_s))


def transfer_detail(source: DetailCodes, target: DetailCodes) -> DetailCodes:
    """Source's static detail (pores, permanent lines) with the target's dynamic codes."""
    return DetailCodes(static=source.static, compress=target.compress, stretch=target.stretch)


# ----------------------------------------------------------------------- geometry in UV


@struct.dataclass
class DetailGeometry:
    """Topology constants for moving between the coarse mesh and detail UV space.

    Attributes:
      raster: UV raster of the coarse mesh at the detail resolution.
      triangles: (F, 3) coarse mesh triangles.
      edges: (E, 2) unique edges, for tension.
    """

    raster: uv.UVRaster
    triangles: jnp.ndarray
    edges: jnp.ndarray


def detail_geometry(model: FaceModel, resolution: int = 256) -> DetailGeometry:
    """Host precomputation for ``model`` (usually ``face_model.submesh()``)."""
    tris = np.asarray(model.triangles)
    return DetailGeometry(
        raster=uv.uv_raster(np.asarray(model.uv_coords), np.asarray(model.uv_triangles), resolution),
        triangles=jnp.asarray(tris),
        edges=jnp.asarray(tension_lib.unique_edges(tris)),
    )


def tension_map(geometry: DetailGeometry, expressive: jnp.ndarray, neutral: jnp.ndarray) -> jnp.ndarray:
    """(..., H, W) tension of expressive (..., V, 3) against neutral (..., V, 3), in UV."""
    t = tension_lib.tension(expressive, neutral, geometry.edges)
    return uv.to_uv_map(t[..., None], geometry.triangles, geometry.raster)[..., 0]


def animate_detail(
    basis: DetailBasis,
    geometry: DetailGeometry,
    codes: DetailCodes,
    neutral: jnp.ndarray,
    expressive: jnp.ndarray,
    scale: float = TENSION_SCALE,
    bias: float = 0.0,
) -> DetailMaps:
    """Detail of one person's codes under new expressions: wrinkles follow tension.

    Args:
      codes: the person's codes (broadcast over frames).
      neutral: (V, 3) the person's neutral mesh (``face_model.neutral_shape``).
      expressive: (..., V, 3) frames of the same identity with other expressions.
    Returns:
      maps (..., H, W).
    """
    return evaluate_detail(basis, codes, tension_map(geometry, expressive, neutral), scale, bias)


# ------------------------------------------------------------------------ applying D


def detailed_normal_map(
    vertices: jnp.ndarray, displacement: jnp.ndarray, geometry: DetailGeometry
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Normals of the coarse surface displaced by D, as a UV map (for shading).

    The coarse surface's position map P and normal map N (vertex normals, rasterised
    and renormalised) are displaced, P' = P + D N, and the normal is the cross product
    of P' differentiated along u and v by finite differences between texels (central
    where both neighbours are covered, one-sided at UV borders), oriented like N. A
    texel with no usable neighbours keeps N.

    Args:
      vertices: (..., V, 3) coarse mesh (cm).
      displacement: (..., H, W) D (cm) at the raster's resolution.
    Returns:
      (..., H, W, 3) unit normals in the frame of ``vertices``, and (..., H, W, 3) P'.
    """
    check_array("displacement", displacement, geometry.raster.resolution)
    raster = geometry.raster
    pos = uv.to_uv_map(vertices, geometry.triangles, raster)
    coarse_n = safe_normalize(uv.to_uv_map(vertex_normals(vertices, geometry.triangles), geometry.triangles, raster))
    displaced = pos + displacement[..., None] * coarse_n
    # Columns grow with u; rows grow downwards, against v.
    d_u = _texel_difference(displaced, raster.covered, axis=1)
    d_v = -_texel_difference(displaced, raster.covered, axis=0)
    n = jnp.cross(d_u, d_v)
    n = n * jnp.where(jnp.sum(n * coarse_n, -1, keepdims=True) < 0, -1.0, 1.0)
    length = jnp.linalg.norm(n, axis=-1, keepdims=True)
    usable = (length > 1e-12) & raster.covered[..., None]
    return jnp.where(usable, safe_normalize(n), coarse_n), displaced


def _texel_difference(p: jnp.ndarray, covered: jnp.ndarray, axis: int) -> jnp.ndarray:
    """d p / d texel along image axis 0 (rows) or 1 (cols) of (..., H, W, C), covered texels only."""
    ax = axis - 3  # axis of p
    size = covered.shape[axis]
    idx = jnp.arange(size).reshape((-1, 1) if axis == 0 else (1, -1))
    has_next = covered & jnp.roll(covered, -1, axis) & (idx < size - 1)
    has_prev = covered & jnp.roll(covered, 1, axis) & (idx > 0)
    nxt, prv = jnp.roll(p, -1, ax), jnp.roll(p, 1, ax)
    fwd, bwd = nxt - p, p - prv
    both, fwd_only, bwd_only = (has_next & has_prev)[..., None], has_next[..., None], has_prev[..., None]
    return jnp.where(both, 0.5 * (fwd + bwd), jnp.where(fwd_only, fwd, jnp.where(bwd_only, bwd, 0.0)))


@struct.dataclass
class Subdivision:
    """A coarse mesh split 4^levels times (midpoint subdivision), precomputed on the host.

    Every dense vertex is a barycentric combination of the corners of one coarse
    triangle, so dense positions and normals are one gather. Coarse vertices come first,
    in their order (dense vertex i < V is coarse vertex i).

    Attributes:
      corner_vertices: (Vd, 3) coarse vertex indices.
      corner_weights: (Vd, 3) barycentric weights.
      vertex_uv: (Vd, 2) a UV of each dense vertex inside the face tile (zeros if none).
      in_tile: (Vd,) bool, the vertex belongs to a triangle in the face tile (D applies).
      triangles: (Fd, 3) dense triangles.
      uv_coords: (Td, 2) dense UV coordinates.
      uv_triangles: (Fd, 3) parallel to ``triangles``.
    """

    corner_vertices: jnp.ndarray
    corner_weights: jnp.ndarray
    vertex_uv: jnp.ndarray
    in_tile: jnp.ndarray
    triangles: jnp.ndarray
    uv_coords: jnp.ndarray
    uv_triangles: jnp.ndarray

    @property
    def num_vertices(self) -> int:
        return self.corner_vertices.shape[0]


def subdivide(
    triangles: np.ndarray,
    uv_coords: np.ndarray,
    uv_triangles: np.ndarray,
    levels: int = 1,
    num_vertices: int | None = None,
) -> Subdivision:
    """Midpoint subdivision (each triangle -> 4^levels), vertices and UVs split alike.

    The points of level L are the barycentric grid i/n, j/n (n = 2^L) of each coarse
    triangle; a point shared by neighbours (corner, point on an edge) is one vertex,
    found by its canonical (coarse index, weight) key. UV seams split UV points apart
    but not vertices, as in the coarse mesh.

    Args:
      triangles: (F, 3) coarse triangles; uv_coords (T, 2); uv_triangles (F, 3).
      levels: 0 keeps the mesh, 1 gives 4F triangles, 2 gives 16F.
      num_vertices: coarse vertex count (default: largest index + 1).
    """
    if levels < 0:
        raise ValueError(f"levels must be >= 0, got {levels}")
    tris, uv_tris = np.asarray(triangles, np.int64), np.asarray(uv_triangles, np.int64)
    n = 2**levels
    ii, jj = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = ii + jj <= n
    ii, jj = ii[keep], jj[keep]
    grid_w = np.stack([n - ii - jj, ii, jj], 1)  # (P, 3) integer weights of corners a, b, c
    point = -np.ones((n + 1, n + 1), np.int64)
    point[ii, jj] = np.arange(len(ii))
    i0, j0 = np.nonzero((np.add.outer(np.arange(n + 1), np.arange(n + 1)) < n))
    up = np.stack([point[i0, j0], point[i0 + 1, j0], point[i0, j0 + 1]], 1)
    i1, j1 = np.nonzero((np.add.outer(np.arange(n + 1), np.arange(n + 1)) < n - 1))
    down = np.stack([point[i1 + 1, j1], point[i1 + 1, j1 + 1], point[i1, j1 + 1]], 1)
    local_tris = np.concatenate([up, down])  # (4^L, 3) into grid points

    uv_src = np.asarray(uv_coords, np.float64)
    num_coarse = int(tris.max()) + 1 if num_vertices is None else num_vertices
    v_index, v_corners, v_weights = _merge_grid_points(tris, grid_w, n, num_coarse)
    t_index, t_corners, t_weights = _merge_grid_points(uv_tris, grid_w, n, len(uv_src))
    dense_uv = np.einsum("pk,pkc->pc", t_weights, uv_src[t_corners])
    dense_tris = v_index[:, local_tris].reshape(-1, 3)
    dense_uv_tris = t_index[:, local_tris].reshape(-1, 3)

    tri_uv = dense_uv[dense_uv_tris]
    in_tile_tri = np.all((tri_uv >= 0.0) & (tri_uv <= 1.0), axis=(1, 2))
    num_dense = len(v_corners)
    which = uv.vertex_uvs(dense_tris[in_tile_tri], dense_uv_tris[in_tile_tri], num_dense)
    in_tile = np.zeros(num_dense, bool)
    in_tile[dense_tris[in_tile_tri].reshape(-1)] = True
    return Subdivision(
        corner_vertices=jnp.asarray(v_corners.astype(np.int32)),
        corner_weights=jnp.asarray(v_weights.astype(np.float32)),
        vertex_uv=jnp.asarray(np.where(in_tile[:, None], dense_uv[which], 0.0).astype(np.float32)),
        in_tile=jnp.asarray(in_tile),
        triangles=jnp.asarray(dense_tris.astype(np.int32)),
        uv_coords=jnp.asarray(dense_uv.astype(np.float32)),
        uv_triangles=jnp.asarray(dense_uv_tris.astype(np.int32)),
    )


def _merge_grid_points(
    tris: np.ndarray, grid_w: np.ndarray, n: int, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merges the grid points of all triangles into dense points.

    Args:
      tris: (F, 3) indices of ``count`` coarse points.
      grid_w: (P, 3) integer weights (summing to n) of each grid point.
    Returns:
      (F, P) dense index of each grid point, and per dense point (D, 3) coarse indices
      and (D, 3) weights. Dense points 0..count-1 are the coarse points, in order.
    """
    f, p = len(tris), len(grid_w)
    ids = np.broadcast_to(tris[:, None, :], (f, p, 3))
    w = np.broadcast_to(grid_w[None], (f, p, 3))
    ids = np.where(w > 0, ids, -1)  # a zero-weight corner does not identify the point
    order = np.argsort(ids, axis=-1, kind="stable")
    key = np.concatenate([np.take_along_axis(ids, order, -1), np.take_along_axis(w, order, -1)], -1).reshape(-1, 6)
    # Every coarse point as a key (-1, -1, i, 0, 0, n): rows sort lexicographically, so
    # these lead, in order, and unused coarse points keep their index too.
    own = np.zeros((count, 6), np.int64)
    own[:, :2], own[:, 2], own[:, 5] = -1, np.arange(count), n
    uniq, inverse = np.unique(np.concatenate([own, key]), axis=0, return_inverse=True)
    return inverse[count:].reshape(f, p), np.maximum(uniq[:, :3], 0), uniq[:, 3:].astype(np.float64) / n


def dense_surface(
    vertices: jnp.ndarray, triangles: jnp.ndarray, subdivision: Subdivision
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Points and unit normals of the subdivided coarse surface.

    Points are the flat midpoint subdivision; normals interpolate the coarse vertex
    normals (as the normal map does), so D moves the surface smoothly across edges.

    Args:
      vertices: (..., V, 3) coarse mesh; triangles: (F, 3).
    Returns:
      (..., Vd, 3) points and (..., Vd, 3) normals.
    """
    normals = vertex_normals(vertices, triangles)
    idx, w = subdivision.corner_vertices, subdivision.corner_weights

    def interpolate(x):
        return jnp.einsum("...vkc,vk->...vc", jnp.take(x, idx, axis=-2), w)

    return interpolate(vertices), safe_normalize(interpolate(normals))


def detailed_mesh(
    vertices: jnp.ndarray, triangles: jnp.ndarray, displacement: jnp.ndarray, subdivision: Subdivision
) -> jnp.ndarray:
    """(..., Vd, 3) dense vertices: the subdivided surface moved by D along its normals.

    D (..., H, W) is sampled bilinearly at each dense vertex's face-tile UV; vertices
    outside the face tile (back of the head) are not moved. Write with
    ``mesh_io.write_obj(path, out, subdivision.triangles, subdivision.uv_coords,
    subdivision.uv_triangles)``.
    """
    points, normals = dense_surface(vertices, triangles, subdivision)
    d = uv.sample_uv_map(displacement[..., None], subdivision.vertex_uv)[..., 0]
    return points + jnp.where(subdivision.in_tile, d, 0.0)[..., None] * normals


# ------------------------------------------------------------------------- the module


class DetailConst(nnx.Variable):
    """A detail parameter held fixed: ``nnx.Optimizer(..., wrt=nnx.Param)`` skips it."""


@dataclasses.dataclass(frozen=True)
class DetailConfig:
    """Which SD-DeTail parts train, and the blend.

    Attributes:
      learn_static: train static_mean and static_basis.
      learn_dynamic: train the compress / stretch means and bases.
      learn_head: train the head regressing dynamic codes from identity and static codes.
      head_hidden: 0 for a linear head; > 0 adds an MLP (one hidden layer, this wide)
        whose output starts at zero, so training starts from the builder's regression.
      tension_scale, tension_bias: s and b of the blend weights (``TENSION_SCALE``).
    """

    learn_static: bool = False
    learn_dynamic: bool = False
    learn_head: bool = True
    head_hidden: int = 0
    tension_scale: float = TENSION_SCALE
    tension_bias: float = 0.0


class SDDetail(nnx.Module):
    """SD-DeTail parameters: basis and maps (frozen or learned) and the dynamic-code head.

    Frozen parts are ``DetailConst`` variables, learned ones ``nnx.Param``.
    """

    def __init__(self, basis: DetailBasis, num_identity: int, config: DetailConfig = DetailConfig(), *, rngs: nnx.Rngs):
        self.config = config
        self.num_identity = num_identity
        static_var = nnx.Param if config.learn_static else DetailConst
        dynamic_var = nnx.Param if config.learn_dynamic else DetailConst
        head_var = nnx.Param if config.learn_head else DetailConst
        self.static_mean = static_var(jnp.asarray(basis.static_mean, jnp.float32))
        self.static_basis = static_var(jnp.asarray(basis.static_basis, jnp.float32))
        self.compress_mean = dynamic_var(jnp.asarray(basis.compress_mean, jnp.float32))
        self.compress_basis = dynamic_var(jnp.asarray(basis.compress_basis, jnp.float32))
        self.stretch_mean = dynamic_var(jnp.asarray(basis.stretch_mean, jnp.float32))
        self.stretch_basis = dynamic_var(jnp.asarray(basis.stretch_basis, jnp.float32))
        # Linear head [beta, c_s] -> [c_c, c_t]: identity rows start at zero (scans carry
        # no identity), static rows at the builder's regression.
        k_out = basis.num_compress + basis.num_stretch
        kernel = jnp.concatenate(
            [
                jnp.zeros((num_identity, k_out)),
                jnp.concatenate([basis.compress_from_static, basis.stretch_from_static], axis=1),
            ]
        )
        self.head_kernel = head_var(kernel.astype(jnp.float32))
        self.head_bias = head_var(jnp.zeros((k_out,), jnp.float32))
        if config.head_hidden > 0:
            k_in = num_identity + basis.num_static
            init = jax.nn.initializers.lecun_normal()
            self.mlp_hidden = head_var(init(rngs.params(), (k_in, config.head_hidden), jnp.float32))
            self.mlp_hidden_bias = head_var(jnp.zeros((config.head_hidden,), jnp.float32))
            self.mlp_out = head_var(jnp.zeros((config.head_hidden, k_out), jnp.float32))

    def basis(self) -> DetailBasis:
        """Current values as a ``DetailBasis`` (for the pure functions)."""
        k_c = self.compress_basis.shape[0]
        lin = self.head_kernel[...][self.num_identity :]
        return DetailBasis(
            static_mean=self.static_mean[...],
            static_basis=self.static_basis[...],
            compress_mean=self.compress_mean[...],
            compress_basis=self.compress_basis[...],
            stretch_mean=self.stretch_mean[...],
            stretch_basis=self.stretch_basis[...],
            compress_from_static=lin[:, :k_c],
            stretch_from_static=lin[:, k_c:],
        )

    def codes(self, static_code: jnp.ndarray, identity: jnp.ndarray) -> DetailCodes:
        """Dynamic codes regressed from identity (..., K_id) and static codes (..., K)."""
        check_array("identity", identity, (self.num_identity,))
        check_array("static_code", static_code, (self.static_basis.shape[0],))
        lead = jnp.broadcast_shapes(identity.shape[:-1], static_code.shape[:-1])
        identity = jnp.broadcast_to(identity, lead + identity.shape[-1:])
        static_code = jnp.broadcast_to(static_code, lead + static_code.shape[-1:])
        x = jnp.concatenate([identity, static_code], -1)
        out = x @ self.head_kernel[...] + self.head_bias[...]
        if self.config.head_hidden > 0:
            out = out + jax.nn.gelu(x @ self.mlp_hidden[...] + self.mlp_hidden_bias[...]) @ self.mlp_out[...]
        k_c = self.compress_basis.shape[0]
        return DetailCodes(static=static_code, compress=out[..., :k_c], stretch=out[..., k_c:])

    def __call__(self, static_code: jnp.ndarray, identity: jnp.ndarray, tension_uv: jnp.ndarray) -> DetailMaps:
        """All detail parts for codes (..., K), identity (..., K_id) and tension (..., H, W)."""
        return evaluate_detail(
            self.basis(),
            self.codes(static_code, identity),
            tension_uv,
            self.config.tension_scale,
            self.config.tension_bias,
        )
