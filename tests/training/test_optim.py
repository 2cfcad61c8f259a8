"""The optimiser (training/optim.py): no weight decay on biases and LayerNorms (the mask reaches AdamW),
and the learning-rate schedule warms up, then decays to zero."""

import dataclasses

import jax
import numpy as np
import pytest

from flax_adapters.training.config import default_config, from_config_dict
from flax_adapters.training.optim import decay_mask, leaf_path, make_optimizer, schedule
from tests.training.common import tiny_model


def test_no_decay_on_biases_and_layernorms():
    model = tiny_model()
    params = {"base": model.params, "adapter": model.adapters["a"].params, "head": model.heads["a"].params}
    cfg = from_config_dict(default_config()).optim
    flat = {leaf_path(p): m for p, m in jax.tree_util.tree_flatten_with_path(decay_mask(params, cfg.no_decay))[0]}
    assert flat["base/layers/0/query/kernel"] and flat["adapter/layers/0/ffn/down/kernel"]
    assert flat["head/dense/0/kernel"] and flat["base/embeddings/word/embedding"]
    assert not flat["base/layers/0/query/bias"] and not flat["base/layers/1/attn_ln/scale"]
    assert not flat["base/embeddings/ln/scale"] and not flat["adapter/layers/2/ffn/up/bias"]
    # The mask really reaches AdamW: with zero gradients only decayed leaves move.
    tx, _ = make_optimizer(dataclasses.replace(cfg, warmup_steps=0, max_grad_norm=0.0), 10, params)
    zeros = jax.tree.map(np.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    moved = {leaf_path(p): bool(np.any(u != 0)) for p, u in jax.tree_util.tree_flatten_with_path(updates)[0]}
    assert moved["base/layers/0/query/kernel"] and not moved["base/layers/0/query/bias"]
    assert not moved["base/layers/1/ffn_ln/scale"]


def test_schedule_warms_up_then_decays_to_zero():
    cfg = from_config_dict(default_config()).optim
    lr = schedule(dataclasses.replace(cfg, warmup_steps=10, learning_rate=1.0), 110)
    assert float(lr(0)) == 0.0 and float(lr(10)) == pytest.approx(1.0)
    assert float(lr(60)) == pytest.approx(0.5) and float(lr(110)) == pytest.approx(0.0)
    short = schedule(dataclasses.replace(cfg, warmup_steps=2000, learning_rate=1.0), 50)
    assert max(float(short(s)) for s in range(50)) == pytest.approx(1.0)  # warmup capped by the run
