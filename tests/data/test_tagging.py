"""CoNLL-2003 tagging (data/tagging.py): the reader and its errors, the real file's counts, sub-token
alignment (a word's tag on its first sub-token), truncated words scored as outside, entity F1."""

import numpy as np
import pytest

from flax_adapters.data import DataError, load_examples
from flax_adapters.data.tagging import IGNORE_INDEX, encode_tagged, entity_metrics, from_sentences, read_conll
from tests.data.common import CONLL, tags


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
