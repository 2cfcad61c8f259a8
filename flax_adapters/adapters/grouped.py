"""Per-row adapter maths for the pool's "grouped" mode (pool.py): rows sorted by adapter, every
adapter matmul one segment matmul (`jax.lax.ragged_dot`) over the tokens of all rows.

The adapter module is merged with *stacked* weights (leading adapter axis K). The wrappers below
keep each method's own wiring (bottleneck.Block's pre/run/post, LoRAProjection's com, the
methods' LayerHooks classes) and swap only the weight-touching maths for per-row versions:
  matmul    x [B, T, i] @ W[k(row)] — ragged_dot with group sizes = tokens per adapter
  vector    biases, LayerNorm and scaling vectors — gathered per row, broadcast over tokens
Only plain bottleneck adapters (seq_bn, double_seq_bn, par_bn, …) and LoRA have wrappers; the
pool's "gather" mode (vmap over rows with each row's gathered weights) serves every method.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from flax_adapters.adapters import bottleneck, lora
from flax_adapters.adapters.base import AdapterError
from flax_adapters.adapters.common import NON_LINEARITIES

# Exact config types: subclasses (Compacter's PHM layers, (IA)³'s scaling) compute differently.
SUPPORTED = (bottleneck.BottleneckConfig, lora.LoRAConfig)


def check_supported(config) -> None:
    if type(config) not in SUPPORTED:
        raise AdapterError(f"mode 'grouped' supports bottleneck and lora adapters, not {config.method!r} "
                           f"({type(config).__name__}); use mode='gather'")


@dataclasses.dataclass(frozen=True)
class Rows:
    """Which adapter each row runs: `idx` [B] sorted ascending, `sizes` [K] tokens per adapter."""

    idx: jax.Array
    sizes: jax.Array

    @classmethod
    def of(cls, sorted_idx: jax.Array, capacity: int, length: int) -> "Rows":
        counts = jnp.bincount(sorted_idx, length=capacity)
        return cls(sorted_idx, (counts * length).astype(jnp.int32))

    def matmul(self, x, w):
        """x [B, T, i] times each row's w[k] ([K, i, o]): one segment matmul over all tokens."""
        b, t, _ = x.shape
        dtype = jnp.promote_types(x.dtype, w.dtype)
        y = jax.lax.ragged_dot(x.reshape(b * t, -1).astype(dtype), w.astype(dtype), self.sizes)
        return y.reshape(b, t, -1)

    def vector(self, v):
        """Each row's v[k] ([K, …] -> [B, 1, …]), broadcasting over the row's tokens."""
        return v[self.idx][:, None]

    def linear(self, x, dense: nnx.Linear):
        y = self.matmul(x, dense.kernel[...])
        return y if dense.bias is None else y + self.vector(dense.bias[...])

    def layer_norm(self, ln: nnx.LayerNorm, x):
        # What nnx.LayerNorm(use_fast_variance=False) computes, with each row's scale and bias.
        mean = x.mean(-1, keepdims=True)
        var = jnp.square(x - mean).mean(-1, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + ln.epsilon)
        if ln.scale is not None:
            y = y * self.vector(ln.scale[...])
        return y if ln.bias is None else y + self.vector(ln.bias[...])


class RowBlock:
    """A bottleneck Block over stacked weights: Block's own residual / LayerNorm wiring around
    per-row maths (Block's methods read only cfg, bottleneck and ln_after from self)."""

    pre, run, post, __call__ = bottleneck.Block.pre, bottleneck.Block.run, bottleneck.Block.post, bottleneck.Block.__call__

    def __init__(self, block: bottleneck.Block, rows: Rows):
        self.cfg, self.block, self.rows = block.cfg, block, rows
        self.ln_after = None if block.ln_after is None else (lambda u: rows.layer_norm(block.ln_after, u))

    def bottleneck(self, u, rngs):
        del rngs  # inference only: dropout is off
        block, rows = self.block, self.rows
        if block.ln_before is not None:
            u = rows.layer_norm(block.ln_before, u)
        act = NON_LINEARITIES[self.cfg.non_linearity.lower()]
        up = rows.linear(act(rows.linear(u, block.down)), block.up)
        scale = rows.vector(block.scale[...]) if isinstance(block.scale, nnx.Param) else block.scale
        return up * scale


class RowLoRA:
    """A LoRAProjection over stacked weights: y + (x A[k] B[k]) · alpha/r per row."""

    com = lora.LoRAProjection.com

    def __init__(self, proj: lora.LoRAProjection, rows: Rows):
        self.proj, self.rows = proj, rows

    def __call__(self, x, y, rngs):
        del rngs
        p, rows = self.proj, self.rows
        return self.com(y, rows.matmul(rows.matmul(x, p.lora_A[...]), p.lora_B[...]) * p.scaling)


def row_hooks(stacked_module, rows: Rows) -> list:
    """Per-layer hooks of a stacked bottleneck / LoRA adapter module, each row using its adapter."""
    hooks = []
    for layer in stacked_module.layers:
        if layer is None:
            hooks.append(None)
        elif isinstance(stacked_module.config, lora.LoRAConfig):
            hooks.append(lora.LoRAHooks({n: RowLoRA(p, rows) for n, p in layer.projections().items()}, None))
        else:
            blocks = stacked_module.blocks(layer)
            hooks.append(bottleneck.BottleneckHooks({n: RowBlock(b, rows) for n, b in blocks.items()}, None))
    return hooks
