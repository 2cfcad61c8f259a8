"""Compacter and Compacter++ (adapters/compacter.py) against AdapterHub: parity, save/load both ways,
errors, a fresh adapter's outputs."""

import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.adapters import AdapterError
from tests.adapters.hub_utils import check_save_round_trip_and_adapterhub_loads_ours, batch_for, hub_hidden, hub_pair

pytestmark = pytest.mark.torch

# Compacter needs hidden/32 divisible by phm_dim 4.
WIDE = dict(hidden_size=128, num_attention_heads=4, intermediate_size=64)


def _configs():
    from adapters import CompacterConfig, CompacterPlusPlusConfig

    return {
        "compacter": (CompacterConfig(), "bert", WIDE),
        "compacter_roberta": (CompacterConfig(), "roberta", WIDE),
        "compacter++": (CompacterPlusPlusConfig(), "bert", WIDE),
        "compacter_unshared_rule": (CompacterConfig(shared_phm_rule=False, factorized_phm_W=False), "bert", WIDE),
        "compacter_factorized_rule": (CompacterConfig(factorized_phm_rule=True, phm_rank=2), "bert", WIDE),
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


@pytest.mark.parametrize("name", ["compacter", "compacter_roberta", "compacter_factorized_rule"])
@pytest.mark.parametrize("torch_format", [False, True])
def test_save_round_trip_and_adapterhub_loads_ours(tmp_path, name, torch_format):
    check_save_round_trip_and_adapterhub_loads_ours(tmp_path, _configs(), _outputs, name, torch_format)


def test_errors(tiny_checkpoint):
    path, _ = tiny_checkpoint("bert")  # hidden 32: 32 // 32 = 1 is not divisible by phm_dim 4
    model = fa.from_pretrained(path)
    with pytest.raises(AdapterError, match="phm_dim 4 must divide"):
        model.add_adapter("x", "compacter")
    with pytest.raises(AdapterError, match="phm_c_init"):
        model.add_adapter("x", "compacter", reduction_factor=4, phm_c_init="zeros")
    from flax_adapters.adapters.registry import config_from_hub

    with pytest.raises(AdapterError, match="shared_W_phm"):
        config_from_hub({"phm_layer": True, "shared_W_phm": True})
    assert not model.adapters


def test_fresh_adapters_behave_as_in_adapterhub(tiny_checkpoint):
    """Fresh Compacter (shared rule ~ N(0, 1e-4²)) is nearly the identity; Compacter++ with per-layer
    U(±0.01) rules moves the outputs more, still little."""
    path, _ = tiny_checkpoint("bert", **WIDE)
    model = fa.from_pretrained(path)
    ids = np.arange(1, 13).reshape(2, 6)
    bare = np.asarray(model(ids).last_hidden_state)
    model.add_adapter("c", "compacter")
    model.add_adapter("c2", "compacter++", phm_c_init="uniform", shared_phm_rule=False)
    diff = {n: np.abs(np.asarray(model(ids, adapter=n).last_hidden_state) - bare).max() for n in ("c", "c2")}
    assert diff["c"] < 1e-5 and 0 < diff["c2"] < 1e-2  # per-layer U(±0.01) rules: larger, still small
    assert model.adapters["c"].module().phm_rule.shape == (4, 4, 4)  # one shared rule, not per layer
