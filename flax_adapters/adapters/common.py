"""Numerics shared by several adapter methods and the heads: AdapterHub's non-linearity names and
the torch default initialisers its modules start from.

Kept apart from any one method so that a method file depends only on base.py, this file,
models/ and (when it extends one) the method it builds on.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

# AdapterHub's `non_linearity` / head `activation_function` names -> jax functions matching torch.
NON_LINEARITIES = {
    "relu": jax.nn.relu,
    "swish": jax.nn.silu,
    "silu": jax.nn.silu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "leakyrelu": lambda x: jax.nn.leaky_relu(x, 0.01),
    "linear": lambda x: x,
}

# torch's nn.Linear weight default, kaiming_uniform_(a=√5): U(±√(1/fan_in)), i.e. variance 1/(3·fan_in).
KAIMING_A5 = nnx.initializers.variance_scaling(1 / 3, "fan_in", "uniform")


def torch_bias_init(fan_in: int):
    """torch.nn.Linear's default bias init: U(-1/√fan_in, 1/√fan_in)."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)
