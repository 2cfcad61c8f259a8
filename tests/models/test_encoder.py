"""Encoder structure: layer ranges compose, hooks are identity by default, dropout is explicit,
new weights of the same shapes do not retrace."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flax_adapters.models import Encoder, EncoderConfig, EncoderModel, LayerHooks
from flax_adapters.models import model as model_lib

CFG = EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=32)


def _batch():
    ids = jax.random.randint(jax.random.key(1), (2, 7), 1, 50)
    mask = jnp.array([[1] * 7, [1] * 4 + [0] * 3])
    return ids, mask


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


def test_new_weights_do_not_retrace():
    m1, m2 = EncoderModel.from_config(CFG, seed=0), EncoderModel.from_config(CFG, seed=1)
    ids, mask = _batch()
    before = model_lib.encode._cache_size()
    m1(ids, mask)
    m2(ids, mask)
    assert model_lib.encode._cache_size() == before + 1
    assert not np.allclose(m1(ids, mask).last_hidden_state, m2(ids, mask).last_hidden_state)


def test_roberta_positions_skip_padding():
    cfg = CFG.replace(model_type="roberta", pad_token_id=1)
    enc = Encoder(cfg, rngs=nnx.Rngs(0))
    ids = jnp.array([[5, 6, 7, 1, 1]])
    np.testing.assert_array_equal(enc.embeddings.position_ids(ids), [[2, 3, 4, 1, 1]])
