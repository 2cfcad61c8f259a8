"""The method contract (adapters/base.py): AdapterConfig's option checks, leave_out, the AdapterHub
config round trip and its refusals, the default Adapter refusing to merge, Slot and lookup."""

import dataclasses

import numpy as np
import pytest
from flax import nnx

from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError, Slot, lookup
from flax_adapters.models import EncoderConfig

ENC = EncoderConfig(vocab_size=30, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=16)


@dataclasses.dataclass(frozen=True)
class ToyConfig(AdapterConfig):
    method = "toy"
    width: int = 4
    hub_fixed = {"use_gating": False}


class Toy(Adapter):
    def __init__(self, config, enc, *, rngs):
        super().__init__(config, enc, rngs=rngs)
        self.w = nnx.Param(np.ones((enc.hidden_size, config.width), np.float32))


def test_replace_validate_and_leave_out():
    cfg = ToyConfig(leave_out=[2, 0])
    assert cfg.leave_out == (2, 0) and not cfg.active(0) and cfg.active(1)  # lists become tuples
    assert cfg.replace(width=8).width == 8 and cfg.width == 4  # frozen: a new config
    with pytest.raises(AdapterError, match=r"unknown option\(s\) \['widht'\] for method 'toy'; valid: "
                                           r"\['leave_out', 'width'\]"):
        cfg.replace(widht=8)
    cfg.validate(ENC)
    with pytest.raises(AdapterError, match=r"leave_out \[3, -1\] is outside the model's 3 layers"):
        ToyConfig(leave_out=(1, 3, -1)).validate(ENC)


def test_hub_round_trip_and_refusals():
    cfg = ToyConfig(leave_out=(1,), width=2)
    hub = cfg.to_hub()
    assert hub == {"leave_out": [1], "width": 2, "use_gating": False}
    assert ToyConfig.from_hub(dict(hub, architecture="toy", dtype="float32")) == cfg  # bookkeeping keys ignored
    assert ToyConfig.from_hub({"use_gating": None}) == ToyConfig()  # None: the fixed value's default
    with pytest.raises(AdapterError, match=r"AdapterHub option use_gating=True is not supported for 'toy' "
                                           r"\(only False\)"):
        ToyConfig.from_hub({"use_gating": True})
    with pytest.raises(AdapterError, match="unknown AdapterHub option 'depth' for method 'toy'"):
        ToyConfig.from_hub({"depth": 2})


def test_adapter_slot_and_lookup():
    module = Toy(ToyConfig(width=3), ENC, rngs=nnx.Rngs(0))
    with pytest.raises(AdapterError, match="method 'toy' cannot be merged into the base weights"):
        module.merge({})
    with pytest.raises(AdapterError, match="cannot be merged"):
        module.unmerge({})
    assert not module.mergeable and module.hub_ignore("x") is False and module.hub_missing_hint("x", "d") is None
    with pytest.raises(NotImplementedError):
        module.layer_hooks()
    slot = Slot.of(module)
    assert slot.config == ToyConfig(width=3) and slot.num_parameters == 16 * 3
    np.testing.assert_array_equal(slot.module().w[...], np.ones((16, 3)))
    with pytest.raises(AdapterError, match=r"leave_out \[9\]"):  # the contract validates on construction
        Toy(ToyConfig(leave_out=(9,)), ENC, rngs=nnx.Rngs(0))
    assert lookup({"a": slot}, "a") is slot
    with pytest.raises(AdapterError, match=r"no head named 'b'; this model has \['a'\]"):
        lookup({"a": slot}, "b", "head")
    with pytest.raises(AdapterError, match="no adapter named 'b'; this model has none"):
        lookup({}, "b")
