"""The claims job's plan (claims/plan.py): which runs a suite trains (the multi-task runs over the chosen
drop tasks, three n per task in the quick suite, the whole curve scored) and the step-cost groups."""

import numpy as np

from flax_adapters_lab.claims import from_config_dict, plan, rows
from tests.lab.claims.common import STOPPED, _costs, _records, get_config


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
