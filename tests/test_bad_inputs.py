"""Bad inputs to the library (adapters, models, data): each must fail with a one-line error that
names the culprit, and lose nothing — no file on disk changed, no adapter or head half-added.

The training-side cases (config keys, workdirs, checkpoints, NaN, kill during save) live in the
training tests; these are the library's own.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters import AdapterError
from flax_adapters.data import load_examples
from flax_adapters.models import EncoderConfig

SMALL = EncoderConfig(vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                      intermediate_size=40, max_position_embeddings=16)
IDS = np.arange(1, 13).reshape(2, 6)


def _hashes(*paths: Path) -> dict:
    """sha256 of every file under `paths` (files or directories)."""
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        out.update({str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
    return out


def _state(model) -> tuple:
    return sorted(model.adapters), sorted(model.heads), model.merged


def expect(call, error, *culprits, model=None, paths=()):
    """`call()` raises `error` with a one-line message holding every culprit string; the files
    under `paths` and the model's adapters/heads are as before. Returns the message."""
    before, state = _hashes(*paths), model and _state(model)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert "\n" not in message.strip(), f"not one line:\n{message}"
    for c in culprits:
        assert str(c) in message, f"{c!r} not named in: {message}"
    assert _hashes(*paths) == before, "a file on disk changed"
    if model is not None:
        assert _state(model) == state, "the model changed"
    return message


@pytest.fixture
def model():
    m = fa.AdapterModel.from_config(SMALL)
    m.add_adapter("a", "seq_bn", reduction_factor=4)
    m.add_head("a", "classification", num_labels=3)
    return m


@pytest.fixture
def saved(model, tmp_path):
    """Adapter 'a' with its head, saved in our default format."""
    model.save_adapter(tmp_path / "a", "a")
    return tmp_path / "a"


# --- adapter methods, options, heads ----------------------------------------------------------------
def test_unknown_method(model):
    expect(lambda: model.add_adapter("x", "seq_bnn"), AdapterError, "'seq_bnn'", "seq_bn", model=model)


def test_unknown_option(model):
    expect(lambda: model.add_adapter("x", "lora", rank=4), AdapterError, "'rank'", "'lora'", model=model)


def test_bad_option_value(model):
    expect(lambda: model.add_adapter("x", "lora", r=0), AdapterError, "r must be", model=model)


def test_leave_out_outside_the_model(model):
    expect(lambda: model.add_adapter("x", "seq_bn", leave_out=(5,)), AdapterError, "leave_out [5]", model=model)


def test_unknown_head_type(model):
    expect(lambda: model.add_head("x", "classify"), AdapterError, "'classify'", "classification", model=model)


def test_unknown_fusion_option(model):
    model.add_adapter("b", "seq_bn", reduction_factor=4)
    expect(lambda: model.add_fusion("f", ["a", "b"], keys=False), AdapterError, "'keys'", model=model)


def test_adapter_name_taken(model, saved):
    expect(lambda: model.load_adapter(saved), AdapterError, "'a' exists", "overwrite=True", model=model,
           paths=[saved])


def test_unknown_adapter_at_call(model):
    expect(lambda: model(IDS, adapter="b"), AdapterError, "'b'", model=model)


# --- AdapterHub directories -----------------------------------------------------------------------
def test_directory_for_another_base(saved):
    roberta = fa.AdapterModel.from_config(SMALL.replace(model_type="roberta", pad_token_id=1))
    expect(lambda: roberta.load_adapter(saved), AdapterError, "model_type 'bert'", str(saved), model=roberta,
           paths=[saved])


def test_directory_for_another_hidden_size(saved):
    wider = fa.AdapterModel.from_config(SMALL.replace(hidden_size=48, intermediate_size=40))
    expect(lambda: wider.load_adapter(saved), AdapterError, "hidden_size 32", str(saved), model=wider,
           paths=[saved])


def test_tensor_of_another_shape(tmp_path):
    """An adapter of a model with another FFN width: the hidden size matches, one tensor does not."""
    source = fa.AdapterModel.from_config(SMALL.replace(intermediate_size=64))
    source.add_adapter("l", "lora", intermediate_lora=True)
    source.save_adapter(tmp_path / "l", "l")
    model = fa.AdapterModel.from_config(SMALL)
    expect(lambda: model.load_adapter(tmp_path / "l"), AdapterError, "intermediate.dense.loras.l.lora_B",
           "has shape", model=model, paths=[tmp_path / "l"])


@pytest.mark.parametrize("form", ["pytorch_adapter.bin", "adapter.safetensors"])
@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_weights(model, tmp_path, form, damage):
    model.save_adapter(tmp_path / "a", "a", torch_format=form.endswith(".bin"))
    saved, file = tmp_path / "a", tmp_path / "a" / form
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x07" * 16 + data[16:])
    fresh = fa.AdapterModel.from_config(SMALL)
    expect(lambda: fresh.load_adapter(saved), AdapterError, str(file), model=fresh, paths=[saved])


def test_missing_adapter_config(saved):
    (saved / "adapter_config.json").unlink()
    fresh = fa.AdapterModel.from_config(SMALL)
    expect(lambda: fresh.load_adapter(saved), AdapterError, "adapter_config.json", str(saved), model=fresh,
           paths=[saved])


def test_invalid_adapter_config_json(saved):
    (saved / "adapter_config.json").write_text("{not json")
    fresh = fa.AdapterModel.from_config(SMALL)
    expect(lambda: fresh.load_adapter(saved), AdapterError, str(saved / "adapter_config.json"), "invalid JSON",
           model=fresh, paths=[saved])


def test_unknown_adapterhub_option(saved):
    meta = json.loads((saved / "adapter_config.json").read_text())
    meta["config"]["adapter_shape"] = "round"
    (saved / "adapter_config.json").write_text(json.dumps(meta))
    fresh = fa.AdapterModel.from_config(SMALL)
    expect(lambda: fresh.load_adapter(saved), AdapterError, "'adapter_shape'", model=fresh, paths=[saved])


def test_missing_head_weights(saved):
    for f in ("model_head.safetensors", "pytorch_model_head.bin"):
        (saved / f).unlink(missing_ok=True)
    fresh = fa.AdapterModel.from_config(SMALL)
    expect(lambda: fresh.load_adapter(saved), AdapterError, "no head weights", "model_head.safetensors",
           model=fresh, paths=[saved])


def test_not_a_directory(tmp_path):
    fresh = fa.AdapterModel.from_config(SMALL)
    expect(lambda: fresh.load_adapter(tmp_path / "nowhere"), AdapterError, str(tmp_path / "nowhere"), model=fresh)


def test_save_unknown_adapter_writes_nothing(model, tmp_path):
    expect(lambda: model.save_adapter(tmp_path / "out", "nope"), AdapterError, "'nope'", model=model)
    assert not (tmp_path / "out").exists()


def test_save_onto_a_file(model, tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    expect(lambda: model.save_adapter(target, "a"), AdapterError, str(target), "not a directory", model=model,
           paths=[target])


def test_fusion_before_its_adapters(model, tmp_path):
    model.add_adapter("b", "seq_bn", reduction_factor=4)
    model.add_fusion("a,b", ["a", "b"])
    model.save_adapter_fusion(tmp_path / "f", "a,b")
    fresh = fa.AdapterModel.from_config(SMALL)
    expect(lambda: fresh.load_adapter_fusion(tmp_path / "f"), AdapterError, "['a', 'b']", "load_adapter",
           model=fresh, paths=[tmp_path / "f"])


@pytest.mark.torch
def test_adapterhub_compacter_from_a_bare_model(tmp_path):
    """AdapterHub's save_adapter on a bare BertModel (adapters.init) leaves out the shared PHM rule:
    the error says so and how to save it, instead of naming a tensor the user never had."""
    adapters = pytest.importorskip("adapters")
    from tests.conftest import make_hf_model

    wide = dict(hidden_size=128, num_attention_heads=4, intermediate_size=64)
    bare = make_hf_model("bert", **wide)
    bare.save_pretrained(tmp_path / "base")
    adapters.init(bare)
    bare.add_adapter("c", config=adapters.CompacterConfig())
    bare.save_adapter(tmp_path / "c", "c")
    model = fa.from_pretrained(tmp_path / "base")
    expect(lambda: model.load_adapter(tmp_path / "c"), AdapterError, "shared PHM rule",
           "shared_parameters.c.phm_rule", "bare model", "AdapterModel", model=model, paths=[tmp_path / "c"])


# --- model inputs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ids, culprit", [
    (np.array([[1, 2, 50]]), "input_ids hold ids outside [0, 50)"),
    (np.array([[1, -2, 3]]), "input_ids hold ids outside [0, 50)"),
    (np.ones((1, 17), int), "input_ids length 17 exceeds the model's 16 positions"),
    (np.zeros((0, 5), int), "input_ids is empty"),
    (np.zeros((2, 0), int), "input_ids is empty"),
    (np.ones((2, 3)) * 1.5, "input_ids must hold integers"),
    (np.ones(4, int), "input_ids must be 2-D"),
], ids=["id_at_vocab_size", "negative_id", "too_long", "empty_batch", "empty_sequences", "floats", "1d"])
def test_bad_token_ids(model, ids, culprit):
    expect(lambda: model(ids, adapter="a"), ValueError, culprit, model=model)


def test_mask_of_another_shape(model):
    expect(lambda: model(IDS, attention_mask=np.ones((2, 5), int)), ValueError, "attention_mask has shape (2, 5)",
           "(2, 6)", model=model)


def test_token_type_out_of_range(model):
    expect(lambda: model(IDS, token_type_ids=np.full(IDS.shape, 2)), ValueError, "token_type_ids", "[0, 2)",
           model=model)


@pytest.mark.parametrize("drop_n", [3, 7, -1, 1.5])
def test_drop_n_outside_the_layers(model, drop_n):
    expect(lambda: model(IDS, adapter="a", drop_n=drop_n), AdapterError, f"drop_n={drop_n!r}", "[0, 3)",
           model=model)


def test_drop_n_in_parallel_runs(model):
    model.add_adapter("b", "seq_bn", reduction_factor=4)
    expect(lambda: model.run_parallel(IDS, adapters=["a", "b"], drop_n=3), AdapterError, "drop_n=3", model=model)


# --- data ---------------------------------------------------------------------------------------------
def test_missing_data_dir(tmp_path):
    expect(lambda: load_examples("sst2", "train", tmp_path / "no_such_dir"), ValueError,
           str(tmp_path / "no_such_dir"), "sst2")


def test_unknown_task(tmp_path):
    expect(lambda: load_examples("sst3", "train", tmp_path), ValueError, "'sst3'", "sst2")


def _sst2(tmp_path, text: str) -> Path:
    path = tmp_path / "SST-2" / "train.tsv"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_tsv_missing_column(tmp_path):
    path = _sst2(tmp_path, "sentence\tscore\na fine film\t1\n")
    expect(lambda: load_examples("sst2", "train", tmp_path), ValueError, str(path), "missing column 'label'",
           paths=[path])


def test_tsv_short_row(tmp_path):
    path = _sst2(tmp_path, "sentence\tlabel\na fine film\t1\nno label here\n")
    expect(lambda: load_examples("sst2", "train", tmp_path), ValueError, f"{path} line 3", "missing column label",
           paths=[path])


def test_tsv_unknown_label(tmp_path):
    path = _sst2(tmp_path, "sentence\tlabel\na fine film\t1\na dull one\tpositive\n")
    expect(lambda: load_examples("sst2", "train", tmp_path), ValueError, f"{path} line 3",
           "unknown label 'positive'", "0, 1", paths=[path])
