"""The reproduction job end to end on the tiny suite (every section, PyTorch baselines included when
installed), its resume, the headline's targets, and bad configs refused with the culprit named."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flax_adapters_lab.reproduce import from_config_dict, headline, run_suite
from tests.training.test_config import load_config

ROOT = Path(__file__).resolve().parents[3]


def tiny(**changes):
    c = load_config("reproduce", "tiny")
    for k, v in changes.items():
        c[k] = v
    return from_config_dict(c)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    lines = []
    head = run_suite(tiny(), workdir, log=lines.append)
    return workdir, head, lines


def test_every_suite_config_builds():
    for suite in ("quick", "paper", "tiny"):
        cfg = from_config_dict(load_config("reproduce", suite))
        assert cfg.suite == suite
    quick = from_config_dict(load_config("reproduce", "quick"))
    assert quick.shape == "bert-base" and set(quick.sections) >= {"methods", "adapterdrop", "parallel", "mixed", "fusion"}


@pytest.mark.parametrize("key,value,message", [
    ("sections", ("methods", "speed"), r"unknown section\(s\) \['speed'\]; choose from"),
    ("methods", ("seq_bn", "adapterx"), r"unknown method\(s\) \['adapterx'\]; registered"),
    ("shape", "bert-huge", r"unknown model shape\(s\) \['bert-huge'\]"),
    ("drops", (0, 2), r"drops: \[2\] outside \[0, 2\) for the 2-layer tiny"),
    ("torch_compile", ("infer:everything",), r"torch_compile: unknown target\(s\)"),
    ("fusion_keep", 9, r"fusion_keep 9 must be in \[1, 8\]"),
    ("methods_budget_s", -5.0, r"methods_budget_s -5.0 must be ≥ 0"),
    ("methods", (), r"methods: empty; the methods section times at least one"),
])
def test_bad_config_names_the_culprit(key, value, message):
    with pytest.raises(ValueError, match=message):
        tiny(**{key: value})


def test_unknown_key_and_suite_are_refused():
    c = load_config("reproduce", "tiny")
    c.unlock() if hasattr(c, "unlock") else None
    c["reps"] = 3
    with pytest.raises(ValueError, match=r"unknown key\(s\) config.reps"):
        from_config_dict(c)
    with pytest.raises(ValueError, match=r"unknown suite 'fast'; choose one of"):
        load_config("reproduce", "fast")


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


def test_convergence_section_reads_training_runs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"task": "sst2", "tasks": ["sst2"], "best": {"score": 0.9},
                                                  "best_step": 10, "time_to_best_s": 5.0, "status": "completed",
                                                  "main_metric": "accuracy", "trainable_params": 12}))
    (run / "config.json").write_text(json.dumps({"method": {"name": "seq_bn", "drop": "static", "drop_n": 5},
                                                 "model": {"name_or_path": "m"}}))
    head = run_suite(tiny(sections=("convergence",), convergence_runs=(str(run),)), tmp_path / "out", log=lambda s: None)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| seq_bn + static drop 5 | sst2 | m | 0.9000 | 10 | 5 |" in report
    assert head["adapter_vs_full_train_speedup"] is None and head["met"]["train_mfu"] is None
    with pytest.raises(FileNotFoundError, match="has no summary.json"):
        run_suite(tiny(sections=("convergence",), convergence_runs=(str(tmp_path),)), tmp_path / "o2", log=print)


def test_headline_targets():
    assert headline.met("adapter_vs_full_train_speedup", 1.6) and not headline.met("adapter_vs_full_train_speedup", 1.4)
    assert headline.met("adapter_infer_overhead", 0.005) and not headline.met("adapter_infer_overhead", 0.02)
    assert headline.met("train_mfu", None) is None


def test_binary_refuses_a_bad_override(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "reproduce.py"),
                          f"--config={ROOT / 'configs' / 'reproduce.py'}:tiny", "--config.sections=methods,speed",
                          f"--workdir={tmp_path}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode != 0
    assert "unknown section(s) ['speed']" in out.stderr.strip().splitlines()[-1]


def test_a_run_of_another_config_is_kept_not_overwritten(tmp_path):
    from flax_adapters_lab import provenance

    earlier = {"config": {"suite": "quick"}, "sections": {"peak": {"jax": {"gflops": 300.0}}}}
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    path, results = provenance.resumable(tmp_path, {"suite": "tiny"})
    assert results == {"config": {"suite": "tiny"}, "sections": {}} and not Path(path).exists()
    assert json.loads((tmp_path / "results.previous-1.json").read_text()) == earlier
    (tmp_path / "results.json").write_text(json.dumps(earlier))  # and again: a second copy, not a clobber
    provenance.resumable(tmp_path, {"suite": "tiny"})
    assert (tmp_path / "results.previous-2.json").exists()
    _, same = provenance.resumable(tmp_path, {"suite": "tiny"})  # nothing to keep: no sections yet
    assert same["sections"] == {} and not (tmp_path / "results.previous-3.json").exists()
