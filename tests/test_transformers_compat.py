"""The JAX side under whatever `transformers` is installed (4.57 with the torch extra, 5.x without):
tiny BERT and RoBERTa checkpoints written with this transformers' own config and tokenizer classes
load, tokenise and run. Needs neither torch nor the hub (the tokenizers are built here).

Under transformers 5 this is what BUILD_NOTES' "versions tried" records (a separate venv without
torch or AdapterHub, as on the GPU image); with torch present the same checkpoint is also compared
with transformers' own PyTorch model.
"""

import json

import numpy as np
import pytest
import transformers
from safetensors.numpy import save_file

import flax_adapters as fa
from flax_adapters.data import Examples, encode
from flax_adapters.models import EncoderConfig, EncoderModel
from flax_adapters.models.loading import export_tensors

SENTENCES = ["the cat sat on the mat", "a dog runs", "it is not big and it is not red", "ran"]
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


def _bert_tokenizer(tmp_path):
    words = sorted({w for s in SENTENCES for w in s.split()})
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    return transformers.BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)


def _roberta_tokenizer():
    """A byte-level BPE trained on the test sentences, wrapped as RoBERTa's fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(SENTENCES * 4, trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return transformers.RobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                             sep_token="</s>", cls_token="<s>", pad_token="<pad>",
                                             unk_token="<unk>", mask_token="<mask>")


def _checkpoint(kind, tmp_path):
    """A tiny checkpoint directory written by this transformers (config + tokenizer) and our
    exporter (random weights as model.safetensors); returns (directory, the model that wrote it)."""
    directory = tmp_path / kind
    if kind == "bert":
        tok = _bert_tokenizer(tmp_path)
        config = transformers.BertConfig(vocab_size=len(tok), max_position_embeddings=40, **TINY)
    else:
        tok = _roberta_tokenizer()
        config = transformers.RobertaConfig(vocab_size=len(tok), max_position_embeddings=42, pad_token_id=1,
                                            type_vocab_size=1, **TINY)
    config.save_pretrained(directory)
    tok.save_pretrained(directory)
    source = EncoderModel.from_config(EncoderConfig.from_json_file(directory / "config.json"), seed=3)
    save_file(export_tensors(source.config, source.params), str(directory / "model.safetensors"))
    return directory, source


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_tiny_checkpoint_loads_tokenises_and_runs(kind, tmp_path):
    directory, source = _checkpoint(kind, tmp_path)
    assert json.loads((directory / "config.json").read_text())["model_type"] == kind
    model = fa.from_pretrained(directory)
    assert model.config.model_type == kind
    assert model.config.position_style == ("absolute" if kind == "bert" else "roberta")
    tok = model.tokenizer()
    assert tok.is_fast
    enc = tok(SENTENCES, padding=True, return_tensors="np")
    assert enc["input_ids"].shape[0] == len(SENTENCES) and (enc["attention_mask"].sum(1) > 2).all()
    if kind == "roberta":  # <s> … </s> and RoBERTa's pad id, from the saved post-processor
        assert (enc["input_ids"][:, 0] == 0).all() and tok.pad_token_id == 1
    out = model(enc["input_ids"], attention_mask=enc["attention_mask"], token_type_ids=enc.get("token_type_ids"))
    want = source(enc["input_ids"], attention_mask=enc["attention_mask"], token_type_ids=enc.get("token_type_ids"))
    assert out.last_hidden_state.shape == enc["input_ids"].shape + (TINY["hidden_size"],)
    np.testing.assert_allclose(out.last_hidden_state, want.last_hidden_state, rtol=1e-6, atol=1e-6)
    # The data pipeline's tokenisation path (pairs included) with the same tokenizer.
    pairs = encode(Examples(SENTENCES, SENTENCES[::-1], np.arange(4), "mem"), tok, 16)
    assert pairs.lengths.max() <= 16 and pairs.example(0)[0][0] == tok.cls_token_id


def test_torch_model_of_this_transformers_agrees(tmp_path):
    """Where torch is installed: transformers' own BertModel reads the same directory and agrees."""
    torch = pytest.importorskip("torch")
    directory, source = _checkpoint("bert", tmp_path)
    ref = transformers.BertModel.from_pretrained(directory).eval()
    enc = transformers.AutoTokenizer.from_pretrained(directory)(SENTENCES, padding=True, return_tensors="np")
    with torch.no_grad():
        want = ref(**{k: torch.as_tensor(v) for k, v in enc.items()}).last_hidden_state.numpy()
    got = np.asarray(source(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).last_hidden_state)
    real = enc["attention_mask"].astype(bool)
    np.testing.assert_allclose(got[real], want[real], rtol=1e-5, atol=1e-5)


def test_workload_hf_config_builds():
    """The benchmark workloads describe their shape as this transformers' config classes."""
    from flax_adapters_lab.reproduce.workload import Workload

    c = Workload("tiny").hf_config()
    assert isinstance(c, transformers.BertConfig) and c.num_hidden_layers == 2
