"""Per-step training cost of several runs, timed side by side: the clock of the convergence verdicts.

A run's wall clock to its best evaluation depends on whatever else the machine was doing while it
trained (runs of one job are hours apart on a shared 2-core VM). Its *steps* to best do not. So the
convergence-time claims read

    time to best ≈ steps to best × cost of one step,

with the costs of the compared runs measured in one benchmark: every run's own training step (its
method, its compiled programs) on the same batches of its own training data, `steps` steps per
timed call, the runs' calls interleaved within each of `rounds` rounds in a fresh order
(timing.interleaved: the reproduce suite's timing rules). Load that hits one round hits every run
in it, so the ratios of costs are what background load cannot move; their 95% intervals come from
resampling rounds.

    costs = measure({"conv_stsb_full_s0": full_cfg, "conv_stsb_seq_bn_s0": adapter_cfg}, cache, rounds=12, steps=4)
    costs["variants"]["conv_stsb_seq_bn_s0"]["step_s"], costs["ratios"]["conv_stsb_seq_bn_s0"]  # ÷ the first
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from flax_adapters_lab import host_memory, provenance, stats, timing
from flax_adapters.training.build import build, make_steps
from flax_adapters.training.config import TrainConfig
from flax_adapters.training.loop import load_data, plan
from flax_adapters.training.optim import make_optimizer
from flax_adapters.training.steps import init_state


def _variant(cfg: TrainConfig, cache_dir: Path, steps: int) -> Callable[[], object]:
    """A call that runs `steps` training steps of `cfg`'s run on batches of its first epoch (the
    seeded steps the run itself trains on; for a multi-task run, its task mixture), from its own
    initial state, which the call carries forward as training does."""
    setup = build(cfg)
    data = load_data(setup, cache_dir, with_eval=False)  # it times training steps only
    order, cursor, total, per_epoch = plan(setup, data)
    names = list(data)
    span = min(per_epoch, total)  # the steps of the first epoch the run actually takes
    picks = np.sort(np.random.default_rng(0).choice(span, size=min(steps, span), replace=False))
    batches = [(names[order[i]], data[names[order[i]]][0].batch(int(cursor[i]))) for i in picks]
    tx, _ = make_optimizer(cfg.optim, total, setup.trainable)
    train_steps = make_steps(setup, tx)
    holder = [init_state(setup.trainable, tx, cfg.seed)]

    def call():
        metrics = None
        for task, batch in batches:
            holder[0], metrics = train_steps[task][0](holder[0], setup.frozen, batch)
        return metrics["loss"]

    return call


def measure(configs: dict[str, TrainConfig], cache_dir: str | Path, rounds: int, steps: int,
            log: Callable[[str], None] = print) -> dict:
    """{"variants": {name: {"step_s", "samples_s"}}, "ratios": {name: {"value", "ci"}} (each run's
    step cost ÷ the first's), rounds, steps, environment}."""
    names = list(configs)
    calls = {}
    for name in names:
        calls[name] = _variant(configs[name], Path(cache_dir), steps)
        log(f"step cost: built {name}")
    # warmup=1 compiles every batch shape of each call before any round is timed.
    samples = timing.interleaved(calls, rounds, warmup=1)
    ref = names[0]
    out = {"reference": ref, "rounds": rounds, "steps": steps, "environment": provenance.environment(),
           "variants": {n: {"step_s": float(np.median(s)) / steps, "samples_s": s} for n, s in samples.items()},
           "ratios": {n: stats.ratio({k: {"samples_s": v} for k, v in samples.items()}, n, ref)
                      for n in names[1:]}}
    host_memory.release_memory()
    return out
