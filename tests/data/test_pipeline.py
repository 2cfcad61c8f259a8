"""Tokenisation, the encode cache, and Batcher: buckets, determinism, resumption, evaluation."""

import numpy as np
import pytest

from flax_adapters.data import Batcher, Encoded, Examples, encode, load_examples

SENTS = ["the cat sat on the mat.", "a dog runs", "it is not big , it is small", "the red dog ran and ran"]
OTHER = ["a cat", "the mat is red and big and small and the dog sat", "it ran", "dogs"]


class CountingTokenizer:
    """Delegates to a real tokenizer and counts calls, to prove a cache hit skips tokenisation."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)

    def __len__(self):
        return len(self.inner)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def make_encoded(lengths, max_length=128, labels=None, seed=0):
    """A synthetic Encoded: example i holds ids 1000*i + 1 .. so rows are recognisable."""
    lengths = np.asarray(lengths)
    ids = np.concatenate([1000 * i + 1 + np.arange(n) for i, n in enumerate(lengths)]).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    labels = np.arange(len(lengths)) % 2 if labels is None else labels
    return Encoded(ids, np.zeros_like(ids), offsets, np.asarray(labels), max_length)


def test_encode_single_and_pairs(tiny_tokenizer):
    single = encode(Examples(SENTS, None, np.array([0, 1, 0, 1]), "mem"), tiny_tokenizer, 8)
    assert len(single) == 4 and single.input_ids.dtype == np.int32 and single.labels.tolist() == [0, 1, 0, 1]
    ref = tiny_tokenizer(SENTS, truncation=True, max_length=8)["input_ids"]
    for i, want in enumerate(ref):
        np.testing.assert_array_equal(single.example(i)[0], want)
    assert single.lengths.max() == 8 and single.example(1)[0][0] == tiny_tokenizer.cls_token_id
    pairs = encode(Examples(SENTS, OTHER, np.array([0.5, 1, 2, 3], np.float32), "mem"), tiny_tokenizer, 12)
    assert pairs.labels.dtype == np.float32 and pairs.lengths.max() <= 12
    ids, types = pairs.example(0)
    np.testing.assert_array_equal(ids, tiny_tokenizer(SENTS[0], OTHER[0])["input_ids"])
    first_sep = list(ids).index(tiny_tokenizer.sep_token_id)
    assert types[: first_sep + 1].sum() == 0 and np.all(types[first_sep + 1:] == 1)
    ids, types = pairs.example(1)  # truncated pair keeps both segments
    assert len(ids) == 12 and types.sum() > 0 and ids[-1] == tiny_tokenizer.sep_token_id


def test_encode_cache_hit_skips_the_tokenizer(tiny_tokenizer, tmp_path):
    tok = CountingTokenizer(tiny_tokenizer)
    ex = Examples(SENTS, OTHER, np.array([0, 1, 1, 0]), "mem")
    first = encode(ex, tok, 16, cache_dir=tmp_path)
    calls = tok.calls
    assert calls >= 1 and len(list(tmp_path.glob("*.npz"))) == 1
    second = encode(ex, tok, 16, cache_dir=tmp_path)
    assert tok.calls == calls
    for field in ("input_ids", "token_type_ids", "offsets", "labels"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert second.max_length == 16
    # Any change of inputs is a miss: max_length, labels, texts.
    encode(ex, tok, 12, cache_dir=tmp_path)
    encode(Examples(SENTS, OTHER, np.array([1, 1, 1, 0]), "mem"), tok, 16, cache_dir=tmp_path)
    encode(Examples(SENTS[:3] + ["a cat"], OTHER, np.array([0, 1, 1, 0]), "mem"), tok, 16, cache_dir=tmp_path)
    assert tok.calls == calls + 3 and len(list(tmp_path.glob("*.npz"))) == 4
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.real
def test_encode_real_minilm_pairs(minilm_path, shared_data):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_path)
    assert tok.is_fast
    rte = load_examples("rte", "validation", shared_data)
    enc = encode(rte, tok, 128)
    assert len(enc) == 363 and enc.lengths.max() == 128 and np.all(enc.lengths > 3)
    for i in (0, 100, 362):
        want = tok(rte.text_a[i], rte.text_b[i], truncation=True, max_length=128)
        np.testing.assert_array_equal(enc.example(i)[0], want["input_ids"])
        np.testing.assert_array_equal(enc.example(i)[1], want["token_type_ids"])
    assert enc.example(0)[0][0] == 101 and set(np.unique(enc.token_type_ids)) == {0, 1}
    batch = next(Batcher(enc, 32).eval_batches())
    assert batch["input_ids"].shape == (32, 128) and batch["labels"].dtype == np.int32


def test_batch_shapes_dtypes_and_buckets():
    rng = np.random.default_rng(0)
    enc = make_encoded(rng.integers(3, 101, 300), max_length=100, labels=rng.normal(size=300).astype(np.float32))
    b = Batcher(enc, 16, buckets=(32, 64, 128, 256))
    assert b.buckets == (32, 64, 100) and b.steps_per_epoch == 18
    for step in range(40):
        batch = b.batch(step)
        t = batch["input_ids"].shape[1]
        longest = batch["attention_mask"].sum(1).max()
        assert t in b.buckets and t >= longest and t == b.bucket(longest)
        assert batch["input_ids"].shape == batch["attention_mask"].shape == batch["token_type_ids"].shape
        assert all(batch[k].dtype == np.int32 for k in ("input_ids", "attention_mask", "token_type_ids"))
        assert batch["labels"].dtype == np.float32 and batch["labels"].shape == (16,)


def test_padding_content():
    enc = make_encoded([3, 5, 2], max_length=8)
    batch = Batcher(enc, 3, shuffle=False, pad_id=7, buckets=(4,)).batch(0)
    assert batch["input_ids"].shape == (3, 8)
    np.testing.assert_array_equal(batch["input_ids"][0], [1, 2, 3, 7, 7, 7, 7, 7])
    np.testing.assert_array_equal(batch["input_ids"][1], [1001, 1002, 1003, 1004, 1005, 7, 7, 7])
    np.testing.assert_array_equal(batch["attention_mask"].sum(1), [3, 5, 2])
    assert batch["labels"].tolist() == [0, 1, 0]


@pytest.mark.parametrize("group", [True, False])
def test_determinism_and_resume(group):
    lengths = np.random.default_rng(1).integers(2, 60, 250)
    a = Batcher(make_encoded(lengths), 8, seed=5, group_by_length=group)
    b = Batcher(make_encoded(lengths), 8, seed=5, group_by_length=group)
    for epoch in range(3):
        for x, y in zip(a.batches_in_epoch(epoch), b.batches_in_epoch(epoch)):
            np.testing.assert_array_equal(x, y)
    cat = lambda bs: np.concatenate(bs)  # noqa: E731
    assert not np.array_equal(cat(a.batches_in_epoch(0)), cat(a.batches_in_epoch(1)))
    assert not np.array_equal(cat(a.batches_in_epoch(0)), cat(Batcher(make_encoded(lengths), 8, seed=6,
                                                                       group_by_length=group).batches_in_epoch(0)))
    spe = a.steps_per_epoch
    for step in range(0, 3 * spe, 7):
        want = a.collate(a.batches_in_epoch(step // spe)[step % spe])
        fresh = Batcher(make_encoded(lengths), 8, seed=5, group_by_length=group)  # a resumed run
        for got in (a.batch(step), fresh.batch(step)):
            assert got.keys() == want.keys()
            for k in want:
                np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.parametrize("shuffle,group", [(True, True), (True, False), (False, False)])
def test_every_example_once_per_epoch(shuffle, group):
    lengths = np.random.default_rng(2).integers(2, 60, 203)
    keep = Batcher(make_encoded(lengths), 10, shuffle=shuffle, group_by_length=group, drop_last=False)
    assert keep.steps_per_epoch == 21
    for epoch in range(2):
        batches = keep.batches_in_epoch(epoch)
        assert len(batches) == 21 and sorted(len(x) for x in batches)[0] == 3
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(203))
    drop = Batcher(make_encoded(lengths), 10, shuffle=shuffle, group_by_length=group)
    seen = np.concatenate(drop.batches_in_epoch(0))
    assert drop.steps_per_epoch == 20 and len(seen) == 200 and len(np.unique(seen)) == 200


def test_group_by_length_reduces_padding():
    lengths = np.random.default_rng(3).integers(4, 128, 4000)
    enc = make_encoded(lengths)

    def padded_tokens(group):
        b = Batcher(enc, 16, group_by_length=group, buckets=tuple(range(8, 129, 8)))
        return sum(b.batch(s)["input_ids"].size for s in range(b.steps_per_epoch)) - lengths.sum()

    assert padded_tokens(True) < 0.3 * padded_tokens(False)


def test_eval_batches_cover_all_once_with_mask():
    lengths = np.random.default_rng(4).integers(2, 40, 37)
    b = Batcher(make_encoded(lengths, labels=np.arange(37)), 8, seed=9)
    batches = list(b.eval_batches())
    assert len(batches) == 5 and all(x["input_ids"].shape[0] == 8 and x["example_mask"].dtype == bool
                                     for x in batches)
    assert [int(x["example_mask"].sum()) for x in batches] == [8, 8, 8, 8, 5]
    labels = np.concatenate([x["labels"][x["example_mask"]] for x in batches])
    np.testing.assert_array_equal(labels, np.arange(37))  # original order, each example once
    last = batches[-1]
    assert last["attention_mask"][5:].sum() > 0  # dummy rows are real copies, never all padding
    # Longest first: same examples once each, example_index maps rows back, less padding.
    by_length = list(b.eval_batches(sort_by_length=True))
    index = np.concatenate([x["example_index"][x["example_mask"]] for x in by_length])
    np.testing.assert_array_equal(np.sort(index), np.arange(37))
    np.testing.assert_array_equal(np.concatenate([x["labels"][x["example_mask"]] for x in by_length]), index)
    assert np.all(np.diff(lengths[index]) <= 0)
    width = lambda bs: sum(x["input_ids"].size for x in bs)  # noqa: E731
    assert width(by_length) <= width(batches)
    small = Batcher(make_encoded([5, 6]), 4, drop_last=False)
    only = list(small.eval_batches())
    assert len(only) == 1 and only[0]["example_mask"].tolist() == [True, True, False, False]


@pytest.mark.parametrize("kwargs,match", [(dict(batch_size=0), "batch_size"), (dict(batch_size=-2), "batch_size"),
                                          (dict(batch_size=11), "batch_size"), (dict(batch_size=4, buckets=(0,)),
                                                                                "buckets"),
                                          (dict(batch_size=4, seed=-1), "seed")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Batcher(make_encoded(np.full(10, 5)), **kwargs)


def test_bad_step_and_encode_arguments(tiny_tokenizer):
    b = Batcher(make_encoded(np.full(10, 5)), 11, drop_last=False)
    assert b.steps_per_epoch == 1 and b.batch(3)["input_ids"].shape == (10, 32)
    with pytest.raises(ValueError, match="step"):
        b.batch(-1)
    with pytest.raises(ValueError, match="max_length"):
        encode(Examples(["a"], None, np.zeros(1), "mem"), tiny_tokenizer, 0)
