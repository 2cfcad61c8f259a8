"""The pure functions every call goes through (adapters/functional.py): the jitted `forward` equals
`apply`, `drop_n` removes the hooks of the lowest layers (all of them: the bare encoder), no adapter
and no head give hidden states only, and an adapter built for another depth is refused."""

import jax
import numpy as np
import pytest

from flax_adapters.adapters import AdapterModel, apply, forward
from flax_adapters.adapters.functional import adapter_hooks
from flax_adapters.models import EncoderConfig

CFG = EncoderConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=16)


@pytest.fixture(scope="module")
def model():
    m = AdapterModel.from_config(CFG, seed=0)
    m.add_adapter("a", "seq_bn", reduction_factor=4, init_weights="houlsby", seed=1)
    m.add_head("a", "classification", num_labels=3, seed=2)
    return m


def _inputs():
    ids = np.arange(1, 15).reshape(2, 7) % CFG.vocab_size
    mask = np.array([[1] * 7, [1] * 5 + [0] * 2])
    return ids, mask, np.zeros_like(ids)


def test_forward_equals_apply_and_drop_n_skips_the_lowest_layers(model):
    a, h = model.adapters["a"], model.heads["a"]
    args = (model.graphdef, model.params, a.graphdef, a.params, h.graphdef, h.params, *_inputs())
    jitted, eager = forward(*args), apply(*args)
    assert jitted.logits.shape == (2, 3) and jitted.pooler_output.shape == (2, 16)
    np.testing.assert_allclose(np.asarray(jitted.last_hidden_state), np.asarray(eager.last_hidden_state), atol=1e-5)
    np.testing.assert_allclose(np.asarray(jitted.logits), np.asarray(eager.logits), atol=1e-5)
    hooks = adapter_hooks(a.graphdef, a.params, CFG.num_hidden_layers, drop_n=1)
    assert hooks[0] is None and hooks[1] is not None
    assert adapter_hooks(None, None, CFG.num_hidden_layers) is None
    bare = forward(model.graphdef, model.params, None, None, None, None, *_inputs())
    assert bare.logits is None  # no head: hidden states only
    dropped = forward(*args, drop_n=CFG.num_hidden_layers).last_hidden_state
    np.testing.assert_allclose(np.asarray(dropped), np.asarray(bare.last_hidden_state), atol=1e-6)
    assert np.abs(np.asarray(jitted.last_hidden_state) - np.asarray(bare.last_hidden_state)).max() > 1e-3


def test_no_retrace_for_new_weights_of_the_same_structure(model):
    a, h = model.adapters["a"], model.heads["a"]
    args = (model.graphdef, model.params, a.graphdef, a.params, h.graphdef, h.params, *_inputs())
    forward(*args)
    traces = forward._cache_size()
    moved = jax.tree.map(lambda x: x + 0.5, a.params)
    out = forward(model.graphdef, model.params, a.graphdef, moved, h.graphdef, h.params, *_inputs())
    assert forward._cache_size() == traces
    before = np.asarray(forward(*args).last_hidden_state)
    assert np.abs(np.asarray(out.last_hidden_state) - before).max() > 1e-3  # the new weights were used


def test_an_adapter_for_another_depth_is_refused(model):
    deeper = AdapterModel.from_config(CFG.replace(num_hidden_layers=3), seed=0)
    deeper.add_adapter("d", "seq_bn")
    d = deeper.adapters["d"]
    with pytest.raises(ValueError, match="adapter yields 3 layer hooks for a 2-layer encoder"):
        apply(model.graphdef, model.params, d.graphdef, d.params, None, None, *_inputs())
