"""Side-by-side step costs (claims/step_cost.py) with each run's training call replaced by a call of
known cost on a fake clock: every run is timed in every round, step_s is the median call ÷ steps,
and each ratio is against the first run, with its interval."""

import pytest

from flax_adapters_lab import timing
from flax_adapters_lab.claims import step_cost


def test_measure_times_each_run_per_step_against_the_first(monkeypatch, tmp_path):
    now, calls = [0.0], []
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(timing.time, "sleep", lambda s: None)
    cost = {"full": 0.8, "seq_bn": 0.4, "lora": 0.6}  # seconds per call of `steps` steps

    def variant(cfg, cache_dir, steps):
        assert cache_dir == tmp_path and steps == 4

        def call():
            calls.append(cfg)
            now[0] += cost[cfg]
            return 0.0
        return call

    monkeypatch.setattr(step_cost, "_variant", variant)
    logged = []
    out = step_cost.measure({n: n for n in cost}, tmp_path, rounds=6, steps=4, log=logged.append)
    assert out["reference"] == "full" and (out["rounds"], out["steps"]) == (6, 4) and "cpu" in out["environment"]
    assert logged == [f"step cost: built {n}" for n in cost]
    assert all(calls.count(n) == 7 for n in cost)  # one warm-up call, then one per round
    for name, seconds in cost.items():
        assert out["variants"][name]["step_s"] == pytest.approx(seconds / 4)
        assert len(out["variants"][name]["samples_s"]) == 6
    assert set(out["ratios"]) == {"seq_bn", "lora"}
    for name in ("seq_bn", "lora"):
        r = out["ratios"][name]
        assert r["value"] == pytest.approx(cost[name] / cost["full"])
        assert r["ci"][0] <= r["value"] <= r["ci"][1]
