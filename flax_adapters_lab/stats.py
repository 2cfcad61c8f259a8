"""Statistics of timed rounds: paired ratios (per-round ratios, then their median), percentile
bootstrap and distribution-free rank intervals of medians, ratios chained across timed groups, and
the met / missed / inconclusive verdict of an interval against a target.
"""

from __future__ import annotations

import math
import statistics

import numpy as np


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
