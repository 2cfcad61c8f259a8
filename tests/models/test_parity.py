"""Parity of the NNX encoder with Hugging Face PyTorch, on tiny random models and the real MiniLM."""

import numpy as np
import pytest
import torch

import flax_adapters as fa
from tests.conftest import padded_batch

pytestmark = pytest.mark.torch


def _torch_outputs(model, ids, mask, types):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                    token_type_ids=torch.tensor(types))
    return out.last_hidden_state.numpy(), out.pooler_output.numpy()


@pytest.mark.parametrize("kind", ["bert", "roberta", "xlm-roberta"])
@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new", "relu"])
def test_fp32_parity_padded(tiny_checkpoint, kind, hidden_act):
    path, hf = tiny_checkpoint(kind, hidden_act=hidden_act)
    model = fa.from_pretrained(path)
    assert model.config.model_type == kind
    ids, mask, types = padded_batch(hf.config.vocab_size, hf.config.pad_token_id)
    if kind != "bert":  # RoBERTa-family checkpoints here have a single token type
        types = np.zeros_like(types)
    ours = model(ids, attention_mask=mask, token_type_ids=types)
    want_h, want_p = _torch_outputs(hf, ids, mask, types)
    # Padded positions included: they follow the same arithmetic in both libraries.
    np.testing.assert_allclose(np.asarray(ours.last_hidden_state), want_h, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ours.pooler_output), want_p, rtol=0, atol=1e-5)


def test_pytorch_bin_checkpoint(tiny_checkpoint):
    path, hf = tiny_checkpoint("bert", safe_serialization=False)
    assert (path / "pytorch_model.bin").exists()
    ids, mask, types = padded_batch(hf.config.vocab_size, 0)
    ours = fa.from_pretrained(path)(ids, attention_mask=mask, token_type_ids=types)
    np.testing.assert_allclose(np.asarray(ours.last_hidden_state), _torch_outputs(hf, ids, mask, types)[0],
                               rtol=0, atol=1e-5)


def test_task_model_checkpoint_loads_encoder(tmp_path):
    """A BertForSequenceClassification checkpoint ('bert.' prefix + classifier) loads its encoder."""
    import transformers as tf
    from tests.conftest import TINY

    torch.manual_seed(0)
    clf = tf.BertForSequenceClassification(tf.BertConfig(**TINY)).eval()
    clf.save_pretrained(tmp_path)
    ids, mask, types = padded_batch(TINY["vocab_size"], 0)
    ours = fa.from_pretrained(tmp_path)(ids, attention_mask=mask, token_type_ids=types)
    np.testing.assert_allclose(np.asarray(ours.last_hidden_state), _torch_outputs(clf.bert, ids, mask, types)[0],
                               rtol=0, atol=1e-5)


# bf16 compute keeps fp32 parameters, LayerNorm statistics and softmax; the stated tolerance is
# relative to the spread of the hidden states (bf16 has an 8-bit mantissa: ~0.4% per rounding).
BF16_REL_TOL = 0.05


def test_bf16_within_stated_tolerance(tiny_checkpoint):
    path, hf = tiny_checkpoint("bert")
    ids, mask, types = padded_batch(hf.config.vocab_size, 0)
    ours = fa.from_pretrained(path, compute_dtype="bfloat16")(ids, attention_mask=mask, token_type_ids=types)
    want_h, want_p = _torch_outputs(hf, ids, mask, types)
    got = np.asarray(ours.last_hidden_state, dtype=np.float32)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    err = np.abs(got - want_h).max() / want_h.std()
    assert err < BF16_REL_TOL, err
    assert np.abs(np.asarray(ours.pooler_output) - want_p).max() < BF16_REL_TOL


@pytest.mark.real
def test_real_minilm_parity_on_padded_sentences(minilm_path):
    from transformers import AutoModel

    model = fa.from_pretrained(minilm_path)
    tok = model.tokenizer()
    sentences = ["The movie was a delight from start to finish.", "Dull.",
                 "Adapters add a few parameters per layer, yet their training is not always faster in wall-clock time.",
                 "It's neither good nor bad, just forgettable — and a little too long."]
    enc = tok(sentences, padding=True, return_tensors="np")
    assert enc["attention_mask"].min() == 0  # padded batch
    ours = model(enc["input_ids"], attention_mask=enc["attention_mask"], token_type_ids=enc["token_type_ids"])
    hf = AutoModel.from_pretrained(minilm_path).eval()
    want_h, want_p = _torch_outputs(hf, enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    np.testing.assert_allclose(np.asarray(ours.last_hidden_state), want_h, rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(ours.pooler_output), want_p, rtol=0, atol=1e-4)
