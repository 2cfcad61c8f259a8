"""Fixtures of the server tests (flax_adapters/serving): a tiny BERT tokenizer built from a vocab file,
and a served pool of two adapters over the tiny random model of tests/adapters/test_pool.py."""

import dataclasses

import pytest

from tests.adapters.test_pool import SMALL, make, pool_of
from tests.serving.common import LABELS, WORDS


@pytest.fixture
def tokenizer(tmp_path):
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    assert len(vocab) <= SMALL.vocab_size
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))


@pytest.fixture
def served(tokenizer):
    """(model, pool of adapters a and b, app): c is in the model only, to be loaded while serving."""
    from flax_adapters.serving.app import create_app  # starlette: the test files skip without it

    model = make("seq_bn", names="abc")
    model.heads["a"].config = dataclasses.replace(model.heads["a"].config, id2label=LABELS)
    pool = pool_of(model, "seq_bn", "gather", names=["a", "b"])
    return model, pool, create_app(pool, tokenizer, max_batch=8, max_wait_ms=100)
