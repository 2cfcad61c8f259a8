"""claims.md and the plots (claims/report.py) from a synthetic claims.json dict: the first line says
whether the verdicts are answers (every run early-stopped) or budget-limited, the claim rows and
verdict counts, the step-cost and saved-adapter tables, and both plots written."""

import json

from flax_adapters_lab.claims import from_config_dict, report, rows
from tests.lab.claims.common import get_config


def _run(kind, status, **extra):
    summary = {"status": status, "best_step": 10, "train_time_to_best_s": 5.0, "time_to_best_s": 6.0,
               "time_to_stop_s": 9.0, "step_time_median_s": 0.25}
    return dict({"kind": kind, "score": 0.8, "summary": summary, "task": "sst2", "method": "seq_bn", "seed": 0}, **extra)


def _out(cfg, runs):
    claims = rows.claim_rows(cfg, {})
    return {"environment": {"cpu": "test CPU", "cpu_count": 2, "jax": "0"}, "runs_finished": len(runs),
            "runs_planned": 61, "wall_clock_s": 120.0, "claims": claims, "drop_curves": json.loads(json.dumps(rows.drop_curves(cfg, {}))),  # as claims.json holds it
            "learnt_tasks": ["sst2"], "runs": runs,
            "step_costs": {"conv_sst2": {"reference": "r0", "rounds": 6, "steps": 4, "step_s": {"r0": 0.5, "r1": 0.25},
                                         "ratios": {"r1": {"value": 0.5, "ci": [0.45, 0.55]}}}},
            "adapters": {"a": {"dir": "adapters/a", "task": "sst2", "max_length": 64, "dev_score": 0.91234,
                               "selection_score": 0.9, "bytes": 2_500_000}}}


def test_headline_says_whether_the_verdicts_are_answers():
    converged = {"runs": {"a": _run("drop", "early_stopped"), "b": _run("drop", "early_stopped")}}
    assert report.headline(converged).startswith("All 2 runs were ended by early stopping (converged)")
    partial = dict(converged, runs_planned=55)  # converged so far, but most runs are still to come
    assert report.headline(partial).startswith("**Partial: 2 of 55 runs finished** (all ended by early stopping")
    limited = {"runs": {"a": _run("drop", "early_stopped"), "b": _run("drop", "completed")}}
    assert report.headline(limited).startswith("**Budget-limited: 1 of 2 finished runs were ended by their step budget")
    assert report.headline({"runs": {}}).startswith("**Budget-limited: 0 of 0")  # nothing finished: no answers


def test_machines_names_each_machine_its_runs_ran_on():
    cfg = from_config_dict(get_config("quick"))
    amd = {"cpu": "AMD EPYC", "cpu_count": 2, "jax": "0", "commit": "abc"}
    runs = {"a": _run("drop", "early_stopped"),  # recorded before runs kept their machine: the job's environment
            "b": _run("drop", "early_stopped", machine=amd), "c": _run("drop", "early_stopped", machine=amd)}
    line = report.machines(_out(cfg, runs))
    assert line.startswith("Runs ran on test CPU, 2 CPUs, jax 0: 1 run (commit None); AMD EPYC, 2 CPUs, jax 0: "
                           "2 runs (commit abc).") and "Raw wall clock mixes these machines" in line
    assert report.machines(_out(cfg, {})) == "Machine: test CPU, 2 CPUs, jax 0."


def test_markdown_tables_and_plots(tmp_path):
    cfg = from_config_dict(get_config("quick"))
    out = _out(cfg, {"conv_sst2_seq_bn_s0": _run("convergence", "early_stopped")})
    md = report.markdown(cfg, out, tmp_path)
    assert md.startswith("**Partial: 1 of 61 runs finished**") and "# Accuracy and convergence claims — suite `quick`" in md
    assert "Runs ran on test CPU, 2 CPUs, jax 0: 1 run (commit None)." in md and "2.0 min of run wall clock" in md
    assert md.count("\n| ") >= len(out["claims"]) and "**inconclusive**" in md
    n = len(out["claims"])
    assert f"Verdicts: 0 confirmed, 0 refuted, {n} inconclusive, 0 inconclusive (not converged)." in md
    assert "| conv_sst2 | r0 | 0.5000 | reference | 6 × 4 |" in md
    assert "| conv_sst2 | r1 | 0.2500 | 0.500 [0.450, 0.550] | 6 × 4 |" in md
    assert "| `adapters/a` | sst2 | 64 | 0.9123 | 0.9000 | 2.50 MB |" in md
    assert "| conv_sst2_seq_bn_s0 | 0.800 | 10 | 5 | 6 | 9 | 0.250 | early_stopped |" in md
    report.plots(cfg, out, tmp_path)
    for png in ("adapterdrop_kept.png", "convergence.png"):
        assert (tmp_path / png).stat().st_size > 1000, png
