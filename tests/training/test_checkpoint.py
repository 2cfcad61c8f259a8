"""Orbax checkpoints of adapter runs: exact round trip, adapters + heads only, atomic, restorable
onto a freshly loaded base."""

import os

import jax
import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.training import adamw, init_state, make_train_step
from flax_adapters.training.checkpoint import Checkpointer
from tests.training.common import batch

pytestmark = pytest.mark.torch  # the base is a saved HF checkpoint (tests/conftest.py builds it with torch)

SHAPE = dict(vocab_size=2000, hidden_size=128, intermediate_size=512, num_hidden_layers=2)


def _nbytes(tree) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _dir_bytes(path) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _run(model, steps=3):
    tx = adamw(1e-2)
    a, h = model.adapters["a"], model.heads["a"]
    state = init_state({"adapter": a.params, "head": h.params}, tx)
    step = make_train_step(model.graphdef, a.graphdef, h.graphdef, "classification", tx)
    data = batch(vocab=SHAPE["vocab_size"])
    for _ in range(steps):
        state, _ = step(state, model.params, data)
    return state, data


def _fresh(path, seed):
    model = fa.from_pretrained(path)
    model.add_adapter("a", "seq_bn", seed=seed)
    model.add_head("a", "classification", num_labels=3, seed=seed)
    return model


def test_round_trip_adapter_only_onto_a_fresh_base(tiny_checkpoint, tmp_path):
    path, _ = tiny_checkpoint("bert", **SHAPE)
    model = _fresh(path, seed=0)
    state, data = _run(model)
    with Checkpointer(tmp_path / "ckpt", max_to_keep=2) as ckpt:
        for s in (1, 2, 3):
            ckpt.save(s, state)
        assert ckpt.all_steps() == [2, 3] and ckpt.latest_step() == 3  # max_to_keep
    # Atomic saves leave no temporary directories behind.
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["2", "3"]
    # Only adapters + heads (+ 2 Adam moments + step + key): far below the base's bytes.
    size, trainable, base = _dir_bytes(tmp_path / "ckpt" / "3"), _nbytes(state.params), _nbytes(model.params)
    assert size < 3 * trainable + 64 * 1024 and size < base / 4, (size, trainable, base)

    # A crash mid-save leaves an orbax tmp directory; it must not count as a checkpoint.
    (tmp_path / "ckpt" / "9.orbax-checkpoint-tmp-1234").mkdir()
    fresh = _fresh(path, seed=7)  # different init: the restore must overwrite everything
    target = jax.eval_shape(lambda: init_state({"adapter": fresh.adapters["a"].params,
                                                "head": fresh.heads["a"].params}, adamw(1e-2)))
    with Checkpointer(tmp_path / "ckpt") as ckpt:
        assert ckpt.latest_step() == 3
        restored = ckpt.restore(target)
        with pytest.raises(FileNotFoundError, match="no checkpoint for step 1"):
            ckpt.restore(target, step=1)
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for x, y in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))

    model.adapters["a"].params, model.heads["a"].params = state.params["adapter"], state.params["head"]
    fresh.adapters["a"].params, fresh.heads["a"].params = restored.params["adapter"], restored.params["head"]
    ids, mask = np.asarray(data["input_ids"]), np.asarray(data["attention_mask"])
    np.testing.assert_array_equal(np.asarray(fresh(ids, attention_mask=mask, adapter="a").logits),
                                  np.asarray(model(ids, attention_mask=mask, adapter="a").logits))


def test_restore_from_empty_directory(tmp_path):
    with Checkpointer(tmp_path / "none") as ckpt:
        assert ckpt.latest_step() is None
        with pytest.raises(FileNotFoundError, match="no checkpoint"):
            ckpt.restore({"x": np.zeros(2)})


def test_saved_steps_lists_finished_checkpoints_without_creating_the_directory(tmp_path):
    from flax_adapters.training.checkpoint import saved_steps

    assert saved_steps(tmp_path / "absent") == [] and not (tmp_path / "absent").exists()
    with Checkpointer(tmp_path / "ckpt", max_to_keep=None) as ckpt:
        for step in (10, 2):
            ckpt.save(step, {"x": np.zeros(2)})
    (tmp_path / "ckpt" / "30.orbax-checkpoint-tmp-7").mkdir()  # a save cut off midway
    assert saved_steps(tmp_path / "ckpt") == [2, 10]
