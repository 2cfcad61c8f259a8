"""Robust AdapterDrop: one compile per distinct n, none after; static drop stops the backward pass."""

import jax
import numpy as np
import pytest

from flax_adapters.training import adamw, init_state
from flax_adapters.training.adapterdrop import RobustDropStep
from flax_adapters.training.steps import make_loss_fn
from tests.training.common import TINY, batch, tiny_model


def test_robust_drop_compiles_once_per_n_and_is_reproducible():
    model = tiny_model()
    slot, head = model.adapters["a"], model.heads["a"]
    tx = adamw(1e-3)
    make = lambda: RobustDropStep(model.graphdef, slot.graphdef, head.graphdef, "classification", tx,
                                  num_layers=TINY.num_hidden_layers, choices=(0, 1, 2), seed=3)
    step, state = make(), init_state({"adapter": slot.params, "head": head.params}, tx)
    data = batch()
    drawn = []
    for _ in range(12):
        state, metrics = step(state, model.params, data)
        drawn.append(metrics["drop_n"])
        assert np.isfinite(metrics["loss"])
    assert set(drawn) == set(step.steps) and len(set(drawn)) > 1
    assert all(s._cache_size() == 1 for s in step.steps.values())  # nothing recompiled
    assert [make().draw(i) for i in range(12)] == drawn  # same sequence from (seed, step)


def test_static_drop_leaves_dropped_layers_without_gradient():
    model = tiny_model()
    slot, head = model.adapters["a"], model.heads["a"]
    loss_fn = make_loss_fn(model.graphdef, slot.graphdef, head.graphdef, "classification", drop_n=2)
    grads = jax.grad(lambda p: loss_fn(p, model.params, batch(), None)[0])({"adapter": slot.params, "head": head.params})
    layers = grads["adapter"]["layers"]
    norm = lambda i: sum(float(np.abs(g).sum()) for g in jax.tree_util.tree_leaves(layers[i]))
    assert norm(0) == norm(1) == 0 and norm(2) > 0


def test_bad_choices():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"drop choices \[0, 9\] must be non-empty and within \[0, 3\]"):
        RobustDropStep(model.graphdef, None, model.heads["a"].graphdef, "classification", adamw(),
                       num_layers=3, choices=(0, 9))
