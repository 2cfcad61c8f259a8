"""Paper 2's convergence question on its other task families (NER, extractive QA, multiple
choice): full fine-tuning vs adapter methods on one task, the same evaluation schedule and
patience, seeds; each run an ordinary train-loop run in `<workdir>/<task>_<method>_s<seed>`.

    rows = run_families(make_config, "runs/families", tasks=("conll2003",), methods=("full", "seq_bn"),
                        seeds=(0, 1))
    export_families("runs/families", "results/families_minilm_cpu")   # table, runs.json, adapters

`make_config(task, method, seed)` returns the run's ml_collections config (experiments/families.py
takes it from configs/minilm_families.py). Finished runs are skipped, an interrupted one resumes.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from typing import Callable

from flax_adapters.data import get_task
from flax_adapters.training import loop
from flax_adapters.training.config import from_config_dict

_FINISHED = ("completed", "early_stopped")
# What each family reports besides its main metric.
_EXTRA = {"question_answering": ("exact_match",), "tagging": ("entity_precision", "entity_recall")}


def run_name(task: str, method: str, seed: int) -> str:
    return f"{get_task(task).name}_{method}_s{seed}"


def run_families(make_config: Callable, workdir, *, tasks, methods, seeds, log: Callable[[str], None] = print) -> list[dict]:
    """Trains every (task, method, seed) not finished yet, task-major and seed-minor (both seeds of
    a method before the next method), then returns the rows of every finished run."""
    root = Path(workdir)
    plan = [(t, m, s) for t in tasks for m in methods for s in seeds]
    for i, (task, method, seed) in enumerate(plan):
        run = root / run_name(task, method, seed)
        if _finished(run):
            continue
        log(f"[{i + 1}/{len(plan)}] {run.name}")
        summary = loop.train(from_config_dict(make_config(task, method, seed)), run)
        log(f"[{i + 1}/{len(plan)}] {run.name}: {summary['main_metric']} {summary['best'].get('score', float('nan')):.4f} "
            f"(best at step {summary['best_step']}, {summary['time_to_best_s']:.0f} s; {summary['status']})")
    return rows_of(root)


def _finished(run: Path) -> bool:
    path = run / "summary.json"
    return path.is_file() and json.loads(path.read_text()).get("status") in _FINISHED


def rows_of(root) -> list[dict]:
    """One row per finished run under `root` (its summary.json): scores, convergence times."""
    rows = []
    for path in sorted(Path(root).glob("*/summary.json")):
        s = json.loads(path.read_text())
        if s.get("status") not in _FINISHED:
            continue
        task = get_task(s["task"])
        config = json.loads((path.parent / "config.json").read_text())
        best = s.get("best", {})
        rows.append({"run": path.parent.name, "task": task.name, "kind": task.kind, "method": s["method"],
                     "seed": config["seed"], "main_metric": s["main_metric"], "score": best.get(s["main_metric"]),
                     **{k: best.get(k) for k in _EXTRA.get(task.kind, ())},
                     **{k: s.get(k) for k in ("best_step", "steps", "time_to_best_s", "train_time_to_best_s",
                                              "time_to_stop_s", "step_time_median_s", "status", "trainable_params",
                                              "checkpoint_bytes")},
                     "max_length": config["data"]["max_length"], "batch_size": config["batch_size"],
                     "eval_every": config["eval_every"], "patience": config["patience"],
                     "learning_rate": config["optim"]["learning_rate"]})
    return rows


def markdown(rows: list[dict]) -> str:
    """Per run, then per task and method the median over seeds with time to best relative to full FT."""
    def f(v, fmt):
        return "—" if v is None else fmt.format(v)

    out = ["| task | method | seed | best dev score | extra | best step / steps | time to best s | "
           "time to stop s | step s (median) | trainable | status |", "|" + "---|" * 11]
    for r in rows:
        extra = ", ".join(f"{k} {r[k]:.4f}" for k in _EXTRA.get(r["kind"], ()) if r.get(k) is not None) or "—"
        out.append(f"| {r['task']} | {r['method']} | {r['seed']} | {r['main_metric']} {f(r['score'], '{:.4f}')} | {extra} | "
                   f"{r['best_step']} / {r['steps']} | {f(r['time_to_best_s'], '{:.0f}')} | {f(r['time_to_stop_s'], '{:.0f}')} | "
                   f"{f(r['step_time_median_s'], '{:.3f}')} | {r['trainable_params']:,} | {r['status']} |")
    out += ["", "Median over seeds; time ratios against full fine-tuning on the same task (> 1: slower than full FT).",
            "", "| task | method | seeds | best dev score (per seed) | time to best s | ÷ full FT | "
                "time to stop s | ÷ full FT | step s | ÷ full FT |", "|" + "---|" * 10]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["task"], r["method"]), []).append(r)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("time_to_best_s", "time_to_stop_s", "step_time_median_s")}
           for k, v in groups.items()}
    for (task, method), runs in groups.items():
        full = med.get((task, "full"))
        ratio = lambda m: "—" if not full or not full[m] else f"{med[(task, method)][m] / full[m]:.2f}"  # noqa: E731
        scores = " / ".join(f"{r['score']:.4f}" for r in sorted(runs, key=lambda r: r["seed"]))
        m = med[(task, method)]
        out.append(f"| {task} | {method} | {len(runs)} | {scores} | {m['time_to_best_s']:.0f} | {ratio('time_to_best_s')} | "
                   f"{m['time_to_stop_s']:.0f} | {ratio('time_to_stop_s')} | {m['step_time_median_s']:.3f} | "
                   f"{ratio('step_time_median_s')} |")
    return "\n".join(out) + "\n"


def export_families(workdir, dest) -> list[dict]:
    """Copies what the results need into `dest`: runs.json, table.md, each run's summary, config and
    metrics log, and each adapter run's adapter + head (AdapterHub format, as AdapterHub saves it)."""
    root, dest = Path(workdir), Path(dest)
    rows = rows_of(root)
    for r in rows:
        run, out = root / r["run"], dest / "runs" / r["run"]
        out.mkdir(parents=True, exist_ok=True)
        for name in ("summary.json", "config.json", "metrics.jsonl"):
            shutil.copy2(run / name, out / name)
        if (run / "adapter").is_dir():
            shutil.copytree(run / "adapter", dest / "adapters" / r["run"], dirs_exist_ok=True)
            r["adapter_dir"] = f"adapters/{r['run']}"
    (dest / "runs.json").write_text(json.dumps(rows, indent=1) + "\n")
    (dest / "table.md").write_text(markdown(rows))
    return rows
