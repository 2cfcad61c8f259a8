"""Fixtures for flax_adapters.data: the shared real-data folder and a tiny offline tokenizer."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """../shared/data from the repo root (GLUE, XNLI, PAWS-X files); tests using it are `real`."""
    if not (SHARED_DATA / "glue").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """A BERT WordPiece fast tokenizer over a 30-word vocabulary, built from a vocab file (no hub)."""
    from transformers import BertTokenizerFast

    words = "the a cat dog sat on mat is not big small red runs ran and it".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "##s", "##ed", ".", ","]
    path = tmp_path_factory.mktemp("tok") / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(path), do_lower_case=True)
