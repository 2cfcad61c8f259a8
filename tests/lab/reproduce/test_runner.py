"""The reproduction job end to end (reproduce/runner.py) on the tiny suite (every section, PyTorch
baselines included when installed): report, plots, results and headline; its resume; and the
progress line's first ETA. (Its config: test_config.py; the headline: test_headline.py.)"""

import json
import re
import shutil

import pytest

from flax_adapters_lab.reproduce import headline, run_suite
from tests.lab.reproduce.common import tiny


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    lines = []
    head = run_suite(tiny(), workdir, log=lines.append)
    return workdir, head, lines


def test_tiny_suite_writes_report_plots_results_and_headline(tiny_run):
    workdir, head, lines = tiny_run
    for name in ("report.md", "results.json", "headline.json", "methods_train_speedup.png",
                 "adapterdrop_train.png", "parallel_inference.png"):
        assert (workdir / name).stat().st_size > 0, name
    saved = json.loads((workdir / "headline.json").read_text())
    assert set(headline.TARGETS) <= set(saved) and set(saved["workloads"]) == set(headline.TARGETS)
    for key in ("adapter_vs_full_train_speedup", "adapter_infer_overhead", "lora_merged_infer_overhead",
                "mixed8_relative_throughput", "train_mfu"):
        assert isinstance(saved[key], float) and saved[key] > -1, key
    report = (workdir / "report.md").read_text()
    for title in ("Headline", "1. Each method", "2. AdapterDrop", "3. Parallel", "4. AdapterFusion", "5. Mixed",
                  "6. JAX vs PyTorch", "7. Time to convergence", "8. Adding a task", "9. Storage",
                  "10. Achieved FLOP/s", "11. Peak memory", "Environment"):
        assert f"## {title}" in report, title
    assert any("ETA" in line for line in lines) and any("[1/" in line for line in lines)
    results = json.loads((workdir / "results.json").read_text())
    methods = results["sections"]["methods"]
    assert methods["train"]["jax/full"]["flops"] > methods["train"]["jax/seq_bn"]["flops"] > 0
    # repeats, then adaptive up to methods_max_repeats (the methods groups' cap; other groups: max_repeats)
    assert 2 <= len(methods["train"]["jax/seq_bn"]["samples_s"]) <= 4
    assert 2 <= len(results["sections"]["adapterdrop"]["train"]["jax/0"]["samples_s"]) <= 3
    # Issue 21: every timed group has its A/A control, every ratio its interval, every section its peak memory.
    for section, groups in (("methods", ("train", "infer")), ("fusion", ("train", "infer"))):
        for g in groups:
            aa = results["sections"][section]["aa"][g]
            assert len(aa["samples_s"]) >= 2 and aa["interval"] == "rank", (section, g)
            if len(aa["samples_s"]) < 6:  # the tiny config's few rounds: no 95% rank interval, so no verdict either way
                assert aa["ci"] is None, (section, g)
            else:
                assert aa["ci"][0] <= aa["value"] <= aa["ci"][1], (section, g)
    if methods["aa"]["train"]["ci"] is None:
        assert saved["verdicts"]["aa_train"] == "inconclusive" and "— (< 6 rounds)" in report
    assert results["sections"]["adapterdrop"]["aa"]["value"] > 0 and results["sections"]["mixed"]["aa"]["value"] > 0
    lo, hi = methods["train"]["jax/seq_bn"]["speedup_vs_full_ci"]
    assert lo <= methods["train"]["jax/seq_bn"]["speedup_vs_full"] <= hi
    assert all(r["peak_rss_bytes"] > 0 for r in results["sections"].values())
    groups = methods["memory_by_group"]
    # No training group holds two full-FT states (methods_train): JAX's full FT beside Pfeiffer, JAX's
    # other methods, PyTorch's methods, PyTorch's full FT; the last two only where PyTorch runs.
    torch_groups = {"train_torch", "train_torch_full"} if "torch/full" in methods["train"] else set()
    assert set(groups) == {"train", "train_jax", "infer"} | torch_groups
    assert all(g["built"] > 0 and g["peak"] >= g["built"] for g in groups.values())
    assert methods["peak_rss_bytes"] >= max(g["peak"] for g in groups.values())
    fusion = results["sections"]["fusion"]  # full FT and the fusions train in groups of their own
    assert set(fusion["memory_by_group"]) == {"train", "train_fusion", "train_fusion8", "infer"}
    lo, hi = fusion["train"]["fusion8"]["time_vs_full_ci"]
    assert lo <= fusion["train"]["fusion8"]["time_vs_full"] <= hi and "adapter" in fusion["train"]
    assert "| methods / train |" in report and "| methods / infer |" in report
    assert set(saved["verdicts"]) == set(headline.TARGETS) and "aa_infer" in saved["intervals"]
    for title in ("9b. Timing controls (A/A)", "9c. Peak resident memory per section"):
        assert f"## {title}" in report, title
    assert "AdapterHub's on disk MiB" in report


def test_pytorch_baselines_sit_beside_jax(tiny_run):
    pytest.importorskip("adapters")
    workdir, head, _ = tiny_run
    results = json.loads((workdir / "results.json").read_text())
    m = results["sections"]["methods"]
    assert not m["errors"], m["errors"]
    for name in ("torch/full", "torch/seq_bn", "torch/lora", "peft/lora"):
        assert m["train"][name]["median_s"] > 0, name
    for name in ("torch/bare", "torch/seq_bn", "torch/lora_merged", "peft/lora_merged"):
        assert m["infer"][name]["median_s"] > 0, name
    assert results["sections"]["parallel"]["tasks"]["8"]["torch/0"]["median_s"] > 0
    assert head["jax_vs_torch_train_speedup"] > 0 and head["jax_vs_torch_infer_speedup"] > 0
    # Training ratios chain through JAX's Pfeiffer step, timed in PyTorch's group too; each has an interval.
    assert head["jax_vs_torch_train_speedup"] == m["train"]["torch/seq_bn"]["over_jax"]
    for name in ("torch/full", "torch/lora", "peft/lora"):
        lo, hi = m["train"][name]["over_jax_ci"]
        assert lo <= m["train"][name]["over_jax"] <= hi, name
    assert "| methods / train_torch |" in (workdir / "report.md").read_text()


def test_rerun_resumes_after_finished_sections(tiny_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(tiny_run[0], workdir)
    # as if timed on another machine, over 600 s: a re-run that times nothing keeps both
    saved = json.loads((workdir / "results.json").read_text())
    saved["environment"]["cpu"], saved["elapsed_s"] = "the first run's CPU", 600.0
    (workdir / "results.json").write_text(json.dumps(saved))
    lines = []
    run_suite(tiny(), workdir, log=lines.append)
    assert not any("started" in line for line in lines), lines  # every section was already done
    again = json.loads((workdir / "results.json").read_text())
    assert again["environment"]["cpu"] == "the first run's CPU" and again["elapsed_s"] == 600.0
    assert "resumed_on" not in again and "Suite wall clock: 10.0 min" in (workdir / "report.md").read_text()
    # a run cut short after a section resumes with the rest: its time adds, its machine is listed
    del again["sections"]["mixed"]
    (workdir / "results.json").write_text(json.dumps(again))
    run_suite(tiny(), workdir, log=lines.append)
    last = json.loads((workdir / "results.json").read_text())
    assert last["elapsed_s"] > 600.0 and len(last["resumed_on"]) == 1 and "mixed" in last["sections"]


def test_tiny_suite_first_eta_is_about_its_real_length():
    from flax_adapters_lab.reproduce import runner

    lines = []
    progress = runner.Progress(["peak", "methods", "adapterdrop", "parallel", "mixed", "fusion", "storage",
                                "convergence"], lines.append, "tiny")
    progress.begin("peak")
    eta = float(re.search(r"ETA ([\d.]+) min", lines[-1]).group(1))
    assert 0.5 <= eta <= 2.0, lines[-1]  # the tiny suite takes ~1.1 min; quick's prior said 14.6
    quick = []
    runner.Progress(["peak", "methods"], quick.append, "quick").begin("peak")
    assert float(re.search(r"ETA ([\d.]+) min", quick[-1]).group(1)) == pytest.approx(7.2)
