"""Synthetic training images with ground truth (HiFace's synthetic half of training).

Each sample draws an identity (beta ~ N(0, I)), a sparse ARKit expression
(``expressions``) plus a gaze and an eyelid closure (``eyes_mouth``), head pose and
distance and SH lighting (``scene_sampling``), a skin albedo (the designed one of
``albedo``, mixed with a map projected from a real photo, ``photo_albedo``), static +
dynamic detail codes (``detail``), a hair style (``hair``), clothing (``torso``), a real
background (``backgrounds``) and camera settings (``camera_effects``).

Image formation (``head_scene``): the skin, ICT-FaceKit's eye and mouth shells, a hair
shell and a clothed torso are one mesh, rasterised once; per pixel, a material id picks
the albedo (UV map for skin, procedural eyes / teeth / mouth / hair / cloth), the detail
normal map shades the face, and SH diffuse light with baked ambient occlusion plus a
Blinn-Phong specular lobe toward the SH's dominant direction give the colour. The camera
then exposes, blurs, adds sensor noise, encodes sRGB and JPEG-compresses it.

Two ways to run it:
* on device, batched and jitted: ``SyntheticSampler(config).sample(keys)`` returns
  JAX arrays, so training can draw fresh samples at device speed;
* offline into shards: ``generate(config, start, count)`` returns numpy arrays for the
  ``hiface_synthetic`` TFDS builder. Sample i depends only on (seed, i), so shards built
  in any chunking or on any number of hosts hold the same samples (equal up to float
  rounding, which XLA may do differently for another batch size).

``SyntheticSampler.draw`` and ``.render`` are the two halves of ``sample``: tests and
tools can change drawn variables (close the eyes, open the mouth) before rendering;
``.scene_geometry`` gives the camera-space scene mesh of drawn variables.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

import rendering
from hiface_jax.data import backgrounds, camera_effects, eyes_mouth, hair, head_scene, photo_albedo, scene_sampling, torso
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import expressions
from hiface_jax.face import face_model as fm
from hiface_jax.face.landmarks import landmarks_3d
from hiface_jax.geometry import camera, rotation
from hiface_jax.sddetail import detail, detail_basis

LASH_DARKENING = 0.75  # the lash line multiplies the skin albedo by 1 - this (at its centre)
EYE_CONTACT_PROBABILITY = 0.6  # samples that look at the camera (portraits mostly do)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Distribution and rendering settings (all hashable; they key the builder's config).

    Pose, distance and lighting ranges are ``scene_sampling.SceneDistribution``'s fields.

    Attributes (besides the ranges):
      backgrounds: a folder of background images added to scikit-image's bundled ones.
      photo_albedo: albedo maps projected from real photos: ``"packaged"`` (the
        public-domain photos shipped in packages, built on first use into
        ``~/.cache/hiface``), a bank file from ``photo_albedo.build_bank`` (``make_dataset
        --photos``), or None (the designed albedo only).
      photo_albedo_probability: share of samples whose skin mixes in a photo map.
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
    backgrounds: str | None = None
    photo_albedo: str | None = photo_albedo.PACKAGED
    photo_albedo_probability: float = 0.75

    @property
    def scene(self) -> scene_sampling.SceneDistribution:
        return scene_sampling.SceneDistribution(
            max_yaw=self.max_yaw, max_pitch=self.max_pitch, max_roll=self.max_roll,
            min_distance=self.min_distance, max_distance=self.max_distance,
        )  # fmt: skip


class SyntheticSampler:
    """Holds the host-side assets (head mesh, UV layouts, detail basis, image banks) of a config."""

    def __init__(self, config: SyntheticConfig):
        self.config = config
        full = fm.load_face_model(config.ict_dir, progress=False)
        self.model = full.submesh()  # the coarse skin: every shape ground truth refers to it
        m = self.model
        self.scene = head_scene.build_head_scene(full, config.image_size, config.fov_degrees)
        self.layout = albedo_lib.albedo_layout(
            np.asarray(m.uv_coords), np.asarray(m.uv_triangles), np.asarray(m.triangles),
            np.asarray(m.landmark_indices), m.num_vertices, config.uv_resolution,
        )  # fmt: skip
        self.basis = (
            detail_basis.load_or_build_default_basis(m, config.uv_resolution)
            if config.detail_basis is None
            else detail_basis.load_detail_basis(config.detail_basis, config.uv_resolution)
        )
        self.brow_strands = brow_strands(config.uv_resolution)
        self.features = photo_albedo.feature_regions(self.layout)
        self.geometry = detail.detail_geometry(m, config.uv_resolution)
        self.subdivision = detail.subdivide(
            np.asarray(m.triangles), np.asarray(m.uv_coords), np.asarray(m.uv_triangles), config.subdivision_levels
        )
        side = min(512, 2 * config.image_size)
        bank, self.background_names = backgrounds.background_bank(config.backgrounds, side)
        self.background_bank = jnp.asarray(bank)
        self.photo_bank = photo_albedo.load_bank(config.photo_albedo, config.uv_resolution, config.ict_dir)
        self.focal = 0.5 * config.image_size / math.tan(math.radians(config.fov_degrees) / 2.0)
        # Three jitted stages (sample = draw, then geometry, then shading), so that every
        # entry point shares their compilations.
        self.draw = jax.jit(self._draw_batch)
        self.scene_geometry = jax.jit(self._geometry)
        self._shade_jit = jax.jit(self._shade)

    def keys(self, start: int, count: int) -> jax.Array:
        """Per-sample keys fold_in(key(seed), i) for i in [start, start + count)."""
        base = jax.random.key(self.config.seed)
        return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(start, start + count))

    def _draw(self, key: jax.Array) -> dict[str, jnp.ndarray]:
        """The random variables of one sample (batch of 1 inside, squeezed)."""
        c, m, b = self.config, self.model, self.basis
        k = jax.random.split(key, 20)
        angles, offset = scene_sampling.sample_pose(k[2], 1, c.scene)
        albedo = albedo_lib.sample_albedo(k[5], 1, c.albedo_grid)
        background, background_id = backgrounds.sample_backgrounds(k[4], self.background_bank, 1, c.image_size)
        out = {
            "identity": c.identity_scale * jax.random.normal(k[0], (1, m.num_identity)),
            "expression": expressions.sample_expressions(k[1], 1, m.expression_names),
            "euler": angles,
            "offset": offset,
            "sh": scene_sampling.sample_lighting(k[3], 1, c.scene),
            "background": background,
            "background_id": background_id,
            "background_blur": 3.5 * jax.random.uniform(k[14], (1,)) ** 1.5,
            "static_code": jax.random.normal(k[6], (1, b.static_basis.shape[0])),
            "dynamic_code": jax.random.normal(k[7], (1, b.compress_basis.shape[0] + b.stretch_basis.shape[0])),
            **{f"albedo_{name}": value for name, value in albedo.items()},
            **self._draw_eyes(k[8], angles),
            **eyes_mouth.sample_eye_appearance(k[9], 1),
            **hair.sample_hair(k[10], 1),
            **torso.sample_torso(k[11], 1),
            **photo_albedo.sample_mix(k[12], 1, self.photo_bank, c.photo_albedo_probability),
            **camera_effects.sample_camera(k[13], 1),
            "skin_specular": jax.random.uniform(k[15], (1,), minval=0.02, maxval=0.08),
            "skin_shininess": jax.random.uniform(k[16], (1,), minval=10.0, maxval=35.0),
            "noise_key": jax.random.key_data(k[17])[None],
        }
        return jax.tree.map(lambda x: x[0], out)

    def _draw_eyes(self, key: jax.Array, angles: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """Gaze (yaw, pitch, radians, head frame) and eyelid closure (left, right).

        Gaze: with probability 0.6 at the camera (as far as the eyes turn) plus 3 degrees
        of jitter, else N(0, 15 deg) yaw and N(0, 10 deg) pitch. Closure: both eyes shut
        7%, a wink 3%, otherwise a slight droop 0.35 U^2.
        """
        k = jax.random.split(key, 6)
        to_camera = jnp.einsum("bji,j->bi", rotation.euler_to_matrix(angles), jnp.array([0.0, 0.0, 1.0]))
        at_camera = jnp.stack([jnp.arctan2(to_camera[:, 0], to_camera[:, 2]), jnp.arcsin(to_camera[:, 1])], -1)
        at_camera = at_camera + jnp.radians(3.0) * jax.random.normal(k[0], (1, 2))
        away = jnp.radians(jnp.array([15.0, 10.0])) * jax.random.normal(k[1], (1, 2))
        gaze = jnp.where(jax.random.bernoulli(k[2], EYE_CONTACT_PROBABILITY, (1, 1)), at_camera, away)
        limit = jnp.radians(jnp.array(eyes_mouth.GAZE_SHAPE_RANGE_DEGREES))
        gaze = jnp.clip(gaze, -limit, limit)
        u = jax.random.uniform(k[3], (1,))
        droop = 0.35 * jax.random.uniform(k[4], (1, 2)) ** 2
        shut = jax.random.uniform(k[5], (1, 2), minval=0.95, maxval=1.0)
        wink = jnp.stack([shut[:, 0], droop[:, 1]], -1)
        closure = jnp.where((u < 0.07)[:, None], shut, jnp.where((u < 0.10)[:, None], wink, droop))
        return {"gaze_angles": gaze, "eyelid_closure": closure}

    def _draw_batch(self, keys: jax.Array) -> dict[str, jnp.ndarray]:
        return jax.vmap(self._draw)(keys)

    def _skin_albedo(self, d: dict[str, jnp.ndarray]) -> jnp.ndarray:
        """The designed albedo with hair-textured brows and lash lines, mixed with photo maps."""
        designed = albedo_lib.albedo_map(
            d["albedo_base"], d["albedo_lips"], jnp.zeros_like(d["albedo_brows"]), d["albedo_grid"], self.layout
        )
        brows = (self.layout.brows * jnp.asarray(self.brow_strands))[..., None]
        designed = jnp.clip(designed + d["albedo_brows"][:, None, None] * brows, 0.0, 1.0)
        mixed = photo_albedo.mix(designed, d["albedo_base"], self.photo_bank, d, jnp.asarray(self.features))
        return mixed * (1.0 - LASH_DARKENING * self.layout.lashes[..., None])

    def sample(self, keys: jax.Array) -> dict[str, jnp.ndarray]:
        """Samples of (B,) keys (``keys``): ``render(draw(keys))``. Traceable inside jit."""
        return self.render(self.draw(keys))

    def render(self, d: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
        """Images and ground truth of drawn variables (``draw``'s output, possibly edited)."""
        return self._shade_jit(d, self.scene_geometry(d))

    def _geometry(self, d: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
        """Everything geometric about drawn samples: final expression, rest and posed
        skin, detail, and the assembled camera-space scene (vertices, aux, AO)."""
        c, m, b, sc = self.config, self.model, self.basis, self.scene
        names = m.expression_names
        expression = eyes_mouth.lip_seal(
            eyes_mouth.eye_expression(d["expression"], d["gaze_angles"], d["eyelid_closure"], names), names
        )
        head = fm.shape(sc.model, d["identity"], expression)
        head, gaze_head = eyes_mouth.rotate_eyes(head, sc.eyes, d["gaze_angles"])
        vertices = head[:, : sc.num_skin]
        neutral = fm.neutral_shape(m, d["identity"])
        rot = rotation.euler_to_matrix(d["euler"])
        # Put the landmarks' centroid at the sampled offset (lateral jitter, -distance).
        centre = jnp.mean(landmarks_3d(vertices, m.landmark_indices), axis=-2)
        translation = d["offset"] - jnp.einsum("bij,bj->bi", rot, centre)
        head_cam = camera.rigid_transform(head, rot, translation)
        kc = b.compress_basis.shape[0]
        codes = detail.DetailCodes(d["static_code"], d["dynamic_code"][:, :kc], d["dynamic_code"][:, kc:])
        maps = detail.evaluate_detail(b, codes, detail.tension_map(self.geometry, vertices, neutral))
        torso_cam = torso.pose_torso(torso.torso_rest(jnp.asarray(sc.torso_uv), d), d["euler"], rot, translation)
        scene_vertices, aux, ao = head_scene.assemble(sc, head_cam, expression, d, torso_cam)
        closure = jnp.stack([expression[:, m.expression_index(f"eyeBlink_{side}")] for side in "LR"], -1)
        return {
            "eyelid_closure": closure,
            "lip_gap": eyes_mouth.lip_gap(landmarks_3d(vertices, m.landmark_indices)),
            "expression": expression, "rest": vertices, "posed": head_cam[:, : sc.num_skin], "rotation": rot,
            "translation": translation, "gaze": jnp.einsum("bij,bej->bei", rot, gaze_head), "maps": maps,
            "displacement": c.detail_scale * maps.displacement, "scene_vertices": scene_vertices, "aux": aux, "ao": ao,
        }  # fmt: skip

    def _shade(self, d: dict[str, jnp.ndarray], g: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
        c, m, sc = self.config, self.model, self.scene
        expression, vertices, posed, rot, translation = g["expression"], g["rest"], g["posed"], g["rotation"], g["translation"]
        maps, displacement = g["maps"], g["displacement"]
        normal_map, _ = detail.detailed_normal_map(posed, displacement, self.geometry)
        light_dir, light_colour = rendering.dominant_light(d["sh"])
        down = jnp.einsum("bij,j->bi", rot, jnp.array([0.0, -1.0, 0.0]))
        scale = c.image_size / 224.0
        background = camera_effects.gaussian_blur(d["background"], d["background_blur"] * scale, max(1, math.ceil(10 * scale)))
        look = {**d, "lash_cover": eyes_mouth.lash_cover(g["eyelid_closure"]), "mouth_closed": eyes_mouth.mouth_closed(g["lip_gap"])}
        out = head_scene.render_scene(
            sc, g["scene_vertices"], g["aux"], g["ao"], self._skin_albedo(d), normal_map, look, d["sh"], light_dir,
            light_colour, down, background,
        )  # fmt: skip
        luminance = jnp.array([0.2126, 0.7152, 0.0722])
        front = rendering.sh_shading(jnp.array([0.0, 0.0, 1.0]), d["sh"])  # (B, 3) light on a camera-facing normal
        exposure = camera_effects.metered_exposure((d["albedo_base"] * front) @ luminance, d["camera_exposure"])
        settings = {**d, "camera_exposure": exposure}
        photo = camera_effects.apply_camera(jax.vmap(jax.random.wrap_key_data)(d["noise_key"]), out["image"], settings)
        lmk3 = landmarks_3d(posed, m.landmark_indices)
        principal = jnp.full((2,), c.image_size / 2.0)
        sample = {
            "image": photo,
            "mask": (out["mask"] * 255).astype(jnp.uint8),
            "segmentation": out["segmentation"].astype(jnp.uint8),
            "landmarks_2d": camera.perspective_project(lmk3, jnp.asarray(self.focal), principal),
            "landmarks_3d": lmk3,
            "identity": d["identity"],
            "expression": expression,
            "rotation": rotation.matrix_to_axis_angle(rot),
            "translation": translation,
            "sh": d["sh"],
            "light_direction": light_dir,
            "albedo_base": d["albedo_base"],
            "albedo_lips": d["albedo_lips"],
            "albedo_brows": d["albedo_brows"],
            "albedo_grid": d["albedo_grid"],
            "albedo_photo_id": d["albedo_photo_id"],
            "albedo_photo_weight": d["albedo_photo_weight"],
            "albedo_photo_detail": d["albedo_photo_detail"],
            "static_code": d["static_code"],
            "dynamic_code": d["dynamic_code"],
            "displacement_static": c.detail_scale * maps.static,
            "displacement_dynamic": displacement - c.detail_scale * maps.static,
            "vertices_coarse": vertices,
            "gaze": g["gaze"],
            "gaze_angles": jnp.degrees(d["gaze_angles"]),
            "eyelid_closure": g["eyelid_closure"],
            "lip_gap": g["lip_gap"],
            "hair_present": d["hair_present"],
            "background_id": d["background_id"],
            "camera_exposure": exposure,
            **{k: d[k] for k in ("camera_blur", "jpeg_quality")},
            "raster_overflow": out["overflow"],
        }
        if c.store_detailed_vertices:
            sample["vertices_detailed"] = detail.detailed_mesh(
                vertices, self.geometry.triangles, displacement, self.subdivision
            )
        return sample


def brow_strands(resolution: int, seed: int = 0) -> np.ndarray:
    """(R, R) in [0, 1]: short strokes along u (brow hairs run sideways), which break the
    designed brow into hairs; a fixed texture, so every sample's brows differ only by
    the sampled colour and the face's shape."""
    rng = np.random.default_rng(seed)
    s = resolution / 256.0
    z = ndimage.gaussian_filter(rng.normal(size=(resolution, resolution)), (0.6 * s, 2.5 * s), mode="wrap")
    return np.clip(0.55 + 1.2 * z / z.std(), 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=4)
def sampler(config: SyntheticConfig) -> SyntheticSampler:
    """One sampler per config and process (loading assets and compiling is the slow part)."""
    return SyntheticSampler(config)


def generate(config: SyntheticConfig, start: int, count: int) -> dict[str, np.ndarray]:
    """Samples [start, start + count) as numpy arrays (see ``SyntheticSampler._shade``).

    Raises:
      RuntimeError: the rasterizer overflowed (an incomplete image is never returned).
    """
    s = sampler(config)
    out = jax.device_get(s.sample(s.keys(start, count)))
    overflow = out.pop("raster_overflow")
    if overflow.any():
        raise RuntimeError(
            f"rasterizer overflow in samples {start + np.nonzero(overflow)[0]}; raise head_scene's RasterConfig capacities"
        )
    return {k: np.asarray(v) for k, v in out.items()}
