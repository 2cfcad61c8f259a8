"""Prefix tuning (adapters/prefix.py) against AdapterHub: parity, leave_out, eject, save/load both ways,
errors, a fresh adapter's outputs."""

import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.adapters import AdapterError
from tests.adapters.hub_utils import check_save_round_trip_and_adapterhub_loads_ours, batch_for, hub_hidden, hub_pair

pytestmark = pytest.mark.torch

def _configs():
    from adapters import PrefixTuningConfig

    return {
        "prefix": (PrefixTuningConfig(), "bert", {}),
        "prefix_leave_out": (PrefixTuningConfig(leave_out=[1], prefix_length=7, bottleneck_size=24), "bert", {}),
        "prefix_flat": (PrefixTuningConfig(flat=True, prefix_length=5), "bert", {}),
    }


def _outputs(model, hub, name="a"):
    ids, mask, types = batch_for(hub.config)
    return np.asarray(model(ids, attention_mask=mask, token_type_ids=types, adapter=name).last_hidden_state)


@pytest.mark.parametrize("name", list(_configs()))
def test_matches_adapterhub(tmp_path, name):
    config, kind, tiny = _configs()[name]
    hub, base_dir, adapter_dir = hub_pair(tmp_path, config, kind=kind, **tiny)
    model = fa.from_pretrained(base_dir)
    assert model.load_adapter(adapter_dir) == "a"
    ids, mask, types = batch_for(hub.config)
    got = _outputs(model, hub)
    np.testing.assert_allclose(got, hub_hidden(hub, ids, mask, types), rtol=0, atol=1e-5)
    bare = model(ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    assert np.abs(np.asarray(bare) - got).max() > 1e-3  # the adapter does something


def test_prefix_leave_out_layers_get_no_prefix(tmp_path):
    from adapters import PrefixTuningConfig

    _, base_dir, adapter_dir = hub_pair(tmp_path, PrefixTuningConfig(leave_out=[0, 2], prefix_length=4))
    module = fa.from_pretrained(base_dir)
    module.load_adapter(adapter_dir)
    hooks = module.adapter_module("a").layer_hooks()
    assert hooks[0] is None and hooks[2] is None and hooks[1] is not None
    assert hooks[1].keys.shape == (4, 4, 8)  # [P, heads, head_dim]


def test_prefix_eject_gives_same_outputs(tmp_path):
    from adapters import PrefixTuningConfig

    hub, base_dir, adapter_dir = hub_pair(tmp_path, PrefixTuningConfig(prefix_length=6, leave_out=[2]))
    model = fa.from_pretrained(base_dir)
    model.load_adapter(adapter_dir)
    before = _outputs(model, hub)
    n_before = model.adapters["a"].num_parameters
    model.eject_prefix_tuning("a")
    assert model.adapters["a"].config.flat and model.adapters["a"].num_parameters == 6 * 2 * 2 * 32 < n_before
    np.testing.assert_allclose(_outputs(model, hub), before, rtol=0, atol=1e-6)
    # AdapterHub's own eject agrees, and its flat adapter loads here.
    hub.eject_prefix_tuning("a")
    ids, mask, types = batch_for(hub.config)
    np.testing.assert_allclose(hub_hidden(hub, ids, mask, types), before, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["prefix_leave_out"])
@pytest.mark.parametrize("torch_format", [False, True])
def test_save_round_trip_and_adapterhub_loads_ours(tmp_path, name, torch_format):
    check_save_round_trip_and_adapterhub_loads_ours(tmp_path, _configs(), _outputs, name, torch_format)


def test_errors(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    with pytest.raises(AdapterError, match="use_gating=True"):
        model.add_adapter("x", "prefix_tuning", use_gating=True)
    with pytest.raises(AdapterError, match="leave_out covers every layer"):
        model.add_adapter("x", "prefix_tuning", leave_out=(0, 1, 2))
    with pytest.raises(AdapterError, match=r"unknown option\(s\) \['prefix_len'\]"):
        model.add_adapter("x", "prefix_tuning", prefix_len=3)
    assert not model.adapters


def test_fresh_adapter_behaves_as_in_adapterhub(tiny_checkpoint):
    """Fresh prefix tuning (N(0,1) prompts through a torch-default MLP) changes the outputs but
    stays finite."""
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    ids = np.arange(1, 13).reshape(2, 6)
    bare = np.asarray(model(ids).last_hidden_state)
    model.add_adapter("p", "prefix_tuning")
    p = np.asarray(model(ids, adapter="p").last_hidden_state)
    assert np.isfinite(p).all() and np.abs(p - bare).max() > 1e-2
