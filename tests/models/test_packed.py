"""Packed batches are exact (models/packed.py, the per-example views of packed rows): every head kind
and adapter method gives each example the logits it gets padded (and alone, unpadded); RoBERTa
positions restart per example. (Packing itself: data/test_packing.py; packed training and eval
steps: training/test_steps.py, which use this file's helpers.)"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from flax_adapters.adapters.functional import forward
from flax_adapters.data import Batcher, Encoded
from flax_adapters.data.choices import ChoiceEncoded
from flax_adapters.data.squad import QAEncoded
from flax_adapters.data.tagging import TaggedEncoded
from flax_adapters.models.packed import Packing
from tests.training.common import TINY, tiny_model

LENGTHS = [9, 3, 14, 6, 11, 4, 7, 12]  # varied, so rows hold 1-4 examples
ROW = 16


def tokens(lengths=LENGTHS, seed=0, vocab=99, low=1):
    rng = np.random.default_rng(seed)
    total = int(np.sum(lengths))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    types = np.concatenate([(np.arange(n) >= n // 2).astype(np.int32) for n in lengths])  # sentence pairs
    return Encoded(rng.integers(low, vocab, total).astype(np.int32), types, offsets,
                   rng.integers(0, 3, len(lengths)), max(lengths))


def encoding(kind, seed=0):
    base = tokens(seed=seed)
    rng = np.random.default_rng(seed + 1)
    if kind == "tagging":
        labels = rng.integers(0, 3, len(base.input_ids)).astype(np.int32)
        labels[base.offsets[:-1]] = -100  # [CLS]-like positions carry no label
        return TaggedEncoded(base, labels, np.zeros_like(labels), None, 0)
    if kind == "question_answering":
        lengths = base.lengths
        start = rng.integers(0, lengths // 2)
        end = np.minimum(start + rng.integers(0, 3, len(lengths)), lengths - 1)
        zeros = np.zeros(len(base.input_ids), np.int32)
        return QAEncoded(base, start.astype(np.int32), end.astype(np.int32), np.arange(len(lengths)), zeros, zeros, None)
    if kind == "multiple_choice":  # 8 rows = questions of 2 choices... the tiny head takes 3: 24 rows
        rows = tokens(lengths=(LENGTHS * 3)[:24], seed=seed)
        return ChoiceEncoded(rows, 3, rng.integers(0, 3, 8))
    if kind == "regression":
        return dataclasses.replace(base, labels=rng.normal(size=len(LENGTHS)).astype(np.float32))
    return base


def batches(enc, n=8, pad_id=0):
    padded = Batcher(enc, n, shuffle=False, buckets=(ROW,), pad_id=pad_id).batch(0)
    packed = Batcher(enc, n, shuffle=False, packing=True, row_length=ROW, pad_id=pad_id).batch(0)
    return padded, packed


def run(model, batch, drop_n=0, adapter=True):
    slot, head = model.adapters["a"], model.heads["a"]
    packing = Packing.of(batch)
    flat = lambda a: jnp.asarray(a).reshape(-1, np.shape(a)[-1])
    ids, types = flat(batch["input_ids"]), flat(batch["token_type_ids"])
    mask = None if packing else flat(batch["attention_mask"])
    return forward(model.graphdef, model.params, slot.graphdef if adapter else None, slot.params if adapter else None,
                   head.graphdef, head.params, ids, mask, types, drop_n=drop_n, packing=packing).logits


def assert_same(kind, padded_logits, packed_logits, batch):
    a, b = np.asarray(padded_logits), np.asarray(packed_logits)
    if kind in ("tagging", "question_answering"):  # compare each example's own tokens
        lengths = np.asarray(batch["example_lengths"])
        for e, n in enumerate(lengths):
            np.testing.assert_allclose(b[e, :n], a[e, :n], atol=1e-5, rtol=1e-5)
    else:
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["classification", "regression", "tagging", "question_answering", "multiple_choice"])
def test_packed_logits_equal_padded_for_every_head(kind):
    padded, packed = batches(encoding(kind))
    assert packed["input_ids"].shape[0] < np.prod(padded["input_ids"].shape[:-1])  # it did pack
    model = tiny_model("seq_bn", kind)
    assert_same(kind, run(model, padded), run(model, packed), packed)


@pytest.mark.parametrize("method,drop_n", [("lora", 0), ("prefix_tuning", 0), ("seq_bn", 2), ("par_bn", 0),
                                           ("ia3", 0), ("double_seq_bn", 0)])
def test_packed_logits_equal_padded_for_every_method(method, drop_n):
    padded, packed = batches(encoding("classification"))
    model = tiny_model(method, "classification")
    assert_same("classification", run(model, padded, drop_n), run(model, packed, drop_n), packed)


def test_packed_equals_each_example_alone_unpadded():
    """The bar of the issue: no padding at all, one example per call (token heads and [CLS] heads)."""
    for kind in ("classification", "tagging"):
        enc = encoding(kind)
        packed = Batcher(enc, 8, shuffle=False, packing=True, row_length=ROW).batch(0)
        model = tiny_model("prefix_tuning", kind)
        got = np.asarray(run(model, packed))
        base = enc.tokens if kind == "tagging" else enc
        for e in range(8):
            ids, types = base.example(e)
            alone = {"input_ids": ids[None], "token_type_ids": types[None], "attention_mask": np.ones((1, len(ids)), np.int32)}
            want = np.asarray(run(model, alone))[0]
            np.testing.assert_allclose(got[e][: len(ids)] if kind == "tagging" else got[e], want, atol=1e-5, rtol=1e-5)


def test_roberta_positions_restart_per_example():
    # RoBERTa counts positions over non-pad ids when padded (HF's rule): keep id 1 out of the text.
    cfg = dataclasses.replace(TINY, model_type="roberta", pad_token_id=1, max_position_embeddings=40)
    padded, packed = batches(tokens(low=2), pad_id=1)
    model = tiny_model("seq_bn", "classification", cfg=cfg)
    assert_same("classification", run(model, padded), run(model, packed), packed)
