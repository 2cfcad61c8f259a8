"""Per-row adapter maths of the pool's grouped mode (adapters/grouped.py): one segment matmul equals
each row's own matmul, per-row vectors and LayerNorms are each row's, and only plain bottleneck and
LoRA adapters are accepted. (The whole pool against the model API: test_pool.py.)"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from flax_adapters.adapters import AdapterError, registry
from flax_adapters.adapters.grouped import Rows, check_supported

K, B, T, I, O = 3, 4, 5, 6, 7


def _rows():
    idx = jnp.array([0, 0, 2, 2])  # sorted; adapter 1 has no rows this batch
    return Rows.of(idx, capacity=K, length=T), np.asarray(idx)


def test_sizes_count_tokens_per_adapter():
    rows, _ = _rows()
    assert rows.sizes.tolist() == [2 * T, 0, 2 * T] and rows.sizes.dtype == jnp.int32


def test_matmul_vector_and_layer_norm_are_each_rows_own():
    rows, idx = _rows()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, I)).astype(np.float32)
    w = rng.normal(size=(K, I, O)).astype(np.float32)
    want = np.stack([x[b] @ w[idx[b]] for b in range(B)])
    np.testing.assert_allclose(np.asarray(rows.matmul(jnp.asarray(x), jnp.asarray(w))), want, rtol=1e-5, atol=1e-5)
    v = rng.normal(size=(K, O)).astype(np.float32)
    assert rows.vector(jnp.asarray(v)).shape == (B, 1, O)
    np.testing.assert_array_equal(np.asarray(rows.vector(jnp.asarray(v)))[:, 0], v[idx])
    ln = nnx.LayerNorm(I, use_fast_variance=False, rngs=nnx.Rngs(0))
    scales, biases = rng.normal(size=(K, I)).astype(np.float32), rng.normal(size=(K, I)).astype(np.float32)
    ln.scale, ln.bias = nnx.Param(jnp.asarray(scales)), nnx.Param(jnp.asarray(biases))  # stacked [K, I]
    got = np.asarray(rows.layer_norm(ln, jnp.asarray(x)))
    for b in range(B):
        one = nnx.LayerNorm(I, use_fast_variance=False, rngs=nnx.Rngs(0))
        one.scale, one.bias = nnx.Param(jnp.asarray(scales[idx[b]])), nnx.Param(jnp.asarray(biases[idx[b]]))
        np.testing.assert_allclose(got[b], np.asarray(one(jnp.asarray(x[b]))), rtol=1e-5, atol=1e-5)


def test_only_plain_bottleneck_and_lora_are_grouped():
    for method in ("seq_bn", "double_seq_bn", "par_bn", "lora"):
        check_supported(registry.make_config(method))
    for method in ("ia3", "compacter", "prefix_tuning"):
        with pytest.raises(AdapterError, match=f"mode 'grouped' supports bottleneck and lora adapters, not "
                                               f"'{method}' .*use mode='gather'"):
            check_supported(registry.make_config(method))
