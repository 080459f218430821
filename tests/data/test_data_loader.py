"""The grain loader on a real face_images dataset: round trip, sharding, determinism, resume."""

import json
import pathlib
import subprocess
import sys

import grain
import jax
import matplotlib
import numpy as np
import orbax.checkpoint as ocp
import pytest
import skimage.data
import tensorflow_datasets as tfds
from helpers import free_port, repo_env
from PIL import Image

from hiface_jax.data import data_loader as dl
from hiface_jax.data.datasets import face_images
from hiface_jax.photo import align, preprocess
from hiface_jax.photo import landmark_detector as ld

REPO = pathlib.Path(__file__).resolve().parents[2]
NUM_PHOTOS = 8


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[str, dict[str, preprocess.FaceCrop]]:
    """A face_images dataset of 8 one-face photos, and what preprocessing made of each."""
    folder = tmp_path_factory.mktemp("photos")
    grace = np.asarray(Image.open(pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    for name, photo in (("astronaut", skimage.data.astronaut()), ("grace", grace)):
        variants = {
            "": photo,
            "_mirror": photo[:, ::-1],
            "_small": np.asarray(Image.fromarray(photo).resize((photo.shape[1] * 3 // 4, photo.shape[0] * 3 // 4))),
            "_dark": (photo * 0.7).astype(np.uint8),
        }
        for suffix, image in variants.items():
            Image.fromarray(np.ascontiguousarray(image)).save(folder / f"{name}{suffix}.png")
    data_dir = str(tmp_path_factory.mktemp("data"))
    builder = face_images.FaceImages(data_dir=data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(folder)))
    with ld.FaceLandmarkDetector() as detector:
        crops = {p.name: preprocess.preprocess_file(p, detector)[0] for p in sorted(folder.iterdir())}
    assert len(crops) == NUM_PHOTOS and builder.info.splits["train"].num_examples == NUM_PHOTOS
    return data_dir, crops


@pytest.fixture(scope="module")
def source(dataset):
    return dl.open_source(dataset[0], "face_images")


def _batches(loader) -> list[dict[str, np.ndarray]]:
    return list(loader)


def _assert_same_batches(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_round_trip_values_equal_what_was_written(dataset, source):
    _, crops = dataset
    batches = _batches(dl.make_loader(source, batch_size=4, shuffle=False))
    assert len(batches) == 2
    seen = set()
    for batch in batches:
        assert batch["image"].shape == (4, 224, 224, 3) and batch["image"].dtype == np.uint8
        assert batch["mask"].shape == (4, 224, 224) and batch["mask"].dtype == np.float32
        for i, name in enumerate(batch["source"]):
            crop = crops[name]
            np.testing.assert_array_equal(batch["image"][i], crop.image)
            np.testing.assert_array_equal(batch["landmarks_68"][i], crop.landmarks_68)
            np.testing.assert_array_equal(batch["crop_to_original"][i], crop.crop_to_original)
            np.testing.assert_allclose(batch["mask"][i], crop.mask, atol=0.5 / 255 + 1e-6)
            seen.add(name)
    assert seen == set(crops)


def test_epochs_reshuffle_and_cover_everything(source):
    batches = _batches(dl.make_loader(source, batch_size=2, seed=1, num_epochs=3))
    orders = np.concatenate([b["source"] for b in batches]).reshape(3, NUM_PHOTOS)
    for order in orders:
        assert sorted(order) == sorted(orders[0])
    assert len({tuple(o) for o in orders}) > 1


def test_same_seed_same_batches_other_seed_other_order(source):
    def make(seed):
        return _batches(dl.make_loader(source, batch_size=2, seed=seed, num_epochs=2, augment=True))

    first = make(7)
    _assert_same_batches(first, make(7))
    other = make(8)
    assert any((a["image"] != b["image"]).any() for a, b in zip(first, other))


def test_deterministic_with_worker_processes(source):
    def make():
        return _batches(dl.make_loader(source, batch_size=2, seed=3, num_epochs=1, worker_count=2, augment=True))

    first = make()
    assert sum(len(b["source"]) for b in first) == NUM_PHOTOS
    _assert_same_batches(first, make())


def test_checkpoint_resumes_at_the_same_element(source, tmp_path):
    def make():
        return iter(dl.make_loader(source, batch_size=2, seed=5, num_epochs=3, augment=True))

    reference = _batches(make())
    iterator = make()
    for _ in range(5):
        next(iterator)
    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.save(5, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(iterator)))
        manager.wait_until_finished()
    resumed = make()
    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.restore(5, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(resumed)))
    _assert_same_batches(list(resumed), reference[5:])
    _assert_same_batches(list(iterator), reference[5:])


_SHARD_SCRIPT = """
import json, os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax
jax.distributed.initialize(f"localhost:{sys.argv[1]}", num_processes=2, process_id=int(sys.argv[2]))
from hiface_jax.data import data_loader as dl
source = dl.open_source(sys.argv[3], "face_images")
mesh = jax.make_mesh((4,), ("data",))
out = {"process": jax.process_index(), "sources": [], "global_shapes": [], "local_rows": []}
for batch in dl.make_loader(source, batch_size=4, seed=11, num_epochs=2):  # process index and count from JAX
    arrays = dl.to_global_batch(batch, mesh)
    out["sources"] += [str(s) for s in batch["source"]]
    out["global_shapes"].append(list(arrays["image"].shape))
    out["local_rows"].append(sorted(s.index[0].start for s in arrays["image"].addressable_shards))
print("RESULT" + json.dumps(out))
"""


def test_two_jax_processes_cover_each_epoch_exactly_once(dataset):
    """Two real processes joined by jax.distributed, each reading its shard."""
    data_dir, crops = dataset
    port = free_port()
    env = repo_env()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SHARD_SCRIPT, str(port), str(i), data_dir],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.split("RESULT", 1)[1]))
    assert sorted(r["process"] for r in results) == [0, 1]
    per_process = NUM_PHOTOS // 2
    for epoch in range(2):
        parts = [r["sources"][epoch * per_process : (epoch + 1) * per_process] for r in results]
        assert not set(parts[0]) & set(parts[1])
        assert sorted(parts[0] + parts[1]) == sorted(crops)
    for r in results:
        assert r["global_shapes"] == [[4, 224, 224, 3]] * 4  # 2 local rows per step, 4 global
        # Process p's rows sit at global rows 2p, 2p + 1, one on each of its devices.
        assert r["local_rows"] == [[2 * r["process"], 2 * r["process"] + 1]] * 4


def test_to_global_batch_single_process(source):
    batch = next(iter(dl.make_loader(source, batch_size=2, shuffle=False)))
    mesh = jax.make_mesh((1,), ("data",))
    arrays = dl.to_global_batch(batch, mesh)
    assert "source" not in arrays
    np.testing.assert_array_equal(np.asarray(arrays["image"]), batch["image"])
    assert arrays["landmarks_68"].sharding.spec == jax.sharding.PartitionSpec("data")


def test_batch_size_must_split_over_processes(source):
    with pytest.raises(ValueError, match="multiple of the process count 2"):
        dl.make_loader(source, batch_size=3, process_index=0, process_count=2)


def test_augment_refuses_records_that_are_not_face_crops():
    records = [{"image": np.zeros((8, 8, 3), np.uint8), "vertices_coarse": np.zeros((5, 3), np.float32)}]
    with pytest.raises(ValueError, match="face crops"):
        dl.make_loader(records, batch_size=1, augment=True)


def test_random_similarity_moves_pixels_and_landmarks_together():
    size = 64
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(16, 48, size=(68, 2)).astype(np.float32)
    image = np.zeros((size, size, 3), np.uint8)
    mark = landmarks[30].astype(int)  # a bright pixel under one landmark
    image[mark[1], mark[0]] = 255
    landmarks[30] = mark + 0.5  # its centre, in the project's pixel convention
    to_original = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, 20.0], [0.0, 0.0, 1.0]])
    element = {
        "image": image,
        "mask": np.ones((size, size), np.float32),
        "landmarks_68": landmarks,
        "crop_to_original": to_original,
    }
    out = dl.RandomSimilarity(max_rotation=10.0, max_scale=0.1, max_shift=0.05).random_map(element, rng)
    # The crop still shows the same photo points under the landmarks.
    np.testing.assert_allclose(
        align.transform_points(out["crop_to_original"], out["landmarks_68"].astype(np.float64)),
        align.transform_points(to_original, landmarks.astype(np.float64)),
        atol=1e-3,
    )
    # The bright pixel went where its landmark went (bilinear blur: brightest within a pixel).
    brightest = np.unravel_index(np.argmax(out["image"][..., 0]), (size, size))
    assert np.abs(np.array(brightest[::-1]) + 0.5 - out["landmarks_68"][30]).max() < 1.0
    assert out["mask"].shape == (size, size) and out["mask"].dtype == np.float32 and out["mask"].max() == 1.0


def test_colour_jitter_changes_only_colour():
    image = np.random.default_rng(1).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    element = {"image": image, "landmarks_68": np.ones((68, 2), np.float32)}
    out = dl.ColourJitter().random_map(element, np.random.default_rng(2))
    assert out["image"].dtype == np.uint8 and out["landmarks_68"] is element["landmarks_68"]
    # The one affine map equals brightness, then contrast about the mean grey, then saturation.
    b, c, s = 1.0 + 0.2 * np.random.default_rng(2).uniform(-1.0, 1.0, size=3)
    luma = np.array([0.299, 0.587, 0.114])
    x = image * b
    x = (x @ luma).mean() + c * (x - (x @ luma).mean())
    x = (x @ luma)[..., None] + s * (x - (x @ luma)[..., None])
    expected = np.clip(np.round(x), 0, 255)
    assert np.abs(out["image"] - expected).max() <= 1.0
    grey = np.repeat(image[..., :1], 3, axis=-1)
    out_grey = dl.ColourJitter().random_map({"image": grey}, np.random.default_rng(3))["image"]
    assert np.abs(out_grey[..., 0].astype(int) - out_grey[..., 2]).max() <= 1  # no colour added to grey
