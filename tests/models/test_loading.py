"""Checkpoint loading (models/loading.py): clear errors for corrupted, mismatched or missing checkpoints,
offline resolution, the export round trip; and what a loaded checkpoint computes equals Hugging Face
PyTorch's encoder, on tiny random BERT / RoBERTa / XLM-R models (fp32, and bf16 within its stated
tolerance), a torch .bin, a task model's 'bert.' prefix and the real MiniLM."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import flax_adapters as fa
from flax_adapters.models import CheckpointError
from tests.conftest import padded_batch
from tests.models.common import _torch_outputs


def _rewrite(path, edit):
    tensors = load_file(str(path / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(path / "model.safetensors"))


def test_missing_tensor_is_named(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    _rewrite(path, lambda t: t.pop("encoder.layer.1.attention.self.key.weight"))
    with pytest.raises(CheckpointError, match=r"missing tensor 'encoder\.layer\.1\.attention\.self\.key\.weight'"):
        fa.from_pretrained(path)


def test_misshaped_tensor_is_named(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    def edit(t):
        t["encoder.layer.2.intermediate.dense.weight"] = np.zeros((36, 32), np.float32)
    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match=r"'encoder\.layer\.2\.intermediate\.dense\.weight' has shape \(32, 36\)"):
        fa.from_pretrained(path)


def test_unexpected_tensor_is_named(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    def edit(t):
        t["encoder.layer.3.output.dense.weight"] = np.zeros((32, 37), np.float32)
    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match=r"unexpected tensor 'encoder\.layer\.3\.output\.dense\.weight'"):
        fa.from_pretrained(path)


def test_config_of_another_model_is_caught(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    cfg = json.loads((path / "config.json").read_text())
    cfg["num_hidden_layers"] = 4
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"missing tensor 'encoder\.layer\.3\."):
        fa.from_pretrained(path)


def test_corrupted_file(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    (path / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="model.safetensors: unreadable"):
        fa.from_pretrained(path)


def test_not_a_bert_checkpoint(tmp_path, tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    save_file({"transformer.wte.weight": np.zeros((3, 3), np.float32)}, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="not a BERT-family checkpoint"):
        fa.from_pretrained(path)


def test_missing_weights_and_unknown_hub_id_offline(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(FileNotFoundError, match="no weights found"):
        fa.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="not loadable from the HF hub/cache"):
        fa.from_pretrained("no-such-org/no-such-model")


def test_bad_options_and_config(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    with pytest.raises(TypeError, match="unknown config option"):
        fa.from_pretrained(path, compute_dtyp="bfloat16")
    with pytest.raises(ValueError, match="compute_dtype 'fp8'"):
        fa.from_pretrained(path, compute_dtype="fp8")
    with pytest.raises(ValueError, match="hidden_act 'weird'"):
        fa.from_pretrained(path, hidden_act="weird")(np.ones((1, 3), int))


def test_bad_inputs_are_named(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    with pytest.raises(ValueError, match="input_ids must be 2-D"):
        model(np.ones(5, int))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(np.ones((2, 5), int), attention_mask=np.ones((2, 4), int))
    with pytest.raises(ValueError, match=r"outside \[0, 99\)"):
        model(np.full((1, 3), 99))
    with pytest.raises(ValueError, match="exceeds the model's 64 positions"):
        model(np.ones((1, 65), int))


def test_export_round_trip(tiny_checkpoint):
    from flax_adapters.models.loading import export_tensors

    path, hf = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    exported = export_tensors(model.config, model.params)
    for name, tensor in hf.state_dict().items():
        if name in exported:
            np.testing.assert_array_equal(exported[name], tensor.numpy())
    assert len(exported) == len([k for k in hf.state_dict() if "position_ids" not in k])


# --- parity of loaded checkpoints with Hugging Face PyTorch (tiny random models, the real MiniLM) ---

@pytest.mark.torch
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


@pytest.mark.torch
def test_pytorch_bin_checkpoint(tiny_checkpoint):
    path, hf = tiny_checkpoint("bert", safe_serialization=False)
    assert (path / "pytorch_model.bin").exists()
    ids, mask, types = padded_batch(hf.config.vocab_size, 0)
    ours = fa.from_pretrained(path)(ids, attention_mask=mask, token_type_ids=types)
    np.testing.assert_allclose(np.asarray(ours.last_hidden_state), _torch_outputs(hf, ids, mask, types)[0],
                               rtol=0, atol=1e-5)


@pytest.mark.torch
def test_task_model_checkpoint_loads_encoder(tmp_path):
    """A BertForSequenceClassification checkpoint ('bert.' prefix + classifier) loads its encoder."""
    import torch
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


@pytest.mark.torch
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
@pytest.mark.torch
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
