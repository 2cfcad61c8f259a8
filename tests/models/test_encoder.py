"""The encoder (models/encoder.py): layer ranges compose, dropout is explicit, RoBERTa positions skip
padding. (Attention: test_attention.py; the hook points: test_hooks.py; EncoderModel's jitted call:
test_model.py; parity with Hugging Face PyTorch: test_loading.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flax_adapters.models import Encoder
from tests.models.common import SMALL as CFG
from tests.models.common import small_batch as _batch


def test_layer_ranges_compose_to_the_full_stack():
    enc = Encoder(CFG, rngs=nnx.Rngs(0))
    ids, mask = _batch()
    bias = enc.mask_bias(mask)
    h0 = enc.embed(ids)
    full = enc.run_layers(h0, bias)
    trunk = enc.run_layers(h0, bias, 0, 2)
    np.testing.assert_allclose(enc.run_layers(trunk, bias, 2, 4), full, atol=1e-6)
    np.testing.assert_allclose(enc(ids, mask).last_hidden_state, full, atol=1e-6)
    with pytest.raises(ValueError, match=r"layer range \[3, 5\)"):
        enc.run_layers(h0, bias, 3, 5)


def test_dropout_is_driven_by_explicit_rngs():
    enc = Encoder(CFG, rngs=nnx.Rngs(0))
    ids, mask = _batch()
    a = enc(ids, mask, rngs=nnx.Rngs(dropout=3)).last_hidden_state
    b = enc(ids, mask, rngs=nnx.Rngs(dropout=3)).last_hidden_state
    c = enc(ids, mask, rngs=nnx.Rngs(dropout=4)).last_hidden_state
    det = enc(ids, mask).last_hidden_state
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, det)
    # The module holds no RNG state, so splitting it yields parameters only.
    _, params, rest = nnx.split(enc, nnx.Param, ...)
    assert not jax.tree_util.tree_leaves(rest)


def test_roberta_positions_skip_padding():
    cfg = CFG.replace(model_type="roberta", pad_token_id=1)
    enc = Encoder(cfg, rngs=nnx.Rngs(0))
    ids = jnp.array([[5, 6, 7, 1, 1]])
    np.testing.assert_array_equal(enc.embeddings.position_ids(ids), [[2, 3, 4, 1, 1]])
