"""How many rounds an A/A control needs to land inside 1 ± 1% on this machine: the per-round ratios of
a quick-suite run's headline controls, centred on 1 (an unbiased control with the run's spread and
tails), resampled into simulated controls that stop as the suite's do — as soon as the 95%
interval of the median lies inside the band (timing.unresolved's rule: the rank interval; the
percentile bootstrap, its rule before, for comparison). Shifted by a bias, the same controls say how
often each rule would wrongly call a biased method's control "inside".
experiments/aa_rounds.py runs it on a results.json."""

from __future__ import annotations

import numpy as np

from flax_adapters_lab import stats

RULES = ("rank", "bootstrap")


def per_round_log_ratios(results: dict, kind: str) -> np.ndarray:
    """log(twin ÷ reference) per round of the methods section's `kind` ("train"/"infer") control."""
    m = results.get("sections", {}).get("methods", {})
    aa = (m.get("aa") or {}).get(kind)
    if not aa:
        raise ValueError(f"no methods-section A/A control ({kind}) in these results: run the suite with "
                         "the methods section (experiments/reproduce.py)")
    reference = aa.get("reference") or {"train": "jax/full", "infer": "jax/bare"}[kind]  # runs before it was recorded
    base = np.asarray(m[kind][reference]["samples_s"], float)
    twin = np.asarray(aa["samples_s"], float)
    n = min(len(base), len(twin))
    return np.log(twin[:n] / base[:n])


def rounds_to_inside(pool: np.ndarray, cap: int, rng: np.random.Generator, band: float = 0.01,
                     start: int = 3, resamples: int = 400, rule: str = "rank") -> int | None:
    """Rounds a simulated control (rounds drawn from `pool`, log ratios) took to get inside 1 ± band
    by `rule`'s interval ("rank": stats.rank_interval; "bootstrap": percentile bootstrap of
    the median); None if not by `cap`."""
    q = rng.choice(pool, cap)
    lo_band, hi_band = np.log(1 - band), np.log(1 + band)
    for n in range(start, cap + 1):
        if rule == "rank":
            ci = stats.rank_interval(q[:n])
            if ci is None:
                continue
            lo, hi = ci
        else:
            lo, hi = np.quantile(stats.bootstrap_medians(q[:n], resamples, rng), [0.025, 0.975])
        if lo >= lo_band and hi <= hi_band:
            return n
    return None


def run(results: dict, caps: list[int], trials: int, seed: int = 0, rules=RULES, biases=(0.0,)) -> dict:
    """Per control ("train", "infer"): the run's spread and, for each rule, bias (a true A/A ratio
    of 1 + bias) and cap, the share of `trials` simulated controls that got inside 1 ± 1% by then
    — for bias 0 the power to resolve, for a bias beyond the band the rate of false "inside"."""
    rng, out = np.random.default_rng(seed), {}
    for kind in ("train", "infer"):
        q = per_round_log_ratios(results, kind)
        pool = q - np.median(q)  # centred: what an unbiased control with this spread would do
        out[kind] = {"rounds_in_run": len(q), "value_in_run": float(np.exp(np.median(q))),
                     "robust_sd": float(1.4826 * np.median(np.abs(pool))), "sd": float(pool.std()), "rules": {}}
        for rule in rules:
            for bias in biases:
                stops = [rounds_to_inside(pool + np.log1p(bias), max(caps), rng, rule=rule) for _ in range(trials)]
                reached = np.array([s if s is not None else np.inf for s in stops])
                out[kind]["rules"][f"{rule} bias {bias:+.3f}"] = {
                    "rule": rule, "bias": bias, "share_inside_by": {str(c): float(np.mean(reached <= c)) for c in caps},
                    "median_rounds": float(np.median(reached))}
    return out
