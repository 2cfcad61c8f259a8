"""Robust AdapterDrop training (Rücklé et al., 2021): every batch skips the adapters of layers
0…n−1 for a freshly drawn n.

`n` must be static for the backward pass to stop at the lowest remaining adapter (that is the
saving), so each distinct n gets its own compiled step, made on first use and cached; after that
nothing recompiles. n is drawn on the host from (seed, step), so a resumed run draws the same
sequence. The default distribution is the reference implementation's: uniform over 0…10.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import optax

from flax_adapters.training.steps import make_train_step


class RobustDropStep:
    """`step(state, frozen_base, batch) -> (state, metrics)` with metrics['drop_n'] the n used."""

    def __init__(self, graphdef, adapter_def, head_def, loss: str, tx: optax.GradientTransformation, *,
                 num_layers: int, choices: Sequence[int] = tuple(range(11)),
                 probs: Sequence[float] | None = None, seed: int = 0):
        bad = [n for n in choices if not 0 <= n <= num_layers]
        if not choices or bad:
            raise ValueError(f"drop choices {list(choices)} must be non-empty and within [0, {num_layers}]")
        if probs is not None and (len(probs) != len(choices) or abs(sum(probs) - 1) > 1e-6 or min(probs) < 0):
            raise ValueError(f"probs {list(probs)} must be {len(choices)} non-negative numbers summing to 1")
        self.choices, self.probs, self.seed = tuple(int(n) for n in choices), probs, seed
        self._make = lambda n: make_train_step(graphdef, adapter_def, head_def, loss, tx, drop_n=n)
        self.steps: dict[int, object] = {}  # n -> jitted step, compiled on first use

    def draw(self, step: int) -> int:
        rng = np.random.default_rng([self.seed, int(step)])
        return int(rng.choice(self.choices, p=self.probs))

    def __call__(self, state, frozen_base, batch):
        n = self.draw(int(state.step))
        if n not in self.steps:
            self.steps[n] = self._make(n)
        state, metrics = self.steps[n](state, frozen_base, batch)
        return state, dict(metrics, drop_n=n)

