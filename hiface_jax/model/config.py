"""Default model, loss and data settings of HiFace training, as ml_collections ConfigDicts.

``launch/configs/hiface.py`` composes them into one config with ``model``, ``loss`` and
``data`` fields (``build_model`` and ``loss_fn`` read those fields). Presets:

* ``tiny``: CPU, minutes; the small encoder at 96 px, UV 64 (tests, smoke runs).
* ``base``: one GPU; ResNet-50 at 224 px, UV 256, bf16 compute.
* ``pod``: as ``base``; batch size and data sources are the trainer's / data's business.
"""

from __future__ import annotations

from ml_collections import ConfigDict

PRESETS = ("tiny", "base", "pod")
DETAIL_KINDS = ("sddetail", "none", "deca")
ENCODERS = ("small", "resnet18", "resnet50")

# The camera of every image the model sees: synthetic renders (``SyntheticConfig``) and
# photo crops (``photo.preprocess`` with ``FitCamera(224, 12)``) share the 12-degree field
# of view, so one head predicts translations valid for both at any resolution.
FOV_DEGREES = 12.0


def _check(preset: str) -> None:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")


def model_config(preset: str) -> ConfigDict:
    """Encoder, resolution, detail variant and which SD-DeTail parts train.

    Fields:
      encoder: 'small' (CPU), 'resnet18' or 'resnet50' (``encoder.ENCODERS``).
      image_size: S, input crops are (S, S, 3).
      fov_degrees: the pinhole camera of the crops (``FOV_DEGREES``).
      uv_resolution: side of the detail / albedo UV maps.
      albedo_grid: side of the relative albedo variation grid (``albedo.albedo_map``).
      detail: 'sddetail' (the paper), 'none' (coarse-only baseline) or 'deca' (DECA-style baseline).
      detail_basis: path of a saved ``DetailBasis``; None builds / loads the default one.
      learn_static_basis: train the static PCA basis (paper: frozen).
      learn_dynamic_maps: train the compress / stretch maps (paper: learned).
      learn_dynamic_head: train the [identity, static code] -> dynamic code regression.
      deca_code_dim: detail code size of the DECA baseline (DECA: 128).
      deca_amplitude_cm: DECA's tanh * 0.01 (FLAME metres), i.e. 1 cm in our units.
      compute_dtype: 'float32' or 'bfloat16' for the encoder's convolutions (heads, geometry and
        losses stay float32).
    """
    _check(preset)
    c = ConfigDict()
    c.encoder = "small" if preset == "tiny" else "resnet50"
    c.image_size = 96 if preset == "tiny" else 224
    c.fov_degrees = FOV_DEGREES
    c.uv_resolution = 64 if preset == "tiny" else 256
    c.albedo_grid = 8
    c.detail = "sddetail"
    c.detail_basis = None
    c.learn_static_basis = False
    c.learn_dynamic_maps = True
    c.learn_dynamic_head = True
    c.deca_code_dim = 128
    c.deca_amplitude_cm = 1.0
    c.compute_dtype = "float32" if preset == "tiny" else "bfloat16"
    return c


# Term names (the keys ``loss_fn`` returns); the weight of each is its config field.
SYNTHETIC_TERMS = ("coefficients", "vertex", "landmark_synthetic", "static_detail", "dynamic_detail")
IMAGE_TERMS = ("photometric_coarse", "photometric_detail", "landmark", "eye_closure", "lip_closure")
PRIOR_TERMS = (
    "identity_prior",
    "expression_prior",
    "lighting_prior",
    "albedo_prior",
    "static_prior",
    "dynamic_prior",
    "detail_smoothness",
    "detail_symmetry",
)
TERMS = SYNTHETIC_TERMS + IMAGE_TERMS + PRIOR_TERMS


def loss_config(preset: str) -> ConfigDict:
    """One weight per loss term (``objective`` documents each term's formula and units)."""
    _check(preset)
    c = ConfigDict()
    # Synthetic supervision (synthetic samples only).
    c.coefficients = 1.0  # L1 on codes (unitless)
    c.vertex = 1.0  # L1, mm
    c.landmark_synthetic = 100.0  # squared, in units of the image side (as losses.landmark_loss)
    # Detail maps are 10-100x smaller than shape errors (tenths of a mm): weights that give
    # their L1 the vertex term's scale.
    c.static_detail = 100.0  # L1, mm
    c.dynamic_detail = 100.0  # L1, mm
    # Image self-supervision (every sample: synthetic images are images too).
    c.photometric_coarse = 1.0
    c.photometric_detail = 1.0
    c.landmark = 100.0
    c.eye_closure = 100.0
    c.lip_closure = 50.0
    # Priors and regularisers.
    c.identity_prior = 1e-4
    c.expression_prior = 1e-4
    c.lighting_prior = 1e-3
    c.albedo_prior = 1e-3
    c.static_prior = 1e-4
    c.dynamic_prior = 1e-4
    c.detail_smoothness = 0.05  # DECA: 0.005 on metres-scale maps; ours are mm
    c.detail_symmetry = 0.005  # DECA's soft symmetry weight
    return c


def data_config(preset: str) -> ConfigDict:
    """Where batches come from (``batches`` explains how they are mixed).

    Fields:
      synthetic_source: 'device' (drawn inside the step by ``SyntheticSampler``) or 'shards'
        (``hiface_synthetic`` TFDS shards in ``data_dir``).
      real_ratio: share of each batch that is real photo crops (0 for synthetic only).
      data_dir: TFDS data_dir of the prepared datasets (shards and / or face_images).
      synthetic_name: TFDS name of the synthetic shards, e.g. 'hiface_synthetic/s224'.
      real_name: TFDS name of the real crops.
      synthetic_seed: seed of on-device synthetic samples.
      synthetic_min_distance, synthetic_max_distance: cm from the camera to the landmark
        centroid of on-device synthetic faces. The model sees photos as ``photo.preprocess``
        crops, which frame every face alike; re-cropping synthetic renders with it
        (MediaPipe on the render, 224 px) showed that its framing equals a face at 80-106 cm
        under the 12-degree camera, against the generator's default 120-150 cm: so
        synthetic faces are drawn at the crops' distance and need no re-cropping.
      photo_albedo: the sampler's photo albedo source (``SyntheticConfig.photo_albedo``).
      backgrounds: an extra folder of backgrounds for the sampler, or None.
      worker_count: grain worker processes for the shard readers.
      augment_real: jitter real crops (``data_loader.RandomSimilarity`` / ``ColourJitter``).
    """
    _check(preset)
    c = ConfigDict()
    c.synthetic_source = "device"
    c.real_ratio = 0.0 if preset == "tiny" else 0.5
    c.data_dir = ""
    c.synthetic_name = "hiface_synthetic"
    c.real_name = "face_images"
    c.synthetic_seed = 0
    c.synthetic_min_distance = 85.0
    c.synthetic_max_distance = 105.0
    c.photo_albedo = "packaged"
    c.backgrounds = None
    c.worker_count = 0 if preset == "tiny" else 8
    c.augment_real = True
    return c


def full_config(preset: str) -> ConfigDict:
    """``model``, ``loss`` and ``data`` of a preset in one ConfigDict (what ``build_model`` / ``loss_fn`` take)."""
    c = ConfigDict()
    c.model = model_config(preset)
    c.loss = loss_config(preset)
    c.data = data_config(preset)
    return c
