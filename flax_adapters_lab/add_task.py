"""Adding a task to a trained system (paper 2's maintainability question, docs/papers.md §2).

Starting point: tasks A, B, … already served, either by one multi-task fine-tuned model or by
one adapter each. Task T arrives. The ways to add it, each a run of the train loop in its own
workdir under `root` (re-running resumes or reuses finished runs):

  mt_base              multi-task FT on the old tasks (the model that exists before T)
  mt_add_replay<r>     that model continued on T, replaying the old tasks for a fraction r of steps
  adapter_<task>       one adapter per task (old ones: the existing adapters; T: the added cost)
  fusion_<T>           AdapterFusion over the old tasks' adapters, trained on T

The table reports, per way of adding T, the wall-clock time of the *adding* (time to the best
dev score of the runs it needs beyond what existed) and every task's best dev score after it.

    table = run(base_config("rte"), "runs/add_rte", old=["sst2", "mrpc", "stsb"], new="rte")
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import ml_collections

from flax_adapters.training import loop, tracking
from flax_adapters.training.config import from_config_dict

REPLAYS = (0.2, 0.05)


def train_with(base: ml_collections.ConfigDict, workdir: Path, **changes) -> dict:
    """Trains (or resumes, or returns the summary of) the run of `base` with dotted-key `changes`
    (`**{"data.task": "rte", "method.name": "seq_bn"}`) in `workdir`."""
    cd = ml_collections.ConfigDict(base.to_dict(), type_safe=False)
    for key, value in changes.items():
        node = cd
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return loop.train(from_config_dict(cd), workdir)


def _scores(summary: dict) -> dict[str, float]:
    """{task: main-metric value} at the run's best evaluation."""
    best = summary["best"]
    if "tasks" in best:
        return {t: s["score"] if "score" in s else _main(t, s) for t, s in best["tasks"].items()}
    return {summary["task"]: best[summary["main_metric"]]}


def _main(task: str, scores: dict) -> float:
    from flax_adapters.data import get_task

    return scores[get_task(task).main_metric]


def run(base: ml_collections.ConfigDict, root: str | Path, *, old: list[str], new: str,
        adapter_method: str = "seq_bn", adapter_lr: float = 1e-3, replays=REPLAYS,
        log: Callable[[str], None] = print) -> dict:
    root = Path(root)
    if new in old or len(old) < 2:
        raise ValueError(f"need at least two old tasks and a new one not among them; old={old}, new={new!r}")
    rows = {}
    mt = train_with(base, root / "mt_base", **{"data.task": old[0], "data.tasks": tuple(old), "method.name": "full"})
    log(f"multi-task base on {old}: {_scores(mt)}")
    rows["multi-task FT without the new task (existing)"] = dict(time_s=None, scores=_scores(mt))
    for r in replays:
        s = train_with(base, root / f"mt_add_replay{r:g}", **{
            "data.task": new, "data.tasks": tuple([new] + old), "data.replay_fraction": r, "method.name": "full",
            "method.init_from": str(root / "mt_base")})
        rows[f"multi-task FT + {new}, {r:.0%} replay"] = dict(time_s=s["time_to_best_s"], steps=s["best_step"],
                                                          scores=_scores(s))
        log(f"added {new} with {r:.0%} replay: {_scores(s)}")
    adapters = {}
    for task in old + [new]:
        adapters[task] = train_with(base, root / f"adapter_{task}", **{
            "data.task": task, "data.tasks": (), "method.name": adapter_method, "optim.learning_rate": adapter_lr})
    old_adapter_scores = {t: _scores(adapters[t])[t] for t in old}
    rows[f"adapter for {new} (old tasks: their adapters)"] = dict(
        time_s=adapters[new]["time_to_best_s"], steps=adapters[new]["best_step"],
        scores={**old_adapter_scores, **_scores(adapters[new])})
    fusion = train_with(base, root / f"fusion_{new}", **{
        "data.task": new, "data.tasks": (), "method.name": "fusion", "optim.learning_rate": 5e-5,
        "method.fusion_adapters": tuple(str(root / f"adapter_{t}" / "adapter") for t in old)})
    rows[f"AdapterFusion of the old adapters for {new}"] = dict(
        time_s=fusion["time_to_best_s"], steps=fusion["best_step"], scores={**old_adapter_scores, **_scores(fusion)})
    table = {"old": old, "new": new, "rows": rows,
             "adapter_training_s": {t: a["time_to_best_s"] for t, a in adapters.items()},
             "multitask_base_s": mt["time_to_best_s"]}
    tracking.write_json(root / "add_task.json", table)
    (root / "add_task.md").write_text(markdown(table))
    return table


def markdown(table: dict) -> str:
    tasks = table["old"] + [table["new"]]
    lines = ["| way of adding " + table["new"] + " | time to add (s) | best step | " + " | ".join(tasks) + " | mean |",
             "|---" * (len(tasks) + 4) + "|"]
    for name, row in table["rows"].items():
        scores = [row["scores"].get(t) for t in tasks]
        known = [s for s in scores if s is not None]
        cell = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
        time = "—" if row["time_s"] is None else f"{row['time_s']:.0f}"
        lines.append(f"| {name} | {time} | {row.get('steps', '—')} | " + " | ".join(cell(s) for s in scores)
                     + f" | {cell(sum(known) / len(known)) if known else '—'} |")
    return "\n".join(lines) + "\n"
