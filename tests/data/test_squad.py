"""SQuAD (data/squad.py): the reader and its errors, the article split, windows and offsets (real dev
file and MiniLM tokenizer, first 3 articles), span decoding. (The official v1.1 metrics on
hand-checked cases: test_squad_eval.py.)"""

import json
from pathlib import Path

import numpy as np
import pytest

from flax_adapters.data.pipeline import Batcher
from flax_adapters.data.sources import DataError
from flax_adapters.data.squad import (QAEncoded, article_split, best_spans, encode_squad, predict_answers,
                                      read_squad, squad_from_hub)
from flax_adapters.data.squad_eval import normalize_answer, squad_metrics
from tests.data.common import squad_examples as _examples

SQUAD_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "squad" / "dev-v1.1.json"


@pytest.fixture(scope="session")
def squad_dev():
    if not SQUAD_DEV.is_file():
        pytest.skip(f"real data not found at {SQUAD_DEV}")
    return read_squad(str(SQUAD_DEV))


@pytest.fixture(scope="session")
def first3(squad_dev):
    return squad_dev.select(np.flatnonzero(squad_dev.groups < 3))


@pytest.fixture(scope="session")
def minilm_tokenizer(minilm_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def encodings(first3, minilm_tokenizer):
    return {(m, s): encode_squad(first3, minilm_tokenizer, m, s) for m, s in ((384, 128), (64, 16))}


def _squad_json(path, context, text, start, **extra):
    qa = {"answers": [{"answer_start": start, "text": text}], "question": "Who?", "id": "q1", **extra}
    path.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": context, "qas": [qa]}]}]}))
    return str(path)


@pytest.mark.real
def test_read_real_dev(squad_dev):
    assert len(squad_dev) == 10570
    groups = squad_dev.groups
    assert groups.dtype == np.int64 and len(np.unique(groups)) == 48
    assert groups[0] == 0 and np.all(np.diff(groups) >= 0)  # numbered in order of first appearance
    assert squad_dev.ids[0] == "56be4db0acb8001400a502ec" and squad_dev.titles[0] == "Super_Bowl_50"
    assert squad_dev.answers[0] == ("Denver Broncos",) * 3 and squad_dev.answer_starts[0] == (177,) * 3
    sub = squad_dev.select([10569, 0])
    assert sub.ids == [squad_dev.ids[10569], squad_dev.ids[0]] and sub.groups.tolist() == [0, 1]
    with pytest.raises(ValueError, match="out of range"):
        squad_dev.select([10570])


def test_read_errors_name_the_file(tmp_path):
    good = _squad_json(tmp_path / "good.json", "Paris is big.", "Paris", 0)
    ex = read_squad(good)
    assert ex.answers == [("Paris",)] and ex.answer_starts == [(0,)] and ex.source == good
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"data": [')
    with pytest.raises(DataError, match="bad.json: not JSON"):
        read_squad(str(bad_json))
    shifted = _squad_json(tmp_path / "shifted.json", "Paris is big.", "Paris", 1)
    with pytest.raises(DataError, match=r"shifted\.json: question q1: answer 'Paris' is not at answer_start 1") as e:
        read_squad(shifted)
    assert "\n" not in str(e.value)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}))
    with pytest.raises(DataError, match="missing.json: .*missing key 'context'"):
        read_squad(str(missing))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"data": []}))
    with pytest.raises(DataError, match="empty.json: no questions"):
        read_squad(str(empty))
    with pytest.raises(DataError, match="nope.json"):
        read_squad(str(tmp_path / "nope.json"))


@pytest.mark.real
def test_article_split(squad_dev):
    train, dev = article_split(squad_dev, 0.25, seed=0)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(dev) > 0)
    assert np.intersect1d(train, dev).size == 0 and train.size + dev.size == len(squad_dev)
    groups = squad_dev.groups
    assert np.intersect1d(groups[train], groups[dev]).size == 0
    assert len(np.unique(groups[dev])) == 12  # round(48 * 0.25) articles held out
    assert not set(squad_dev.select(train).contexts) & set(squad_dev.select(dev).contexts)
    again = article_split(squad_dev, 0.25, seed=0)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], dev)
    assert not np.array_equal(article_split(squad_dev, 0.25, seed=1)[1], dev)


@pytest.mark.real
@pytest.mark.parametrize("max_length,stride", [(384, 128), (64, 16)])
def test_windows_round_trip(first3, encodings, max_length, stride):
    enc = encodings[max_length, stride]
    n = len(first3)
    assert len(enc) == len(enc.window_example) == len(enc.start_positions) and enc.max_length == max_length
    assert np.array_equal(np.unique(enc.window_example), np.arange(n))  # every question has a window
    assert np.all(np.diff(enc.window_example) >= 0) and enc.lengths.max() <= max_length
    assert enc.char_starts.shape == enc.char_ends.shape == enc.tokens.input_ids.shape
    context_tok = enc.char_starts >= 0
    assert np.array_equal(context_tok, enc.char_ends >= 0) and np.all(enc.tokens.token_type_ids[context_tok] == 1)
    aligned = labelled = 0
    for w in range(len(enc)):
        q, lo, hi = enc.window_example[w], enc.tokens.offsets[w], enc.tokens.offsets[w + 1]
        cs, ce = enc.char_starts[lo:hi], enc.char_ends[lo:hi]
        ctx = np.flatnonzero(cs >= 0)
        a_start = first3.answer_starts[q][0]
        a_end = a_start + len(first3.answers[q][0])
        s, e = int(enc.start_positions[w]), int(enc.end_positions[w])
        inside = ctx.size > 0 and cs[ctx[0]] <= a_start and ce[ctx[-1]] >= a_end
        if not inside:
            assert s == e == 0
            continue
        labelled += 1
        assert s in ctx and e in ctx and s <= e
        # HF run_qa: the last context token starting at/before the answer, the first ending at/after it.
        assert cs[s] <= a_start and (s + 1 > ctx[-1] or cs[s + 1] > a_start)
        assert ce[e] >= a_end and (e - 1 < ctx[0] or ce[e - 1] < a_end)
        span = first3.contexts[q][cs[s]:ce[e]]
        assert span[a_start - cs[s]:a_end - cs[s]] == first3.answers[q][0]
        if cs[s] == a_start and ce[e] == a_end:
            aligned += 1
            assert normalize_answer(span) == normalize_answer(first3.answers[q][0])
    # Only answers that are part of a word ("gold" in "golden") decode wider.
    assert aligned >= 0.97 * labelled
    has_answer = np.zeros(n, bool)
    has_answer[enc.window_example[enc.start_positions != 0]] = True
    if max_length == 384:
        assert has_answer.all()
    else:
        assert len(enc) > 3 * n and has_answer.mean() > 0.98
        # Consecutive windows of a question overlap by `stride` context tokens.
        w = int(np.flatnonzero(enc.window_example[1:] == enc.window_example[:-1])[0])
        ctx_chars = [enc.char_starts[enc.tokens.offsets[i]:enc.tokens.offsets[i + 1]] for i in (w, w + 1)]
        a, b = (c[c >= 0] for c in ctx_chars)
        assert np.array_equal(a[-stride:], b[:stride])


def test_encode_labels_small(tiny_tokenizer):
    context = "the cat sat on the mat and the dog ran"
    ex = _examples([context], ["  dog"], [["the dog"]], [[context.index("the dog")]])
    enc = encode_squad(ex, tiny_tokenizer, max_length=8, stride=2)
    # 4 context tokens a window ([CLS] dog [SEP] ... [SEP]), advancing by 2: tokens 0-3, 2-5, 4-7, 6-9;
    # "the dog" (tokens 7-8) is only entirely inside the last, at window positions 4-5.
    assert enc.window_example.tolist() == [0, 0, 0, 0] and enc.lengths.tolist() == [8] * 4
    assert enc.start_positions.tolist() == [0, 0, 0, 4] and enc.end_positions.tolist() == [0, 0, 0, 5]
    assert enc.labels.dtype == np.int32 and enc.labels.tolist() == [[0, 0]] * 3 + [[4, 5]]
    assert enc.start_positions.dtype == enc.end_positions.dtype == enc.char_starts.dtype == np.int32
    with pytest.raises(ValueError, match="stride"):
        encode_squad(ex, tiny_tokenizer, max_length=8, stride=8)
    with pytest.raises(ValueError, match="max_length"):
        encode_squad(ex, tiny_tokenizer, max_length=0, stride=0)

    class Slow:
        is_fast = False
    with pytest.raises(ValueError, match="not a fast tokenizer"):
        encode_squad(ex, Slow())


def test_best_spans_hand_built():
    start = np.array([[0, 5, 1, 0, 0], [0, 0, 0, 8, 0], [100, 1, 0, 50, 0], [1, 2, 3, 4, 5]], np.float32)
    end = np.array([[0, 0, 0, 0, 9], [7, 0, 0, 0, 0], [100, 0, 2, 50, 0], [1, 2, 3, 4, 5]], np.float32)
    allowed = np.ones_like(start, bool)
    allowed[2] = [False, True, True, False, True]
    allowed[3] = False
    s, e, score = best_spans(start, end, allowed)
    assert s.tolist() == [1, 3, 1, 0] and e.tolist() == [4, 3, 2, 0]  # s <= e; masked tokens skipped
    assert score[:3].tolist() == [14, 8, 3] and score[3] == -np.inf  # no allowed token: -inf
    s, e, score = best_spans(start[:1], end[:1], allowed[:1], max_answer_length=3)
    assert (s[0], e[0], score[0]) == (2, 4, 10)  # (1, 4) is 4 tokens long
    s, e, score = best_spans(start[:1], end[:1], allowed[:1], max_answer_length=1)
    assert (s[0], e[0], score[0]) == (4, 4, 9)


def test_best_spans_matches_brute_force():
    rng = np.random.default_rng(0)
    start, end = rng.normal(size=(2, 30, 12))
    allowed = rng.random((30, 12)) < 0.6
    s, e, score = best_spans(start, end, allowed, max_answer_length=4)
    for i in range(30):
        cands = [(start[i, a] + end[i, b], a, b) for a in range(12) for b in range(a, min(a + 4, 12))
                 if allowed[i, a] and allowed[i, b]]
        best = max(cands, default=(-np.inf, 0, 0))
        assert np.isclose(score[i], best[0]) or score[i] == best[0] == -np.inf
        if cands:
            assert (s[i], e[i]) == best[1:]


@pytest.mark.real
def test_predict_answers_from_gold_logits(first3, minilm_tokenizer):
    sub = first3.select([0, 5, 17, 40, 100, 700])
    enc = encode_squad(sub, minilm_tokenizer, max_length=64, stride=16)
    n, width = len(enc), enc.lengths.max() + 5
    start, end = np.zeros((2, n, width), np.float32)
    start[:, -3:] = end[:, -3:] = 1e6  # padding positions: never allowed
    start[:, 1] = end[:, 1] = 1e6  # a question token: never allowed
    expected = {}
    for w in range(n):
        lo, q = enc.tokens.offsets[w], enc.window_example[w]
        s, e = enc.start_positions[w], enc.end_positions[w]
        if s:
            start[w, s] = end[w, e] = 10.0
            expected[sub.ids[q]] = sub.contexts[q][enc.char_starts[lo + s]:enc.char_ends[lo + e]]
        else:  # a decoy: a valid span of lower score in a window without the answer
            ctx = np.flatnonzero(enc.char_starts[lo:enc.tokens.offsets[w + 1]] >= 0)
            start[w, ctx[0]] = end[w, ctx[0]] = 4.0
    assert len(expected) == len(sub) and any(enc.start_positions == 0)
    order = np.random.default_rng(0).permutation(n)  # any window order
    pred = predict_answers(enc, order, start[order], end[order])
    assert pred == expected
    assert squad_metrics(pred, sub)["exact_match"] > 0.8
    keep = enc.window_example != 2
    with pytest.raises(ValueError, match="1 of 6 questions have no window"):
        predict_answers(enc, np.flatnonzero(keep), start[keep], end[keep])


@pytest.mark.real
def test_gold_decoding_ceiling(first3, encodings):
    enc = encodings[384, 128]
    n, width = len(enc), enc.max_length
    start, end = np.zeros((2, n, width), np.float32)
    rows = np.arange(n)
    start[rows, enc.start_positions] = end[rows, enc.end_positions] = np.where(enc.start_positions > 0, 10, 0)
    scores = squad_metrics(predict_answers(enc, rows, start, end), first3)
    assert 0.97 < scores["exact_match"] <= scores["f1"] <= 1.0  # only part-of-word answers are missed


@pytest.mark.real
def test_padded_and_batcher(encodings):
    enc = encodings[384, 128]
    assert isinstance(enc, QAEncoded)
    out = enc.padded([3, 0], length=400, pad_id=7)
    ref = enc.tokens.padded([3, 0], 400, 7)
    assert set(out) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    for k in ref:
        assert out[k].shape == (2, 400) and out[k].dtype == np.int32 and np.array_equal(out[k], ref[k])
    assert out["labels"].shape == (2, 2) and out["labels"].dtype == np.int32
    assert out["labels"].tolist() == [[enc.start_positions[i], enc.end_positions[i]] for i in (3, 0)]
    batch = next(Batcher(enc, 8, shuffle=False).eval_batches())
    assert batch["labels"].shape == (8, 2) and batch["input_ids"].shape[0] == 8
    assert np.array_equal(batch["labels"], enc.labels[:8])


def test_squad_from_hub(monkeypatch):
    import sys
    import types

    row = {"id": "a1", "title": "T", "context": "Paris is big.", "question": "Where?",
           "answers": {"text": ["Paris", "Paris"], "answer_start": [0, 0]}}
    calls = []
    fake = types.SimpleNamespace(load_dataset=lambda path, split: calls.append((path, split)) or [row])
    monkeypatch.setitem(sys.modules, "datasets", fake)
    ex = squad_from_hub("rajpurkar/squad", "validation")
    assert calls == [("rajpurkar/squad", "validation")] and ex.answers == [("Paris", "Paris")]
    assert ex.answer_starts == [(0, 0)] and ex.source == "rajpurkar/squad:validation"

    def offline(path, split):
        raise ConnectionError("Couldn't reach the hub\nsecond line")
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(DataError, match="rajpurkar/squad:validation from the Hugging Face hub, unreachable.*--data_dir") as e:
        squad_from_hub("rajpurkar/squad", "validation")
    assert "\n" not in str(e.value)
