"""The claims' verdict rule (claims/verdict.py) on synthetic numbers: confirmed / refuted / inconclusive
by the seeds' spread against the threshold, and a single run's band."""

import pytest

from flax_adapters_lab.claims import verdict


@pytest.mark.parametrize("values, direction, threshold, expected", [
    ([0.97, 0.99], ">=", 0.951, "confirmed"),
    ([0.93, 0.94], ">=", 0.951, "refuted"),
    ([0.94, 0.97], ">=", 0.951, "inconclusive"),     # the threshold inside the seeds' spread
    ([1.3, 1.1], ">", 1.0, "confirmed"),
    ([0.8, 1.2], ">", 1.0, "inconclusive"),
    ([0.7, 0.9], ">", 1.0, "refuted"),
    ([1.1, 1.4], "within", (2 / 3, 1.5), "confirmed"),
    ([1.6, 2.0], "within", (2 / 3, 1.5), "refuted"),
    ([0.99], ">=", 0.951, "inconclusive"),           # one seed and no band: never decided
    ([0.97, None], ">=", 0.951, "inconclusive"),     # an unfinished seed does not count
])
def test_verdict_rule(values, direction, threshold, expected):
    assert verdict.verdict(values, direction, threshold) == expected


def test_single_run_band():
    assert verdict.verdict([2.4], "<", 1.0, band=1.5, factor=True) == "refuted"     # 2.4 / 1.5 > 1
    assert verdict.verdict([1.2], "<", 1.0, band=1.5, factor=True) == "inconclusive"
    assert verdict.verdict([0.5], "<", 1.0, band=1.5, factor=True) == "confirmed"   # 0.5 * 1.5 < 1
    assert verdict.verdict([-0.001], ">=", -0.02, band=0.025) == "inconclusive"
    with pytest.raises(ValueError, match="direction"):
        verdict.verdict([1.0], "!=", 1.0)
