"""Training an AdapterFusion alone: the fused adapters stay frozen, only fusion + head learn.

The fusion's state is split (adapters.fusion.split_fusion) into the fusion layers (trainable) and
the sub-adapters (frozen, passed beside the base as a non-differentiated argument), and AdapterHub's
value-matrix regulariser is added to the loss when the config asks for it.
"""

from __future__ import annotations

from flax import nnx

from flax_adapters.adapters.fusion import regularization_loss
from flax_adapters.training import steps


def make_fusion_train_step(graphdef, fusion_def, head_def, loss: str, tx, *, drop_n: int = 0):
    """`step(state, (base, sub_adapter_params), batch)` with state.params = {'adapter': fusion
    params, 'head': ...}; metrics['loss'] includes the regulariser when configured."""
    loss_fn = steps.make_loss_fn(graphdef, fusion_def, head_def, loss, drop_n=drop_n)

    def total(trainable, frozen, batch, key):
        full = nnx.merge_state(trainable["adapter"], frozen[1])
        value, _ = loss_fn(dict(trainable, adapter=full), frozen[0], batch, key)
        return value + regularization_loss(nnx.merge(fusion_def, full)), value

    return steps.step_from_loss(total, tx)
