"""claims.md and the plots of the claims job, from the `claims.json` dict runner.py builds."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from flax_adapters_lab.claims import plan  # noqa: E402
from flax_adapters_lab.claims.config import ClaimsConfig  # noqa: E402


def _f(v, digits=3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _seeds(vals, digits=3) -> str:
    return " / ".join(_f(v, digits) for v in vals)


def _yes(c) -> str:
    return {True: "yes", False: "no", None: "?"}[c]


def headline(out: dict) -> str:
    """The report's first line: whether its verdicts are answers (every planned run finished and
    early-stopped), a partial answer (runs still to come), or budget-limited."""
    runs = out["runs"].values()
    stopped = sum(r["summary"]["status"] == "early_stopped" for r in runs)
    planned = out.get("runs_planned", len(runs))
    if runs and stopped == len(runs):
        if len(runs) < planned:
            return (f"**Partial: {len(runs)} of {planned} runs finished** (all ended by early stopping, so far); "
                    "a row resting on an unfinished run is `inconclusive` until the job resumes and finishes it.")
        return (f"All {stopped} runs were ended by early stopping (converged): the verdicts below are "
                "this suite's answers to the papers' claims.")
    return (f"**Budget-limited: {len(runs) - stopped} of {len(runs)} finished runs were ended by their step budget, "
            "not by early stopping, so these verdicts are not the papers' answers** — a row resting on such a run reads "
            "`inconclusive (not converged)` (its numbers' reading is in `verdict_at_budget`).")


def machines(out: dict) -> str:
    """Where the runs ran: each machine (CPU, cores, jax) with its runs' count and code commits. A run
    recorded before runs recorded their machine counts as the job's environment."""
    env, seen = out["environment"], {}
    for r in out["runs"].values():
        m = r.get("machine") or env
        key = f"{m.get('cpu', '?')}, {m.get('cpu_count', '?')} CPUs, jax {m.get('jax', '?')}"
        n, commits = seen.get(key, (0, set()))
        seen[key] = (n + 1, commits | {str(m.get("commit"))})
    if not seen:
        return f"Machine: {env.get('cpu', '?')}, {env.get('cpu_count', '?')} CPUs, jax {env.get('jax', '?')}."
    parts = [f"{key}: {n} run{'s' * (n != 1)} (commit {', '.join(sorted(c))})" for key, (n, c) in seen.items()]
    return ("Runs ran on " + "; ".join(parts) + "." + (" Raw wall clock mixes these machines; the convergence-time "
            "verdicts read steps × step costs timed side by side on one." if len(seen) > 1 else ""))


def markdown(cfg: ClaimsConfig, out: dict, root: Path) -> str:
    lines = [headline(out), "", f"# Accuracy and convergence claims — suite `{cfg.suite}`", "",
             f"Model {cfg.model}{' (random init)' if cfg.random_init else ''}, data {cfg.data_dir}, seeds "
             f"{list(cfg.seeds)}; {out['runs_finished']} of {out['runs_planned']} runs finished, "
             f"{out['wall_clock_s'] / 60:.1f} min of run wall clock. {machines(out)}", "",
             "Scores are each run's best dev evaluation (the dev files of the data directory — GLUE `dev.tsv`, "
             "CoNLL-2003 `dev.txt` — which selected the best step too, paper 1's protocol). Ratios are taken per seed against the same seed's "
             "reference, then judged by the rule in each row (flax_adapters_lab/claims/verdict.py): the seeds' range "
             "[min, max] is the spread, and a threshold inside it is `inconclusive`.", "",
             "A run converged when early stopping (patience) ended it; `converged` says, per seed, whether every "
             "run a row rests on did. Convergence-time rows read steps to the best evaluation × each method's "
             "per-step cost timed side by side (step costs below); the raw wall clock is in the detail.", "",
             "| claim | source | paper | ours (per seed) | mean | converged | rule | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for r in out["claims"]:
        conv = " / ".join(_yes(c) for c in r.get("converged", []))
        at_budget = (f" (at budget: {r['verdict_at_budget']})" if r.get("verdict_at_budget") not in (None, r["verdict"])
                     else "")
        lines.append(f"| {r['claim']}{' — ' + r['detail'] if r['detail'] else ''} | {r['source']} | {r['paper']} | "
                     f"{_seeds(r['per_seed'])} | {_f(r['ours'])} | {conv} | {r['rule']} | **{r['verdict']}**{at_budget} |")
    kinds = ("confirmed", "refuted", "inconclusive", "inconclusive (not converged)")
    counts = {v: sum(r["verdict"] == v for r in out["claims"]) for v in kinds}
    lines += ["", "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", ""]
    curves = out["drop_curves"]
    lines += [f"## AdapterDrop: score kept vs n (mean over {', '.join(out['learnt_tasks'])}; per seed)", "",
              "| n | specialised (trained without layers 0…n−1) | robust (served at n) | trained without drop, "
              "adapters removed at test |", "|---|---|---|---|"]
    for n in plan.grid(cfg):
        lines.append(f"| {n} | " + " | ".join(_seeds(curves[k][str(n)]) for k in ("specialised", "robust", "removed"))
                     + " |")
    lines += ["", "![AdapterDrop](adapterdrop_kept.png)", ""]
    lines += _per_task_table(cfg, out)
    lines += _runs_table(out, "convergence", f"## Time to convergence ({', '.join(cfg.conv)})")
    lines += _cost_table(out)
    lines += ["![convergence](convergence.png)", ""]
    lines += _runs_table(out, "multitask", "## Multi-task full fine-tuning")
    lines += _runs_table(out, "fusion", "## AdapterFusion", pruned=True)
    lines += _adapter_table(out)
    return "\n".join(lines) + "\n"


def _per_task_table(cfg: ClaimsConfig, out: dict) -> list[str]:
    """Each drop task's own kept ratios (the averages above hide a task that drops differently)."""
    by_task = out.get("drop_curves_by_task", {})
    if not by_task:
        return []
    lines = ["### Per task: score ÷ the same seed's no-drop score (per seed)", "",
             "| task | no-drop score | variant | " + " | ".join(f"n = {n}" for n in plan.grid(cfg)) + " |",
             "|---|---|---|" + "---|" * len(plan.grid(cfg))]
    for task, curves in by_task.items():
        name = task if task in out["learnt_tasks"] else f"{task} (not learnt)"
        for kind in ("specialised", "robust", "removed"):
            lines.append(f"| {name} | {_seeds(out['no_drop_scores'].get(task, []))} | {kind} | "
                         + " | ".join(_seeds(curves[kind][str(n)], 2) for n in plan.grid(cfg)) + " |")
    return lines + [""]


def _runs_table(out: dict, kind: str, title: str, pruned: bool = False) -> list[str]:
    runs = {n: r for n, r in out["runs"].items() if r["kind"] == kind}
    if not runs:
        return []
    head = ("| run | best score | best step | train time to best (s) | time to best (s) | time to stop (s) "
            "| median step (s) | status |")
    lines = [title, "", head + (" pruned score |" if pruned else ""), "|---" * (8 + pruned) + "|"]
    for name, r in sorted(runs.items()):
        s = r["summary"]
        lines.append(f"| {name} | {_f(r['score'])} | {s['best_step']} | {_f(s['train_time_to_best_s'], 0)} | "
                     f"{_f(s['time_to_best_s'], 0)} | "
                     f"{_f(s['time_to_stop_s'], 0)} | {_f(s['step_time_median_s'])} | {s['status']} |"
                     + (f" {_f(r.get('pruned', {}).get('score'))} |" if pruned else ""))
    return lines + [""]


def _cost_table(out: dict) -> list[str]:
    costs = out.get("step_costs", {})
    if not costs:
        return []
    lines = ["### Per-step training cost, timed side by side", "",
             "Each group's runs trained on the same batches of their own data, interleaved in rounds "
             "(claims/step_cost.py); ratio ÷ the group's first run with its 95% bootstrap interval over rounds.", "",
             "| group | run | step (s) | ÷ reference [95%] | rounds × steps |", "|---|---|---|---|---|"]
    for group, c in costs.items():
        for name, step_s in c["step_s"].items():
            r = c["ratios"].get(name)
            ratio = "reference" if name == c["reference"] else (
                "—" if r is None else f"{r['value']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]")
            lines.append(f"| {group} | {name} | {step_s:.4f} | {ratio} | {c['rounds']} × {c['steps']} |")
    return lines + [""]


def _adapter_table(out: dict) -> list[str]:
    if not out["adapters"]:
        return []
    lines = ["## Saved adapters (AdapterHub format, with their heads)", "",
             "Re-score one: `python experiments/score.py --adapter=DIR --task=TASK --data_dir=DATA --max_length=N`.", "",
             "`dev score` is the whole dev file scored from the saved directory (what that command prints); "
             "`selection` is the run's best evaluation, on the suite's dev subsample where it sets one.", "",
             "| adapter | task | max length | dev score | selection | size |", "|---|---|---|---|---|---|"]
    for name, a in sorted(out["adapters"].items()):
        lines.append(f"| `{a['dir']}` | {a['task']} | {a['max_length']} | {_f(a['dev_score'], 4)} | "
                     f"{_f(a['selection_score'], 4)} | {a['bytes'] / 1e6:.2f} MB |")
    return lines + [""]


def plots(cfg: ClaimsConfig, out: dict, root: Path) -> None:
    curves = out["drop_curves"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for kind, label in (("specialised", "specialised"), ("robust", "robust"), ("removed", "no-drop, removed at test")):
        xs, mid, lo, hi = [], [], [], []
        for n in plan.grid(cfg):
            vals = [v for v in curves[kind][str(n)] if v is not None]
            if vals:
                xs.append(n), mid.append(np.mean(vals)), lo.append(min(vals)), hi.append(max(vals))
        if xs:
            ax.errorbar(xs, mid, yerr=[np.subtract(mid, lo), np.subtract(hi, mid)], marker="o", capsize=3, label=label)
    ax.axhline(0.971, color="grey", ls="--", lw=0.8, label="paper 1: 97.1% (5 of 12)")
    ax.set_xlabel(f"n (adapters absent from layers 0…n−1 of {cfg.num_layers})")
    ax.set_ylabel("score ÷ no-drop score")
    ax.legend(fontsize=7)  # the paper's line always has a label
    fig.tight_layout(), fig.savefig(root / "adapterdrop_kept.png", dpi=110), plt.close(fig)

    tasks = list(cfg.conv)
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(4.2 * max(len(tasks), 1), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for name, r in sorted(out["runs"].items()):
            if r["kind"] != "convergence" or r["task"] != task or r["seed"] != cfg.seeds[0]:
                continue
            log = root / "runs" / name / "metrics.jsonl"
            evals = [json.loads(line) for line in log.read_text().splitlines() if '"eval"' in line] if log.exists() else []
            if evals:  # examples seen, not wall clock: the x axis background load cannot stretch
                ax.plot([e["step"] * r["summary"].get("batch_size", 1) for e in evals], [e["score"] for e in evals],
                        marker=".", label=r["method"])
        ax.set_xlabel("training examples seen")
        ax.set_ylabel(f"dev score ({task})")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout(), fig.savefig(root / "convergence.png", dpi=110), plt.close(fig)
