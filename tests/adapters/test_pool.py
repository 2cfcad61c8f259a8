"""AdapterPool (adapters/pool.py): a mixed batch gives each row exactly what its adapter gives
alone through the model API, in both modes; the pool's table changes without recompiling; bad
adapters and indices fail with one line naming the culprit and leave the pool as it was."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters import AdapterError, HeadConfig
from flax_adapters.adapters.pool import AdapterPool
from flax_adapters.models import EncoderConfig

SMALL = EncoderConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                      intermediate_size=40, max_position_embeddings=16)
HEAD = HeadConfig("classification", num_labels=3)


def perturb(slot, seed):
    """Random weights everywhere (a fresh LoRA is a no-op, and equal adapters hide a wrong row)."""
    rng = np.random.default_rng(seed)
    leaves, tree = jax.tree.flatten(slot.params)
    # numpy, not jnp: an eager jnp add would compile once per leaf shape.
    slot.params = jax.tree.unflatten(tree, [jnp.asarray(np.asarray(x) + 0.1 * rng.standard_normal(x.shape)
                                                        .astype(x.dtype)) for x in leaves])


@functools.cache
def base():
    return fa.AdapterModel.from_config(SMALL)


def make(method="seq_bn", names="abc", head=HEAD, **options):
    """A fresh container over the one random base (initialising a base compiles op by op: slow)."""
    model = fa.AdapterModel(SMALL, base().graphdef, base().params)
    for i, n in enumerate(names):
        model.add_adapter(n, method, seed=i, **options)
        model.add_head(n, head.kind, num_labels=head.num_labels, seed=i)
        perturb(model.adapters[n], i)
    return model


def batch(rows=5, length=8, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, SMALL.vocab_size, (rows, length))
    mask = (np.arange(length)[None] < rng.integers(2, length + 1, rows)[:, None]).astype(np.int32)
    return ids, mask, (np.arange(length)[None] >= length // 2).astype(np.int32) * mask


def alone(model, names, ids, mask, types):
    """Each row through the model API on its own adapter and head."""
    return np.stack([np.asarray(model(ids[i:i + 1], attention_mask=mask[i:i + 1], token_type_ids=types[i:i + 1],
                                      adapter=n).logits[0]) for i, n in enumerate(names)])


def pool_of(model, method, mode, capacity=4, names=None, **options):
    pool = AdapterPool(model, method, HEAD, capacity=capacity, mode=mode, **options)
    for n in names or list(model.adapters):
        pool.add(n, (model.adapters[n], model.heads[n]))
    return pool


# gather vmaps the model's own apply, so every option is the model's code; grouped re-implements
# the weight maths, so it also runs the options that touch it (LayerNorms, scaling, more matrices).
@pytest.mark.parametrize("method,options,modes", [
    ("seq_bn", {}, ("gather", "grouped")), ("lora", {}, ("gather", "grouped")),
    ("seq_bn", dict(ln_before=True, ln_after=True, scaling="channel", mh_adapter=True), ("grouped",)),
    ("lora", dict(intermediate_lora=True, output_lora=True, attn_matrices=("q", "k", "v")), ("grouped",))])
def test_mixed_batch_equals_each_adapter_alone(method, options, modes):
    model = make(method, **options)
    names = ["c", "a", "b", "a", "c"]
    ids, mask, types = batch()
    expected = alone(model, names, ids, mask, types)
    for mode in modes:
        pool = pool_of(model, method, mode, **options)
        out = np.asarray(pool.apply(ids, mask, types, pool.indices(names)))
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0, err_msg=mode)


@pytest.mark.parametrize("mode", ["gather", "grouped"])
def test_table_changes_do_not_recompile(mode):
    model = make("seq_bn", names="abcd")
    pool = pool_of(model, "seq_bn", mode, capacity=4, names=["a", "b"])
    # A shape no other test uses: compiled programs are shared between identical pools.
    ids, mask, types = batch(rows=3, length=7)
    pool.apply(ids, mask, types, pool.indices(["a", "b", "a"]))
    pool.remove("a")
    pool.add("c", (model.adapters["c"], model.heads["c"]))
    assert pool.index("c") == 0  # the freed slot is reused
    pool.add("d", (model.adapters["d"], model.heads["d"]))
    for names in (["c", "c", "c"], ["b", "d", "c"], ["d", "b", "b"]):
        out = np.asarray(pool.apply(ids, mask, types, pool.indices(names)))
        np.testing.assert_allclose(out, alone(model, names, ids, mask, types), atol=1e-5, rtol=0)
    assert pool.compiles == 1
    pool.apply(*batch(rows=2, length=7), pool.indices(["b", "c"]))  # a new (batch, length) shape: one more
    assert pool.compiles == 2 and pool.names == ["b", "c", "d"]


def test_full_pool_doubles_its_capacity():
    model = make("lora", names="abc")
    pool = pool_of(model, "lora", "gather", capacity=2)
    assert pool.capacity == 4 and [pool.index(n) for n in "abc"] == [0, 1, 2]
    ids, mask, types = batch()  # the shapes of the mixed-batch test: its compiled program serves
    np.testing.assert_allclose(np.asarray(pool.apply(ids, mask, types, pool.indices("cabca"))),
                               alone(model, "cabca", ids, mask, types), atol=1e-5, rtol=0)


def test_adapter_directory_enters_the_pool(tmp_path):
    model = make("seq_bn", names="ab")
    model.heads["b"].config = HeadConfig("classification", num_labels=3, id2label=("neg", "neu", "pos"))
    model.save_adapter(tmp_path / "b", "b")
    pool = pool_of(model, "seq_bn", "grouped", names=["a"])
    assert pool.add(None, tmp_path / "b") == 1  # named as saved
    assert pool.head_config("b").id2label == ("neg", "neu", "pos")
    ids, mask, types = batch()
    np.testing.assert_allclose(np.asarray(pool.apply(ids, mask, types, pool.indices("babba"))),
                               alone(model, "babba", ids, mask, types), atol=1e-5, rtol=0)
    both = AdapterPool.from_directories(model, {"b2": tmp_path / "b"}, capacity=2)
    assert both.names == ["b2"] and both.config == pool.config


def _snapshot(pool):
    return pool.names, pool.capacity, list(pool._free), [np.asarray(x) for x in jax.tree.leaves(pool._stacked)]


def expect(pool, call, *culprits):
    """`call()` raises a one-line AdapterError naming every culprit; the pool is as before."""
    names, capacity, free, arrays = _snapshot(pool)
    with pytest.raises(AdapterError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for c in culprits:
        assert str(c) in message, f"{c!r} not named in: {message}"
    after = _snapshot(pool)
    assert after[:3] == (names, capacity, free)
    assert all(np.array_equal(a, b) for a, b in zip(after[3], arrays)), "the pool's weights changed"


def test_bad_adapters_and_indices(tmp_path):
    model = make("seq_bn", names="ab")
    model.add_adapter("wide", "seq_bn", reduction_factor=4)
    model.add_adapter("lo", "lora")
    model.add_head("five", num_labels=5)
    pool = pool_of(model, "seq_bn", "gather", capacity=4, names=["a", "b"])
    heads = model.heads
    expect(pool, lambda: pool.index("zzz"), "zzz")
    expect(pool, lambda: pool.indices(["a", "zzz"]), "zzz")
    expect(pool, lambda: pool.remove("zzz"), "zzz")
    expect(pool, lambda: pool.add("a", (model.adapters["b"], heads["b"])), "'a'", "overwrite")
    expect(pool, lambda: pool.add("x", (model.adapters["lo"], heads["a"])), "'x'", "'lora'", "'bottleneck'")
    expect(pool, lambda: pool.add("x", (model.adapters["wide"], heads["a"])), "'x'", "reduction_factor=4")
    expect(pool, lambda: pool.add("x", (model.adapters["a"], heads["five"])), "'x'", "num_labels=5")
    expect(pool, lambda: pool.add("x", (model.adapters["a"], None)), "'x'", "no head")
    expect(pool, lambda: pool.add("", (model.adapters["a"], heads["a"])), "name")
    expect(pool, lambda: pool.add("x", 42), "'x'", "int")
    expect(pool, lambda: pool.add("x", tmp_path / "nowhere"), "nowhere")
    model.save_adapter(tmp_path / "lo", "lo", with_head=False)
    expect(pool, lambda: pool.add("x", tmp_path / "lo"), "/lo: ", "'lora'")
    ids, mask, types = batch(rows=2)
    expect(pool, lambda: pool.apply(ids, mask, types, [0, 7]), "7", "out of range")
    expect(pool, lambda: pool.apply(ids, mask, types, [0, 3]), "3", "free slot")
    expect(pool, lambda: pool.apply(ids, mask, types, [0, -1]), "-1", "out of range")
    expect(pool, lambda: pool.apply(ids, mask, types, [0]), "2 ints")
    expect(pool, lambda: pool.apply(ids, mask, types, [0.0, 1.0]), "float")


def test_bad_pools():
    model = make("seq_bn", names="a")
    for call, culprit in [(lambda: AdapterPool(model, "ia3", mode="grouped"), "'ia3'"),
                          (lambda: AdapterPool(model, mode="fast"), "'fast'"),
                          (lambda: AdapterPool(model, capacity=0), "capacity"),
                          (lambda: AdapterPool(model, "nope"), "'nope'"),
                          (lambda: AdapterPool(model, head=HeadConfig("multiple_choice", num_choices=2)),
                           "multiple_choice")]:
        with pytest.raises(AdapterError, match=culprit):
            call()
