"""AdapterFusion (adapters/fusion.py): parity with AdapterHub's Fuse, AdapterDrop, pruning, errors.
(Fusion-only training: training/test_fusion.py; the `fused` fixture is in tests/conftest.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import flax_adapters as fa
from flax_adapters.adapters import AdapterError, forward, fusion, hub_io
from tests.adapters.hub_utils import batch_for, hub_hidden
from tests.conftest import make_hf_model

pytestmark = pytest.mark.torch  # AdapterHub parity, and the tiny base checkpoints are built with torch


def _hub_fusion(tmp_path, adapter_config, names, fusion_options):
    """An AdapterHub model with randomised adapters + fusion, each saved under tmp_path; returns (hub, base dir)."""
    import adapters
    import torch
    from adapters.composition import Fuse

    make_hf_model("bert").save_pretrained(tmp_path / "base")
    hub = adapters.BertAdapterModel.from_pretrained(tmp_path / "base").eval()
    for n in names:
        hub.add_adapter(n, config=adapter_config)
    config = adapters.DynamicAdapterFusionConfig(**fusion_options)
    hub.add_adapter_fusion(Fuse(*names), config=config)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random everywhere, so a misplaced tensor or a uniform softmax cannot hide
        for n, p in hub.named_parameters():
            if ".adapters." in n or "adapter_fusion_layer" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (torch.eye(p.shape[0]) if ".value." in n else 0))
    hub.set_active_adapters(Fuse(*names))
    hub.eval()
    for n in names:
        hub.save_adapter(tmp_path / n, n)
    hub.save_adapter_fusion(tmp_path / "fusion", ",".join(names))
    return hub, tmp_path / "base"


@pytest.mark.parametrize("case", ["seq_bn3_dynamic", "double_seq_bn2_options", "seq_bn2_leave_out"])
def test_matches_adapterhub(tmp_path, case):
    from adapters import DoubleSeqBnConfig, SeqBnConfig

    if case == "seq_bn3_dynamic":
        names, acfg, opts = ["a", "b", "c"], SeqBnConfig(reduction_factor=4), {}
    elif case == "double_seq_bn2_options":  # attention + output fusion, non-default BertFusion branches
        names, acfg = ["a", "b"], DoubleSeqBnConfig(reduction_factor=4)
        opts = dict(query_before_ln=True, residual_before=True, value_before_softmax=False)
    else:  # AdapterHub keeps (unused) fusion layers in left-out layers; we skip them
        names, acfg, opts = ["a", "b"], SeqBnConfig(reduction_factor=4, leave_out=[1]), dict(key=False)
    hub, base = _hub_fusion(tmp_path, acfg, names, opts)
    model = fa.from_pretrained(base)
    for n in names:
        model.load_adapter(tmp_path / n)
    name = model.load_adapter_fusion(tmp_path / "fusion")
    assert name == ",".join(names)
    ids, mask, types = batch_for(hub.config)
    got = model(ids, attention_mask=mask, token_type_ids=types, adapter=name).last_hidden_state
    # Relative as well as absolute: on an AMD Zen 4 CPU two of 1408 hidden values (|x| ≈ 1.8) differ
    # from PyTorch by 1.1e-5, a float32 accumulation-order difference between the two GEMM libraries.
    np.testing.assert_allclose(np.asarray(got), hub_hidden(hub, ids, mask, types), rtol=1e-5, atol=1e-5)
    # Our save reproduces AdapterHub's tensors (those of used layers), and reloads (safetensors).
    model.save_adapter_fusion(tmp_path / "ours", name, torch_format=True)
    import torch

    theirs = torch.load(tmp_path / "fusion" / hub_io.FILES["fusion"][2])
    ours = torch.load(tmp_path / "ours" / hub_io.FILES["fusion"][2])
    assert sorted(ours) == sorted(k for k in theirs if case != "seq_bn2_leave_out" or ".layer.1." not in k)
    for k in ours:
        np.testing.assert_array_equal(ours[k].numpy(), theirs[k].numpy())
    model.save_adapter_fusion(tmp_path / "safe", name)
    assert model.load_adapter_fusion(tmp_path / "safe", "again") == "again"
    again = model(ids, attention_mask=mask, token_type_ids=types, adapter="again").last_hidden_state
    np.testing.assert_array_equal(np.asarray(again), np.asarray(got))


def test_fresh_fusion_and_drop_n(fused):
    model = fused
    ids = np.arange(1, 13).reshape(2, 6)
    full = np.asarray(model(ids, adapter="f").last_hidden_state)
    bare = np.asarray(model(ids).last_hidden_state)
    assert np.abs(full - bare).max() > 1e-3
    with pytest.raises(AdapterError, match=r"drop_n=3 must be an int in \[0, 3\)"):  # nothing left to fuse
        model(ids, adapter="f", drop_n=3)
    # drop_n=1: layer 0 bare, layers 1-2 fused, built by hand from the encoder's stages.
    enc = model.module()
    hooks = model.adapters["f"].module().layer_hooks()
    bias = enc.mask_bias(jnp.ones_like(ids))
    h = enc.run_layers(enc.embed(jnp.asarray(ids)), bias, 0, 1)
    h = enc.run_layers(h, bias, 1, 3, hooks=hooks)
    # Jitted vs op-by-op: XLA's fusions may round differently by an ulp or two (|h| ~ 2: 1 ulp ~ 2.4e-7).
    np.testing.assert_allclose(np.asarray(model(ids, adapter="f", drop_n=1).last_hidden_state), np.asarray(h),
                               rtol=0, atol=1e-5)


def test_weights_and_prune(fused):
    model = fused
    ids, mask, types = batch_for(model.config)
    module = model.adapters["f"].module()
    w = fusion.fusion_weights(model.graphdef, model.params, module,
                              [{"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, {"input_ids": ids}])
    assert w.shape == (3, 3)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    run = lambda mod, **kw: np.asarray(forward(model.graphdef, model.params, *nnx.split(mod), None, None,
                                               ids, mask, types, **kw).last_hidden_state)
    same = fusion.prune(module, w, 3)
    np.testing.assert_array_equal(run(same), run(module))
    one = fusion.prune(module, w, 1)
    assert one.config.selected == tuple((int(np.argmax(r)),) for r in w)
    count = lambda mod: sum(x.size for x in jax.tree.leaves(nnx.state(mod)))
    assert count(one) < count(module)  # pruned layers hold (and compute) one adapter
    assert np.abs(run(one) - run(module)).max() > 1e-4
    assert np.isfinite(run(one, drop_n=1)).all()


def test_errors(fused):
    model = fused
    model.add_adapter("big", "seq_bn", reduction_factor=2)
    model.add_adapter("lora", "lora")
    with pytest.raises(AdapterError, match="no adapter named 'zz'"):
        model.add_fusion("g", ["a", "zz"])
    with pytest.raises(AdapterError, match="'big' differs in structure"):
        model.add_fusion("g", ["a", "big"])
    with pytest.raises(AdapterError, match="sequential bottleneck adapters only"):
        model.add_fusion("g", ["lora", "a"])
    with pytest.raises(AdapterError, match="unknown AdapterFusion option"):
        model.add_fusion("g", ["a", "b"], querry=False)
    with pytest.raises(AdapterError, match="temperature"):
        model.add_fusion("g", ["a", "b"], temperature=True)
    with pytest.raises(AdapterError, match="save_adapter_fusion"):
        model.save_adapter("/nonexistent-never-written", "f")
    assert "g" not in model.adapters
