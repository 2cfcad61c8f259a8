"""The headline (reproduce/headline.py): its targets, verdicts read from intervals rather than point
values, and the MFU interval carrying the peak's spread as well as the steps'."""

import numpy as np
import pytest

from flax_adapters_lab.reproduce import headline


def test_headline_targets():
    assert headline.met("adapter_vs_full_train_speedup", 1.6) and not headline.met("adapter_vs_full_train_speedup", 1.4)
    assert headline.met("adapter_infer_overhead", 0.005) and not headline.met("adapter_infer_overhead", 0.02)
    assert headline.met("train_mfu", None) is None


def test_headline_verdicts_use_intervals_not_point_values():
    sections = {"methods": {"train": {"jax/seq_bn": {"speedup_vs_full": 1.52, "speedup_vs_full_ci": [1.40, 1.60]}},
                            "infer": {"jax/seq_bn": {"overhead_vs_bare": 0.02, "overhead_vs_bare_ci": [0.015, 0.03]}},
                            "aa": {"infer": {"value": 1.002, "ci": [0.996, 1.007], "samples_s": [1.0] * 20}}}}
    head = headline.build(sections, "cpu")
    assert head["met"]["adapter_vs_full_train_speedup"] is True          # the point estimate says met…
    assert head["verdicts"]["adapter_vs_full_train_speedup"] == "inconclusive"  # …its interval does not
    assert head["verdicts"]["adapter_infer_overhead"] == "missed"
    assert head["verdicts"]["aa_infer"] == "met"
    assert head["verdicts"]["aa_train"] is None and head["intervals"]["aa_train"] is None


def test_mfu_interval_covers_the_peaks_spread_as_well_as_the_steps():
    n, flops = 1024, 2.0e11
    times = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0]
    full = {"flops": flops, "median_s": 1.0, "samples_s": times}

    def sections(peak_gflops):
        samples = [2 * n ** 3 / g / 1e9 for g in peak_gflops]
        median = float(np.median(samples))
        return {"methods": {"train": {"jax/full": full}},
                "peak": {"jax": {"n": n, "median_s": median, "gflops": 2 * n ** 3 / median / 1e9, "samples_s": samples}}}

    steady, value = headline._mfu(sections([400.0] * 5)), 200.0 / 400.0
    spread = headline._mfu(sections([320.0, 360.0, 400.0, 420.0, 435.0]))
    assert steady[0] == pytest.approx(value) and spread[0] == pytest.approx(value)
    assert steady[1][0] <= value <= steady[1][1] and spread[1][0] <= value <= spread[1][1]
    assert spread[1][1] - spread[1][0] > 2 * (steady[1][1] - steady[1][0])  # the peak's spread widens it
