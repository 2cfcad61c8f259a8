"""Social IQa multiple choice (data/choices.py): the jsonl + labels reader and its errors, one row
per choice, the hold-out split of whole questions."""

import pytest

from flax_adapters.data import Batcher, DataError, encode_examples, load_examples
from flax_adapters.data.choices import read_choices_jsonl
from tests.data.common import SIQA, write_siqa


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
