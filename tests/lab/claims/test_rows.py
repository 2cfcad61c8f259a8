"""Claim rows (claims/rows.py) from synthetic run records: each claim's per-seed values and verdict,
convergence (a run its budget ended is no answer), step costs, tasks left at chance, the add-task
and task-family tables."""

import json

import numpy as np
import pytest

from flax_adapters_lab.claims import from_config_dict, plan, rows
from tests.lab.claims.common import ROOT, _costs, _records, get_config


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


def test_convergence_time_is_steps_to_best_times_the_side_by_side_step_cost():
    """Wall clock says seq_bn is slower (the machine was loaded while it trained); steps × cost says
    it is faster: the verdict reads the latter, the raw ratio stays in the detail."""
    cfg = from_config_dict(get_config("quick"))
    rec = {}
    for seed in cfg.seeds:
        for m, best, wall in (("full", 200, 100.0), ("seq_bn", 240, 300.0), ("lora", 300, 90.0),
                              ("double_seq_bn", 200, 80.0)):
            rec[plan.conv_name(cfg, "stsb", m, seed)] = {"score": 0.8, "summary": {
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
    rec[plan.conv_name(cfg, "stsb", "full", 1)]["summary"]["status"] = "completed"
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
