"""Timing discipline shared by the benchmark binaries in experiments/.

Compile is measured apart from running (AOT `lower().compile()`), every variant is warmed up,
and the variants of one comparison are interleaved within each repeat so machine drift hits all
of them alike; summaries are medians, and ratios are taken between medians of the same run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import random
import statistics
import time
from typing import Callable

import jax


def compile_timed(jitted, *args, **kwargs):
    """(compiled executable, seconds spent tracing + lowering + compiling)."""
    start = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - start


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                progress: Callable[[str], None] | None = None, pause_s: float = 0.02,
                seed: int = 0) -> dict[str, list[float]]:
    """Runs each zero-argument callable `warmup` times, then `repeats` rounds of one call each;
    each call's result is blocked on. Returns the per-variant samples in seconds, sample r of every
    variant coming from round r (so `paired_ratio` can compare within rounds).

    Each round visits the variants in a fresh seeded order, so no variant always follows the same
    neighbour; each timed call starts after an untimed `pause_s`, so the worker threads of the
    previous call (OpenMP spin-waits in torch, Eigen's in XLA) go idle first."""
    for name, fn in variants.items():
        for _ in range(warmup):
            jax.block_until_ready(fn())
    samples = {name: [] for name in variants}
    rng = random.Random(seed)
    for r in range(repeats):
        order = list(variants)
        rng.shuffle(order)
        for name in order:
            time.sleep(pause_s)
            start = time.perf_counter()
            jax.block_until_ready(variants[name]())
            samples[name].append(time.perf_counter() - start)
        if progress:
            progress(f"round {r + 1}/{repeats} done")
    return samples


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator[r] / denominator[r]: both samples of a round were taken
    seconds apart, so slow drift of the machine cancels in each ratio before the median."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def summary(samples: list[float]) -> dict:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "samples_s": samples}


@dataclasses.dataclass
class Variant:
    """One thing to time: `call()` runs it once (its result is blocked on); `meta` is what was
    learnt while building it (compile seconds, FLOPs, memory) and is reported beside the times."""

    call: Callable[[], object]
    meta: dict = dataclasses.field(default_factory=dict)


def measure(variants: dict[str, Variant], repeats: int, warmup: int = 1,
            progress: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Times `variants` interleaved; {name: meta + median/min/samples}."""
    samples = interleaved({k: v.call for k, v in variants.items()}, repeats, warmup, progress)
    return {k: dict(variants[k].meta, **summary(s)) for k, s in samples.items()}


def memory_bytes(compiled) -> int | None:
    """XLA's static peak estimate of a compiled program: arguments + outputs + temporaries, minus
    outputs aliased onto donated arguments. None when the backend reports no analysis."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # some backends raise instead of returning None
        return None
    if m is None:
        return None
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def environment() -> dict:
    """Device, versions and thread settings, recorded beside every result."""
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), cpu)
    env = {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
           "cpu_count": os.cpu_count(), "loadavg": os.getloadavg(), "jax": jax.__version__,
           "devices": [str(d) for d in jax.devices()], "device_kind": jax.devices()[0].device_kind,
           "xla_flags": os.environ.get("XLA_FLAGS", "")}
    try:
        import torch

        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    except ImportError:
        env["torch"] = None
    return env


def write_json(path: str | None, result: dict) -> None:
    """Writes a benchmark's result (creating folders); None writes nothing."""
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=2, default=str)
