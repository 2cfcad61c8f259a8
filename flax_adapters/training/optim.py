"""The optax optimiser of a run: clipping, AdamW with warmup + decay, no decay on biases/LayerNorm.

The optimiser only ever sees the trainable pytree (adapters + heads, or base + heads for full
fine-tuning), so its moments cost 2× the trainable parameters and nothing for the frozen base.
Which leaves skip weight decay is a regex over 'a/b/c' leaf paths (big_vision style), so it
works unchanged for the encoder, every adapter method and the heads.

    tx = make_optimizer(cfg.optim, total_steps=3000, params=trainable)
"""

from __future__ import annotations

import re

import jax
import optax

from flax_adapters.training.config import OptimConfig


def leaf_path(path) -> str:
    """'layers/0/ffn/down/kernel' for a pytree path (the NNX Variable's `.value` step dropped)."""
    keys = [str(getattr(e, "key", getattr(e, "idx", e))) for e in path
            if not (isinstance(e, jax.tree_util.GetAttrKey) and e.name == "value")]
    return "/".join(keys)


def decay_mask(params, no_decay: str):
    """True for leaves that get weight decay: those whose path does not match `no_decay`."""
    pattern = re.compile(no_decay)
    return jax.tree_util.tree_map_with_path(lambda p, _: not pattern.search(leaf_path(p)), params)


def schedule(cfg: OptimConfig, total_steps: int) -> optax.Schedule:
    """Linear warmup to the peak rate, then linear/cosine decay to 0 at `total_steps` (or constant).

    Warmup is capped at the run length so a short run still reaches its peak rate."""
    warmup = min(cfg.warmup_steps, max(total_steps - 1, 0))
    rest = max(total_steps - warmup, 1)
    ramp = optax.linear_schedule(0.0, cfg.learning_rate, warmup) if warmup else None
    if cfg.schedule == "linear":
        decay = optax.linear_schedule(cfg.learning_rate, 0.0, rest)
    elif cfg.schedule == "cosine":
        decay = optax.cosine_decay_schedule(cfg.learning_rate, rest)
    else:
        decay = optax.constant_schedule(cfg.learning_rate)
    return decay if ramp is None else optax.join_schedules([ramp, decay], [warmup])


def make_optimizer(cfg: OptimConfig, total_steps: int, params) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """(tx, learning-rate schedule); `params` is the trainable pytree (its structure sets the mask)."""
    lr = schedule(cfg, total_steps)
    adamw = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay,
                        mask=decay_mask(params, cfg.no_decay))
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), adamw) if cfg.max_grad_norm > 0 else adamw
    return tx, lr
