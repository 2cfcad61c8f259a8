"""Clear errors for corrupted, mismatched or missing checkpoints, and offline resolution."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import flax_adapters as fa
from flax_adapters.models import CheckpointError


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
