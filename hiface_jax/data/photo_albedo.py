"""Skin albedo from real photos: face photos projected onto their fitted meshes into UV
albedo maps, for synthetic faces whose skin has a real photo's texture.

Per photo (``project_albedo``, given the fit of ``fitting``):

    A(t) = I(pi(P(t))) / max(E(N(t)), 0.05)        texel t of the face UV tile

P and N are the fitted mesh's position and normal at the texel, pi the camera, I the
linear photo and E the fitted SH shading: dividing by it de-lights the photo. A texel
counts (weight w) where the camera sees it (its depth matches the rendered depth), it
faces the camera (w ramps from cos 0.15 to 0.5) and the photo's face mask (skin, without
eyes and inner mouth) covers it. Then (``complete_map``):

* mirror fill: the ICT UV layout is left-right symmetric (u -> 1 - u maps a vertex's UV
  to its mirror vertex's, checked to 1e-6), so a half the photo does not show is taken
  from the other half's texels;
* hole fill: what neither half shows is filled by push-pull (normalised convolution over
  a pyramid of 2 x 2 averages);
* seam blend: the observed and filled parts are blended by a feathered weight, so no
  edge of the visible region shows.

A bank holds several maps with their mean skin colour; the sampler picks one per sample
(``sample_mix``), moves it toward the sampled skin tone (a per-channel ratio, partially)
and mixes it with the designed albedo (``mix``). Banks are built from the user's photos
(``make_dataset --photos``) or from the public-domain photos shipped in packages
(scikit-image's astronaut, matplotlib's Grace Hopper; scikit-image's ``lfw_subset``
faces are 25 x 25 pixels, too small to fit), and cached under ``~/.cache/hiface``; they
derive from ICT-FaceKit and are never committed.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from scipy import ndimage

import rendering
from hiface_jax.face import albedo as albedo_lib
from hiface_jax.face import face_model as fm
from hiface_jax.face import face_render
from hiface_jax.face.ict_facekit import cache_dir
from hiface_jax.geometry import camera, uv

PACKAGED = "packaged"
BANK_FORMAT = 1
BANK_RESOLUTION = 256
MAX_PHOTOS = 64
PHOTOMETRIC_STEPS = 100  # the fit only needs pose, shape and light: the albedo is projected
MASK_EROSION = 7  # px at 224: the photo's face mask shrinks by this before projecting
DEPTH_TOLERANCE = 0.4  # cm between a texel's depth and the rendered depth at its pixel
COLOUR_TRANSFER = (0.3, 1.0)  # range of the exponent of the skin-tone ratio
DETAIL_SIGMA = 1.0 / 48.0  # low-pass of the texture ratio, as a fraction of the map side
DETAIL_RANGE = (0.6, 1.5)


@struct.dataclass
class PhotoAlbedoBank:
    """Photo-derived albedo maps (N >= 1 rows; ``count`` = 0 means an empty bank whose
    one row is never used).

    Attributes:
      maps: (N, R, R, 3) linear albedo over the face UV tile.
      skin_colour: (N, 3) the map's mean skin colour (cheeks, forehead, nose).
      detail: (N, R, R, 3) the map's texture: its ratio to its own low-pass version.
      count: number of real maps.
      names: their sources.
    """

    maps: jnp.ndarray
    skin_colour: jnp.ndarray
    detail: jnp.ndarray  # (N, R, R, 3) maps / their low-pass (``DETAIL_SIGMA``), clipped to DETAIL_RANGE
    count: int = struct.field(pytree_node=False)
    names: tuple[str, ...] = struct.field(pytree_node=False)


class PhotoAlbedoError(ValueError):
    """A bank file or photo set that cannot be used, with the reason."""


def project_albedo(
    model: fm.FaceModel,
    vertices: jnp.ndarray,
    sh: jnp.ndarray,
    images: jnp.ndarray,
    face_masks: jnp.ndarray,
    renderer: face_render.FaceRenderer,
    raster: uv.UVRaster,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Projects photos onto their meshes into the face UV tile and de-lights them.

    Args:
      model: the coarse model (its triangles and UVs define the tile).
      vertices: (B, V, 3) fitted camera-space vertices.
      sh: (B, 9, 3) fitted SH radiance.
      images: (B, S, S, 3) linear photos (the fitted crops).
      face_masks: (B, S, S) where the photo shows skin.
      renderer: the fit's renderer (camera).
      raster: ``uv.uv_raster`` of the model at the map resolution.
    Returns:
      albedo (B, R, R, 3) and its weight (B, R, R) in [0, 1] (0: not observed).
    """
    tris = jnp.asarray(model.triangles)
    s = renderer.image_size
    normals = rendering.vertex_normals(vertices, tris)
    position = uv.to_uv_map(vertices, tris, raster)
    normal = rendering.safe_normalize(uv.to_uv_map(normals, tris, raster))
    focal = 0.5 * s / np.tan(np.radians(renderer.fov_degrees) / 2.0)
    pixel = camera.perspective_project(position, jnp.asarray(focal, jnp.float32), jnp.full((2,), s / 2.0))
    grey = jnp.full(vertices.shape[:1] + (4, 4, 3), 0.5)
    depth = face_render.render(renderer, vertices, grey, sh)["depth"]
    col = jnp.clip(jnp.floor(pixel[..., 0]).astype(jnp.int32), 0, s - 1)
    row = jnp.clip(jnp.floor(pixel[..., 1]).astype(jnp.int32), 0, s - 1)
    at = jax.vmap(lambda img, r, c: img[r, c])
    seen = jnp.abs(at(depth, row, col) + position[..., 2]) < DEPTH_TOLERANCE
    inside = (pixel >= 0).all(-1) & (pixel < s).all(-1)
    colour = _bilinear_batch(images, pixel - 0.5)
    cos_view = jnp.sum(normal * rendering.safe_normalize(-position), -1)
    shading = rendering.sh_shading(normal, sh[:, None, None])
    albedo = colour / jnp.maximum(shading, 0.05)
    weight = (
        seen * inside * jnp.asarray(raster.covered) * _bilinear_batch(face_masks[..., None], pixel - 0.5)[..., 0]
        * jnp.clip((cos_view - 0.15) / 0.35, 0.0, 1.0)
    )  # fmt: skip
    return jnp.clip(albedo, 0.0, 1.0), jnp.clip(weight, 0.0, 1.0)


def _bilinear_batch(images: jnp.ndarray, xy: jnp.ndarray) -> jnp.ndarray:
    """(B, H, W, C) images at (B, ..., 2) pixel coordinates (x, y; centres at integers)."""
    h, w = images.shape[1:3]
    x, y = xy[..., 0], xy[..., 1]
    x0, y0 = jnp.floor(x), jnp.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    xi = [jnp.clip(x0.astype(jnp.int32) + d, 0, w - 1) for d in (0, 1)]
    yi = [jnp.clip(y0.astype(jnp.int32) + d, 0, h - 1) for d in (0, 1)]
    at = jax.vmap(lambda img, r, c: img[r, c])
    top = at(images, yi[0], xi[0]) * (1 - fx) + at(images, yi[0], xi[1]) * fx
    bottom = at(images, yi[1], xi[0]) * (1 - fx) + at(images, yi[1], xi[1]) * fx
    return top * (1 - fy) + bottom * fy


def push_pull_fill(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(H, W, C) values completed where ``weight`` (H, W) is small: each level of a
    2 x 2 pyramid of weighted averages fills the finer level's gaps (push-pull)."""
    if values.shape[0] <= 1 or values.shape[1] <= 1 or weight.sum() <= 0:
        total = max(weight.sum(), 1e-9)
        return np.broadcast_to((values * weight[..., None]).sum((0, 1)) / total, values.shape).copy()
    h, w = values.shape[:2]
    ph, pw = h % 2, w % 2
    vw = np.pad(values * weight[..., None], ((0, ph), (0, pw), (0, 0)))
    ww = np.pad(weight, ((0, ph), (0, pw)))
    sum_vw = vw.reshape(vw.shape[0] // 2, 2, vw.shape[1] // 2, 2, -1).sum((1, 3))
    sum_w = ww.reshape(ww.shape[0] // 2, 2, ww.shape[1] // 2, 2).sum((1, 3))
    coarse_w = np.minimum(sum_w, 1.0)
    coarse = push_pull_fill(sum_vw / np.maximum(sum_w, 1e-9)[..., None], coarse_w)
    up = np.repeat(np.repeat(coarse, 2, 0), 2, 1)[:h, :w]
    up = ndimage.uniform_filter(up, size=(3, 3, 1), mode="nearest")
    own = values * weight[..., None] / np.maximum(weight, 1e-9)[..., None]
    wc = np.clip(weight, 0.0, 1.0)[..., None]
    return wc * own + (1.0 - wc) * up


def complete_map(albedo: np.ndarray, weight: np.ndarray, feather: float = 2.0) -> np.ndarray:
    """Mirror fill, push-pull hole fill and a feathered seam blend of one projected map.

    Args:
      albedo: (R, R, 3) projected albedo; weight: (R, R) its weight in [0, 1].
      feather: Gaussian sigma of the seam blend, in texels at R = 256 (scaled with R).
    Returns:
      (R, R, 3) complete albedo in [0, 1].
    """
    albedo, weight = np.asarray(albedo, np.float64), np.asarray(weight, np.float64)
    mirror_a, mirror_w = albedo[:, ::-1], weight[:, ::-1]  # u -> 1 - u
    w_total = weight + (1.0 - weight) * mirror_w
    merged = (weight[..., None] * albedo + ((1.0 - weight) * mirror_w)[..., None] * mirror_a) / np.maximum(
        w_total, 1e-9
    )[..., None]
    filled = push_pull_fill(merged, w_total)
    sigma = feather * albedo.shape[0] / 256.0
    soft = np.clip(ndimage.gaussian_filter(np.where(w_total > 0.5, 1.0, 0.0), sigma), 0.0, 1.0) * np.clip(2 * w_total, 0, 1)
    blurred = push_pull_fill(ndimage.gaussian_filter(merged, (sigma, sigma, 0)), w_total)
    out = soft[..., None] * merged + (1.0 - soft[..., None]) * np.where(w_total[..., None] > 0.05, blurred, filled)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def skin_colour(albedo: np.ndarray, layout: albedo_lib.AlbedoLayout) -> np.ndarray:
    """(3,) median albedo over the skin of the face tile, away from lips and brows."""
    r = albedo.shape[0]
    skin = np.asarray(jax.image.resize(jnp.asarray(layout.skin), (r, r), "linear")) > 0.5
    feature = np.asarray(jax.image.resize(jnp.asarray(layout.lips + layout.brows), (r, r), "linear")) > 0.05
    sel = skin & ~feature
    return np.median(albedo[sel], axis=0).astype(np.float32)


# Photos whose subject wears glasses: the band of the map from the brows to the
# cheekbones is left out (filled from above and below), or the frames would be painted
# onto every face that uses the map.
PACKAGED_WITH_GLASSES = ("matplotlib:grace_hopper",)


def glasses_band(layout: albedo_lib.AlbedoLayout, resolution: int) -> np.ndarray:
    """(R, R) bool: the full-width band of rows the eye regions span, widened by 4%."""
    rows = np.nonzero(np.asarray(layout.eye_regions).max(1) > 0.05)[0]
    r = np.asarray(layout.eye_regions).shape[0]
    lo, hi = (rows.min() - 0.04 * r) * resolution / r, (rows.max() + 0.04 * r) * resolution / r
    band = (np.arange(resolution) >= lo) & (np.arange(resolution) <= hi)
    return np.broadcast_to(band[:, None], (resolution, resolution))


def packaged_photos() -> list[tuple[str, np.ndarray]]:
    """(name, uint8 RGB) of the public-domain face photos shipped in packages."""
    import matplotlib
    import skimage.data
    from PIL import Image

    grace = pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return [("skimage:astronaut", skimage.data.astronaut()), ("matplotlib:grace_hopper", np.asarray(Image.open(grace).convert("RGB")))]


def build_bank(
    photos: list[tuple[str, np.ndarray]],
    ict_dir: str | None = None,
    resolution: int = BANK_RESOLUTION,
    size: int = 224,
    glasses: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Fits every face in the photos and projects each into a completed albedo map.

    Args:
      photos: (name, (H, W, 3) uint8 RGB) pairs.
      ict_dir: the face model's location (None: the default search).
      resolution: map side.
      size: crop size of the fit.
      glasses: names of photos whose subject wears glasses (``glasses_band`` is dropped).
    Returns:
      arrays for ``save_bank``: ``maps`` (N, R, R, 3) float16, ``skin_colour`` (N, 3),
      ``names`` (N,).
    Raises:
      PhotoAlbedoError: no face could be fitted in any photo.
    """
    from tqdm import tqdm

    from hiface_jax.fit import fitting
    from hiface_jax.photo import landmark_detector as ld
    from hiface_jax.photo import preprocess

    model = fm.load_face_model(ict_dir, progress=False).submesh()
    cam = fitting.FitCamera(size)
    cfg = fitting.FitConfig(photometric_steps=PHOTOMETRIC_STEPS)
    renderer = face_render.make_renderer(model, size, cam.fov_degrees)
    layout = albedo_lib.albedo_layout(
        np.asarray(model.uv_coords), np.asarray(model.uv_triangles), np.asarray(model.triangles),
        np.asarray(model.landmark_indices), model.num_vertices, resolution,
    )  # fmt: skip
    raster = uv.uv_raster(np.asarray(model.uv_coords), np.asarray(model.uv_triangles), resolution)
    band = glasses_band(layout, resolution)
    weights = jnp.asarray(ld.IBUG68_WEIGHTS, jnp.float32)
    maps, colours, names = [], [], []
    with ld.FaceLandmarkDetector() as detector:
        for name, photo in tqdm(photos, desc="photo albedo maps", unit="photo"):
            try:
                crops = preprocess.preprocess_image(np.ascontiguousarray(photo), detector, size=size, source=name)
            except ld.NoFaceFoundError:
                tqdm.write(f"photo albedo: no face in {name}, skipped")
                continue
            for k, crop in enumerate(crops):
                image = jnp.asarray(albedo_lib.srgb_to_linear(crop.image / 255.0), jnp.float32)[None]
                # Eroded, so teeth, eyes and hair at the mask's edges do not leak into the skin.
                mask = jnp.asarray(ndimage.grey_erosion(crop.mask, size=MASK_EROSION * size // 224), jnp.float32)[None]
                lmk = jnp.asarray(crop.landmarks_68, jnp.float32)[None]
                p, _ = fitting.fit_landmarks(model, lmk, cam, cfg, weights)
                p, _ = fitting.fit_photometric(model, image, mask, lmk, p, renderer, layout, cfg, weights)
                if not all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(p)):
                    tqdm.write(f"photo albedo: the fit of {name} face {k} diverged, skipped")
                    continue
                a, w = project_albedo(model, fitting.posed_vertices(model, p), p.sh, image, mask, renderer, raster)
                w = np.asarray(w[0]) * (1.0 - band) if name in glasses else np.asarray(w[0])
                full = complete_map(np.asarray(a[0]), w)
                maps.append(full.astype(np.float16))
                colours.append(skin_colour(full, layout))
                names.append(f"{name}#{k}")
    if not maps:
        raise PhotoAlbedoError("no face could be fitted in any of the photos")
    return {"maps": np.stack(maps), "skin_colour": np.stack(colours), "names": np.asarray(names)}


def save_bank(path: str | os.PathLike, bank: dict[str, np.ndarray]) -> pathlib.Path:
    """Writes a bank atomically (a killed run leaves no half file)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, format=np.int64(BANK_FORMAT), **bank)
    os.replace(tmp, path)
    return path


def _read_bank(path: pathlib.Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as e:
        raise PhotoAlbedoError(f"{path}: not a readable photo albedo bank ({e})") from e
    missing = {"format", "maps", "skin_colour", "names"} - set(data)
    if missing:
        raise PhotoAlbedoError(f"{path}: not a photo albedo bank (missing {', '.join(sorted(missing))})")
    if int(data["format"]) != BANK_FORMAT:
        raise PhotoAlbedoError(f"{path}: bank format {int(data['format'])}, expected {BANK_FORMAT}; rebuild it")
    m = data["maps"]
    if m.ndim != 4 or m.shape[1] != m.shape[2] or m.shape[3] != 3 or m.shape[0] != data["skin_colour"].shape[0]:
        raise PhotoAlbedoError(f"{path}: maps of shape {m.shape} and colours {data['skin_colour'].shape} do not form a bank")
    if not np.isfinite(m).all():
        raise PhotoAlbedoError(f"{path}: the maps hold non-finite values")
    return data


def packaged_bank_path() -> pathlib.Path:
    """Cache file of the packaged photos' bank (keyed by their pixels and the method)."""
    h = hashlib.sha256()
    for name, photo in packaged_photos():
        h.update(name.encode())
        h.update(np.ascontiguousarray(photo).tobytes())
    h.update(repr((BANK_FORMAT, BANK_RESOLUTION, PHOTOMETRIC_STEPS, DEPTH_TOLERANCE, MASK_EROSION, PACKAGED_WITH_GLASSES)).encode())
    return cache_dir() / f"photo_albedo_packaged_{h.hexdigest()[:16]}.npz"


def bank_from_folder(
    folder: str | os.PathLike, out_dir: str | os.PathLike, max_photos: int = MAX_PHOTOS, ict_dir: str | None = None
) -> pathlib.Path:
    """Builds (or finds, when already built from the same files) the bank of a photo folder.

    Up to ``max_photos`` photos, evenly spread over the folder's sorted image files
    (recursive), are fitted and projected; unreadable files and photos without a face are
    skipped with a message. The bank is ``out_dir/photo_albedo_<hash>.npz``, the hash
    covering the chosen files (path, size, mtime) and the method's settings.

    Raises:
      PhotoAlbedoError: no image file in the folder, or no face fitted in any.
    """
    from hiface_jax.photo import image_io

    root = pathlib.Path(folder).expanduser()
    suffixes = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not files:
        raise PhotoAlbedoError(f"no photos in {root} to build albedo maps from")
    pick = [files[i] for i in np.unique(np.linspace(0, len(files) - 1, min(max_photos, len(files))).round().astype(int))]
    h = hashlib.sha256(repr((BANK_FORMAT, BANK_RESOLUTION, PHOTOMETRIC_STEPS, DEPTH_TOLERANCE, MASK_EROSION)).encode())
    for f in pick:
        st = f.stat()
        h.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    path = pathlib.Path(out_dir).expanduser() / f"photo_albedo_{h.hexdigest()[:16]}.npz"
    if path.is_file():
        return path
    photos = []
    for f in pick:
        try:
            photos.append((str(f), image_io.read_image(f)))
        except image_io.ImageReadError as e:
            print(f"photo albedo: skipped {e}", file=sys.stderr)
    return save_bank(path, build_bank(photos, ict_dir))


def load_bank(spec: str | None, resolution: int, ict_dir: str | None = None) -> PhotoAlbedoBank:
    """The bank a config names, resampled to ``resolution``.

    Args:
      spec: None (empty bank), ``PACKAGED`` (built on first use and cached) or a bank file.
    Raises:
      PhotoAlbedoError: an unreadable or malformed bank file, or no fittable photo.
    """
    if spec is None:
        return PhotoAlbedoBank(
            jnp.zeros((1, resolution, resolution, 3)), jnp.ones((1, 3)), jnp.ones((1, resolution, resolution, 3)), 0, ()
        )
    if spec == PACKAGED:
        path = packaged_bank_path()
        if not path.is_file():
            print(f"building the photo albedo maps of the packaged photos into {path} (first use only)", file=sys.stderr)
            save_bank(path, build_bank(packaged_photos(), ict_dir, glasses=PACKAGED_WITH_GLASSES))
    else:
        path = pathlib.Path(spec).expanduser()
        if not path.is_file():
            raise PhotoAlbedoError(f"photo albedo bank {path} does not exist (build one with make_dataset --photos)")
    data = _read_bank(path)
    maps = jnp.asarray(data["maps"], jnp.float32)
    if maps.shape[1] != resolution:
        maps = jax.image.resize(maps, (maps.shape[0], resolution, resolution, 3), "linear")
    names = tuple(str(n) for n in data["names"])
    maps = np.clip(np.asarray(maps, np.float64), 0.0, 1.0)
    sigma = DETAIL_SIGMA * resolution
    low = ndimage.gaussian_filter(maps, (0, sigma, sigma, 0), mode="nearest")
    detail = np.clip(maps / np.maximum(low, 1e-3), *DETAIL_RANGE)
    return PhotoAlbedoBank(
        jnp.asarray(maps, jnp.float32), jnp.asarray(data["skin_colour"], jnp.float32), jnp.asarray(detail, jnp.float32),
        len(names), names,
    )  # fmt: skip


def sample_mix(key: jax.Array, batch: int, bank: PhotoAlbedoBank, probability: float) -> dict[str, jnp.ndarray]:
    """Per sample: which map (``albedo_photo_id``, -1: none), how much of its colour
    replaces the designed one (``albedo_photo_weight`` U(0, 0.35)), how much of its
    texture is applied (``albedo_photo_detail`` U(0.3, 0.8)) and the skin-tone transfer
    exponent."""
    k = jax.random.split(key, 5)
    use = jax.random.bernoulli(k[0], probability if bank.count else 0.0, (batch,))
    ids = jax.random.randint(k[1], (batch,), 0, max(bank.count, 1))
    return {
        "albedo_photo_id": jnp.where(use, ids, -1),
        "albedo_photo_weight": jnp.where(use, jax.random.uniform(k[2], (batch,), maxval=0.35), 0.0),
        "albedo_photo_detail": jnp.where(use, jax.random.uniform(k[4], (batch,), minval=0.3, maxval=0.8), 0.0),
        "albedo_photo_transfer": jax.random.uniform(k[3], (batch,), minval=COLOUR_TRANSFER[0], maxval=COLOUR_TRANSFER[1]),
    }


def feature_regions(layout: albedo_lib.AlbedoLayout) -> np.ndarray:
    """(R, R) soft mask of the eye regions and the lips widened by 3% of the map: where
    photo maps carry glasses, make-up, teeth and the fit's worst misalignment."""
    r = np.asarray(layout.lips).shape[0]
    lips = ndimage.grey_dilation(np.asarray(layout.lips), size=max(1, round(0.06 * r)))
    lips = ndimage.gaussian_filter(lips, 0.015 * r)
    return np.clip(np.maximum(np.asarray(layout.eye_regions), 1.5 * lips), 0.0, 1.0).astype(np.float32)


def mix(
    designed: jnp.ndarray, base: jnp.ndarray, bank: PhotoAlbedoBank, d: dict[str, jnp.ndarray], features: jnp.ndarray
) -> jnp.ndarray:
    """(B, R, R, 3) designed albedo mixed with the sampled photo maps.

        A = lerp(designed, toned photo, weight) * detail ** detail_strength

    The toned photo is the map scaled per channel by (base / its skin colour) ** transfer,
    which moves its tone toward the sampled skin tone ``base`` (B, 3); the detail is the
    map's ratio to its low-pass version (pores, freckles, fine lines), so the texture of
    a real photo reaches every skin tone without its blotches and baked-in shading.
    In the ``feature_regions`` (R, R) the designed albedo is kept.
    """
    ids = jnp.maximum(d["albedo_photo_id"], 0)
    ratio = (base / jnp.maximum(bank.skin_colour[ids], 1e-3)) ** d["albedo_photo_transfer"][:, None]
    toned = jnp.clip(bank.maps[ids] * ratio[:, None, None], 0.0, 1.0)
    keep = 1.0 - features[..., None]
    w = d["albedo_photo_weight"][:, None, None, None] * keep
    strength = d["albedo_photo_detail"][:, None, None, None] * keep
    return jnp.clip((designed + (toned - designed) * w) * bank.detail[ids] ** strength, 0.0, 1.0)
