"""Timing discipline shared by the benchmark binaries in experiments/.

Compile is measured apart from running (AOT `lower().compile()`), every variant is warmed up,
and the variants of one comparison are interleaved within each repeat so machine drift hits all
of them alike; summaries are medians, and ratios are taken between medians of the same run.
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from typing import Callable

import jax
import numpy as np


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


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator[r] / denominator[r]: both samples of a round were taken
    seconds apart, so slow drift of the machine cancels in each ratio before the median. Over the
    rounds both took part in (their common prefix: see `interleaved`)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def ratio_interval(numerator: list[float], denominator: list[float], level: float = 0.95,
                   resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of `paired_ratio`: rounds are resampled with replacement
    (a round is the unit that is independent: both of its samples share the machine's state)."""
    n = min(len(numerator), len(denominator))
    r = np.asarray(numerator[:n], float) / np.asarray(denominator[:n], float)
    return _bootstrap_median(r, level, resamples, seed)


def rank_interval(x, level: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free interval of the median: [x(k), x(n+1−k)] of the sorted sample, k the largest
    rank with P(Binomial(n, ½) < k) ≤ (1 − level)/2, so it covers the median with probability
    ≥ level whatever the distribution and however few the samples; None when no k exists (at 95%:
    fewer than 6 samples — then nothing short of more rounds gives a 95% interval)."""
    x = np.sort(np.asarray(x, float))
    n, tail, k, cdf = len(x), (1 - level) / 2, 0, 0.0
    while k < n // 2:
        # P(B = k), in logs: 2.0**n overflows a float past 1023 rounds
        p = math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2))
        if cdf + p > tail:
            break
        cdf, k = cdf + p, k + 1  # now P(B ≤ k − 1) ≤ tail: ranks k and n + 1 − k hold the level
    return None if k == 0 else (float(x[k - 1]), float(x[n - k]))


def rank_ratio_interval(numerator: list[float], denominator: list[float],
                        level: float = 0.95) -> tuple[float, float] | None:
    """`rank_interval` of the per-round ratios (over the rounds both took part in)."""
    n = min(len(numerator), len(denominator))
    return rank_interval(np.asarray(numerator[:n], float) / np.asarray(denominator[:n], float), level)


def median_interval(samples: list[float], level: float = 0.95, resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of one variant's median time."""
    return _bootstrap_median(np.asarray(samples, float), level, resamples, seed)


def bootstrap_medians(x, resamples: int = 2000, rng: int | np.random.Generator = 0) -> np.ndarray:
    """The medians of `resamples` resamples (with replacement) of `x`; `rng` a seed or a generator
    (one generator shared by several draws keeps a combined interval reproducible)."""
    x = np.asarray(x, float)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return np.median(x[rng.integers(0, len(x), (resamples, len(x)))], axis=1)


def _bootstrap_median(x: np.ndarray, level: float, resamples: int, seed: int) -> tuple[float, float]:
    if len(x) < 2:
        return float(x[0]), float(x[0])
    lo, hi = np.quantile(bootstrap_medians(x, resamples, seed), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def ratio(results: dict, numerator: str, denominator: str, rank: bool = False) -> dict | None:
    """{"value": paired ratio, "ci": [lo, hi]} of two variants of one `measure` (None if either is
    absent); `rank`: the interval is `rank_ratio_interval` (None with too few rounds), as for a
    ratio that should equal something (an A/A control, merged LoRA vs bare), else the bootstrap."""
    if numerator not in results or denominator not in results:
        return None
    num, den = results[numerator]["samples_s"], results[denominator]["samples_s"]
    if rank:
        ci = rank_ratio_interval(num, den)
        return {"value": paired_ratio(num, den), "ci": None if ci is None else list(ci), "interval": "rank"}
    return {"value": paired_ratio(num, den), "ci": list(ratio_interval(num, den))}


def chained_ratio(*links: tuple[list[float], list[float]], seed: int = 0) -> dict:
    """{"value", "ci"} of a product of paired ratios taken in different timed groups, each link
    (numerator samples, denominator samples) of one group: e.g. X ÷ A in one group times A ÷ Y in
    another gives X ÷ Y when X and Y never shared rounds (A timed in both). Each group's rounds are
    resampled on their own, so the interval carries both groups' spreads."""
    rng = np.random.default_rng(seed)
    value, draws = 1.0, np.ones(2000)
    for num, den in links:
        n = min(len(num), len(den))
        value *= paired_ratio(num[:n], den[:n])
        draws = draws * bootstrap_medians(np.asarray(num[:n], float) / np.asarray(den[:n], float), rng=rng)
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return {"value": value, "ci": [float(lo), float(hi)]}


def verdict(ci, target: float, sense: str, value=None) -> str | None:
    """`met`, `missed` or `inconclusive` by a 95% interval, never by the point estimate:
    sense "≥"/"≤" — the whole interval on the target's good/bad side; "≈" — the interval inside
    [target − tol, target + tol] (target given as (centre, tol)) is met, wholly outside is missed.
    A `value` measured on too few rounds for an interval (a rank interval needs 6) is inconclusive;
    None when nothing was measured."""
    if ci is None:
        return None if value is None else "inconclusive"
    lo, hi = ci
    if sense == "≈":
        centre, tol = target
        if centre - tol <= lo and hi <= centre + tol:
            return "met"
        return "missed" if hi < centre - tol or lo > centre + tol else "inconclusive"
    if sense == "≥":
        return "met" if lo >= target else "missed" if hi < target else "inconclusive"
    return "met" if hi <= target + 1e-12 else "missed" if lo > target else "inconclusive"


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


def code_commit(root: str | None = None) -> str | None:
    """The git commit of the checkout whose top level is `root` (default: the directory holding
    flax_adapters), with "+dirty" when its tracked files differ from it (a result is then not that
    commit's); None when `root` is not a checkout's top — e.g. an installed copy in site-packages
    inside some other repository, whose commit would say nothing about this code."""
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        run = lambda *a: subprocess.run(["git", "-C", root, *a], capture_output=True, text=True, timeout=10)  # noqa: E731
        head = run("rev-parse", "--show-toplevel", "--short=12", "HEAD")
        lines = head.stdout.splitlines()
        if head.returncode != 0 or len(lines) != 2 or os.path.realpath(lines[0]) != os.path.realpath(root):
            return None
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return lines[1] + ("+dirty" if dirty else "")


def environment() -> dict:
    """Device, versions and thread settings, recorded beside every result."""
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), cpu)
    env = {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
           "cpu_count": os.cpu_count(), "loadavg": os.getloadavg(), "jax": jax.__version__,
           "devices": [str(d) for d in jax.devices()], "device_kind": jax.devices()[0].device_kind,
           "xla_flags": os.environ.get("XLA_FLAGS", ""), "malloc": malloc_setting(), "commit": code_commit()}
    try:
        import torch

        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    except ImportError:
        env["torch"] = None
    return env


def resumable(workdir, config: dict) -> tuple[str, dict]:
    """(path of workdir/results.json, its results) for a suite's run: what an earlier run of the same
    config left there (a rerun resumes after its finished sections), else a fresh {config, sections}.
    An earlier run of another config is kept: its results.json moves to results.previous-N.json
    (and a warning says so) before the fresh run writes its own."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "results.json")
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    if results.get("config") != config:
        if results.get("sections"):
            n = 1
            while os.path.exists(kept := os.path.join(workdir, f"results.previous-{n}.json")):
                n += 1
            os.replace(path, kept)
            print(f"warning: {path} holds a run of another config; kept as {kept}", file=sys.stderr)
        results = {"config": config, "sections": {}}
    return path, results


def write_json(path: str | None, result: dict) -> None:
    """Writes a benchmark's result (creating folders); None writes nothing."""
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=2, default=str)


# glibc malloc settings of a timing process. XLA's CPU worker threads allocate each execution's
# temporary block (767 MiB for a BERT-base full-FT step at 8 × 64) from their own malloc arenas,
# where a block that large is always a fresh mmap: by default every call faults in ~196k zeroed 4 KiB
# pages (0.3 s of system time a step, 10-13% of the step) and unmaps them after.
#   hugepages  glibc maps such blocks with transparent huge pages (madvise(MADV_HUGEPAGE); the
#              kernel's THP mode must be madvise or always): ~650 faults a step and as fast as reuse
#              in a process of its own, but twice as slow in the quick suite, whose memory is
#              fragmented (the kernel compacts to find huge pages).
#   reuse      one arena, no mmap, no automatic trim: the block stays in the heap between calls
#              (no faults), but the heap keeps its high-water mark (peaks up to 0.5 GiB higher).
# glibc reads them at start-up only: a binary re-executes itself with one set (`reexec_with`).
# Measured: BUILD_NOTES, "Host memory".
MALLOC_SETTINGS = {
    "default": {},
    "hugepages": {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"},
    "reuse": {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2 ** 34)},
}
# What each setting does, in one line (a report's intro states the run's).
MALLOC_SUMMARY = {
    "default": "glibc's defaults (XLA's per-call temporaries faulted in 4 KiB pages)",
    "hugepages": "`hugepages` (XLA's per-call temporaries mapped with transparent huge pages)",
    "reuse": "`reuse` (XLA's per-call temporaries kept in the heap between calls)",
}
_MALLOC_KEYS = sorted({k for env in MALLOC_SETTINGS.values() for k in env})


def malloc_env(setting: str, environ: dict | None = None) -> dict:
    """`environ` (default os.environ) with `setting`'s variables set and the other settings' removed."""
    if setting not in MALLOC_SETTINGS:
        raise ValueError(f"malloc setting {setting!r}: choose one of {', '.join(MALLOC_SETTINGS)}")
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k not in _MALLOC_KEYS}
    return env | MALLOC_SETTINGS[setting]


def malloc_setting() -> str:
    """The MALLOC_SETTINGS entry this process started under ("default" when none of the others)."""
    here = {k: os.environ[k] for k in _MALLOC_KEYS if k in os.environ}
    return next((name for name, env in MALLOC_SETTINGS.items() if env and env == here), "default")


def reexec_with(setting: str) -> None:
    """Makes this process run under glibc malloc `setting` (a MALLOC_SETTINGS key): returns at once
    if it already does (or off Linux), else re-executes the same command line with the environment
    changed (flushing output first); never returns then."""
    env = malloc_env(setting)  # refuses an unknown name before anything else
    if setting == malloc_setting() or platform.system() != "Linux":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def release_memory() -> None:
    """Collects garbage and hands the C heap's free pages back to the OS (glibc's `malloc_trim`;
    a no-op elsewhere). Freed tensors stay in the allocator's pools otherwise and count as resident
    for the rest of the process, so a later section's peak would include an earlier one's (the
    quick suite's last section, which only reads files, peaked at 6.9 GiB without it, 2.0 with it).
    It also drops JAX's tracing and lowering caches, ~20 MB per BERT-base program compiled
    (executables already compiled, which variants hold, stay valid; a later `jit` call retraces):
    kept, they added up to ~1 GiB by the quick suite's fusion section."""
    jax.clear_caches()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Resets the process's peak resident set (Linux: writing 5 to /proc/self/clear_refs), so the
    next `peak_rss_bytes` is the peak since now; False where the kernel offers no reset."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_bytes() -> int | None:
    """Resident set size (VmRSS) of this process now; None off Linux."""
    return _status_kib("VmRSS:")


def peak_rss_bytes() -> int | None:
    """Peak resident set size (VmHWM) of this process since start or the last reset; None off Linux."""
    return _status_kib("VmHWM:")


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            line = next((l for l in f if l.startswith(field)), None)
    except OSError:
        return None
    return None if line is None else int(line.split()[1]) * 1024
