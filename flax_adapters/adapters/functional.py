"""The pure functions every adapter call goes through.

`apply` composes base encoder, one adapter and one head from (graphdef, state) pairs; it is
what training steps differentiate (w.r.t. the adapter and head states only, so XLA never forms
frozen weight-gradients). `forward` is its jitted form: graphdefs and `drop_n` are static, every
state is a pytree argument, so switching between adapters of the same structure does not retrace.
`drop_n` is static AdapterDrop: the adapters of layers 0…drop_n−1 are skipped. A tuple of adapter
graphdefs (with a tuple of states) is a composition.Stack of those adapters.
`packing` (models/packed.py) runs packed rows: the head reads each example's own tokens, so the
outputs have the shapes (and, within float rounding, the values) of the examples run padded.
"""

from __future__ import annotations

import functools

import flax.struct
import jax
from flax import nnx

from flax_adapters.adapters.composition import stack_hooks
from flax_adapters.adapters.heads import TOKEN_KINDS
from flax_adapters.models.packed import Packing


@flax.struct.dataclass
class Output:
    last_hidden_state: jax.Array
    pooler_output: jax.Array | None = None
    logits: jax.Array | None = None


def adapter_hooks(adapter_def, adapter_params, num_layers: int, drop_n: int = 0, rngs=None):
    """Per-layer hooks of an adapter, with the first `drop_n` layers dropped (AdapterDrop)."""
    if adapter_def is None:
        return None
    if isinstance(adapter_def, tuple):  # composition.Stack: the adapters' hooks chained per layer
        return stack_hooks([adapter_hooks(d, p, num_layers, drop_n, rngs) for d, p in zip(adapter_def, adapter_params)])
    hooks = list(nnx.merge(adapter_def, adapter_params).layer_hooks(rngs))
    if len(hooks) != num_layers:
        raise ValueError(f"adapter yields {len(hooks)} layer hooks for a {num_layers}-layer encoder")
    return [None if i < drop_n else h for i, h in enumerate(hooks)]


def apply(graphdef, params, adapter_def, adapter_params, head_def, head_params,
          input_ids, attention_mask, token_type_ids, *, drop_n: int = 0, rngs: nnx.Rngs | None = None,
          packing: Packing | None = None) -> Output:
    encoder = nnx.merge(graphdef, params)
    hooks = adapter_hooks(adapter_def, adapter_params, encoder.cfg.num_hidden_layers, drop_n, rngs)
    segments = None if packing is None else packing.segment_ids
    out = encoder(input_ids, attention_mask, token_type_ids, hooks=hooks, rngs=rngs, segment_ids=segments)
    hidden, pooled = out.last_hidden_state, out.pooler_output
    head = None if head_def is None else nnx.merge(head_def, head_params)
    if packing is not None:  # per-example views: [E, L, H] windows for token heads, else [E, 1, H]
        token_head = head is not None and head.config.kind in TOKEN_KINDS
        hidden = packing.windows(hidden) if token_head else packing.first_tokens(hidden)
        pooled = encoder.pool(hidden.astype(encoder.cfg.dtype))
    logits = None if head is None else head(hidden, pooled, rngs)
    return Output(hidden, pooled, logits)


forward = jax.jit(functools.partial(apply, rngs=None),
                  static_argnames=("graphdef", "adapter_def", "head_def", "drop_n"))
