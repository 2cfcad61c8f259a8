"""Paper 2's other task families, data side (data/families.py): the registry-driven loader over every
family (hold-out splits of the real files, the hub route offline) and family scoring. (Each family's
reader and encoder: test_tagging.py, test_choices.py, test_squad.py.)"""

import numpy as np
import pytest

from flax_adapters.data import DataError, encode_examples, get_task, load_examples, score_outputs
from flax_adapters.data.tagging import encode_tagged, from_sentences
from tests.data.common import CONLL, SIQA, tags, write_siqa


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
