"""Paper 2's other task families, data side: CoNLL-2003 tagging (reader, sub-token alignment,
entity F1), Social IQa multiple choice (reader, choice rows, hold-out split), the registry-driven
loader over every family (local files, hold-out splits, the hub route) and family scoring."""

import json

import numpy as np
import pytest

from flax_adapters.data import (Batcher, DataError, encode_examples, get_task, load_examples, score_outputs)
from flax_adapters.data.choices import read_choices_jsonl
from flax_adapters.data.tagging import IGNORE_INDEX, encode_tagged, entity_metrics, from_sentences, read_conll

CONLL = get_task("conll2003")
SIQA = get_task("socialiqa")


def tags(*names):
    index = CONLL.label_index()
    return [index[n] for n in names]


@pytest.mark.real
def test_real_conll_counts(shared_data):
    dev = load_examples("conll2003", "validation", shared_data)
    assert len(dev) == 3250 and len(dev.tags) == 51362  # the README's sentence and token counts
    from seqeval.metrics.sequence_labeling import get_entities

    names = [[CONLL.label_names[t] for t in dev.sentence_tags(i)] for i in range(len(dev))]
    kinds = [kind for sentence in names for kind, _, _ in get_entities(sentence)]
    assert {k: kinds.count(k) for k in ("PER", "LOC", "ORG", "MISC")} == {"PER": 1842, "LOC": 1837, "ORG": 1341,
                                                                           "MISC": 922}


def test_conll_reader_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("EU NNP B-ORG\nrejects VBZ O\n\nGerman JJ B-WHAT\n")
    with pytest.raises(DataError, match=r"bad.txt line 4: unknown tag 'B-WHAT'"):
        read_conll(CONLL, str(bad))
    bad.write_text("EU NNP B-ORG\nrejects\n")
    with pytest.raises(DataError, match=r"bad.txt line 2: expected `word POS NER`"):
        read_conll(CONLL, str(bad))
    bad.write_text("\n\n")
    with pytest.raises(DataError, match="no sentences"):
        read_conll(CONLL, str(bad))


def test_first_subtoken_carries_the_tag(tiny_tokenizer):
    # "cats" → cat ##s, "ran" → ran: the word's tag sits on its first sub-token only.
    ex = from_sentences([["the", "cats", "ran"], ["dog"]], [tags("O", "B-PER", "O"), tags("B-LOC")], "mem")
    enc = encode_tagged(ex, tiny_tokenizer, max_length=16)
    row = enc.padded([0, 1], 8)
    ids = tiny_tokenizer.convert_ids_to_tokens(row["input_ids"][0][:6].tolist())
    assert ids == ["[CLS]", "the", "cat", "##s", "ran", "[SEP]"]
    assert row["labels"][0].tolist() == [IGNORE_INDEX, *tags("O", "B-PER"), IGNORE_INDEX, *tags("O")] + [IGNORE_INDEX] * 3
    assert row["labels"][1].tolist() == [IGNORE_INDEX, *tags("B-LOC")] + [IGNORE_INDEX] * 6
    # Gold labels fed back as predictions give back every word's tag.
    for i in range(2):
        assert enc.word_predictions(i, np.maximum(row["labels"][i], 0), outside=0).tolist() == ex.sentence_tags(i).tolist()


def test_truncated_words_are_scored_as_outside(tiny_tokenizer):
    ex = from_sentences([["the", "cat", "dog", "mat"]], [tags("O", "O", "B-PER", "B-LOC")], "mem")
    enc = encode_tagged(ex, tiny_tokenizer, max_length=4)  # [CLS] the cat [SEP]: 2 words cut off
    assert enc.dropped_words == 2
    words = enc.word_predictions(0, np.asarray(tags("O", "O", "O", "O")), outside=0)
    assert words.tolist() == tags("O", "O", "O", "O")  # the lost entities count as missed, not hidden
    assert entity_metrics(CONLL, [words], [ex.sentence_tags(0)])["entity_recall"] == 0.0


def test_entity_metrics_hand_checked():
    gold = [tags("B-PER", "I-PER", "O", "B-LOC"), tags("B-ORG", "O")]
    pred = [tags("B-PER", "I-PER", "O", "O"), tags("B-ORG", "B-MISC")]
    # Entities: gold {PER, LOC, ORG}, predicted {PER, ORG, MISC}; 2 right → P = R = 2/3.
    m = entity_metrics(CONLL, pred, gold)
    assert m["entity_precision"] == pytest.approx(2 / 3) and m["entity_recall"] == pytest.approx(2 / 3)
    assert m["entity_f1"] == pytest.approx(2 / 3) and m["token_accuracy"] == pytest.approx(4 / 6)
    # A boundary error is a wrong entity (conlleval): B-PER B-PER is two one-word entities.
    assert entity_metrics(CONLL, [tags("B-PER", "B-PER")], [tags("B-PER", "I-PER")])["entity_f1"] == 0.0


def write_siqa(root, n=40, label_lines=None):
    d = root / "social_iqa"
    d.mkdir(parents=True, exist_ok=True)
    rows = [{"context": f"Kai met friend {i}.", "question": "What will Kai want next?", "answerA": "sleep",
             "answerB": f"talk {i}", "answerC": "run"} for i in range(n)]
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "train-labels.lst").write_text("".join(f"{v}\n" for v in (label_lines or [1 + i % 3 for i in range(n)])))
    return root


def test_social_iqa_reader_and_holdout(tmp_path, tiny_tokenizer):
    root = write_siqa(tmp_path, n=50)
    train, dev = (load_examples("socialiqa", s, root) for s in ("train", "validation"))
    assert len(train) + len(dev) == 50 and len(dev) == 3  # 6% of the questions, whole questions
    assert not set(train.contexts) & set(dev.contexts)
    assert train.labels.tolist()[:3] == [0, 1, 2] and train.choices[0] == ("sleep", "talk 0", "run")
    enc = encode_examples(SIQA, train, tiny_tokenizer, max_length=24)
    batch = Batcher(enc, 4, shuffle=False).batch(0)
    assert batch["input_ids"].shape[:2] == (4, 3) and batch["labels"].tolist() == [0, 1, 2, 0]
    # Row k of question q pairs the context with "question answer_k".
    ids = batch["input_ids"][0, 1][batch["attention_mask"][0, 1] > 0]
    assert tiny_tokenizer.decode(ids.tolist()).count("[SEP]") == 2


def test_social_iqa_errors(tmp_path):
    write_siqa(tmp_path, n=4, label_lines=[1, 2, 3])
    with pytest.raises(DataError, match="3 labels for the 4 examples"):
        load_examples("socialiqa", "train", tmp_path)
    write_siqa(tmp_path, n=3, label_lines=[1, 4, 2])
    with pytest.raises(DataError, match=r"train-labels.lst line 2: label '4' is not an answer number 1..3"):
        read_choices_jsonl(SIQA, str(tmp_path / "social_iqa" / "train.jsonl"))
    (tmp_path / "social_iqa" / "train.jsonl").write_text('{"context": "x"}\n')
    with pytest.raises(DataError, match="line 1: missing field"):
        read_choices_jsonl(SIQA, str(tmp_path / "social_iqa" / "train.jsonl"))


@pytest.mark.real
def test_real_holdout_splits_are_disjoint(shared_data):
    siqa = [load_examples("socialiqa", s, shared_data) for s in ("train", "validation")]
    assert [len(x) for x in siqa] == [31405, 2005]
    qa = [load_examples("squad", s, shared_data) for s in ("train", "validation")]
    assert len(qa[0]) + len(qa[1]) == 10570
    assert not set(qa[0].titles) & set(qa[1].titles)  # split by article: no context in both
    assert len(set(qa[1].titles)) == 12


@pytest.mark.parametrize("task", ["conll2003", "socialiqa", "squad"])
def test_hub_route_offline_says_what_to_do(task, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match=rf"cannot load {get_task(task).hub_path}.*pass --data_dir"):
        load_examples(task, "validation")


def test_score_outputs_per_family(tiny_tokenizer, tmp_path):
    # Tagging: logits that put the gold tag first score F1 = 1; the word-level path is exercised.
    ex = from_sentences([["the", "cats", "ran"], ["dog", "sat"]], [tags("B-PER", "I-PER", "O"), tags("B-LOC", "O")], "m")
    enc = encode_tagged(ex, tiny_tokenizer, max_length=16)
    labels = enc.padded([1, 0], 8)["labels"]
    logits = np.eye(len(CONLL.label_names))[np.maximum(labels, 0)] * 5.0
    m = score_outputs(CONLL, enc, [np.array([1, 0])], [logits])
    assert m["entity_f1"] == 1.0 and m["token_accuracy"] == 1.0
    assert m["loss"] == pytest.approx(np.log(1 + 8 * np.exp(-5.0)))  # over the 5 labelled tokens only
    # Multiple choice: accuracy and cross-entropy over [n, choices] logits.
    train = load_examples("socialiqa", "train", write_siqa(tmp_path, n=50))
    choice = encode_examples(SIQA, train, tiny_tokenizer, max_length=24)
    logits = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0], [2.0, 0, 0]])  # the first 4 labels: 0 1 2 0
    m = score_outputs(SIQA, choice, [np.array([0, 1]), np.array([2, 3])], [logits[:2], logits[2:]])
    assert m["accuracy"] == 1.0 and m["loss"] == pytest.approx(-np.log(np.exp(2) / (np.exp(2) + 2)))
