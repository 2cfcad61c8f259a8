"""Bottleneck adapters (seq_bn / double_seq_bn / par_bn and options) against AdapterHub."""

import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.adapters import AdapterError
from tests.adapters.hub_utils import batch_for, hub_hidden, hub_logits, hub_pair

pytestmark = pytest.mark.torch


def _configs():
    from adapters import DoubleSeqBnConfig, ParBnConfig, SeqBnConfig

    return {
        "seq_bn": SeqBnConfig(),
        "double_seq_bn": DoubleSeqBnConfig(),
        "par_bn": ParBnConfig(),
        "seq_bn_leave_out": SeqBnConfig(leave_out=[0, 2]),
        "seq_bn_ln_before_after": SeqBnConfig(ln_before=True, ln_after=True, residual_before_ln=False),
        "double_seq_bn_learned_scale": DoubleSeqBnConfig(scaling="learned", adapter_residual_before_ln=True),
        "par_bn_channel_scale": ParBnConfig(scaling="channel", reduction_factor=4),
        # AdapterHub's post_forward adds no residual without original_ln_after.
        "seq_bn_no_ln_after": SeqBnConfig(original_ln_after=False),
        "par_bn_no_ln_after": ParBnConfig(original_ln_after=False),
    }


@pytest.mark.parametrize("name", list(_configs()))
def test_matches_adapterhub(tmp_path, name):
    hub, base_dir, adapter_dir = hub_pair(tmp_path, _configs()[name])
    model = fa.from_pretrained(base_dir)
    assert model.load_adapter(adapter_dir) == "a"
    ids, mask, types = batch_for(hub.config)
    got = model(ids, attention_mask=mask, token_type_ids=types, adapter="a").last_hidden_state
    np.testing.assert_allclose(np.asarray(got), hub_hidden(hub, ids, mask, types), rtol=0, atol=1e-5)
    bare = model(ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    assert np.abs(np.asarray(bare) - np.asarray(got)).max() > 1e-3  # the adapter does something


@pytest.mark.parametrize("kind", ["roberta", "xlm-roberta"])
def test_matches_adapterhub_roberta_family_with_head(tmp_path, kind):
    from adapters import SeqBnConfig

    hub, base_dir, adapter_dir = hub_pair(tmp_path, SeqBnConfig(), kind=kind, head="classification")
    model = fa.from_pretrained(base_dir)
    model.load_adapter(adapter_dir)
    ids, mask, types = batch_for(hub.config)
    out = model(ids, attention_mask=mask, token_type_ids=types, adapter="a")
    np.testing.assert_allclose(np.asarray(out.logits), hub_logits(hub, ids, mask, types), rtol=0, atol=1e-5)


@pytest.mark.parametrize("preset", ["seq_bn", "double_seq_bn", "par_bn"])
def test_fresh_adapter_behaves_as_in_adapterhub(tiny_checkpoint, preset):
    """At initialisation: Pfeiffer/Houlsby are near-identity (N(0, 0.02) weights), parallel is
    exactly the identity (up-projection zero)."""
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    model.add_adapter("t", preset)
    ids = np.arange(1, 13).reshape(2, 6)
    diff = np.abs(np.asarray(model(ids, adapter="t").last_hidden_state - model(ids).last_hidden_state)).max()
    if preset == "par_bn":
        assert diff < 1e-6
    else:
        assert 0 < diff < 0.05


def test_param_counts_bert_base():
    from flax_adapters.adapters.registry import build_adapter
    from flax_adapters.adapters.registry import make_config
    from flax_adapters.models import EncoderConfig

    enc = EncoderConfig()
    assert build_adapter(make_config("seq_bn"), enc).num_parameters == 894_528
    assert build_adapter(make_config("double_seq_bn"), enc).num_parameters == 1_789_056


def test_errors(tiny_checkpoint, tmp_path):
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    with pytest.raises(AdapterError, match="unknown adapter method 'pfeifer'; choose one of"):
        model.add_adapter("x", "pfeifer")
    with pytest.raises(AdapterError, match=r"unknown option\(s\) \['reduction'\]"):
        model.add_adapter("x", "seq_bn", reduction=4)
    with pytest.raises(AdapterError, match="non_linearity 'mish'"):
        model.add_adapter("x", "seq_bn", non_linearity="mish")
    with pytest.raises(AdapterError, match="leave_out"):
        model.add_adapter("x", "seq_bn", leave_out=(7,))
    model.add_adapter("x", "seq_bn")
    with pytest.raises(AdapterError, match="adapter 'x' exists"):
        model.add_adapter("x", "seq_bn")
    with pytest.raises(AdapterError, match="no adapter named 'y'"):
        model(np.ones((1, 3), int), adapter="y")
    assert "x" in model.adapters  # a failed call loses nothing
