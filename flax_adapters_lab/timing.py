"""Timing discipline of the lab's benchmarks: compile measured apart from running (AOT
`lower().compile()`), every variant warmed up, the variants of one comparison interleaved within
each round in a fresh order so machine drift hits all alike, extra rounds until the ratios that
matter are resolved (`Resolution`), and XLA's static memory estimate of a compiled program.
Intervals and verdicts are stats.py's; the machine record is provenance.py's.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from typing import Callable

import jax

from flax_adapters_lab.stats import paired_ratio, rank_ratio_interval, ratio_interval


def compile_timed(jitted, *args, **kwargs):
    """(compiled executable, seconds spent tracing + lowering + compiling)."""
    start = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - start


AA = " (A/A)"  # suffix of a variant's A/A twin: the same call timed again in every round


@dataclasses.dataclass(frozen=True)
class Resolution:
    """Adaptive rounds: after the first `repeats` rounds of every variant, the variants of the ratios
    in `pairs` (numerator, denominator[, target]) that are not yet resolved — 95% interval wider than
    ± `halfwidth` of the value, and, where a target is given, still straddling it (a pair whose
    verdict is decided needs no finer interval) — get extra rounds among themselves only (a pair
    leaves the rounds once it resolves), until all resolve, or `max_repeats` rounds, or `budget_s`
    seconds of extra timing, whichever comes first."""

    pairs: tuple = ()
    halfwidth: float = 0.01
    max_repeats: int = 24
    budget_s: float = 120.0
    control_max_repeats: int | None = None  # the cap of pairs with a band (default max_repeats): see cap()

    def band(self, pair) -> tuple[float, float] | None:
        """(centre, tolerance) a pair's interval must lie inside to resolve (see `unresolved`):
        1 ± halfwidth for an A/A pair (x + AA, x), the pair's own (centre, tol) target for a pair
        that should equal something (merged LoRA vs bare: the same program); None otherwise."""
        num, den, *target = pair
        if num == den + AA:
            return 1.0, self.halfwidth
        return target[0] if target and isinstance(target[0], tuple) else None

    def cap(self, pair) -> int:
        """Rounds a pair may reach: a control (a pair with a band) may go on after the other pairs'
        cap — its rounds cost few calls — so a group can afford to resolve it inside its band."""
        control = self.band(pair) is not None and self.control_max_repeats is not None
        return self.control_max_repeats if control else self.max_repeats


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                progress: Callable[[str], None] | None = None, pause_s: float = 0.02,
                seed: int = 0, resolve: Resolution | None = None,
                setups: dict[str, Callable[[], None]] | None = None, spin: bool = False,
                previous: dict[str, list] | None = None) -> dict[str, list[float]]:
    """Runs each zero-argument callable `warmup` times, then `repeats` rounds of one call each
    (and extra rounds of some, as `resolve` asks); each call's result is blocked on. Returns the
    per-variant samples in seconds; sample r of every variant comes from round r, so ratios compare
    within rounds. The variants given extra rounds form a set that only shrinks, so any two
    variants' samples stay aligned over their common length (`paired_ratio` pairs that).

    Each round visits the variants in a fresh seeded order, so no variant always follows the same
    neighbour; each timed call starts after an untimed `pause_s`, so the worker threads of the
    previous call (OpenMP spin-waits in torch, Eigen's in XLA) go idle first. `setups[name]`, where
    given, runs untimed before each of that variant's calls (variants sharing one model select
    their adapter there). `spin`: busy-wait the pause instead of sleeping (the vCPU stays awake);
    `previous`, if given, receives for each sample the variant timed just before it in its round
    (None for a round's first): both for the A/A experiment (experiments/bench_aa.py)."""
    setups = setups or {}
    for name, fn in variants.items():
        for _ in range(warmup):
            if name in setups:
                setups[name]()
            jax.block_until_ready(fn())
    samples = {name: [] for name in variants}
    rng = random.Random(seed)

    def pause():
        if not spin:
            time.sleep(pause_s)
            return
        end = time.perf_counter() + pause_s
        while time.perf_counter() < end:
            pass

    def round_of(names):
        order = list(names)
        rng.shuffle(order)
        for i, name in enumerate(order):
            if name in setups:
                setups[name]()
            pause()
            t0 = time.perf_counter()
            jax.block_until_ready(variants[name]())
            samples[name].append(time.perf_counter() - t0)
            if previous is not None:
                previous.setdefault(name, []).append(order[i - 1] if i else None)
        if progress:
            progress(f"round {len(samples[order[0]])} done ({len(order)} variants)")

    for _ in range(repeats):
        round_of(variants)
    # Extra rounds: only the variants of still-unresolved pairs. The set only shrinks (a variant
    # leaves once every pair it is in has resolved, and never returns), so all variants of a round
    # share their earlier rounds too and any two variants stay aligned over their common prefix.
    active, start = set(variants), time.perf_counter()
    while resolve and time.perf_counter() - start < resolve.budget_s:
        # (all active variants have taken part in the same rounds: one length per pair)
        active = {n for pair in unresolved(samples, resolve)
                  if set(pair[:2]) <= active and len(samples[pair[0]]) < resolve.cap(pair) for n in pair[:2]}
        if not active:
            break
        round_of(sorted(active))
    return samples


def unresolved(samples: dict, resolve: Resolution) -> list[tuple]:
    """The pairs of `resolve` whose 95% interval is wider than ± halfwidth of their ratio (and, with
    a target, still straddles it); a pair with a band (an A/A pair: 1 ± halfwidth) is resolved only
    once its interval lies inside the band — not merely when it is that narrow around a value off
    the centre, nor when it lies wholly outside: both programs are the same, so an interval outside
    is the method's error or too few rounds (a training control read 0.976 [0.967, 0.985] after 13
    rounds and stopped), and more rounds are what tells them apart. A band pair's interval is the
    rank interval (`rank_ratio_interval`), not the percentile bootstrap: the rule stops at the first
    round whose interval is inside, and at 8–13 rounds the bootstrap of a median is too narrow to
    stop on (a control read 1.001 [0.993, 1.004] after 8 rounds: the rank interval of the same
    rounds is [0.980, 1.010]); the rank interval holds its 95% at any number of rounds."""
    out = []
    for pair in resolve.pairs:
        num, den, *target = pair
        if num in samples and den in samples and samples[num] and samples[den]:
            band = resolve.band(pair)
            if band is not None:  # only inside the band is resolved, by the rank interval
                centre, tol = band
                ci = rank_ratio_interval(samples[num], samples[den])
                wide = ci is None or not (centre - tol <= ci[0] and ci[1] <= centre + tol)
            else:
                value = paired_ratio(samples[num], samples[den])
                lo, hi = ratio_interval(samples[num], samples[den])
                wide = (hi - lo) / 2 > resolve.halfwidth * abs(value) and (not target or lo <= target[0] <= hi)
            if wide:
                out.append(pair)
    return out


def summary(samples: list[float]) -> dict:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "samples_s": samples}


@dataclasses.dataclass
class Variant:
    """One thing to time: `call()` runs it once (its result is blocked on); `meta` is what was
    learnt while building it (compile seconds, FLOPs, memory) and is reported beside the times."""

    call: Callable[[], object]
    meta: dict = dataclasses.field(default_factory=dict)
    setup: Callable[[], None] | None = None  # untimed, before every call (see `interleaved`)


def measure(variants: dict[str, Variant], repeats: int, warmup: int = 1,
            progress: Callable[[str], None] | None = None, *, twin: str | None = None,
            resolve: Resolution | None = None) -> dict[str, dict]:
    """Times `variants` interleaved; {name: meta + median/min/samples}. `twin`: a variant also
    timed a second time in every round under `twin + AA` — the A/A control, whose ratio to
    `twin` is the method's own error (1.00 if measurement added nothing)."""
    calls = {k: v.call for k, v in variants.items()}
    if twin is not None:
        calls[twin + AA] = variants[twin].call
        variants = dict(variants, **{twin + AA: variants[twin]})
    setups = {k: v.setup for k, v in variants.items() if v.setup is not None}
    samples = interleaved(calls, repeats, warmup, progress, resolve=resolve, setups=setups)
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
