"""launch.train end to end on the micro config: resume after kill -9, corrupt checkpoints,
the non-finite guard, metrics, the recorded config and clear errors."""

import json
import shutil
import signal
import struct
import time

import numpy as np
import pytest
from conftest import assert_same_state, cli_flags, micro_config, run_cli, saved_state

from launch import train


def test_kill_9_mid_run_then_resume_is_bit_exact(reference_run, tmp_path):
    workdir = tmp_path / "run"
    proc = run_cli(cli_flags() + ["--workdir", str(workdir)])
    first = workdir / "checkpoints" / "2"
    deadline = time.time() + 240
    while not first.is_dir() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, stderr[-2000:]
    assert first.is_dir() and not (workdir / "checkpoints" / "4").exists()
    messages = []
    result = train.train(micro_config(), workdir, log=messages.append)
    assert result == {"step": 4, "status": "finished", "eval_initial": None, "eval": None}
    assert any("resumed from step 2" in m for m in messages), messages
    assert_same_state(saved_state(workdir, 4), saved_state(reference_run, 4))


def test_corrupt_latest_checkpoint_falls_back_and_says_so(reference_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(reference_run, workdir)
    state_dir = workdir / "checkpoints" / "4" / "state"
    target = max((p for p in state_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    data[len(data) // 3] ^= 0x10
    target.write_bytes(bytes(data))
    (workdir / "metrics.jsonl").unlink()
    messages = []
    # The flipped byte still decodes: only the checksum saved with the state tells.
    result = train.train(micro_config(), workdir, log=messages.append)
    assert any("step 4 is corrupt" in m and "previous" in m for m in messages), messages
    assert any("resumed from step 2" in m for m in messages), messages
    assert result["step"] == 4 and (workdir / "corrupt_checkpoints" / "4").is_dir()
    assert_same_state(saved_state(workdir, 4), saved_state(reference_run, 4))  # steps 3-4 redone exactly


def test_nonfinite_batch_is_skipped_named_and_k_in_a_row_stop(reference_run, tmp_path):
    messages = []
    overrides = {"train.inject_nonfinite_steps": "2", "train.checkpoint_every": 1, "train.keep_checkpoints": 4}
    config = micro_config(**overrides)
    train.train(config, tmp_path / "one", log=messages.append)
    skipped = [m for m in messages if "non-finite" in m]
    assert len(skipped) == 1 and skipped[0].startswith("step 2:") and "update skipped" in skipped[0]
    assert "photometric_coarse" in skipped[0]  # NaN pixels: the photometric terms go non-finite
    # Not applied: the state after the poisoned step is the state before it, bit for bit.
    assert_same_state(saved_state(tmp_path / "one", 2), saved_state(tmp_path / "one", 1))
    final = saved_state(tmp_path / "one", 4)
    assert all(np.isfinite(v).all() for v in final.values())
    with pytest.raises(Exception) as stopped:
        train.train(
            micro_config(**{"train.inject_nonfinite_steps": "2,3", "train.max_nonfinite_steps": 2}),
            tmp_path / "two",
            log=messages.append,
        )
    assert type(stopped.value).__name__ == "NonFiniteError" and "2 steps in a row" in str(stopped.value)
    records = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["finite"] for r in records] == [1.0, 0.0]  # step 3's record is never written: the run stopped


def _tensorboard_tags(folder) -> set[str]:
    """Tags of every summary in tensorboardX event files (TFRecord framing, Event protos)."""
    from tensorboardX.proto import event_pb2

    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        raw = path.read_bytes()
        offset = 0
        while offset < len(raw):
            (length,) = struct.unpack("<Q", raw[offset : offset + 8])
            event = event_pb2.Event.FromString(raw[offset + 12 : offset + 12 + length])
            tags |= {(v.tag, v.WhichOneof("value")) for v in event.summary.value}
            offset += 12 + length + 4
    return tags


def test_workdir_records_config_metrics_and_summaries(reference_run):
    recorded = json.loads((reference_run / "config.json").read_text())
    assert recorded == json.loads(micro_config().to_json_best_effort())
    records = [json.loads(line) for line in (reference_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) and r["finite"] == 1.0 for r in records)
    assert "images_per_s" not in records[0] and records[-1]["images_per_s"] > 0 and records[-1]["eta_s"] == 0
    tags = _tensorboard_tags(reference_run / "tensorboard")
    assert ("loss/vertex", "simple_value") in tags
    assert ("input_coarse_detailed_normals", "image") in tags


def test_cli_finished_workdir_and_bad_values(reference_run, tmp_path):
    done = run_cli(cli_flags() + ["--workdir", str(reference_run)])
    stdout, stderr = done.communicate(timeout=120)
    assert done.returncode == 0 and "already finished" in stdout, stderr[-2000:]
    bad = run_cli(cli_flags(**{"train.batch_size": 0}) + ["--workdir", str(tmp_path / "bad")])
    stdout, stderr = bad.communicate(timeout=120)
    assert bad.returncode == 1 and "error: config.train.batch_size must be >= 1" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "bad" / "checkpoints").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data.real_ratio": 0.5, "data.data_dir": "/nonexistent/data"}, "data_dir '/nonexistent/data' does not exist"),
        ({"data.real_ratio": 0.5}, "data_dir is empty"),
        ({"train.batch_size": 6, "data.real_ratio": 0.5}, "each must divide over"),
        ({"train.lr": float("nan")}, "train.lr must be a positive number"),
        ({"model.encoder": "vgg"}, "config.model.encoder must be one of"),
        ({"train.inject_nonfinite_steps": "two"}, "comma-separated steps"),
    ],
)
def test_bad_values_are_named(overrides, message):
    with pytest.raises(train.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train.validate(micro_config(**overrides), device_count=2, process_count=1)


def test_missing_dataset_in_existing_data_dir(tmp_path):
    with pytest.raises(train.ConfigError, match="has no 'face_images' dataset; build it"):
        train.validate(micro_config(**{"data.real_ratio": 0.5, "data.data_dir": str(tmp_path)}), 1, 1)


def test_workdir_of_another_config_is_refused(reference_run):
    with pytest.raises(train.ConfigError, match="another config .*model.image_size"):
        train.train(micro_config(**{"model.image_size": 32}), reference_run, log=lambda m: None)
