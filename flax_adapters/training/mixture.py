"""Which task each step of a multi-task run trains on, as a pure function of (seed, step).

Tasks are sampled in proportion to size^(1/T) (T = 1: proportional to size, as paper 2; large T:
uniform). Adding a task to a trained multi-task model (docs/papers.md §2) trains on the new task and
replays the old ones for a fraction `replay` of the steps. The whole schedule is drawn up front
from the seed, and each step's batch index within its task is the number of earlier steps of
that task, so a resumed run gets exactly the batches an uninterrupted one got.

    order = schedule({"sst2": 60614, "rte": 2127}, total=1000, seed=0)   # task index per step
    index = within_task_index(order)                                    # batch number per step
"""

from __future__ import annotations

import numpy as np


def probabilities(sizes: dict[str, int], temperature: float = 1.0, main: str | None = None,
                  replay: float = 0.0) -> np.ndarray:
    """Sampling probability per task (in `sizes` order)."""
    names = list(sizes)
    if not names or min(sizes.values()) <= 0:
        raise ValueError(f"every task needs examples, got sizes {sizes}")
    weights = np.array([sizes[n] for n in names], np.float64) ** (1.0 / temperature)
    if not replay:
        return weights / weights.sum()
    if main not in sizes or len(names) < 2:
        raise ValueError(f"replay needs a main task among {names} and at least one old task; main={main!r}")
    old = np.array([n != main for n in names])
    probs = np.where(old, weights / weights[old].sum() * replay, 1.0 - replay)
    return probs


def schedule(sizes: dict[str, int], total: int, seed: int, temperature: float = 1.0, main: str | None = None,
             replay: float = 0.0) -> np.ndarray:
    """Task index (into `sizes` order) of each of `total` steps."""
    probs = probabilities(sizes, temperature, main, replay)
    return np.random.default_rng([seed, 0x7A5C]).choice(len(probs), size=total, p=probs)


def within_task_index(order: np.ndarray) -> np.ndarray:
    """For each step, how many earlier steps drew the same task (its batch number in that task)."""
    out = np.empty(len(order), np.int64)
    counts: dict[int, int] = {}
    for i, t in enumerate(order.tolist()):
        out[i] = counts.get(t, 0)
        counts[t] = out[i] + 1
    return out
