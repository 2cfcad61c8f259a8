"""What every timed section shares (reproduce/timing.py): ratios with their intervals put into a row
(minus an offset, none under too few rounds), the A/A control taken out of a group's results, each
group's adaptive-rounds rule from the config, a failing PyTorch baseline recorded without sinking
the section, and a timed group's memory record."""

import pytest

from flax_adapters_lab import timing
from flax_adapters_lab.reproduce import timing as group_timing
from flax_adapters_lab.reproduce import torch_side
from tests.lab.reproduce.common import tiny


def _results(n=8):
    ref = [1.0 + 0.01 * i for i in range(n)]
    return {"ref": {"samples_s": ref}, "ref" + timing.AA: {"samples_s": [r * 1.001 for r in ref]},
            "slow": {"samples_s": [2 * r for r in ref]}}


def test_put_ratio_minus_and_too_few_rounds():
    row = {}
    group_timing.put_ratio(row, "time", _results(), "slow", "ref")
    assert row["time"] == pytest.approx(2.0) and row["time_ci"][0] <= 2.0 <= row["time_ci"][1]
    group_timing.put_ratio(row, "overhead", _results(), "slow", "ref", minus=1.0, rank=True)
    assert row["overhead"] == pytest.approx(1.0) and row["overhead_ci"] == pytest.approx([1.0, 1.0])
    group_timing.put_ratio(row, "short", _results(4), "slow", "ref", rank=True)  # < 6 rounds: no rank interval
    assert row["short"] == pytest.approx(2.0) and row["short_ci"] is None
    group_timing.put_ratio(row, "none", _results(), "slow", "absent")
    assert row["none"] is None and row["none_ci"] is None


def test_aa_record_is_taken_out_of_the_results():
    res = _results()
    aa = group_timing.aa_record(res, "ref")
    assert "ref" + timing.AA not in res and set(res) == {"ref", "slow"}
    assert aa["reference"] == "ref" and aa["value"] == pytest.approx(1.001) and aa["interval"] == "rank"
    assert len(aa["samples_s"]) == 8 and aa["ci"][0] <= aa["value"] <= aa["ci"][1]
    assert group_timing.aa_record(_results(), "slow") is None  # no twin was timed


def test_resolution_and_targets_from_the_config():
    cfg = tiny()
    train = group_timing.resolution(cfg, [("a", "b")], "train")
    infer = group_timing.resolution(cfg, [("a", "b")], "infer")
    assert train.pairs == (("a", "b"),) and train.halfwidth == cfg.resolve_halfwidth
    assert (train.max_repeats, train.budget_s) == (cfg.max_repeats, cfg.train_budget_s)
    assert (infer.max_repeats, infer.budget_s) == (cfg.max_infer_repeats, cfg.infer_budget_s)
    head = group_timing.resolution(cfg, [("a", "b")], "train", headline=True)
    assert head.budget_s == cfg.methods_budget_s and head.control_max_repeats == cfg.methods_max_repeats
    assert group_timing.target("adapter_vs_full_train_speedup") == 1.5  # the headline's (reproduce/headline.py)
    assert group_timing.target("lora_merged_infer_overhead") == (0.0, 0.01)  # "≈": (centre, tolerance)


def test_a_failing_baseline_is_recorded_and_the_group_timed(monkeypatch):
    monkeypatch.setattr(torch_side, "unavailable", lambda: False)
    variants, errors = {}, {}

    def broken():
        raise RuntimeError("torch.compile is not supported here\nsecond line")
    group_timing.torch_variant(tiny(torch=True), variants, errors, "torch/x", broken)
    assert errors == {"torch/x": "RuntimeError: torch.compile is not supported here"} and not variants
    group_timing.torch_variant(tiny(torch=False), variants, errors, "torch/y", broken)  # torch off: not tried
    assert "torch/y" not in errors
    group_timing.torch_variant(tiny(torch=True), variants, errors, "torch/z", lambda: timing.Variant(lambda: 0))
    memory = {}
    res = group_timing.time_group(memory, "g", variants, 3, 0)
    assert set(res) == {"torch/z"} and len(res["torch/z"]["samples_s"]) == 3 and not variants  # emptied
    assert memory["g"]["built"] > 0 and memory["g"]["peak"] > 0
