"""The measurement rules of issue 21 on synthetic samples: the bootstrap interval of a paired ratio,
the met / missed / inconclusive verdict read from it, adaptive rounds that stop once a ratio
resolves, and the A/A twin that times the reference twice per round."""


import numpy as np
import pytest

from flax_adapters_lab import stats, timing
from flax_adapters_lab.reproduce import headline


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


@pytest.fixture
def fake_clock(monkeypatch):
    """fake_clock(seed) → variant(mean, spread): a callable whose call advances benchmark's clock by
    mean × (1 + spread × N(0, 1)) instead of taking time (no real waiting, no real pauses)."""
    now = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(timing.time, "sleep", lambda s: None)

    def make(seed):
        rng = np.random.default_rng(seed)

        def variant(mean, spread):
            def call():
                now[0] += mean * (1 + spread * rng.standard_normal())
                return 0
            return call
        return variant
    return make


def test_adaptive_rounds_stop_when_resolved_and_cap_at_max(fake_clock):
    variant = fake_clock(0)

    quiet = {"a": variant(1.0, 0.001), "b": variant(2.0, 0.001)}
    resolve = timing.Resolution((("b", "a"),), halfwidth=0.01, max_repeats=50, budget_s=1e9)
    s = timing.interleaved(quiet, repeats=3, warmup=0, resolve=resolve, pause_s=0)
    assert len(s["a"]) == 3  # already resolved after the first rounds: no more

    loud = {"a": variant(1.0, 0.2), "b": variant(2.0, 0.2), "c": variant(1.0, 0.2)}
    s = timing.interleaved(loud, repeats=3, warmup=0, resolve=resolve, pause_s=0)
    assert len(s["a"]) == len(s["b"]) == 50  # never resolves ±1%: stops at max_repeats
    assert len(s["c"]) == 3  # in no pair: only the common rounds, which stay aligned with a's and b's first 3
    assert stats.paired_ratio(s["c"], s["a"]) == stats.paired_ratio(s["c"], s["a"][:3])
    s = timing.interleaved(loud, repeats=3, warmup=0, pause_s=0,
                              resolve=timing.Resolution((("b", "a"),), 0.01, 50, budget_s=30.0))
    assert 3 < len(s["a"]) < 50  # the time budget ends it first


def test_a_resolved_pair_leaves_the_extra_rounds_while_others_go_on(fake_clock):
    variant = fake_clock(1)

    # (b, a) resolves after the fixed rounds; (d, c) never does; (e, a) never does, so a stays.
    v = {"a": variant(1.0, 0.001), "b": variant(2.0, 0.001), "c": variant(1.0, 0.2), "d": variant(1.0, 0.2),
         "e": variant(1.0, 0.2)}
    resolve = timing.Resolution((("b", "a"), ("d", "c"), ("e", "a")), halfwidth=0.01, max_repeats=30, budget_s=1e9)
    s = timing.interleaved(v, repeats=3, warmup=0, resolve=resolve, pause_s=0)
    assert len(s["b"]) == 3 and len(s["a"]) == len(s["c"]) == len(s["d"]) == len(s["e"]) == 30
    assert stats.paired_ratio(s["b"], s["a"]) == stats.paired_ratio(s["b"], s["a"][:3])  # aligned prefix


def test_measure_times_the_twin_in_every_round_under_its_own_name():
    calls = []
    variants = {"ref": timing.Variant(lambda: calls.append("ref") or 0, {"flops": 1}),
                "other": timing.Variant(lambda: calls.append("other") or 0)}
    res = timing.measure(variants, repeats=4, warmup=0, twin="ref")
    twin = "ref" + timing.AA
    assert set(res) == {"ref", "other", twin} and len(res[twin]["samples_s"]) == 4
    assert calls.count("ref") == 8 and calls.count("other") == 4
    assert res[twin]["flops"] == 1  # same program, same meta
    q = stats.ratio(res, twin, "ref")
    assert q["ci"][0] <= q["value"] <= q["ci"][1]


def test_interleaved_records_each_samples_predecessor_and_spins():
    previous = {}
    s = timing.interleaved({n: (lambda: 0) for n in "abc"}, repeats=5, warmup=0, pause_s=0.001, spin=True,
                              previous=previous)
    assert all(len(previous[n]) == len(s[n]) == 5 for n in "abc")
    for r in range(5):  # one variant opens each round; the others follow one of the round's variants
        before = [previous[n][r] for n in "abc"]
        assert before.count(None) == 1 and all(p != n for n, p in zip("abc", before))


def test_bench_aa_splits_jax_calls_after_torch_from_the_rest():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "experiments" / "bench_aa.py"
    spec = importlib.util.spec_from_file_location("bench_aa", path)
    bench_aa = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_aa)
    samples = {"reference": [1.0, 2.0, 2.0], "twin": [1.2, 2.0, 2.0], "torch_bare": [5.0, 5.0, 5.0]}
    previous = {"reference": ["torch_bare", None, "twin"], "twin": ["torch_bare", "reference", None],
                "torch_bare": [None, "twin", "reference"]}
    out = bench_aa.after_torch(samples, previous)
    assert out["after_torch"] == 1.1 and out["after_other"] == 2.0 and out["ratio"] == 1.1 / 2.0
    assert bench_aa.after_torch({"reference": [1.0]}, {"reference": [None]}) is None
    assert bench_aa.pause_of("spin:0.02") == (0.02, True) and bench_aa.pause_of("0") == (0.0, False)
    for bad in ("fast", "spin:", "-0.1"):
        with pytest.raises(ValueError, match=r"--pauses: .* is neither seconds ≥ 0 nor spin:<seconds>"):
            bench_aa.run(None, 1, ["0.02", bad])  # refused before any model is built


def test_a_decided_pair_and_a_control_resolve_by_their_own_rules(fake_clock):
    variant = fake_clock(2)

    v = {"a": variant(1.0, 0.05), "b": variant(2.0, 0.05)}
    decided = timing.Resolution((("b", "a", 1.5),), halfwidth=0.01, max_repeats=30, budget_s=1e9)
    assert len(timing.interleaved(v, repeats=3, warmup=0, resolve=decided, pause_s=0)["a"]) == 3
    undecided = timing.Resolution((("b", "a", 2.0),), halfwidth=0.01, max_repeats=30, budget_s=1e9)
    assert len(timing.interleaved(v, repeats=3, warmup=0, resolve=undecided, pause_s=0)["a"]) > 3
    # An A/A pair 1% off 1 with a ±1% interval is narrow enough for a ratio but straddles the band's
    # edge, so it keeps going; 3% off with a ±0.1% interval keeps going too, to its cap: only inside
    # the band resolves a control (an interval outside it is error or too few rounds).
    twin = "a" + timing.AA
    control = timing.Resolution(((twin, "a"),), halfwidth=0.01, max_repeats=30, budget_s=1e9)
    v = {"a": variant(1.0, 0.01), twin: variant(1.01, 0.01)}
    assert len(timing.interleaved(v, repeats=3, warmup=0, resolve=control, pause_s=0)["a"]) > 3
    v = {"a": variant(1.0, 0.0005), twin: variant(1.03, 0.0005)}
    assert len(timing.interleaved(v, repeats=3, warmup=0, resolve=control, pause_s=0)["a"]) == 30
    # inside at once: resolved as soon as a 95% rank interval exists (6 rounds), not after the 3 repeats
    v = {"a": variant(1.0, 0.0005), twin: variant(1.0, 0.0005)}
    assert len(timing.interleaved(v, repeats=3, warmup=0, resolve=control, pause_s=0)["a"]) == 6


def test_the_control_goes_on_alone_after_the_other_pairs_cap(fake_clock):
    variant = fake_clock(3)

    twin = "a" + timing.AA
    v = {"a": variant(1.0, 0.2), twin: variant(1.0, 0.2), "b": variant(2.0, 0.2)}
    resolve = timing.Resolution(((twin, "a"), ("b", "a")), halfwidth=0.01, max_repeats=6, budget_s=1e9,
                                   control_max_repeats=20)
    s = timing.interleaved(v, repeats=3, warmup=0, resolve=resolve, pause_s=0)
    assert len(s["b"]) == 6 and len(s["a"]) == len(s[twin]) == 20


def test_a_pair_with_a_band_resolves_only_inside_it(fake_clock):
    variant = fake_clock(4)

    band = (1.0, 0.01)
    far = {"a": variant(1.0, 0.002), "b": variant(1.2, 0.002)}  # 20% off: wholly outside, yet goes on to its cap
    r = timing.Resolution((("b", "a", band),), 0.01, max_repeats=5, budget_s=1e9, control_max_repeats=20)
    assert len(timing.interleaved(far, repeats=3, warmup=0, resolve=r, pause_s=0)["b"]) == 20
    near = {"a": variant(1.0, 0.05), "b": variant(1.0, 0.05)}  # the same program: goes on past max_repeats
    assert r.cap(("b", "a", band)) == 20 and r.cap(("b", "a")) == 5
    assert len(timing.interleaved(near, repeats=3, warmup=0, resolve=r, pause_s=0)["b"]) > 5


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


def test_aa_rounds_simulates_controls_with_a_runs_spread():
    from flax_adapters_lab.reproduce import control_rounds as aa_rounds

    rng = np.random.default_rng(0)

    def results(spread):
        ref = list(1 + spread * rng.standard_normal(60))
        twin = [r * (1 + spread * e) for r, e in zip(ref, rng.standard_normal(60))]
        infer = {"jax/bare": {"samples_s": ref}}
        return {"sections": {"methods": {"train": {"jax/seq_bn": {"samples_s": ref}}, "infer": infer,
                                         "aa": {"train": {"samples_s": twin, "reference": "jax/seq_bn"},
                                                "infer": {"samples_s": twin, "reference": "jax/bare"}}}}}

    quiet, noisy = aa_rounds.run(results(0.002), [10, 40], 20), aa_rounds.run(results(0.05), [10, 40], 20)
    for rule in ("rank", "bootstrap"):
        q = quiet["train"]["rules"][f"{rule} bias +0.000"]
        assert q["share_inside_by"] == {"10": 1.0, "40": 1.0} and q["median_rounds"] <= 10
        assert noisy["infer"]["rules"][f"{rule} bias +0.000"]["share_inside_by"]["40"] < 0.5
    assert noisy["infer"]["robust_sd"] > 0.03
    # the rank rule needs 6 rounds for any 95% interval; the bootstrap may stop on 3
    assert quiet["train"]["rules"]["rank bias +0.000"]["median_rounds"] >= 6
    # a control biased by 3% with a tight spread: both rules keep it out of 1 ± 1%
    biased = aa_rounds.run(results(0.002), [40], 10, biases=(0.03,))
    assert all(q["share_inside_by"]["40"] == 0.0 for q in biased["train"]["rules"].values())
    with pytest.raises(ValueError, match="no methods-section A/A control"):  # e.g. a claims.json by mistake
        aa_rounds.run({"suite": "quick", "claims": []}, [40], 1)


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


def test_a_band_pair_resolves_only_on_its_rank_interval():
    """8 rounds within ±0.5% of 1: the percentile bootstrap is inside 1 ± 1% but the rank interval
    is the rounds' whole range, here [0.985, 1.015]: not resolved; 5 rounds never resolve a band."""
    base = [1.0] * 8
    twin = [0.985, 0.998, 0.999, 1.0, 1.0, 1.001, 1.002, 1.015]
    res = timing.Resolution(pairs=(("a" + timing.AA, "a"),), halfwidth=0.01)
    lo, hi = stats.ratio_interval(twin, base)
    assert 0.99 <= lo and hi <= 1.01  # the bootstrap alone would stop here
    assert timing.unresolved({"a": base, "a" + timing.AA: twin}, res) == [res.pairs[0]]
    assert timing.unresolved({"a": base[:5], "a" + timing.AA: [1.0] * 5}, res) == [res.pairs[0]]
    assert timing.unresolved({"a": base * 2, "a" + timing.AA: [1.001] * 16}, res) == []
    q = stats.ratio({"a": {"samples_s": base}, "b": {"samples_s": twin}}, "b", "a", rank=True)
    assert q["ci"] == [0.985, 1.015] and q["interval"] == "rank"
    assert stats.ratio({"a": {"samples_s": base[:4]}, "b": {"samples_s": twin[:4]}}, "b", "a", rank=True)["ci"] is None

