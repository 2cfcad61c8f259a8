"""Hook points (models/hooks.py): the base LayerHooks is the plain transformer, and the encoder calls
every named point of a hooked layer, in order."""

import numpy as np
from flax import nnx

from flax_adapters.models import Encoder, LayerHooks
from tests.models.common import SMALL as CFG
from tests.models.common import small_batch as _batch


def test_hooks_reach_every_point():
    seen = []

    class Recorder(LayerHooks):
        def project(self, name, x, dense):
            seen.append(name)
            return dense(x)

        def sublayer(self, name, s, x, ln):
            seen.append(name)
            return ln(s + x)

    enc = Encoder(CFG, rngs=nnx.Rngs(0))
    ids, mask = _batch()
    base = enc(ids, mask).last_hidden_state
    hooked = enc(ids, mask, hooks=[None, Recorder(), None, None]).last_hidden_state
    np.testing.assert_array_equal(base, hooked)
    assert seen == ["query", "key", "value", "attn_out", "attention", "intermediate", "output", "ffn"]
