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


def test_a_convergence_run_that_repeats_the_no_drop_run_is_read_from_it():
    """Converged suite: conv runs train with the suite's own early stopping, so seq_bn on a drop task
    (stsb, conll2003) would be the n0 run again: the rows read the n0 run and nothing trains twice.
    The quick suite's convergence runs have their own budget, so they stay runs of their own."""
    cfg = from_config_dict(get_config("converged"))
    names = [r.name for r in plan.runs(cfg)]
    assert len(names) == len(set(names)) == 51  # 55 before the four duplicates went
    assert "conv_stsb_seq_bn_s0" not in names and "conv_conll2003_seq_bn_s1" not in names
    assert plan.conv_name(cfg, "stsb", "seq_bn", 1) == "stsb_seq_bn_n0_s1"
    assert plan.conv_name(cfg, "stsb", "lora", 1) == "conv_stsb_lora_s1"  # another method: its own run
    assert plan.conv_name(cfg, "squad", "seq_bn", 0) == "conv_squad_seq_bn_s0"  # not a drop task
    assert plan.cost_groups(cfg)["conv_stsb"] == ("conv_stsb_full_s0", "stsb_seq_bn_n0_s0", "conv_stsb_lora_s0",
                                                  "conv_stsb_double_seq_bn_s0")
    assert all(set(names) >= set(group) for group in plan.cost_groups(cfg).values())
    quick = from_config_dict(get_config("quick"))
    assert "conv_stsb_seq_bn_s0" in {r.name for r in plan.runs(quick)}
