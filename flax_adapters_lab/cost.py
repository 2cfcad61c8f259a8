"""FLOPs of compiled steps, as XLA counts them, without running or even allocating anything.

`step_costs` lowers the bare forward, the adapter forward, the adapter training step and the
full fine-tuning step on *abstract* arguments (`jax.ShapeDtypeStruct`s from `nnx.eval_shape`), so
BERT-base-sized accounting costs only compile time. The papers' bound (docs/papers.md): a full step
is ≈ 3F per layer (forward, activation gradients, weight gradients), an adapter step ≈ 2F (no
frozen weight-gradients), so full / adapter ≈ 1.5; AdapterDrop (`drop_n`) lowers it further
because no gradient flows below the lowest remaining adapter.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from flax_adapters.adapters import registry
from flax_adapters.adapters.functional import forward
from flax_adapters.adapters.heads import Head, HeadConfig
from flax_adapters.models.config import EncoderConfig
from flax_adapters.models.encoder import Encoder
from flax_adapters.training.steps import init_state, make_train_step


KINDS = ("forward", "forward_adapter", "adapter_step", "full_step")


def step_flops(compiled) -> float:
    """FLOPs of a compiled computation (`jitted.lower(...).compile()`).

    `cost_analysis()` returned a list with one dict per device program in older jax and returns
    a dict now; either way the 'flops' entries are summed."""
    analysis = compiled.cost_analysis()
    if analysis is None:
        raise RuntimeError("this backend reports no cost analysis")
    if isinstance(analysis, dict):
        analysis = [analysis]
    return float(sum(a.get("flops", 0.0) for a in analysis))


def _abstract(make):
    """(graphdef, abstract state) of a module, built under eval_shape: no weights are allocated."""
    return nnx.split(nnx.eval_shape(make))


def _batch(enc: EncoderConfig, head: HeadConfig, batch: int, seq: int) -> dict:
    shape = (batch, head.num_choices, seq) if head.kind == "multiple_choice" else (batch, seq)
    ids = jax.ShapeDtypeStruct(shape, jnp.int32)
    if head.kind == "tagging":
        labels = jax.ShapeDtypeStruct((batch, seq), jnp.int32)
    elif head.kind == "regression":
        labels = jax.ShapeDtypeStruct((batch,), jnp.float32)
    else:
        labels = jax.ShapeDtypeStruct((batch,), jnp.int32)
    return {"input_ids": ids, "attention_mask": ids, "token_type_ids": ids, "labels": labels}


def step_costs(enc: EncoderConfig, method: str = "seq_bn", batch: int = 8, seq: int = 128, *,
               drop_n: int = 0, head: HeadConfig | None = None, tx: optax.GradientTransformation | None = None,
               dropout: bool = False, kinds=KINDS, **adapter_options) -> dict:
    """FLOPs of one step of each kind for an encoder shape, adapter method and batch shape.

    Returns the FLOPs of each of `kinds` (default all of KINDS) plus the ratios between those
    present. Each kind is one compile (seconds at BERT-base size), hence the selection.
    `dropout=False` zeroes the dropout rates so the count is the model's arithmetic, not RNG
    bit-twiddling."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown cost kind(s) {sorted(unknown)}; choose from {list(KINDS)}")
    if not dropout:
        enc = enc.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    head = head or HeadConfig(kind="classification", num_labels=2)
    tx = tx or optax.adamw(1e-4)
    config = registry.make_config(method, **adapter_options)
    graphdef, base = _abstract(lambda: Encoder(enc, rngs=nnx.Rngs(0)))
    adapter_def, adapter = _abstract(lambda: registry.adapter_class(config)(config, enc, rngs=nnx.Rngs(0)))
    head_def, head_params = _abstract(lambda: Head(head, enc.hidden_size, enc.hidden_dropout_prob, rngs=nnx.Rngs(0)))
    data = _batch(enc, head, batch, seq)
    inputs = [jax.ShapeDtypeStruct((batch * (head.num_choices or 1), seq), jnp.int32)] * 3
    loss = head.kind

    def flops_of(jitted, *args, **kwargs):
        return step_flops(jitted.lower(*args, **kwargs).compile())

    def train_flops(params, frozen, full, n):
        state = jax.eval_shape(lambda p: init_state(p, tx), params)
        step = make_train_step(graphdef, None if full else adapter_def, head_def, loss, tx, drop_n=n,
                               full_finetune=full)
        return flops_of(step, state, frozen, data)

    # Thunks, so only the requested kinds are compiled.
    cost = {
        "forward": lambda: flops_of(forward, graphdef, base, None, None, head_def, head_params, *inputs),
        "forward_adapter": lambda: flops_of(forward, graphdef, base, adapter_def, adapter, head_def,
                                            head_params, *inputs, drop_n=drop_n),
        "adapter_step": lambda: train_flops({"adapter": adapter, "head": head_params}, base, False, drop_n),
        "full_step": lambda: train_flops({"base": base, "head": head_params}, None, True, 0),
    }
    out = {kind: cost[kind]() for kind in KINDS if kind in kinds}
    for a, b in (("full_step", "adapter_step"), ("full_step", "forward"), ("adapter_step", "forward")):
        if a in out and b in out:
            out[f"{a.split('_')[0]}_over_{b.split('_')[0]}"] = out[a] / out[b]
    return out
