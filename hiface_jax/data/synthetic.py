"""Synthetic training images with ground truth (HiFace's synthetic half of training).

Each sample draws an identity (beta ~ N(0, I)), a sparse ARKit expression
(``expressions``), head pose and distance, SH lighting and a background
(``scene_sampling``), a UV albedo (``albedo``), and static + dynamic detail codes
(``detail``, N(0, I) in the default basis built from procedural scans). The detail
displacement is blended by the expression's tension, turned into a camera-space normal
map, and the face is rendered through ``face_render`` (linear RGB, stored as sRGB).

Two ways to run it:
* on device, batched and jitted: ``SyntheticSampler(config).sample(keys)`` returns
  JAX arrays, so training can draw fresh samples at device speed;
* offline into shards: ``generate(config, start, count)`` returns numpy arrays for the
  ``hiface_synthetic`` TFDS builder. Sample i depends only on (seed, i), so shards built
  in any chunking or on any number of hosts hold the same samples (equal up to float
  rounding, which XLA may do differently for another batch size).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from hiface_jax.data import scene_sampling
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import expressions, face_render
from hiface_jax.face import face_model as fm
from hiface_jax.face.landmarks import landmarks_3d
from hiface_jax.geometry import camera, rotation
from hiface_jax.sddetail import detail, detail_basis

# Linear-RGB colour of the skin's inside, seen through eye and mouth openings: a dark,
# reddish socket (eyeballs and the mouth interior are not part of the coarse skin mesh).
INTERIOR_ALBEDO = (0.04, 0.015, 0.015)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Distribution and rendering settings (all hashable; they key the builder's config).

    Pose, distance and lighting ranges are ``scene_sampling.SceneDistribution``'s fields.
    """

    seed: int = 0
    image_size: int = 224
    fov_degrees: float = 12.0
    uv_resolution: int = 256
    detail_basis: str | None = None  # path; None: the default basis, built on first use
    identity_scale: float = 1.0
    detail_scale: float = 1.0
    subdivision_levels: int = 1
    store_detailed_vertices: bool = True
    albedo_grid: int = 8
    max_yaw: float = 55.0
    max_pitch: float = 20.0
    max_roll: float = 12.0
    min_distance: float = 120.0
    max_distance: float = 150.0
    ict_dir: str | None = None

    @property
    def scene(self) -> scene_sampling.SceneDistribution:
        return scene_sampling.SceneDistribution(
            max_yaw=self.max_yaw, max_pitch=self.max_pitch, max_roll=self.max_roll,
            min_distance=self.min_distance, max_distance=self.max_distance,
        )  # fmt: skip


class SyntheticSampler:
    """Holds the host-side assets (model, renderer, UV layouts, detail basis) of a config."""

    def __init__(self, config: SyntheticConfig):
        self.config = config
        self.model = fm.load_face_model(config.ict_dir, progress=False).submesh()
        m = self.model
        self.renderer = face_render.make_renderer(
            m, config.image_size, config.fov_degrees, interior_albedo=INTERIOR_ALBEDO
        )
        self.layout = albedo_lib.albedo_layout(
            np.asarray(m.uv_coords), np.asarray(m.uv_triangles), np.asarray(m.triangles),
            np.asarray(m.landmark_indices), m.num_vertices, config.uv_resolution,
        )  # fmt: skip
        self.basis = (
            detail_basis.load_or_build_default_basis(m, config.uv_resolution)
            if config.detail_basis is None
            else detail_basis.load_detail_basis(config.detail_basis, config.uv_resolution)
        )
        self.geometry = detail.detail_geometry(m, config.uv_resolution)
        self.subdivision = detail.subdivide(
            np.asarray(m.triangles), np.asarray(m.uv_coords), np.asarray(m.uv_triangles), config.subdivision_levels
        )
        self.focal = 0.5 * config.image_size / math.tan(math.radians(config.fov_degrees) / 2.0)
        self.sample = jax.jit(self._sample)

    def keys(self, start: int, count: int) -> jax.Array:
        """Per-sample keys fold_in(key(seed), i) for i in [start, start + count)."""
        base = jax.random.key(self.config.seed)
        return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(start, start + count))

    def _draw(self, key: jax.Array) -> dict[str, jnp.ndarray]:
        """The random variables of one sample (batch of 1 inside, squeezed)."""
        c, m, b = self.config, self.model, self.basis
        k = jax.random.split(key, 8)
        angles, offset = scene_sampling.sample_pose(k[2], 1, c.scene)
        albedo = albedo_lib.sample_albedo(k[5], 1, c.albedo_grid)
        out = {
            "identity": c.identity_scale * jax.random.normal(k[0], (1, m.num_identity)),
            "expression": expressions.sample_expressions(k[1], 1, m.expression_names),
            "rotation": rotation.matrix_to_axis_angle(rotation.euler_to_matrix(angles)),
            "offset": offset,
            "sh": scene_sampling.sample_lighting(k[3], 1, c.scene),
            "background": scene_sampling.sample_backgrounds(k[4], 1, c.image_size),
            "static_code": jax.random.normal(k[6], (1, b.static_basis.shape[0])),
            "dynamic_code": jax.random.normal(k[7], (1, b.compress_basis.shape[0] + b.stretch_basis.shape[0])),
            **{f"albedo_{name}": value for name, value in albedo.items()},
        }
        return jax.tree.map(lambda x: x[0], out)

    def _sample(self, keys: jax.Array) -> dict[str, jnp.ndarray]:
        c, m, b = self.config, self.model, self.basis
        d = jax.vmap(self._draw)(keys)
        neutral = fm.neutral_shape(m, d["identity"])
        vertices = fm.shape(m, d["identity"], d["expression"])
        rot = rotation.axis_angle_to_matrix(d["rotation"])
        # Put the landmarks' centroid at the sampled offset (lateral jitter, -distance).
        centre = jnp.mean(landmarks_3d(vertices, m.landmark_indices), axis=-2)
        translation = d["offset"] - jnp.einsum("bij,bj->bi", rot, centre)
        posed = camera.rigid_transform(vertices, rot, translation)
        kc = b.compress_basis.shape[0]
        codes = detail.DetailCodes(d["static_code"], d["dynamic_code"][:, :kc], d["dynamic_code"][:, kc:])
        maps = detail.evaluate_detail(b, codes, detail.tension_map(self.geometry, vertices, neutral))
        displacement = c.detail_scale * maps.displacement
        normal_map, _ = detail.detailed_normal_map(posed, displacement, self.geometry)
        albedo_map = albedo_lib.albedo_map(
            d["albedo_base"], d["albedo_lips"], d["albedo_brows"], d["albedo_grid"], self.layout
        )
        out = face_render.render(self.renderer, posed, albedo_map, d["sh"], d["background"], normal_map)
        lmk3 = landmarks_3d(posed, m.landmark_indices)
        principal = jnp.full((2,), c.image_size / 2.0)
        sample = {
            "image": jnp.round(albedo_lib.linear_to_srgb(out["image"]) * 255).astype(jnp.uint8),
            "mask": (out["mask"] * 255).astype(jnp.uint8),
            "landmarks_2d": camera.perspective_project(lmk3, jnp.asarray(self.focal), principal),
            "landmarks_3d": lmk3,
            "identity": d["identity"],
            "expression": d["expression"],
            "rotation": d["rotation"],
            "translation": translation,
            "sh": d["sh"],
            "albedo_base": d["albedo_base"],
            "albedo_lips": d["albedo_lips"],
            "albedo_brows": d["albedo_brows"],
            "albedo_grid": d["albedo_grid"],
            "static_code": d["static_code"],
            "dynamic_code": d["dynamic_code"],
            "displacement_static": c.detail_scale * maps.static,
            "displacement_dynamic": displacement - c.detail_scale * maps.static,
            "vertices_coarse": vertices,
            "raster_overflow": out["overflow"],
        }
        if c.store_detailed_vertices:
            sample["vertices_detailed"] = detail.detailed_mesh(
                vertices, self.geometry.triangles, displacement, self.subdivision
            )
        return sample


@functools.lru_cache(maxsize=4)
def sampler(config: SyntheticConfig) -> SyntheticSampler:
    """One sampler per config and process (loading assets and compiling is the slow part)."""
    return SyntheticSampler(config)


def generate(config: SyntheticConfig, start: int, count: int) -> dict[str, np.ndarray]:
    """Samples [start, start + count) as numpy arrays (see ``SyntheticSampler._sample``).

    Raises:
      RuntimeError: the rasterizer overflowed (an incomplete image is never returned).
    """
    s = sampler(config)
    out = jax.device_get(s.sample(s.keys(start, count)))
    overflow = out.pop("raster_overflow")
    if overflow.any():
        raise RuntimeError(
            f"rasterizer overflow in samples {start + np.nonzero(overflow)[0]}; raise face_render's RasterConfig capacities"
        )
    return {k: np.asarray(v) for k, v in out.items()}
