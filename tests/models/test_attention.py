"""Attention through `jax.nn.dot_product_attention` (models.encoder.attention) equals the explicit
einsum + fp32 softmax path it replaced, for the bare encoder and every adapter method (prefix
tuning's extra keys included), and `attention = "auto"` picks cuDNN only where it can run.

The reference is the einsum code the encoder ran before, swapped in for the whole model by patching
`encoder.attention`; both sides run op by op (no jit cache to hide the patch). The
explicit-probabilities branch that attention dropout still takes is checked against it too.
(experiments/device_check.sh runs this file on the GPU; EncoderConfig's own checks: test_config.py.)
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flax_adapters.adapters import AdapterModel, registry
from flax_adapters.adapters.functional import apply
from flax_adapters.models import EncoderConfig
from flax_adapters.models import encoder as encoder_lib

CFG = EncoderConfig(vocab_size=60, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                    intermediate_size=48, max_position_embeddings=40, attention="xla")
METHODS = sorted(set(registry.METHODS) - {"pfeiffer", "houlsby", "parallel"})  # aliases of seq_bn & co.
OPTIONS = {"compacter": dict(reduction_factor=4), "compacter++": dict(reduction_factor=4)}  # phm_dim 4 | 32 // 4


def _einsum_attention(q, k, v, bias, setting="auto", dropout=None):
    """The encoder's attention before jax.nn.dot_product_attention, verbatim (dropout off)."""
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
    probs = jax.nn.softmax(scores.astype(jnp.float32) + bias, axis=-1).astype(q.dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", probs, v)


def _batch(seed=0, batch=3, length=10):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, CFG.vocab_size, (batch, length)).astype(np.int32)
    mask = (np.arange(length)[None] < np.array([length, 7, 4][:batch])[:, None]).astype(np.int32)
    return ids, mask, np.zeros_like(ids)


def _randomised(model, name, seed):
    """Adapter weights moved off their (often identity) init, so every method changes the output."""
    slot = model.adapters[name]
    leaves, tree = jax.tree.flatten(slot.params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    slot.params = jax.tree.unflatten(tree, [x + 0.1 * jax.random.normal(k, x.shape, x.dtype)
                                            for x, k in zip(leaves, keys)])


def _outputs(model, adapter, inputs):
    slot = model.adapters.get(adapter) if adapter else None
    head = model.heads[adapter or "bare"]
    out = apply(model.graphdef, model.params, slot and slot.graphdef, slot and slot.params,
                head.graphdef, head.params, *map(jnp.asarray, inputs))
    return np.asarray(out.last_hidden_state), np.asarray(out.logits)


@pytest.fixture(scope="module")
def model():
    m = AdapterModel.from_config(CFG, seed=0)
    m.add_head("bare", "classification", num_labels=3, seed=1)
    for i, method in enumerate(METHODS):
        m.add_adapter(method, method, seed=10 + i, **OPTIONS.get(method, {}))
        _randomised(m, method, 100 + i)
        m.add_head(method, "classification", num_labels=3, seed=20 + i)
    return m


@pytest.mark.parametrize("adapter", [None] + METHODS)
def test_dot_product_attention_equals_einsum_path_fp32(model, adapter, monkeypatch):
    inputs = _batch()
    hidden, logits = _outputs(model, adapter, inputs)
    with monkeypatch.context() as mp:
        mp.setattr(encoder_lib, "attention", _einsum_attention)
        want_hidden, want_logits = _outputs(model, adapter, inputs)
    real = inputs[1].astype(bool)
    np.testing.assert_allclose(hidden[real], want_hidden[real], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hidden, want_hidden, rtol=1e-5, atol=1e-5)  # padded positions too
    np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-5)
    # The adapter changed the output, so the comparison above covered its hooks.
    if adapter:
        assert np.abs(hidden - _outputs(model, None, inputs)[0]).max() > 1e-3


def test_prefix_keys_reach_attention(model, monkeypatch):
    """Prefix tuning prepends its keys: attention sees K = prefix + T keys and a bias that long."""
    seen = []
    real = encoder_lib.attention

    def spy(q, k, v, bias, setting="auto", dropout=None):
        seen.append((q.shape[1], k.shape[1], bias.shape[-1]))
        return real(q, k, v, bias, setting, dropout)
    monkeypatch.setattr(encoder_lib, "attention", spy)
    _outputs(model, "prefix_tuning", _batch())
    prefix = model.adapters["prefix_tuning"].config.prefix_length
    assert seen and all(k == t + prefix == b for t, k, b in seen)


def test_gradients_equal_einsum_path(model, monkeypatch):
    """The backward pass agrees too (what training differentiates): prefix tuning's parameters."""
    inputs = tuple(map(jnp.asarray, _batch()))
    slot, head = model.adapters["prefix_tuning"], model.heads["prefix_tuning"]

    def loss(params):
        out = apply(model.graphdef, model.params, slot.graphdef, params, head.graphdef, head.params, *inputs)
        return jnp.sum(out.logits ** 2)
    got = jax.grad(loss)(slot.params)
    with monkeypatch.context() as mp:
        mp.setattr(encoder_lib, "attention", _einsum_attention)
        want = jax.grad(loss)(slot.params)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_probabilities_branch_equals_reference():
    """With dropout the encoder takes the explicit branch; with identity dropout it is the reference."""
    rng = np.random.default_rng(1)
    q, k, v = (jnp.asarray(rng.normal(size=(2, 6, 4, 8)), jnp.float32) for _ in range(3))
    bias = encoder_lib.Encoder.mask_bias(jnp.asarray(np.arange(6)[None] < np.array([6, 3])[:, None]))
    got = encoder_lib.attention(q, k, v, bias, "xla", dropout=lambda p: p)
    np.testing.assert_allclose(got, _einsum_attention(q, k, v, bias), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(encoder_lib.attention(q, k, v, bias, "xla"), got, rtol=1e-5, atol=1e-5)


def test_bf16_dot_product_attention_close_to_fp32():
    """bf16 Q/K/V through the XLA path: fp32 logits and softmax inside, output within bf16 rounding."""
    rng = np.random.default_rng(0)
    q, k, v = (jnp.asarray(rng.normal(size=(2, 12, 4, 16)), jnp.float32) for _ in range(3))
    bias = encoder_lib.Encoder.mask_bias(jnp.asarray(np.arange(12)[None] < np.array([12, 5])[:, None]))
    want = encoder_lib.attention(q, k, v, bias, "xla")
    got = encoder_lib.attention(*(t.astype(jnp.bfloat16) for t in (q, k, v)), bias, "xla")
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float32), want, atol=3e-2)


@pytest.mark.parametrize("setting,dtype,head_dim,q_len,kv_len,dropout,cuda,want", [
    ("auto", jnp.bfloat16, 64, 128, 128, False, True, "cudnn"),
    ("auto", jnp.float16, 64, 128, 158, False, True, "cudnn"),     # prefix tuning: 30 + 128 keys
    ("auto", jnp.float32, 64, 128, 128, False, True, "xla"),       # cuDNN flash attention: bf16/fp16 only
    ("auto", jnp.bfloat16, 64, 127, 127, False, True, "xla"),      # odd lengths with a bias: unsupported
    ("auto", jnp.bfloat16, 12, 128, 128, False, True, "xla"),      # head dim not a multiple of 8
    ("auto", jnp.bfloat16, 64, 128, 128, False, False, "xla"),     # not a CUDA GPU
    ("auto", jnp.bfloat16, 64, 128, 128, True, True, "probs"),     # attention dropout needs the probabilities
    ("xla", jnp.bfloat16, 64, 128, 128, False, True, "xla"),
    ("xla", jnp.float32, 64, 128, 128, True, False, "probs"),
    ("cudnn", jnp.float32, 64, 128, 128, False, False, "cudnn"),   # asked for: jax raises where it cannot run
])
def test_implementation_choice(setting, dtype, head_dim, q_len, kv_len, dropout, cuda, want):
    got = encoder_lib.attention_implementation(setting, dtype, head_dim, q_len, kv_len, dropout=dropout, cuda=cuda)
    assert got == want


def test_auto_is_xla_on_this_cpu_and_cudnn_refuses_dropout():
    assert jax.default_backend() != "gpu" or pytest.skip("CPU-only check")
    assert encoder_lib.attention_implementation("auto", jnp.bfloat16, 64, 128, 128, dropout=False) == "xla"
    with pytest.raises(ValueError, match="attention dropout"):
        encoder_lib.attention_implementation("cudnn", jnp.bfloat16, 64, 128, 128, dropout=True)


def test_cudnn_bias_is_finite_and_full_extent():
    bias = encoder_lib.Encoder.mask_bias(jnp.asarray([[1, 1, 0, 0]]))
    got = encoder_lib.cudnn_bias(bias, jnp.bfloat16, q_len=4, kv_len=4)
    assert got.shape == (1, 1, 4, 4) and got.dtype == jnp.bfloat16
    assert np.isfinite(np.asarray(got, np.float32)).all()
    assert (np.asarray(got, np.float32)[..., 2:] < -1e38).all() and (np.asarray(got, np.float32)[..., :2] == 0).all()
