"""Fusion-only training (training/fusion.py): the fusion layers and the head learn, the fused
adapters stay frozen (the `fused` fixture is in tests/conftest.py)."""

import jax
import numpy as np
import pytest

from flax_adapters.adapters import fusion
from flax_adapters.training.fusion import make_fusion_train_step
from tests.adapters.hub_utils import batch_for

pytestmark = pytest.mark.torch  # the tiny base checkpoint is built with torch


def test_train_fusion_only(fused):
    from flax_adapters.training import steps

    model = fused
    model.add_head("f", "classification", num_labels=2)
    fdef, fparams, subs = fusion.split_fusion(model.adapters["f"].module())
    head = model.heads["f"]
    tx = steps.adamw(1e-2, weight_decay=0.01)
    state = steps.init_state({"adapter": fparams, "head": head.params}, tx)
    step = make_fusion_train_step(model.graphdef, fdef, head.graphdef, "classification", tx)
    ids, mask, types = batch_for(model.config)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": np.array([0, 1, 1, 0])}
    before = jax.tree.map(np.array, (fparams, subs))
    losses = []
    for _ in range(15):
        state, metrics = step(state, (model.params, subs), batch)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0]
    jax.tree.map(np.testing.assert_array_equal, before[1], jax.tree.map(np.asarray, subs))
    changed = jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(a != np.asarray(b))), before[0],
                                           state.params["adapter"]))
    assert all(changed)
