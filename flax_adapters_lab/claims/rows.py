"""The claim rows: from the finished runs' records to one row per accuracy/convergence claim of
the papers (docs/papers.md), each with the paper's number, ours per seed, the rule and the verdict.

A record (runner.py writes one per run) holds the run's best dev score (`score`, the task's main
metric), its summary (times, steps, status), and for some runs scores at several AdapterDrop n
(`scores_at`) or of the pruned fusion (`pruned`). Ratios are formed per seed (seed s of a variant
against seed s of its reference), then judged by verdict.verdict over the seeds.

Convergence decides whether a verdict is an answer: a run converged when early stopping ended it,
not its step budget. A row lists, per seed, whether every run it rests on converged (the reference
and the variant of an accuracy claim, every run of a convergence claim); if one did not, the row is
`inconclusive (not converged)` whatever its numbers say (those are kept as `verdict_at_budget`).

Convergence time is judged on steps to the best evaluation × each method's per-step cost timed side
by side (step_cost.py), which background load cannot move; the runs' raw wall clock is shown beside.
"""

from __future__ import annotations

import numpy as np

from flax_adapters_lab.claims import plan, verdict
from flax_adapters_lab.claims.config import ClaimsConfig

# Single measurements (the add-a-task table): a time ratio is decided only beyond this factor —
# the largest round-to-round spread measured on these machines (BUILD_NOTES) — and a score
# difference beyond one standard error of a ~400-example dev accuracy.
TIME_FACTOR_BAND = 1.5
SCORE_BAND = 0.025
TIME = "train_time_to_best_s"   # training steps' wall clock up to the best evaluation (summary.json)


NOT_CONVERGED = verdict.INCONCLUSIVE + " (not converged)"


def converged(r: dict | None) -> bool | None:
    """Whether a finished run (a record, or a families runs.json row) was ended by early stopping;
    None when it has not finished."""
    if not r:
        return None
    return (r.get("summary") or r).get("status") == "early_stopped"


def _converged_by_seed(cfg, rec, *name_ofs) -> list[bool | None]:
    """Per seed: every named run converged (None while one has not finished)."""
    out = []
    for s in cfg.seeds:
        states = [converged(rec.get(f(s))) for f in name_ofs]
        out.append(None if None in states else all(states))
    return out


def _row(rid, source, claim, paper, values, direction, threshold, unit="ratio", detail="", converged=None,
         **band) -> dict:
    """One claim row. `converged`: per value, whether the runs behind it all converged (None: not
    known); a value resting on a run the budget ended makes the row `inconclusive (not converged)`."""
    values = [None if v is None else float(v) for v in values]
    known = [v for v in values if v is not None]
    conv = list(converged) if converged is not None else [None] * len(values)
    at_budget = verdict.verdict(known, direction, threshold, **band)
    answer = all(c is True for v, c in zip(values, conv) if v is not None)
    return {"id": rid, "source": source, "claim": claim, "paper": paper, "unit": unit,
            "per_seed": values, "ours": float(np.mean(known)) if known else None,
            "spread": [min(known), max(known)] if known else None, "converged": conv,
            "rule": verdict.describe(direction, threshold, **band),
            "verdict": at_budget if answer or not known else NOT_CONVERGED, "verdict_at_budget": at_budget,
            "detail": detail}


# A ratio to a task that was not learnt (its no-drop adapter at chance) says nothing: such a task
# leaves the averages, and the rows name it. Chance: Matthews / Pearson 0, accuracy / F1 of a
# constant prediction well below these floors, entity F1 0 (every token tagged O).
LEARNT_FLOOR = {"matthews": 0.1, "pearson": 0.1, "accuracy": 0.6, "f1": 0.6, "entity_f1": 0.1}


def learnt_tasks(cfg: ClaimsConfig, rec: dict) -> tuple[list[str], list[str]]:
    """(drop tasks whose no-drop adapter cleared LEARNT_FLOOR in every finished seed, the others)."""
    from flax_adapters.data import get_task

    learnt, not_learnt = [], []
    for task in cfg.drop_tasks:
        floor = LEARNT_FLOOR.get(get_task(task).main_metric, 0.0)
        scores = [rec.get(plan.drop_name(cfg, task, 0, s), {}).get("score") for s in cfg.seeds]
        ok = all(v is None or v > floor for v in scores)
        (learnt if ok else not_learnt).append(task)
    return learnt, not_learnt


def task_curves(cfg: ClaimsConfig, rec: dict, task: str) -> dict:
    """{'specialised' | 'robust' | 'removed': {n: [per-seed score ÷ the same seed's no-drop score]}}
    of one drop task over plan.grid (None where a run has not finished or is not planned)."""
    curves = {"specialised": {}, "robust": {}, "removed": {}}
    for n in plan.grid(cfg):
        for kind in curves:
            per_seed = []
            for seed in cfg.seeds:
                ref = rec.get(plan.drop_name(cfg, task, 0, seed), {}).get("score")
                if kind == "specialised":
                    value = rec.get(plan.drop_name(cfg, task, n, seed), {}).get("score")
                else:
                    name = (f"{task}_{cfg.drop_method}_robust_s{seed}" if kind == "robust"
                            else plan.drop_name(cfg, task, 0, seed))
                    value = rec.get(name, {}).get("scores_at", {}).get(str(n))
                per_seed.append(None if value is None or not ref else value / ref)
            curves[kind][n] = per_seed
    return curves


def drop_curves(cfg: ClaimsConfig, rec: dict) -> dict:
    """task_curves averaged over the learnt drop tasks, per seed (None until every task has it)."""
    per_task = [task_curves(cfg, rec, t) for t in learnt_tasks(cfg, rec)[0]]

    def mean(vals):
        return None if not vals or any(v is None for v in vals) else float(np.mean(vals))

    return {kind: {n: [mean([c[kind][n][i] for c in per_task]) for i in range(len(cfg.seeds))]
                   for n in plan.grid(cfg)}
            for kind in ("specialised", "robust", "removed")}


def _by_seed(cfg, rec, name_of, field="score"):
    """Per seed: the run's `field` (its record's, else its summary's); None where not finished."""
    out = []
    for s in cfg.seeds:
        r = rec.get(name_of(s), {})
        out.append(r[field] if field in r else r.get("summary", {}).get(field))
    return out


def _div(a, b):
    return [None if x is None or y in (None, 0) else x / y for x, y in zip(a, b)]


def claim_rows(cfg: ClaimsConfig, rec: dict, add_task: dict | None = None,
               families: list[dict] | None = None, costs: dict | None = None) -> list[dict]:
    """Every claim row; `costs`: {cost group: step_cost.measure result} (plan.cost_groups)."""
    costs = costs or {}
    rows, L, k = [], cfg.num_layers, cfg.paper_n
    learnt, not_learnt = learnt_tasks(cfg, rec)
    tasks = ", ".join(learnt)
    curves = drop_curves(cfg, rec)
    mapping = (f"n = {k} of {L} is paper 1's 5 of 12" if 5 * L % 12 == 0 else
               f"n = {k}–{k + 1} of {L} layers bracket paper 1's 5 of 12 (5/12 × {L} = {5 * L / 12:g})") + (
        f"; {', '.join(not_learnt)} left out: no-drop adapter at chance (LEARNT_FLOOR)" if not_learnt else "")
    ref = [lambda s, t=t: plan.drop_name(cfg, t, 0, s) for t in learnt]  # the no-drop adapters
    for n in sorted({k, min(k + 1, L - 1)} & set(cfg.drops)):
        variant = [lambda s, t=t: plan.drop_name(cfg, t, n, s) for t in learnt]
        rows.append(_row(f"specialised_n{n}", "AdapterDrop §5", f"specialised AdapterDrop, adapters absent from the "
                         f"first {n} of {L} layers, keeps ≥ 97.1% − 2 pts of the no-drop score ({tasks})",
                         "97.1% (5 of 12 layers, 8 GLUE tasks)", curves["specialised"][n], ">=", 0.951,
                         detail=mapping, converged=_converged_by_seed(cfg, rec, *ref, *variant)))
    robust = [lambda s, t=t: f"{t}_{cfg.drop_method}_robust_s{s}" for t in learnt]
    rows.append(_row(f"robust_n{k}", "AdapterDrop §5", f"robust AdapterDrop (n drawn from {list(cfg.robust_choices)} "
                     f"per batch), served at n = {k}, keeps ≥ 95.4% − 2 pts of the no-drop score", "95.4%",
                     curves["robust"][k], ">=", 0.934, detail=mapping,
                     converged=_converged_by_seed(cfg, rec, *ref, *robust)))
    if 1 in plan.grid(cfg):
        rows.append(_row("removed_n1", "AdapterDrop §5", "an adapter trained without drop keeps ≥ 95% with its "
                         "layer-0 adapter removed at test time", "fine for 1 layer", curves["removed"][1], ">=", 0.95,
                         converged=_converged_by_seed(cfg, rec, *ref)))
    if 2 in plan.grid(cfg):
        rows.append(_row("removed_n2", "AdapterDrop §5", "…and degrades (< 95% kept) once 2 layers' adapters are "
                         "removed", "degrades quickly past 1 layer", curves["removed"][2], "<", 0.95,
                         converged=_converged_by_seed(cfg, rec, *ref)))
    if cfg.fusion_targets:
        full = {t: _by_seed(cfg, rec, lambda s, t=t: f"{t}_fusion_full_s{s}") for t in cfg.fusion_targets}
        pruned = {t: [rec.get(f"{t}_fusion_full_s{s}", {}).get("pruned", {}).get("score") for s in cfg.seeds]
                  for t in cfg.fusion_targets}
        per_target = [_div(pruned[t], full[t]) for t in cfg.fusion_targets]
        mean_ratio = [None if any(r[i] is None for r in per_target) else float(np.mean([r[i] for r in per_target]))
                      for i in range(len(cfg.seeds))]
        n_src = len(cfg.fusion_sources)
        fused = [lambda s, t=t: f"{t}_fusion_full_s{s}" for t in cfg.fusion_targets]
        rows.append(_row("fusion_pruned", "AdapterDrop §6", f"AdapterFusion pruned to the top {cfg.fusion_keep} of "
                         f"{n_src} adapters per layer keeps ≥ 98% of the full fusion's score "
                         f"({', '.join(cfg.fusion_targets)})", f"≈ full accuracy (top 2 of 8)", mean_ratio, ">=", 0.98,
                         converged=_converged_by_seed(cfg, rec, *fused)))
        for target in cfg.fusion_targets:
            # Paper 1: dropping fusion from the lowest layers is fine for RTE and hurts CoLA; for
            # another target the row tests "fine".
            hurts = target == "cola"
            dropped = _by_seed(cfg, rec, lambda s, t=target: f"{t}_fusion_drop{cfg.fusion_drop_n}_s{s}")
            rows.append(_row(f"fusion_drop_{target}", "AdapterDrop §6", f"fusion absent from the first "
                             f"{cfg.fusion_drop_n} of {L} layers on {target.upper()} "
                             + ("hurts (< 98% kept)" if hurts else "is fine (≥ 98% kept)"),
                             "fine for RTE, hurts CoLA (5 of 12)", _div(dropped, full[target]),
                             "<" if hurts else ">=", 0.98, converged=_converged_by_seed(
                                 cfg, rec, lambda s, t=target: f"{t}_fusion_full_s{s}",
                                 lambda s, t=target: f"{t}_fusion_drop{cfg.fusion_drop_n}_s{s}")))
    for task in cfg.conv:
        rows += _convergence_rows(cfg, rec, task, costs.get(f"conv_{task}"))
    if cfg.multitask:
        rows += _multitask_rows(cfg, rec, costs.get("multitask"))
    if add_task:
        rows += _add_task_rows(add_task)
    if families:
        rows += _families_rows(families)
    return rows


def _cost_ratio(costs: dict | None, name: str) -> dict | None:
    """{"value", "ci"}: run `name`'s step cost ÷ its group's reference's, timed side by side."""
    if costs is None:
        return None
    if name == costs["reference"]:
        return {"value": 1.0, "ci": [1.0, 1.0]}
    return costs["ratios"].get(name)


def _fmt_ratio(r: dict | None) -> str:
    return "not timed yet" if r is None else f"{r['value']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"


def _convergence_rows(cfg, rec, task: str, costs: dict | None) -> list[dict]:
    methods = cfg.conv[task]
    conv = lambda m, field: _by_seed(cfg, rec, lambda s: plan.conv_name(cfg, task, m, s), field)  # noqa: E731
    converged_all = _converged_by_seed(cfg, rec, *[lambda s, m=m: plan.conv_name(cfg, task, m, s) for m in methods])
    full_steps = conv("full", "best_step")
    rows = []
    for m in methods:
        if m == "full":
            continue
        # Time to best = steps to best × per-step cost; the costs' ratio was timed side by side.
        cost = _cost_ratio(costs, plan.conv_name(cfg, task, m, cfg.seeds[0]))
        steps = _div(conv(m, "best_step"), full_steps)
        value = [None if v is None or cost is None else v * cost["value"] for v in steps]
        raw = _div(conv(m, TIME), conv("full", TIME))
        pair = lambda s: [plan.conv_name(cfg, task, "full", s), plan.conv_name(cfg, task, m, s)]  # noqa: E731
        rows.append(_row(f"convergence_time_{task}_{m}", "Mundra et al. §4", f"{m} takes longer than full FT to "
                         f"converge on {task} (steps to the best dev evaluation × per-step cost; early stopping)",
                         "adapters converge later (wall clock)", value, ">", 1.0,
                         converged=_converged_by_seed(cfg, rec, lambda s: pair(s)[0], lambda s: pair(s)[1]),
                         detail=f"per seed: steps-to-best ratio {_seeds_txt(steps)} × step-cost ratio "
                                f"{_fmt_ratio(cost)} (timed side by side); raw wall-clock ratio {_seeds_txt(raw)}"))
    adapters = [m for m in methods if m != "full"]
    if not adapters:  # full FT alone: nothing to compare its steps with
        return rows
    steps = [None if any(conv(m, "best_step")[i] is None for m in adapters) or not full_steps[i] else
             float(np.mean([conv(m, "best_step")[i] for m in adapters])) / full_steps[i] for i in range(len(cfg.seeds))]
    rows.append(_row(f"convergence_steps_{task}", "AdapterDrop §3", f"adapters ({', '.join(adapters)}) need about as "
                     f"many steps to their best evaluation on {task} as full FT (ratio within [2/3, 3/2])",
                     "no notable difference in convergence", steps, "within", (2 / 3, 1.5), converged=converged_all))
    return rows


def _seeds_txt(vals) -> str:
    return " / ".join("—" if v is None else f"{v:.3f}" for v in vals)


def _multitask_rows(cfg, rec, costs: dict | None) -> list[dict]:
    mt_name = lambda s: plan.multitask_name(cfg, s)  # noqa: E731
    mt = lambda field: _by_seed(cfg, rec, mt_name, field)  # noqa: E731
    tasks = plan.multitask_tasks(cfg)
    adapter_of = {t: (lambda s, t=t: plan.drop_name(cfg, t, 0, s)) for t in tasks}
    converged_all = _converged_by_seed(cfg, rec, mt_name, *adapter_of.values())
    best = {t: _by_seed(cfg, rec, adapter_of[t], "best_step") for t in tasks}
    cost = {t: _cost_ratio(costs, adapter_of[t](cfg.seeds[0])) for t in tasks}  # ÷ the multi-task step
    value = []
    for i, b in enumerate(mt("best_step")):
        parts = [None if best[t][i] is None or cost[t] is None else best[t][i] * cost[t]["value"] for t in tasks]
        value.append(None if b is None or None in parts else b / sum(parts))
    raw_total = [None if any(_by_seed(cfg, rec, adapter_of[t], TIME)[i] is None for t in tasks) else
                 sum(_by_seed(cfg, rec, adapter_of[t], TIME)[i] for t in tasks) for i in range(len(cfg.seeds))]
    mean_adapter = [None if any(_by_seed(cfg, rec, adapter_of[t])[i] is None for t in tasks) else
                    float(np.mean([_by_seed(cfg, rec, adapter_of[t])[i] for t in tasks])) for i in range(len(cfg.seeds))]
    names = "+".join(tasks)
    costs_txt = ", ".join(f"{t} adapter {_fmt_ratio(cost[t])}" for t in tasks)
    return [
        _row("multitask_time", "Mundra et al. §5", f"multi-task FT on {names} reaches its best in less time than one "
             f"{cfg.drop_method} adapter per task (steps to best × per-step cost, summed over the adapters)",
             "multi-task FT trains faster", value, "<", 1.0, converged=converged_all,
             detail=f"ratio multi-task ÷ Σ adapters per seed; step cost ÷ the multi-task step: {costs_txt}; "
                    f"raw wall-clock ratio {_seeds_txt(_div(mt(TIME), raw_total))}"),
        _row("multitask_score", "Mundra et al. §5", f"multi-task FT scores ≥ 98% of the per-task adapters "
             f"(mean of {names} main metrics)", "multi-task FT matches or beats adapters",
             _div(mt("score"), mean_adapter), ">=", 0.98, converged=converged_all),
    ]


def _add_task_rows(table: dict) -> list[dict]:
    """Rows from experiments/add_task.py's table (one run each: judged with the single-run bands)."""
    rows, new = table["rows"], table["new"]
    replay = next((r for name, r in rows.items() if "20% replay" in name), None)
    adapter = next((r for name, r in rows.items() if name.startswith("adapter for")), None)
    base = next((r for name, r in rows.items() if "existing" in name), None)
    if not (replay and adapter and base):
        return []
    old = table["old"]
    delta = float(np.mean([replay["scores"][t] - base["scores"][t] for t in old]))
    return [
        _row("add_task_time", "Mundra et al. §5", f"adding {new.upper()} to a multi-task model (20% replay) takes less "
             f"wall clock than training one adapter for it", "multi-task FT + replay adds tasks cheaply",
             [replay["time_s"] / adapter["time_s"]], "<", 1.0, band=TIME_FACTOR_BAND, factor=True,
             detail="one run each (results/add_task_rte): decided only beyond ×/÷ 1.5; fixed budgets, "
                    "convergence not recorded"),
        _row("add_task_forgetting", "Mundra et al. §5", f"with 20% replay the old tasks ({', '.join(old)}) keep their "
             f"scores (mean change ≥ −0.02)", "replay keeps old tasks", [delta], ">=", -0.02, unit="Δ score",
             band=SCORE_BAND, detail="one run: decided only beyond ± 0.025; convergence not recorded"),
    ]


def _families_rows(runs: list[dict]) -> list[dict]:
    """Paper 2's convergence claim on the other families (experiments/families.py's runs.json): per
    task and adapter method, adapter ÷ full FT training time to the best evaluation, per seed both
    ran. One common seed is judged with the single-run band (×/÷ 1.5), several by their spread."""
    by = {(r["task"], r["method"], r["seed"]): r for r in runs}
    rows = []
    for task in sorted({r["task"] for r in runs}):
        methods = sorted({m for t, m, _ in by if t == task and m != "full"})
        for m in methods:
            seeds = sorted(s for t, mm, s in by if t == task and mm == m and (task, "full", s) in by)
            if not seeds:
                continue
            pairs = [(by[(task, m, s)], by[(task, "full", s)]) for s in seeds]
            ratios = _div([a.get(TIME) for a, _ in pairs], [f.get(TIME) for _, f in pairs])  # None: not recorded
            # The scores beside the steps: an adapter that peaks early at a low score "converges" fast.
            steps = ", ".join(f"s{s}: step {a['best_step']}/{a['steps']} vs {f['best_step']}/{f['steps']}, "
                              f"score {a['score']:.3f} vs {f['score']:.3f}" for s, (a, f) in zip(seeds, pairs))
            capped = any(a["best_step"] == a["steps"] for a, _ in pairs)
            band = dict(band=TIME_FACTOR_BAND, factor=True) if len(seeds) == 1 else {}
            rows.append(_row(f"family_time_{task}_{m}", "Mundra et al. §4", f"{m} takes longer than full FT to its "
                             f"best dev evaluation on {task} ({pairs[0][0]['main_metric']}; training wall clock)",
                             "adapters converge later (wall clock)", ratios, ">", 1.0,
                             converged=[converged(a) and converged(f) for a, f in pairs],
                             detail=f"families job; best evaluation of {m} vs full: {steps}"
                             + ("; best at the last step: the budget, not patience, ended the run" if capped else "")
                             + ("; one run each: decided only beyond ×/÷ 1.5" if band else ""), **band))
    return rows
