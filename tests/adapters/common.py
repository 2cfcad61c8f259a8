"""Helpers shared by the adapter method tests (no torch needed): random weights for a fresh adapter."""

import jax


def _randomise(model, name, seed=0, around=0.0):
    slot = model.adapters[name]
    leaves, tree = jax.tree_util.tree_flatten(slot.params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    slot.params = jax.tree_util.tree_unflatten(
        tree, [around + 0.1 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
