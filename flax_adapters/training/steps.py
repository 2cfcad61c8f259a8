"""Pure jitted training and evaluation steps on top of `flax_adapters.adapters.functional.apply`.

The trainable parameters are one dict, `{'adapter': ..., 'head': ...}` for adapter training or
`{'base': ..., 'head': ...}` for full fine-tuning. Only that dict is differentiated: the frozen
base is a separate, non-differentiated argument of the step, so XLA never builds the frozen
weight-gradients (the ~F of backward work per layer that adapters save; see cost.py). The
optimiser state covers the trainable parameters only, and the state is donated to the step.

    state = init_state({'adapter': a, 'head': h}, tx)
    step = make_train_step(graphdef, adapter_def, head_def, "classification", tx)
    state, metrics = step(state, base_params, batch)       # batch: dict of arrays, 'labels' included

A packed batch (data/packing.py: 'segment_ids' and the example_* arrays instead of an attention
mask) goes through the same steps: the outputs and labels have the padded batch's shapes, so the
loss is the same per-example (tagging: per labelled token) mean.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from flax_adapters.adapters.functional import apply
from flax_adapters.models.packed import Packing
from flax_adapters.training.sharding import constrain, gathered

LOSS_KINDS = ("classification", "regression", "tagging", "multiple_choice", "question_answering")
IGNORE_INDEX = -100  # HF/torch convention for tagging labels that carry no loss (padding, sub-words)


@flax.struct.dataclass
class TrainState:
    """Everything that changes during training; a pytree, so it can be donated and checkpointed."""

    params: dict          # trainable parameters: {'adapter'|'base': state, 'head': state}
    opt_state: Any        # optax state over `params` only
    step: jax.Array       # int32 scalar
    rng: jax.Array        # raw uint32 PRNG key (raw, not typed, so orbax stores it as a plain array)


def init_state(params: dict, tx: optax.GradientTransformation, seed: int = 0) -> TrainState:
    # The step donates the state, which deletes its buffers; copying keeps the caller's arrays
    # (e.g. an AdapterModel slot's parameters) alive. One copy of the trainable params only.
    params = jax.tree.map(jnp.copy, params)
    return TrainState(params=params, opt_state=tx.init(params), step=jnp.zeros((), jnp.int32),
                      rng=jax.random.PRNGKey(seed))


def adamw(learning_rate: float = 1e-4, weight_decay: float = 0.0) -> optax.GradientTransformation:
    """A plain AdamW (constant rate); schedules are the caller's business (any optax tx works)."""
    return optax.adamw(learning_rate, weight_decay=weight_decay)


def loss_value(kind: str, logits: jax.Array, labels: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean loss of one batch for a head kind; tagging ignores labels equal to IGNORE_INDEX.

    Question answering: logits [B, T, 2] (start, end), labels [B, 2] token positions; the loss is
    the mean of the start and end cross-entropies (AdapterHub's), over the real tokens only when
    `mask` (the attention mask) is given, so a window's loss does not depend on its padding."""
    logits = logits.astype(jnp.float32)
    if kind == "question_answering":
        if mask is not None:
            logits = jnp.where(mask[..., None] > 0, logits, -1e9)
        start = optax.softmax_cross_entropy_with_integer_labels(logits[..., 0], labels[:, 0])
        end = optax.softmax_cross_entropy_with_integer_labels(logits[..., 1], labels[:, 1])
        return (start.mean() + end.mean()) / 2
    if kind in ("classification", "multiple_choice"):
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    if kind == "regression":
        return jnp.mean((logits.reshape(labels.shape) - labels.astype(jnp.float32)) ** 2)
    if kind == "tagging":
        valid = labels != IGNORE_INDEX
        per_token = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(valid, labels, 0))
        # max(…, 1): a batch with no labelled token gives loss 0, not NaN.
        return jnp.sum(per_token * valid) / jnp.maximum(valid.sum(), 1)
    raise ValueError(f"unknown loss kind {kind!r}; choose one of {list(LOSS_KINDS)}")


def _inputs(batch: dict):
    """(ids, mask, types) as 2-D arrays; [batch, choices, length] inputs are flattened (the
    multiple-choice head folds the choices back). A packed batch has no mask (None)."""
    ids = batch["input_ids"]
    if "segment_ids" in batch:
        types = batch.get("token_type_ids")
        return ids, None, jnp.zeros_like(ids) if types is None else types
    mask = batch.get("attention_mask")
    types = batch.get("token_type_ids")
    mask = jnp.ones_like(ids) if mask is None else mask
    types = jnp.zeros_like(ids) if types is None else types
    flat = lambda a: a.reshape(-1, a.shape[-1])
    return flat(ids), flat(mask), flat(types)


def make_loss_fn(graphdef, adapter_def, head_def, loss: str, *, drop_n: int = 0,
                 full_finetune: bool = False) -> Callable:
    """loss_fn(trainable, frozen_base, batch, key|None) -> (loss, logits); differentiate arg 0.

    key None: deterministic (no dropout). Exposed so tests and tools can take gradients directly.
    """
    if loss not in LOSS_KINDS:
        raise ValueError(f"unknown loss kind {loss!r}; choose one of {list(LOSS_KINDS)}")
    if head_def is None:
        raise ValueError("a training step needs a head (head_def is None)")

    def loss_fn(trainable, frozen_base, batch, key):
        base = trainable["base"] if full_finetune else frozen_base
        # The Rngs is built inside the traced function so no NNX object crosses the grad boundary.
        rngs = None if key is None else nnx.Rngs(dropout=key)
        packing = Packing.of(batch)
        out = apply(graphdef, base, adapter_def, trainable.get("adapter"), head_def, trainable["head"],
                    *_inputs(batch), drop_n=drop_n, rngs=rngs, packing=packing)
        mask = batch.get("attention_mask") if packing is None else packing.token_mask(out.logits.shape[1])
        return loss_value(loss, out.logits, batch["labels"], mask), out.logits

    return loss_fn


def make_train_step(graphdef, adapter_def, head_def, loss: str, tx: optax.GradientTransformation, *,
                    drop_n: int = 0, full_finetune: bool = False) -> Callable:
    """A jitted `(state, frozen_base, batch) -> (state, metrics)`; `state` is donated.

    For full fine-tuning (`full_finetune=True`) the base lives in `state.params['base']` and
    `frozen_base` is ignored (pass None). An adapter may be trained alongside (then
    `state.params` holds 'adapter' too).
    """
    loss_fn = make_loss_fn(graphdef, adapter_def, head_def, loss, drop_n=drop_n, full_finetune=full_finetune)
    return step_from_loss(loss_fn, tx)


def step_from_loss(loss_fn: Callable, tx: optax.GradientTransformation) -> Callable:
    """The jitted, state-donating update around `loss_fn(trainable, frozen, batch, key) -> (loss,
    aux)`: only `trainable` (= state.params) is differentiated; metrics['loss'] is the first output."""

    def step(state: TrainState, frozen, batch):
        # A fresh dropout key per step, reproducible from (seed, step) alone (resumable runs).
        key = jax.random.fold_in(state.rng, state.step)
        # Under FSDP the loss sees whole weights (sharding.gathered; a no-op off a mesh).
        sharded_loss = lambda params, frozen, batch, key: loss_fn(gathered(params), gathered(frozen), batch, key)
        (value, _), grads = jax.value_and_grad(sharded_loss, has_aux=True)(state.params, frozen, batch, key)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": value, "grad_norm": optax.tree.norm(grads)}  # global_norm's successor (optax 0.2.5+)
        new_state = state.replace(params=params, opt_state=opt_state, step=state.step + 1)
        # On a mesh (sharding.ShardedStep sets it) the new state keeps the planned layout; else a no-op.
        return constrain(new_state), metrics

    return jax.jit(step, donate_argnums=0)


def make_eval_step(graphdef, adapter_def, head_def, loss: str, *, drop_n: int = 0,
                   full_finetune: bool = False) -> Callable:
    """A jitted `(params, frozen_base, batch) -> {'loss', 'logits'}` without dropout.

    `params` is `state.params`; nothing is donated (evaluation runs between training steps)."""
    loss_fn = make_loss_fn(graphdef, adapter_def, head_def, loss, drop_n=drop_n, full_finetune=full_finetune)

    def evaluate(params, frozen_base, batch):
        params, frozen_base = gathered(params), gathered(frozen_base)  # FSDP: whole weights (no-op off a mesh)
        if "labels" not in batch:
            # Prediction only: the loss needs labels, so skip it (traced once per batch signature).
            base = params["base"] if full_finetune else frozen_base
            out = apply(graphdef, base, adapter_def, params.get("adapter"), head_def, params["head"],
                        *_inputs(batch), drop_n=drop_n, packing=Packing.of(batch))
            return {"logits": out.logits}
        value, logits = loss_fn(params, frozen_base, batch, None)
        return {"loss": value, "logits": logits}

    return jax.jit(evaluate)
