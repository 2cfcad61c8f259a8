"""The timing discipline (flax_adapters_lab/timing.py) on a fake clock: adaptive rounds that stop once a
ratio resolves (pairs, decided pairs, A/A controls and bands by their own rules), the A/A twin timed
in every round, each sample's predecessor recorded (which experiments/bench_aa.py splits on)."""

import numpy as np
import pytest

from flax_adapters_lab import stats, timing


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

    path = Path(__file__).resolve().parents[2] / "experiments" / "bench_aa.py"
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
