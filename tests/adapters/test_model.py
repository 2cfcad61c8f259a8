"""AdapterModel, the container (adapters/model.py): named adapters and heads added, replaced only with
overwrite=True and deleted; the default head is the adapter's; merging refused twice or into a
composition and undone by deleting; only prefix tuning ejects; add_fusion's two call forms."""

import numpy as np
import pytest

from flax_adapters.adapters import AdapterError, AdapterModel, Stack
from flax_adapters.models import EncoderConfig

CFG = EncoderConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=16)
IDS = np.arange(1, 13).reshape(2, 6)


@pytest.fixture(scope="module")
def base():
    return AdapterModel.from_config(CFG, seed=0)


def fresh(base):
    """A new container over the one random base (building a base compiles op by op: slow)."""
    return AdapterModel(CFG, base.graphdef, base.params)


def test_names_are_checked_and_replaced_only_with_overwrite(base):
    model = fresh(base)
    cfg = model.add_adapter("a", "lora", r=2)
    assert cfg.r == 2 and model.adapters["a"].config == cfg
    with pytest.raises(AdapterError, match="adapter 'a' exists; pass overwrite=True to replace it"):
        model.add_adapter("a", "seq_bn")
    assert model.add_adapter("a", "seq_bn", overwrite=True).method == "bottleneck"
    for bad in ("", None, 3):
        with pytest.raises(AdapterError, match="adapter name must be a non-empty string"):
            model.add_adapter(bad, "seq_bn")
    model.add_head("a", "tagging", num_labels=5)
    with pytest.raises(AdapterError, match="head 'a' exists"):
        model.add_head("a")
    with pytest.raises(AdapterError, match="unknown head kind 'ranking'"):
        model.add_head("r", "ranking")
    model.delete_head("a")
    model.delete_adapter("a")
    assert not model.adapters and not model.heads
    with pytest.raises(AdapterError, match=r"no adapter named 'a'; this model has none"):
        model.delete_adapter("a")
    with pytest.raises(AdapterError, match="no head named 'a'"):
        model.delete_head("a")


def test_the_default_head_is_the_adapters(base):
    model = fresh(base)
    model.add_adapter("a", "seq_bn", init_weights="houlsby")
    model.add_head("a", num_labels=3)
    model.add_head("b", num_labels=4)
    assert model(IDS, adapter="a").logits.shape == (2, 3)
    assert model(IDS, adapter="a", head="b").logits.shape == (2, 4)
    assert model(IDS, adapter="a", head=None).logits is None
    assert model(IDS).logits is None  # bare: no adapter, no head of that name
    with pytest.raises(AdapterError, match="no head named 'c'"):
        model(IDS, adapter="a", head="c")


def test_merging_rules(base):
    model = fresh(base)
    model.add_adapter("l", "lora", init_weights="bert")
    model.add_adapter("m", "lora", init_weights="bert", seed=1)
    model.add_adapter("s", "seq_bn")
    before = np.asarray(model.params["layers"][0]["query"]["kernel"][...])
    with pytest.raises(AdapterError, match="no adapter is merged"):
        model.unmerge_adapter()
    with pytest.raises(AdapterError, match="method 'bottleneck' cannot be merged"):
        model.merge_adapter("s")
    model.merge_adapter("l")
    assert model.merged == "l"
    with pytest.raises(AdapterError, match="adapter 'l' is merged already; unmerge_adapter\\(\\) first"):
        model.merge_adapter("m")
    with pytest.raises(AdapterError, match="adapter 'l' is merged into the base"):
        model(IDS, adapter=Stack("l", "m"))
    model.delete_adapter("l")  # deleting the merged adapter takes it out of the base weights
    assert model.merged is None and "l" not in model.adapters
    np.testing.assert_allclose(np.asarray(model.params["layers"][0]["query"]["kernel"][...]), before, atol=1e-6)


def test_eject_and_add_fusion_refusals(base):
    model = fresh(base)
    model.add_adapter("s", "seq_bn")
    with pytest.raises(AdapterError, match="adapter 's' is not prefix tuning; only prefix tuning can be ejected"):
        model.eject_prefix_tuning("s")
    with pytest.raises(AdapterError, match=r"call add_fusion\(name, \[adapters, ...\]\) or add_fusion\(Fuse"):
        model.add_fusion("f")
    with pytest.raises(AdapterError, match="no adapter named 'zz'"):
        model.add_fusion("f", ["s", "zz"])
    assert set(model.adapters) == {"s"}
