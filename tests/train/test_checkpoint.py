"""Checkpoints on real files: round trip, key arrays, and the fall-back past corrupt ones."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hiface_jax.train import checkpoint as ck


def _tree(seed: int) -> dict:
    k = jax.random.key(seed)
    return {
        "layer": {"kernel": jax.random.normal(k, (64, 32)), "bias": jnp.arange(32.0) * seed},
        "count": jnp.array(seed, jnp.int32),
        "rng": jax.random.fold_in(k, 1),
    }


def _assert_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _largest_file(folder: pathlib.Path) -> pathlib.Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def test_round_trip_keeps_values_names_and_keys(tmp_path):
    saver = ck.Checkpointer(tmp_path, every=2, keep=3)
    assert saver.save(2, _tree(2), {"streak": 1})
    assert not saver.save(3, _tree(3), {})  # off the interval
    assert saver.save(3, _tree(3), {}, force=True)
    assert not saver.save(3, _tree(3), {}, force=True)  # never twice
    saver.close()
    step, state, meta = ck.Checkpointer(tmp_path, every=2, keep=3).restore_latest(_tree(0))
    assert step == 3 and meta["step"] == 3
    _assert_equal(state, _tree(3))
    assert sorted(ck.flatten(_tree(0))) == ["count", "layer/bias", "layer/kernel", "rng"]


def test_keeps_only_the_newest(tmp_path):
    saver = ck.Checkpointer(tmp_path, every=1, keep=2)
    for step in range(1, 5):
        saver.save(step, _tree(step), {})
    assert saver.steps() == [3, 4]


@pytest.mark.parametrize("damage", ["flip_a_byte", "truncate"])
def test_corrupt_latest_falls_back_to_previous_with_a_message(tmp_path, damage):
    saver = ck.Checkpointer(tmp_path, every=1, keep=3)
    saver.save(1, _tree(1), {})
    saver.save(2, _tree(2), {})
    saver.close()
    latest = tmp_path / "checkpoints" / "2"
    if damage == "flip_a_byte":  # silent: the file still decodes, only the checksum tells
        target = _largest_file(latest / "state")
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
    else:  # a write cut short: the reader fails
        target = _largest_file(latest / "state")
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    messages = []
    restorer = ck.Checkpointer(tmp_path, every=1, keep=3)
    step, state, _ = restorer.restore_latest(_tree(0), log=messages.append)
    assert step == 1
    _assert_equal(state, _tree(1))
    assert len(messages) == 1 and "step 2 is corrupt" in messages[0] and "previous" in messages[0]
    assert (tmp_path / "corrupt_checkpoints" / "2").is_dir() and restorer.steps() == [1]
    # Training goes on past the moved checkpoint: step 2 can be saved again.
    assert restorer.save(2, _tree(5), {})
    _assert_equal(restorer.restore_latest(_tree(0))[1], _tree(5))


def test_nothing_to_restore(tmp_path):
    assert ck.Checkpointer(tmp_path, every=1, keep=1).restore_latest(_tree(0)) is None


def test_a_checkpoint_of_another_model_is_named_not_moved(tmp_path):
    saver = ck.Checkpointer(tmp_path, every=1, keep=3)
    assert saver.save(1, _tree(1), {})
    other = _tree(2)
    other["layer"]["kernel"] = jnp.zeros((16, 32))  # the same names, another shape (a changed model)
    with pytest.raises(ck.IncompatibleCheckpointError, match=r"layer/kernel is \(64, 32\) there and \(16, 32\) here"):
        saver.restore_latest(other, log=lambda m: None)
    assert saver.steps() == [1] and not (tmp_path / "corrupt_checkpoints").exists()
    _assert_equal(saver.restore(1, _tree(1))[0], _tree(1))  # still intact for the model that wrote it
    saver.close()
