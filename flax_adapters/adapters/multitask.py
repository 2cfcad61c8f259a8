"""Multi-task inference: N task adapters over one input (`parallel`) or one task per example
(`mixed`), both on a shared trunk.

The layers below the first active adapter (AdapterDrop's `drop_n`, or a `leave_out` prefix) run
once for everyone. Above them the task adapters are stacked along a leading task axis and the
upper layers are `jax.vmap`-ped over it: base weights stay unbatched, so XLA folds the task axis
into the matmul rows (one big GEMM per projection) and only the small adapter maths is batched.
Heads may differ per task (they are tiny); adapters of stacked tasks must share one structure.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from flax_adapters.adapters.base import AdapterError
from flax_adapters.adapters.functional import adapter_hooks


def stack(states: Sequence) -> object:
    """Stacks same-structured states along a new leading task axis."""
    structures = {jax.tree_util.tree_structure(s) for s in states}
    if len(structures) != 1:
        raise AdapterError("tasks to stack must have adapters of one structure (method and options)")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def first_active_layer(adapter_def, stacked_params, num_layers: int, drop_n: int) -> int:
    """The lowest layer whose hooks do anything: below it, every task computes the same thing."""
    one = jax.tree.map(lambda p: p[0], stacked_params)
    hooks = adapter_hooks(adapter_def, one, num_layers, drop_n)
    return next((i for i, h in enumerate(hooks) if h is not None), num_layers)


def _trunk(encoder, input_ids, attention_mask, token_type_ids, shared: int):
    bias = encoder.mask_bias(attention_mask)
    return encoder.run_layers(encoder.embed(input_ids, token_type_ids), bias, 0, shared), bias


def _heads(head_defs, head_params, hidden, pooled):
    """Applies head t to hidden[t] (each task's own head; heads may differ in shape)."""
    return tuple(nnx.merge(d, p)(hidden[t], None if pooled is None else pooled[t])
                 for t, (d, p) in enumerate(zip(head_defs, head_params)))


@functools.partial(jax.jit, static_argnames=("graphdef", "adapter_def", "head_defs", "drop_n"))
def parallel(graphdef, params, adapter_def, stacked_adapters, head_defs, head_params,
             input_ids, attention_mask, token_type_ids, *, drop_n: int = 0):
    """One batch through N task adapters: returns (hidden [N, B, T, H], per-task logits tuple)."""
    encoder = nnx.merge(graphdef, params)
    L = encoder.cfg.num_hidden_layers
    shared = first_active_layer(adapter_def, stacked_adapters, L, drop_n)
    h, bias = _trunk(encoder, input_ids, attention_mask, token_type_ids, shared)

    def upper(adapter_params):
        hooks = adapter_hooks(adapter_def, adapter_params, L, drop_n)
        out = encoder.run_layers(h, bias, shared, L, hooks=hooks)
        return out.astype(jnp.float32), encoder.pool(out)

    hidden, pooled = jax.vmap(upper)(stacked_adapters)
    return hidden, _heads(head_defs, head_params, hidden, pooled) if head_defs else None


@functools.partial(jax.jit, static_argnames=("graphdef", "adapter_def", "head_defs", "drop_n"))
def mixed(graphdef, params, adapter_def, stacked_adapters, head_defs, head_params,
          input_ids, attention_mask, token_type_ids, task_ids, *, drop_n: int = 0):
    """Example i runs task task_ids[i]'s adapter. Returns (hidden [B, T, H], logits tuple with each
    task's head applied to every example — pick row i from logits[task_ids[i]])."""
    encoder = nnx.merge(graphdef, params)
    L = encoder.cfg.num_hidden_layers
    shared = first_active_layer(adapter_def, stacked_adapters, L, drop_n)
    h, bias = _trunk(encoder, input_ids, attention_mask, token_type_ids, shared)
    # Each example gathers its task's adapter; vmap over examples keeps base matmuls unbatched.
    per_example = jax.tree.map(lambda p: p[task_ids], stacked_adapters)

    def upper(adapter_params, h_i, bias_i):
        hooks = adapter_hooks(adapter_def, adapter_params, L, drop_n)
        return encoder.run_layers(h_i[None], bias_i[None], shared, L, hooks=hooks)[0]

    hidden = jax.vmap(upper)(per_example, h, bias).astype(jnp.float32)
    if not head_defs:
        return hidden, None
    pooled = encoder.pool(hidden) if encoder.pooler is not None else None
    n = len(head_defs)
    return hidden, _heads(head_defs, head_params, jnp.broadcast_to(hidden, (n,) + hidden.shape),
                          None if pooled is None else jnp.broadcast_to(pooled, (n,) + pooled.shape))
