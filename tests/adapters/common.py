"""Helpers shared by the adapter method tests: random weights for a fresh adapter, and the checks
LoRA and (IA)³ share (one machinery: merge, save/load, AdapterHub loading ours)."""

import jax
import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.adapters import AdapterError


def _randomise(model, name, seed=0, around=0.0):
    slot = model.adapters[name]
    leaves, tree = jax.tree_util.tree_flatten(slot.params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    slot.params = jax.tree_util.tree_unflatten(
        tree, [around + 0.1 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def check_merge_equals_unmerged(tiny_checkpoint, method, options, around):
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    model.add_adapter("t", method, **options)
    model.add_adapter("other", method)
    _randomise(model, "t", around=around)
    ids = np.arange(1, 13).reshape(2, 6)
    base = jax.tree_util.tree_map(np.asarray, model.params)
    want = np.asarray(model(ids, adapter="t").last_hidden_state)
    model.merge_adapter("t")
    assert model.merged == "t"
    np.testing.assert_allclose(np.asarray(model(ids, adapter="t").last_hidden_state), want, rtol=0, atol=1e-5)
    with pytest.raises(AdapterError, match="merged"):
        model(ids, adapter="other")
    model.unmerge_adapter()
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, rtol=0, atol=1e-6),
                           model.params, base)
    np.testing.assert_allclose(np.asarray(model(ids, adapter="t").last_hidden_state), want, rtol=0, atol=1e-6)


def check_save_load_round_trip(tiny_checkpoint, tmp_path, method):
    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    model.add_adapter("t", method, leave_out=(0,), output_lora=True)
    _randomise(model, "t", around=1.0 if method == "ia3" else 0.0)
    model.save_adapter(tmp_path / "saved", "t")
    other = fa.from_pretrained(path)
    assert other.load_adapter(tmp_path / "saved") == "t"
    assert other.adapters["t"].config == model.adapters["t"].config
    ids = np.arange(1, 13).reshape(2, 6)
    np.testing.assert_array_equal(np.asarray(other(ids, adapter="t").last_hidden_state),
                                  np.asarray(model(ids, adapter="t").last_hidden_state))


def check_adapterhub_loads_ours(tiny_checkpoint, tmp_path, method):
    """The reverse direction: our saved directory reproduces our outputs in AdapterHub."""
    import adapters
    import torch

    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    model.add_adapter("t", method, attn_matrices=("q", "k"), output_lora=True, leave_out=(2,))
    _randomise(model, "t", around=1.0 if method == "ia3" else 0.0)
    model.save_adapter(tmp_path / "saved", "t")
    hub = adapters.BertAdapterModel.from_pretrained(path).eval()
    hub.load_adapter(str(tmp_path / "saved"), set_active=True)  # AdapterHub's default call (.bin)
    assert hub.adapters_config.get("t")["composition_mode"] == ("scale" if method == "ia3" else "add")
    ids = np.arange(1, 13).reshape(2, 6)
    with torch.no_grad():
        want = hub.base_model(input_ids=torch.tensor(ids)).last_hidden_state.numpy()
    np.testing.assert_allclose(np.asarray(model(ids, adapter="t").last_hidden_state), want, rtol=0, atol=1e-5)
