"""Numerics shared by methods and heads (adapters/common.py): AdapterHub's non-linearity names compute
torch's functions, and the torch-default initialisers draw from torch's ranges."""

import jax
import numpy as np
import pytest

from flax_adapters.adapters.common import KAIMING_A5, NON_LINEARITIES, torch_bias_init

X = np.linspace(-3, 3, 13).astype(np.float32)


@pytest.mark.parametrize("name,want", [
    ("relu", np.maximum(X, 0)),
    ("swish", X / (1 + np.exp(-X))),
    ("silu", X / (1 + np.exp(-X))),
    ("tanh", np.tanh(X)),
    ("sigmoid", 1 / (1 + np.exp(-X))),
    ("leakyrelu", np.where(X > 0, X, 0.01 * X)),
    ("linear", X),
])
def test_non_linearities_are_torchs(name, want):
    np.testing.assert_allclose(np.asarray(NON_LINEARITIES[name](X)), want, rtol=1e-5, atol=1e-6)


def test_gelu_is_exact_and_gelu_new_the_tanh_approximation():
    from math import erf, pi, sqrt

    exact = np.array([0.5 * x * (1 + erf(x / sqrt(2))) for x in X.tolist()])
    approx = 0.5 * X * (1 + np.tanh(sqrt(2 / pi) * (X + 0.044715 * X ** 3)))
    np.testing.assert_allclose(np.asarray(NON_LINEARITIES["gelu"](X)), exact, atol=1e-6)
    np.testing.assert_allclose(np.asarray(NON_LINEARITIES["gelu_new"](X)), approx, atol=1e-6)
    assert np.abs(exact - approx).max() > 1e-4  # the two are told apart


def test_torch_default_initialisers():
    fan_in = 64
    w = np.asarray(KAIMING_A5(jax.random.key(0), (fan_in, 256)))  # torch: U(±1/√fan_in)
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert w.var() == pytest.approx(1 / (3 * fan_in), rel=0.05)
    b = np.asarray(torch_bias_init(fan_in)(jax.random.key(1), (4096,)))
    assert b.dtype == np.float32 and np.abs(b).max() <= bound and np.abs(b).max() > 0.95 * bound
