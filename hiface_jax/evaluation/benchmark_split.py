"""The synthetic benchmark split: images with ground-truth detailed meshes, written once.

Built from the synthetic generator's building blocks (its identity, expression,
lighting, albedo and detail distributions; the skin rendered through ``face_render``
with the detail normal map, ``SplitAssets``), with the scene fixed instead of drawn, so
every method sees the same faces:

* ``num_people`` people (seed fixed), each **neutral** and **expressive** (one of the
  non-neutral ``expressions.ARCHETYPES`` in turn, intensity U(0.6, 1)), each seen at the
  ``yaws`` (default frontal and +-35 degrees; no pitch or roll) at 135 cm under the
  generator's 12-degree camera, every image with its own SH light and background;
* ground truth per person and expression: the coarse mesh, the static and dynamic
  detail maps (the dynamic part is 0 for neutral faces) and the **detailed** mesh (the
  subdivided coarse mesh displaced by the detail), in the model frame, cm.

Two variants:

* ``synthetic``: identities beta ~ N(0, I), detail codes ~ N(0, I) in the generator's
  basis, as in training data (a method trained on it is scored in-distribution);
* ``out_of_model``: the same draws, plus what no ICT fit can express: a smooth random
  deformation of the identity (sum of random plane waves of ``wavelength_cm``, with its
  component in the span of the 100 identity modes removed, scaled to ``deformation_mm``
  RMS over the face) shared by both expressions, and **cross-person detail** from
  procedural scans of people outside the basis's training set: person p's static
  detail with the wrinkles (compressed / stretched maps) of another held-out person,
  blended by the expression's tension as SD-DeTail does.

Two scenes: ``skin`` (the default; every figure recorded before the head scene existed) renders the skin alone, its
eye and mouth openings a dark socket; ``head`` renders the generator's head scene around the
same skin (``head_scene``: eyeballs with irises, teeth and mouth interior, lash lines, the
torso; bald; specular skin and ambient occlusion), eyes open, looking straight ahead: a photo
of a neutral face shows eyes, and the fitter's eye terms read them.

``ensure_split`` writes a split into ``root/<variant>-<config hash>/`` once (atomically:
a temporary folder renamed when complete) and later calls only re-read it; sample
draws depend only on (seed, person), so the same config gives the same files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import scipy.spatial
from tqdm import tqdm

import rendering
from hiface_jax.data import eyes_mouth, hair, head_scene, scene_sampling, synthetic, torso
from hiface_jax.evaluation import realy
from hiface_jax.evaluation import regions as regions_lib
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import expressions, face_render
from hiface_jax.face import face_model as fm
from hiface_jax.face.landmarks import landmarks_3d
from hiface_jax.geometry import camera, rotation
from hiface_jax.sddetail import detail, detail_basis, detail_scans

FORMAT_VERSION = 1
VARIANTS = ("synthetic", "out_of_model")
EXPRESSIONS = ("neutral", "expressive")
SCENES = ("skin", "head")
LOOK_STREAM = 1_000_003  # folded into a person's key for the head scene's appearance
# Procedural-scan seeds of out-of-model detail: far from the basis's (0 .. num_scans).
HELD_OUT_SCAN_SEED = 7_000_000_000
SUBDIVISION_LEVELS = 1  # of the detailed ground-truth mesh (4x the coarse triangles)
FOV_DEGREES = synthetic.SyntheticConfig.fov_degrees  # the generator's camera (12 degrees)
# The skin's inside, seen through the eye and mouth openings: a dark reddish socket.
INTERIOR_ALBEDO = (0.04, 0.015, 0.015)


class SplitError(ValueError):
    """A split folder is missing, incomplete, or was built for another config."""


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """What a split holds (all fields key its folder)."""

    variant: str = "synthetic"
    seed: int = 2026
    num_people: int = 8
    yaws: tuple[float, ...] = (0.0, -35.0, 35.0)
    image_size: int = 224
    uv_resolution: int = 256
    distance: float = 135.0  # cm
    deformation_mm: float = 2.5  # out_of_model: RMS of the out-of-span deformation over the face
    wavelength_cm: float = 6.0  # out_of_model: of the plane waves that make it
    detail_basis: str | None = None  # path; None: the generator's default basis
    ict_dir: str | None = None
    scene: str = "skin"  # or "head": eyes, mouth interior and torso around the skin

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.scene not in SCENES:
            raise ValueError(f"scene must be one of {', '.join(SCENES)}, got {self.scene!r}")
        if self.num_people < 1 or not self.yaws:
            raise ValueError("a split needs at least one person and one yaw")

    def fingerprint(self) -> str:
        """Keys the folder: the config and the format (bumped when generation changes)."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "ict_dir"} | {"format": FORMAT_VERSION}
        if self.scene == "skin":
            del fields["scene"]  # the folders built before scenes existed keep their names
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


@dataclasses.dataclass(frozen=True)
class Intrinsics:
    """The pinhole camera of a benchmark image (what a method is told): square, principal
    point at the centre, ``focal`` in pixels."""

    image_size: int
    focal: float

    @property
    def fov_degrees(self) -> float:
        return math.degrees(2.0 * math.atan(0.5 * self.image_size / self.focal))


@dataclasses.dataclass(frozen=True)
class SplitItem:
    """One benchmark image and where its ground truth is."""

    index: int
    person: int
    expression: str
    yaw: float
    image: Path
    ground_truth: Path
    rotation: tuple  # (3, 3) head rotation, camera space (not given to methods)
    translation: tuple  # (3,) cm

    @property
    def name(self) -> str:
        return self.image.stem


@dataclasses.dataclass(frozen=True)
class BenchmarkSplit:
    """A split read back from disk."""

    root: Path
    config: SplitConfig
    intrinsics: Intrinsics
    items: tuple[SplitItem, ...]

    def read_images(self, items: list[SplitItem]) -> np.ndarray:
        """(B, S, S, 3) uint8 sRGB images."""
        return np.stack([iio.imread(item.image) for item in items])


# ----------------------------------------------------------------------------- drawing


def out_of_span_deformation(
    model: fm.FaceModel, rng: np.random.Generator, rms_mm: float, wavelength_cm: float, waves: int = 16
) -> np.ndarray:
    """(V, 3) cm: a smooth random field over the mean face with no component in the
    identity span, scaled to ``rms_mm`` RMS over the face area.

    The field is a sum of plane waves a_k sin(w_k . x + phi_k) (random directions,
    |w_k| = 2 pi / wavelength, a_k ~ N(0, I)); its least-squares projection onto the
    identity basis is removed.
    """
    x = np.asarray(model.mean_shape, np.float64)
    direction = rng.normal(size=(waves, 3))
    omega = direction / np.linalg.norm(direction, axis=1, keepdims=True) * (2.0 * math.pi / wavelength_cm)
    phase = rng.uniform(0.0, 2.0 * math.pi, waves)
    amplitude = rng.normal(size=(waves, 3))
    field = np.sin(x @ omega.T + phase) @ amplitude  # (V, 3)
    basis = np.asarray(model.identity_basis, np.float64).reshape(model.num_identity, -1)  # (K, 3V)
    coeffs = np.linalg.solve(basis @ basis.T, basis @ field.reshape(-1))  # normal equations: 100 x 100
    field = field - (coeffs @ basis).reshape(field.shape)
    face = model.region_vertices("face")
    rms = np.sqrt((field[face] ** 2).sum(1).mean())
    return field * (rms_mm / 10.0) / rms


@dataclasses.dataclass(frozen=True, eq=False)
class SplitAssets:
    """Host-side parts the split renders with (compared by identity: a jit static argument).

    Built from the generator's building blocks (the face model's skin, the albedo
    layout, the detail basis, the detail UV geometry and subdivision, ``face_render``)
    rather than from a ``SyntheticSampler``, whose rendering grows more realistic over
    time: the benchmark must not move when the training data does.
    """

    model: fm.FaceModel
    layout: albedo_lib.AlbedoLayout
    basis: detail.DetailBasis
    geometry: detail.DetailGeometry
    subdivision: detail.Subdivision
    renderer: face_render.FaceRenderer
    focal: float
    head: head_scene.HeadScene | None = None  # the ``head`` scene
    shell_skin: np.ndarray | None = None  # (V_head - V,) the skin vertex nearest each shell vertex


@functools.lru_cache(maxsize=4)
def split_assets(
    image_size: int, uv_resolution: int, detail_basis_path: str | None, ict_dir: str | None, scene: str = "skin"
) -> SplitAssets:
    full = fm.load_face_model(ict_dir, progress=False)
    m = full.submesh()
    basis = (
        detail_basis.load_or_build_default_basis(m, uv_resolution)
        if detail_basis_path is None
        else detail_basis.load_detail_basis(detail_basis_path, uv_resolution)
    )
    tris, uvs, uv_tris = np.asarray(m.triangles), np.asarray(m.uv_coords), np.asarray(m.uv_triangles)
    return SplitAssets(
        model=m,
        layout=albedo_lib.albedo_layout(
            uvs, uv_tris, tris, np.asarray(m.landmark_indices), m.num_vertices, uv_resolution
        ),
        basis=basis,
        geometry=detail.detail_geometry(m, uv_resolution),
        subdivision=detail.subdivide(tris, uvs, uv_tris, SUBDIVISION_LEVELS),
        renderer=face_render.make_renderer(m, image_size, FOV_DEGREES, interior_albedo=INTERIOR_ALBEDO),
        focal=0.5 * image_size / math.tan(math.radians(FOV_DEGREES) / 2.0),
        **(_head_assets(full, m, image_size) if scene == "head" else {}),
    )


def _head_assets(full: fm.FaceModel, skin: fm.FaceModel, image_size: int) -> dict:
    """The head scene and, for the out-of-span deformation (defined on the skin), the skin
    vertex each eye and mouth shell vertex follows (nearest at rest; the field is smooth)."""
    head = head_scene.build_head_scene(full, image_size, FOV_DEGREES)
    shells = np.asarray(head.model.mean_shape)[skin.num_vertices :]
    _, nearest = scipy.spatial.cKDTree(np.asarray(skin.mean_shape)).query(shells)
    return {"head": head, "shell_skin": nearest.astype(np.int32)}


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _random_draws(key: jax.Array, num_identity: int, code_sizes: tuple[int, int, int], views: int, image_size: int):
    """The random variables of one person (both expressions, all views), one jitted call."""
    k = jax.random.split(key, 8)
    scene = scene_sampling.SceneDistribution()
    return {
        "identity": jax.random.normal(k[0], (num_identity,)),
        "intensity": jax.random.uniform(k[1], (), minval=0.6, maxval=1.0),
        "sh": scene_sampling.sample_lighting(k[2], views, scene),
        "background": scene_sampling.sample_backgrounds(k[3], views, image_size),
        "albedo": albedo_lib.sample_albedo(k[4], 1, 8),
        "codes": detail.DetailCodes(*(jax.random.normal(kk, (n,)) for kk, n in zip(k[5:], code_sizes))),
    }


@jax.jit
def _look_draw(key: jax.Array) -> dict[str, jnp.ndarray]:
    """The ``head`` scene's appearance of one person (batch of 1): eyes, torso, skin
    specularity as the generator draws them; no hair (the forehead stays in view)."""
    k = jax.random.split(key, 5)
    hair_style = hair.sample_hair(k[1], 1)
    return {
        **eyes_mouth.sample_eye_appearance(k[0], 1),
        **hair_style,
        "hair_present": jnp.zeros_like(hair_style["hair_present"]),
        **torso.sample_torso(k[2], 1),
        "skin_specular": jax.random.uniform(k[3], (1,), minval=0.02, maxval=0.08),
        "skin_shininess": jax.random.uniform(k[4], (1,), minval=10.0, maxval=35.0),
    }


def _person_draw(config: SplitConfig, model: fm.FaceModel, basis: detail.DetailBasis, person: int) -> dict:
    key = jax.random.fold_in(jax.random.key(config.seed), person)
    sizes = (basis.num_static, basis.num_compress, basis.num_stretch)
    draw = jax.device_get(
        _random_draws(key, model.num_identity, sizes, len(EXPRESSIONS) * len(config.yaws), config.image_size)
    )
    archetypes = expressions.archetype_matrix(model.expression_names)[1:]  # without "neutral"
    draw["expression"] = archetypes[person % len(archetypes)] * float(draw.pop("intensity"))
    if config.scene == "head":  # its own stream: the skin scene's draws stay as they were
        draw["look"] = jax.device_get(_look_draw(jax.random.fold_in(key, LOOK_STREAM)))
    if config.variant == "out_of_model":
        rng = np.random.default_rng([config.seed, person])
        draw["deformation"] = out_of_span_deformation(model, rng, config.deformation_mm, config.wavelength_cm)
    return draw


def _cross_person_maps(layout, config: SplitConfig, person: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Static map of held-out person p and compressed / stretched maps carrying the
    wrinkles of held-out person p + num_people, on p's static detail (cm)."""
    own = detail_scans.procedural_scan(layout, HELD_OUT_SCAN_SEED + config.seed * 1000 + person)
    other = detail_scans.procedural_scan(layout, HELD_OUT_SCAN_SEED + config.seed * 1000 + config.num_people + person)
    return own.static, own.static + other.compressed - other.static, own.static + other.stretched - other.static


@functools.partial(jax.jit, static_argnums=0)
def _ground_truth(sampler: SplitAssets, beta, psi, deformation, codes, scan_maps):
    """Coarse meshes (E, V, 3), static and total displacement (E, H, W), detailed meshes,
    for the E expressions of one person. Detail from ``codes`` in the basis, or (out of
    model) from ``scan_maps`` (static, compressed, stretched), blended by tension."""
    m = sampler.model
    neutral = fm.neutral_shape(m, beta) + deformation
    coarse = fm.shape(m, beta, psi) + deformation
    tension = detail.tension_map(sampler.geometry, coarse, neutral)
    if scan_maps is None:
        maps = detail.evaluate_detail(
            sampler.basis, jax.tree.map(lambda x: jnp.broadcast_to(x, (len(psi),) + x.shape), codes), tension
        )
        static, displacement = maps.static, maps.displacement
    else:
        d_s, d_c, d_t = scan_maps
        static = jnp.broadcast_to(d_s, tension.shape)
        displacement = detail.detail_displacement(d_s, d_c, d_t, *detail.blend_weights(tension))
    detailed = detail.detailed_mesh(coarse, sampler.geometry.triangles, displacement, sampler.subdivision)
    return coarse, static, displacement, detailed


@functools.partial(jax.jit, static_argnums=0)
def _render_views(
    sampler: SplitAssets,
    coarse,
    rotations,
    distance,
    displacement,
    albedo,
    sh,
    background,
    head=None,
    psi=None,
    look=None,
):
    """uint8 images (B, S, S, 3), translations (B, 3) and overflow counts of B views; for the
    ``head`` scene, its (B, V_head, 3) rest vertices, (B, K) expressions and ``_look_draw``."""
    m = sampler.model
    # The landmarks' centroid at (0, 0, -distance), as the generator centres its faces.
    centre = jnp.mean(landmarks_3d(coarse, m.landmark_indices), axis=-2)
    translation = jnp.array([0.0, 0.0, -1.0]) * distance - jnp.einsum("bij,bj->bi", rotations, centre)
    posed = camera.rigid_transform(coarse, rotations, translation)
    albedo_map = albedo_lib.albedo_map(albedo["base"], albedo["lips"], albedo["brows"], albedo["grid"], sampler.layout)
    normal_map, _ = detail.detailed_normal_map(posed, displacement, sampler.geometry)
    if sampler.head is None:
        out = face_render.render(sampler.renderer, posed, albedo_map, sh, background, normal_map)
    else:
        out = _render_head(
            sampler, head, psi, coarse, rotations, translation, albedo_map, normal_map, sh, background, look
        )
    image = jnp.round(albedo_lib.linear_to_srgb(out["image"]) * 255).astype(jnp.uint8)
    return image, translation, out["overflow"]


def _render_head(
    sampler: SplitAssets, head, psi, coarse, rotations, translation, albedo_map, normal_map, sh, background, look
):
    """``head_scene.render_scene`` of the views (linear RGB), lit by the views' SH light."""
    sc = sampler.head
    b = head.shape[0]
    look = jax.tree.map(lambda x: jnp.broadcast_to(x, (b,) + x.shape[1:]), look)
    head_cam = camera.rigid_transform(head, rotations, translation)
    euler = rotation.matrix_to_euler(rotations)
    torso_cam = torso.pose_torso(torso.torso_rest(jnp.asarray(sc.torso_uv), look), euler, rotations, translation)
    vertices, aux, ao = head_scene.assemble(sc, head_cam, psi, look, torso_cam)
    light_direction, light_colour = rendering.dominant_light(sh)
    down = jnp.einsum("bij,j->bi", rotations, jnp.array([0.0, -1.0, 0.0]))
    gap = eyes_mouth.lip_gap(landmarks_3d(coarse, sampler.model.landmark_indices))
    # A shut eye's slit shows lashes, not the eyeball (as in the generator).
    closure = jnp.stack([psi[:, sc.model.expression_index(f"eyeBlink_{side}")] for side in "LR"], -1)
    look = {**look, "lash_cover": eyes_mouth.lash_cover(closure), "mouth_closed": eyes_mouth.mouth_closed(gap)}
    lash_lined = albedo_map * (1.0 - synthetic.LASH_DARKENING * sampler.layout.lashes[..., None])  # as the generator's
    return head_scene.render_scene(
        sc, vertices, aux, ao, lash_lined, normal_map, look, sh, light_direction, light_colour, down, background
    )


def _build_person(sampler, config: SplitConfig, regions, scan_layout, person: int) -> tuple[list[dict], list[dict]]:
    """Ground truths (one per expression) and views of one person, as arrays."""
    m = sampler.model
    d = _person_draw(config, m, sampler.basis, person)
    psi = np.stack([np.zeros_like(d["expression"]), d["expression"]]).astype(np.float32)
    beta = np.broadcast_to(d["identity"], (2, m.num_identity)).astype(np.float32)
    deformation = d.get("deformation", np.zeros((m.num_vertices, 3))).astype(np.float32)
    scan_maps = None if scan_layout is None else _cross_person_maps(scan_layout, config, person)
    coarse, static, displacement, detailed = jax.device_get(
        _ground_truth(sampler, beta, psi, deformation, d["codes"], scan_maps)
    )
    truths = [
        {
            "vertices_coarse": coarse[e],
            "vertices_detailed": detailed[e],
            "displacement_static": static[e],
            "displacement_dynamic": displacement[e] - static[e],
            "keypoints": regions.keypoints(coarse[e]).astype(np.float32),
            "expression": psi[e],
            "identity": beta[e],
        }
        for e in range(len(EXPRESSIONS))
    ]
    # Views: every (expression, yaw), one batch.
    pairs = [(e, yaw) for e in range(len(EXPRESSIONS)) for yaw in config.yaws]
    which = np.array([e for e, _ in pairs])
    rot = np.stack([np.asarray(rotation.euler_to_matrix(np.deg2rad(np.array([0.0, yaw, 0.0])))) for _, yaw in pairs])
    albedo = {k: np.repeat(v, len(pairs), axis=0) for k, v in d["albedo"].items()}
    head = None
    if sampler.head is not None:  # the shells follow the identity, expression and (nearest skin) deformation
        head = np.array(fm.shape(sampler.head.model, beta, psi))
        head[:, : m.num_vertices] = coarse
        head[:, m.num_vertices :] += deformation[sampler.shell_skin]
        head = head[which]
    images, translation, overflow = jax.device_get(
        _render_views(sampler, coarse[which], rot.astype(np.float32), config.distance, displacement[which], albedo,
                      d["sh"], d["background"], head, psi[which], d.get("look"))
    )  # fmt: skip
    if int(np.max(overflow)) > 0:
        raise RuntimeError(
            f"rasterizer overflow rendering person {person}; raise face_render's RasterConfig capacities"
        )
    views = [
        {"expression": EXPRESSIONS[e], "yaw": float(yaw), "image": images[k],
         "rotation": rot[k].tolist(), "translation": translation[k].tolist()}
        for k, (e, yaw) in enumerate(pairs)
    ]  # fmt: skip
    return truths, views


# ---------------------------------------------------------------------------- on disk


def split_folder(root: str | os.PathLike, config: SplitConfig) -> Path:
    return Path(root) / f"{config.variant}-{config.fingerprint()}"


def build_split(config: SplitConfig, folder: Path, progress: bool = True) -> None:
    """Writes the split into ``folder`` (which must not exist), atomically."""
    sampler = split_assets(config.image_size, config.uv_resolution, config.detail_basis, config.ict_dir, config.scene)
    regions = regions_lib.face_regions(sampler.model)
    scan_layout = (
        detail_scans.scan_layout(sampler.model, config.uv_resolution) if config.variant == "out_of_model" else None
    )
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    (tmp / "gt").mkdir()
    items = []
    for person in tqdm(
        range(config.num_people), desc=f"building {config.variant} split", unit="person", disable=not progress
    ):
        truths, views = _build_person(sampler, config, regions, scan_layout, person)
        for e, truth in zip(EXPRESSIONS, truths):
            np.savez(tmp / "gt" / f"p{person:03d}_{e}.npz", **truth)
        for view in views:
            name = f"p{person:03d}_{view['expression']}_yaw{view['yaw']:+04.0f}"
            iio.imwrite(tmp / "images" / f"{name}.png", view.pop("image"))
            items.append({"name": name, "person": person, "gt": f"p{person:03d}_{view['expression']}.npz", **view})
    meta = {
        "format_version": FORMAT_VERSION,
        "config": dataclasses.asdict(config) | {"ict_dir": None},
        "intrinsics": {"image_size": config.image_size, "focal": sampler.focal},
        "units": "cm; ground truth in the model frame; rotation / translation take it to camera space",
        "items": items,
    }
    (tmp / "split.json").write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder)


def load_split(folder: str | os.PathLike) -> BenchmarkSplit:
    """Reads a split written by ``build_split``.

    Raises:
      SplitError: no split there, an unknown format, or missing files.
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / "split.json").read_text())
    except (OSError, ValueError) as e:
        raise SplitError(f"{folder}: not a benchmark split ({e})") from e
    if meta.get("format_version") != FORMAT_VERSION:
        raise SplitError(f"{folder}: split format {meta.get('format_version')}, expected {FORMAT_VERSION}; rebuild it")
    cfg = dict(meta["config"])
    cfg["yaws"] = tuple(cfg["yaws"])
    config = SplitConfig(**cfg)
    items = tuple(
        SplitItem(
            index=k, person=it["person"], expression=it["expression"], yaw=it["yaw"],
            image=folder / "images" / f"{it['name']}.png", ground_truth=folder / "gt" / it["gt"],
            rotation=tuple(map(tuple, it["rotation"])), translation=tuple(it["translation"]),
        )
        for k, it in enumerate(meta["items"])
    )  # fmt: skip
    missing = [p for it in items for p in (it.image, it.ground_truth) if not p.is_file()]
    if missing:
        raise SplitError(f"{folder}: {len(missing)} files missing (first {missing[0]}); delete the folder to rebuild")
    return BenchmarkSplit(folder, config, Intrinsics(**meta["intrinsics"]), items)


def ensure_split(config: SplitConfig, root: str | os.PathLike, progress: bool = True) -> BenchmarkSplit:
    """The split of ``config`` under ``root``: built on first use, re-read afterwards."""
    folder = split_folder(root, config)
    if not (folder / "split.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        build_split(config, folder, progress)
    split = load_split(folder)
    if split.config != dataclasses.replace(config, ict_dir=None):
        raise SplitError(f"{folder} holds a split of another config; delete it to rebuild")
    return split


# ----------------------------------------------------------------------- ground truth


@dataclasses.dataclass(frozen=True)
class Topology:
    """What scoring a split's ground truth needs from the face model (computed once)."""

    regions: regions_lib.FaceRegions
    dense_triangles: np.ndarray
    dense_labels: np.ndarray


def topology(model: fm.FaceModel) -> Topology:
    """Regions and the subdivided skin the split's detailed meshes use (one level, as the generator)."""
    regions = regions_lib.face_regions(model)
    skin = model.submesh()
    sub = detail.subdivide(
        np.asarray(skin.triangles), np.asarray(skin.uv_coords), np.asarray(skin.uv_triangles), SUBDIVISION_LEVELS
    )
    labels = regions_lib.subdivided_labels(
        regions.labels, np.asarray(sub.corner_vertices), np.asarray(sub.corner_weights)
    )
    return Topology(regions, np.asarray(sub.triangles, np.int64), labels)


def read_ground_truth(item: SplitItem) -> dict[str, np.ndarray]:
    with np.load(item.ground_truth) as f:
        return {k: f[k] for k in f.files}


def realy_ground_truth(truth: dict[str, np.ndarray], topo: Topology) -> realy.GroundTruth:
    """The detailed ground-truth mesh of an item as REALY ground truth (mm)."""
    vertices = truth["vertices_detailed"].astype(np.float64) * 10.0
    if len(vertices) != len(topo.dense_labels):
        raise SplitError(f"ground truth has {len(vertices)} dense vertices, the topology {len(topo.dense_labels)}")
    return realy.GroundTruth(
        vertices, topo.dense_triangles, topo.dense_labels, truth["keypoints"].astype(np.float64) * 10.0
    )
