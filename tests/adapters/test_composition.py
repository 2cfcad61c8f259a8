"""Composition blocks (Stack, Parallel, BatchSplit, Fuse) against AdapterHub's, no-retrace, errors."""

import re

import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.adapters import AdapterError, BatchSplit, Fuse, Parallel, Stack, forward
from tests.adapters.hub_utils import batch_for

pytestmark = pytest.mark.torch

HEADS = ("a", "b")  # adapters with a classification head


def _hub_configs():
    import adapters as ah

    seq = ah.SeqBnConfig(reduction_factor=4)
    return {"a": seq, "b": seq, "c": seq, "h": ah.DoubleSeqBnConfig(reduction_factor=4),
            "lo": ah.SeqBnConfig(reduction_factor=4, leave_out=[1]), "q": ah.ParBnConfig(reduction_factor=4),
            "k1": ah.CompacterPlusPlusConfig(reduction_factor=4), "k2": ah.CompacterPlusPlusConfig(reduction_factor=4),
            "l1": ah.LoRAConfig(r=4, alpha=8), "l2": ah.LoRAConfig(r=2, alpha=4, attn_matrices=["q", "k", "v"]),
            "i1": ah.IA3Config(), "i2": ah.IA3Config(output_lora=True),
            "p1": ah.PrefixTuningConfig(prefix_length=3, bottleneck_size=16),
            "p2": ah.PrefixTuningConfig(prefix_length=2, flat=True)}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """AdapterHub's BertAdapterModel with randomised adapters of every method, heads on a/b and a
    fusion over a/b, and ours with the same adapters loaded from AdapterHub's saved directories."""
    import adapters as ah
    import torch
    from tests.conftest import make_hf_model

    tmp = tmp_path_factory.mktemp("composition")
    make_hf_model("bert").save_pretrained(tmp / "base")
    hub = ah.BertAdapterModel.from_pretrained(tmp / "base").eval()
    for name, config in _hub_configs().items():
        hub.add_adapter(name, config=config)
    for name in HEADS:
        hub.add_classification_head(name, num_labels=3)
    hub.add_adapter_fusion(_to_hub(Fuse("a", "b")))
    g = torch.Generator().manual_seed(1)
    adapter_param = re.compile(r"\.adapters\.|\.loras\.|prefix_tuning|shared_parameters|fusion_layer|^heads\.")
    with torch.no_grad():  # random everywhere: (IA)³ scales around 1, fusion values around I
        for n, p in hub.named_parameters():
            if adapter_param.search(n):
                value = "fusion_layer" in n and ".value." in n
                base = 1.0 if ".loras.i" in n else torch.eye(p.shape[0]) if value else 0.0
                p.copy_(torch.randn(p.shape, generator=g) * 0.2 + base)
    ours = fa.from_pretrained(tmp / "base")
    for name in _hub_configs():
        hub.save_adapter(tmp / name, name, with_head=name in HEADS)
        ours.load_adapter(tmp / name)
    hub.save_adapter_fusion(tmp / "fusion", "a,b")
    ours.load_adapter_fusion(tmp / "fusion")
    return hub, ours, batch_for(hub.config)


def _to_hub(block):
    """Our block -> AdapterHub's block of the same name."""
    import adapters.composition as ac

    if isinstance(block, str):
        return block
    kwargs = {"batch_sizes": block.batch_sizes} if isinstance(block, BatchSplit) else {}
    return getattr(ac, type(block).__name__)(*map(_to_hub, block.children), **kwargs)


def _hub_run(hub, setup, inputs, skip_layers=None):
    """AdapterHub's last hidden state and head output(s) with `setup` active."""
    import torch

    hub.set_active_adapters(_to_hub(setup), skip_layers=skip_layers)
    ids, mask, types = (torch.tensor(t) for t in inputs)
    with torch.no_grad():
        hidden = hub.base_model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state.numpy()
        out = hub(input_ids=ids, attention_mask=mask, token_type_ids=types) if hub.active_head else None
    heads = getattr(out, "head_outputs", None)
    logits = None if out is None else [o.logits.numpy() for o in heads] if heads else out.logits.numpy()
    return hidden, logits


def _close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-5)


STACKS = {
    "seq_bn+seq_bn": Stack("a", "b"),
    "seq_bn+double_seq_bn": Stack("a", "h"),  # attention sub-layer: only h; FFN: a then h
    "double_seq_bn+seq_bn": Stack("h", "a"),
    "leave_out": Stack("lo", "b"),            # layer 1: b alone
    "par_bn+seq_bn": Stack("q", "a"),         # AdapterHub's ParallelAdapter reads x, not the sub-layer output
    "compacter++": Stack("k1", "k2"),
    "lora": Stack("l1", "l2"),                # y + Δ2(Δ1(x)) on q, v; Δ2(x) alone on k
    "ia3": Stack("i1", "i2"),
    "prefix": Stack("p1", "p2"),
    "lora+seq_bn+prefix": Stack("l1", "a", "p1"),
    "seq_bn+fuse": Stack("c", Fuse("a", "b")),
}


@pytest.mark.parametrize("case", list(STACKS))
def test_stack_matches_adapterhub(pair, case):
    hub, ours, inputs = pair
    setup = STACKS[case]
    hidden, logits = _hub_run(hub, setup, inputs)
    out = ours(*inputs, adapter=setup)
    _close(out.last_hidden_state, hidden)
    if case == "seq_bn+seq_bn":  # the head defaults to the last adapter's, as AdapterHub's active head
        _close(out.logits, logits)
        other = ours.heads["a"].module()(out.last_hidden_state, out.pooler_output, None)
        _close(ours(*inputs, adapter=setup, head="a").logits, np.asarray(other))
    first, _ = _hub_run(hub, setup.children[0], inputs)
    assert np.abs(first - hidden).max() > 1e-3  # the stack is more than its first adapter


def test_stack_drop_n_matches_adapterhub_skip_layers(pair):
    hub, ours, inputs = pair
    hidden, _ = _hub_run(hub, Stack("h", "a"), inputs, skip_layers=[0, 1])
    _close(ours(*inputs, adapter=Stack("h", "a"), drop_n=2).last_hidden_state, hidden)


def test_parallel_matches_adapterhub(pair):
    hub, ours, inputs = pair
    hidden, logits = _hub_run(hub, Parallel("a", "b"), inputs)
    outs = ours(*inputs, adapter=Parallel("a", "b"))
    n = len(inputs[0])
    for t, out in enumerate(outs):
        _close(out.last_hidden_state, hidden[t * n:(t + 1) * n])
        _close(out.logits, logits[t])


def test_batch_split_matches_adapterhub(pair):
    hub, ours, inputs = pair
    split = BatchSplit("b", "a", batch_sizes=[1, 3])
    hidden, logits = _hub_run(hub, split, inputs)
    out = ours(*inputs, adapter=split)
    _close(out.last_hidden_state, hidden)
    _close(out.logits, np.concatenate(logits))  # each row through its own adapter's head


def test_fuse_matches_adapterhub(pair):
    hub, ours, inputs = pair
    hidden, _ = _hub_run(hub, Fuse("a", "b"), inputs)
    _close(ours(*inputs, adapter=Fuse("a", "b")).last_hidden_state, hidden)
    again = ours(*inputs, adapter="a,b").last_hidden_state  # the same slot as the string path
    fused = ours(*inputs, adapter=Fuse("a", "b")).last_hidden_state
    np.testing.assert_array_equal(np.asarray(again), np.asarray(fused))


def test_no_retrace_when_switching_stacks():
    model = fa.AdapterModel.from_config(fa.EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2,
                                                         num_attention_heads=2, intermediate_size=24), seed=0)
    for i, n in enumerate("abcd"):
        model.add_adapter(n, "seq_bn", reduction_factor=4, init_weights="houlsby", seed=i)
    ids = np.arange(1, 13).reshape(2, 6)
    ab = np.asarray(model(ids, adapter=Stack("a", "b")).last_hidden_state)
    traces = forward._cache_size()
    cd = np.asarray(model(ids, adapter=Stack("c", "d")).last_hidden_state)
    model(ids, adapter=Stack("b", "a"))
    assert forward._cache_size() == traces
    assert np.abs(ab - cd).max() > 1e-4
    model(ids, adapter=Stack("a", "b"), drop_n=1)  # AdapterDrop is static: one more trace, as for one adapter
    assert forward._cache_size() == traces + 1


def test_errors(pair):
    hub, ours, inputs = pair
    ids = inputs[0]
    with pytest.raises(AdapterError, match=r"BatchSplit batch_sizes \[1, 2\] sum to 3, but the batch has 4 examples"):
        ours(*inputs, adapter=BatchSplit("a", "b", batch_sizes=[1, 2]))
    with pytest.raises(AdapterError, match=r"no fusion over \['b', 'a'\]; call model.add_fusion\(Fuse\[b, a\]\)"):
        ours(ids, adapter=Fuse("b", "a"))
    with pytest.raises(AdapterError, match="no adapter named 'zz'"):
        ours(ids, adapter=Stack("a", "zz"))
    for block in (Parallel("a", "zz"), BatchSplit("a", "zz", batch_sizes=2), Fuse("a", "zz")):
        with pytest.raises(AdapterError, match="no adapter named 'zz'"):
            ours(ids, adapter=block)
    with pytest.raises(AdapterError, match=r"Stack cannot hold Parallel\[a, b\]; supported here: adapter names, Fuse"):
        Stack("a", Parallel("a", "b"))
    with pytest.raises(AdapterError, match=r"Parallel cannot hold Stack\[a, b\]; supported here: adapter names"):
        Parallel(Stack("a", "b"), "c")
    with pytest.raises(AdapterError, match="runs each adapter with its own head"):
        ours(ids, adapter=Parallel("a", "b"), head="a")
    small = fa.AdapterModel.from_config(fa.EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                         num_attention_heads=2, intermediate_size=24), seed=0)
    for n in ("f1", "f2"):  # AdapterHub feeds a LoRA's update into the next: 16 -> 24 -> (16-input LoRA)
        small.add_adapter(n, "lora", selfattn_lora=False, intermediate_lora=True)
    with pytest.raises(AdapterError, match="a 16-input LoRA cannot take a 24-wide update"):
        small(ids[:, :5] % 50, adapter=Stack("f1", "f2"))


def test_unsupported_method_in_stack(pair):
    """A method outside AdapterHub's Stack table (here a custom one) is refused by name."""
    from flax import nnx

    from flax_adapters.adapters.base import Adapter, AdapterConfig
    from flax_adapters.adapters.composition import StackHooks
    from flax_adapters.adapters import Slot
    from flax_adapters.models import LayerHooks

    class ScaleConfig(AdapterConfig):
        method = "scale_out"

    class Scale(LayerHooks):
        def sublayer(self, name, s, x, ln):
            return 2 * ln(s + x)

    class ScaleAdapter(Adapter):
        def layer_hooks(self, rngs=None):
            return [Scale()] * self.enc.num_hidden_layers

    _, ours, inputs = pair
    module = ScaleAdapter(ScaleConfig(), ours.config, rngs=nnx.Rngs(0))
    ours.adapters["custom"] = Slot(ScaleConfig(), *nnx.split(module))
    try:
        ours(inputs[0], adapter="custom")  # runs alone
        with pytest.raises(AdapterError, match="adapter 'custom' \\(method 'scale_out'\\) cannot be stacked; Stack "
                                               "supports bottleneck, compacter, fusion, ia3, lora, prefix_tuning"):
            ours(inputs[0], adapter=Stack("a", "custom"))
        with pytest.raises(AdapterError, match="Scale changes sublayer but has no stack_sublayer"):
            StackHooks([Scale(), Scale()])
    finally:
        del ours.adapters["custom"]


def test_add_fusion_takes_a_fuse(tiny_checkpoint):
    model = fa.from_pretrained(tiny_checkpoint("bert")[0])
    for i, n in enumerate("xy"):
        model.add_adapter(n, "seq_bn", reduction_factor=4, seed=i)
    model.add_fusion(Fuse("x", "y"))
    assert model.adapters["x,y"].config.adapter_names == ("x", "y")
    ids = np.arange(1, 13).reshape(2, 6)
    np.testing.assert_array_equal(np.asarray(model(ids, adapter=Fuse("x", "y")).last_hidden_state),
                                  np.asarray(model(ids, adapter="x,y").last_hidden_state))
