"""(IA)³ (adapters/ia3.py, LoRA's machinery with a scaling projection) against AdapterHub: parity,
identity at init, merging, save/load both ways, its own errors, size."""

import json

import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.adapters import AdapterError
from tests.adapters.common import (check_adapterhub_loads_ours, check_merge_equals_unmerged,
                                   check_save_load_round_trip)
from tests.adapters.hub_utils import batch_for, hub_hidden, hub_pair

pytestmark = pytest.mark.torch


def _configs():
    from adapters import IA3Config

    return {
        "ia3": IA3Config(),
        "ia3_leave_out_q_output_alpha": IA3Config(leave_out=[0, 2], attn_matrices=["q", "v"], output_lora=True,
                                                  alpha=2),
    }


@pytest.mark.parametrize("name", list(_configs()))
def test_matches_adapterhub(tmp_path, name):
    hub, base_dir, adapter_dir = hub_pair(tmp_path, _configs()[name])
    # hub_pair randomises every tensor of adapter 'a' (lora_A and lora_B; IA3 vectors around 1).
    saved = json.loads((adapter_dir / "adapter_config.json").read_text())["config"]
    model = fa.from_pretrained(base_dir)
    model.load_adapter(adapter_dir)
    assert model.adapters["a"].config.method == ("ia3" if saved["composition_mode"] == "scale" else "lora")
    ids, mask, types = batch_for(hub.config)
    got = model(ids, attention_mask=mask, token_type_ids=types, adapter="a").last_hidden_state
    np.testing.assert_allclose(np.asarray(got), hub_hidden(hub, ids, mask, types), rtol=0, atol=1e-5)
    bare = model(ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    assert np.abs(np.asarray(bare) - np.asarray(got)).max() > 1e-3  # the adapter does something


@pytest.mark.parametrize("method", ["ia3"])
def test_fresh_adapter_is_identity(tiny_checkpoint, method):
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    model.add_adapter("t", method, intermediate_lora=True, output_lora=True)
    ids = np.arange(1, 13).reshape(2, 6)
    np.testing.assert_array_equal(np.asarray(model(ids, adapter="t").last_hidden_state),
                                  np.asarray(model(ids).last_hidden_state))


@pytest.mark.parametrize("method,options,around", [
    ("ia3", dict(attn_matrices=("q", "k", "v"), output_lora=True, leave_out=(1,)), 1.0)])
def test_merge_equals_unmerged(tiny_checkpoint, method, options, around):
    check_merge_equals_unmerged(tiny_checkpoint, method, options, around)


@pytest.mark.parametrize("method", ["ia3"])
def test_save_load_round_trip(tiny_checkpoint, tmp_path, method):
    check_save_load_round_trip(tiny_checkpoint, tmp_path, method)


@pytest.mark.parametrize("method", ["ia3"])
def test_adapterhub_loads_ours(tiny_checkpoint, tmp_path, method):
    check_adapterhub_loads_ours(tiny_checkpoint, tmp_path, method)


def test_errors(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    with pytest.raises(AdapterError, match="r == 1"):
        model.add_adapter("x", "ia3", r=4)
    assert not model.adapters


def test_param_counts_bert_base():
    from flax_adapters.adapters.registry import build_adapter
    from flax_adapters.adapters.registry import make_config
    from flax_adapters.models import EncoderConfig

    enc = EncoderConfig()
    assert build_adapter(make_config("ia3"), enc).num_parameters == 55_296   # 12·(768 + 768 + 3072)
