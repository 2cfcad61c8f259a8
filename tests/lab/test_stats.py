"""The statistics of timed rounds (flax_adapters_lab/stats.py) on synthetic samples: the bootstrap interval
of a paired ratio, chained ratios, the rank interval's coverage, and the met / missed / inconclusive
verdict read from an interval."""

import numpy as np
import pytest

from flax_adapters_lab import stats


def noisy(value: float, spread: float, n: int, seed: int) -> list[float]:
    return list(value * (1 + spread * np.random.default_rng(seed).standard_normal(n)))


def test_interval_brackets_the_true_ratio_and_narrows_with_rounds():
    den = noisy(1.0, 0.01, 200, 0)
    num = [d * r for d, r in zip(den, noisy(1.2, 0.02, 200, 1))]
    lo, hi = stats.ratio_interval(num, den)
    assert lo < 1.2 < hi and lo < stats.paired_ratio(num, den) < hi
    lo8, hi8 = stats.ratio_interval(num[:8], den[:8])
    assert hi8 - lo8 > hi - lo  # fewer rounds, wider interval


def test_chained_ratio_joins_two_groups_and_carries_both_spreads():
    a1 = noisy(1.0, 0.01, 60, 2)  # the anchor in group 1, X beside it at 1.5×
    x = [a * r for a, r in zip(a1, noisy(1.5, 0.02, 60, 3))]
    y = noisy(2.0, 0.01, 40, 4)  # group 2: the anchor at 0.5× of Y
    a2 = [b * r for b, r in zip(y, noisy(0.5, 0.02, 40, 5))]
    q = stats.chained_ratio((x, a1), (a2, y))
    assert q["value"] == pytest.approx(stats.paired_ratio(x, a1) * stats.paired_ratio(a2, y))
    lo, hi = q["ci"]
    assert lo < 0.75 < hi and lo < q["value"] < hi
    first = stats.ratio_interval(x, a1)
    assert hi / lo > first[1] / first[0]  # wider than either link alone
    # One link is the plain paired ratio, interval and all.
    assert stats.chained_ratio((x, a1)) == {"value": stats.paired_ratio(x, a1), "ci": list(first)}


def test_interval_of_identical_samples_is_a_point_and_a_single_round_is_its_value():
    assert stats.ratio_interval([2.0] * 5, [1.0] * 5) == (2.0, 2.0)
    assert stats.ratio_interval([3.0], [1.5]) == (2.0, 2.0)


@pytest.mark.parametrize("ci, target, sense, expected", [
    ((1.55, 1.70), 1.5, "≥", "met"),
    ((1.20, 1.45), 1.5, "≥", "missed"),
    ((1.45, 1.55), 1.5, "≥", "inconclusive"),       # the point estimate alone could read either way
    ((0.00, 0.008), 0.01, "≤", "met"),
    ((0.02, 0.05), 0.01, "≤", "missed"),
    ((0.005, 0.02), 0.01, "≤", "inconclusive"),
    ((0.995, 1.004), (1.0, 0.01), "≈", "met"),
    ((1.03, 1.08), (1.0, 0.01), "≈", "missed"),
    ((0.95, 0.98), (1.0, 0.01), "≈", "missed"),
    ((0.98, 1.005), (1.0, 0.01), "≈", "inconclusive"),
])
def test_verdict_is_read_from_the_interval(ci, target, sense, expected):
    assert stats.verdict(ci, target, sense) == expected
    assert stats.verdict(None, target, sense) is None                     # nothing measured
    assert stats.verdict(None, target, sense, value=1.0) == "inconclusive"  # too few rounds


def test_rank_interval_covers_the_median_at_any_size():
    """Distribution-free: the rank interval's coverage of the true median holds at 95% on 6 and on
    200 rounds of a heavy-tailed sample (Cauchy), where the percentile bootstrap of 8 falls short."""
    assert stats.rank_interval([1.0] * 5) is None  # no 95% interval from 5 rounds
    assert stats.rank_interval(list(range(6))) == (0.0, 5.0)
    assert stats.rank_interval(list(range(100))) == (39.0, 60.0)  # ranks 40 and 61 of 100
    lo, hi = stats.rank_interval(list(range(5000)))  # no float overflow past 1023 rounds
    assert 2400 < lo < 2500 < hi < 2600
    rng = np.random.default_rng(1)
    for n in (6, 8, 30, 200):
        hits = [lo <= 0.0 <= hi for lo, hi in (stats.rank_interval(rng.standard_cauchy(n)) for _ in range(2000))]
        assert np.mean(hits) >= 0.94, n
    boot = [stats._bootstrap_median(rng.standard_cauchy(8), 0.95, 400, s) for s in range(400)]
    assert np.mean([lo <= 0.0 <= hi for lo, hi in boot]) < 0.93
