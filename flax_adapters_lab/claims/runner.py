"""Runs the claims job: every planned run (resumable train.py workdirs under <workdir>/runs),
the scoring each needs afterwards, one record per run, the saved adapters (AdapterHub format,
re-scored from the copy), the step costs of the convergence groups (step_cost.py), and after every
run claims.json / claims.md / plots rebuilt from what has finished so far.

    from flax_adapters_lab.claims import run_claims
    rows = run_claims(from_config_dict(get_config("quick")), "runs/claims_quick")
    rows = run_claims(cfg, "/scratch/claims", results="results/claims_converged_cpu")

With `results`, everything a finished run leaves that is worth keeping — its record, its summary,
config and metrics log, its adapter, the step costs, the report — goes to that directory as soon as
the run finishes (small enough to commit), and only checkpoints and caches stay in the workdir. A
run whose record is in `results` is done: a job restarted on another machine from a checkout of
the committed results retrains only the run that was in flight.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from pathlib import Path
from typing import Callable

import jax
import ml_collections
import numpy as np

from flax_adapters_lab import provenance
from flax_adapters_lab.claims import inflight, plan, report, rows, step_cost
from flax_adapters_lab.claims.config import ClaimsConfig
from flax_adapters.training import scoring, tracking
from flax_adapters_lab.add_task import train_with
from flax_adapters.training.config import default_config, from_config_dict

# Relative cost of a run kind (a no-drop adapter run = 1): the ETA before any run of a kind has
# finished; after that, that kind's measured mean is used.
GUESS = {"drop": 1.0, "robust": 1.2, "fusion": 2.0, "convergence": 2.0, "multitask": 4.0}
SUMMARY_KEYS = ("status", "best", "best_step", "steps", "total_steps", "batch_size", "main_metric", "time_to_best_s", "train_time_to_best_s",
                "time_to_stop_s", "step_time_median_s", "examples_per_s", "trainable_params", "seconds",
                "checkpoint_bytes", "peak_host_rss_bytes")


def base_config(cfg: ClaimsConfig) -> ml_collections.ConfigDict:
    """The TrainConfig dict every run starts from: model, data, then the suite's `train` overrides."""
    c = default_config()
    c.model.name_or_path = cfg.model
    c.model.random_init = cfg.random_init
    c.model.overrides = ml_collections.ConfigDict(dict(cfg.model_overrides), type_safe=False)
    c.data.data_dir = cfg.data_dir
    return _apply(c, cfg.train)


def shared_cache(c: ml_collections.ConfigDict, root: Path) -> ml_collections.ConfigDict:
    """Every run tokenises into one cache (keyed by data and tokenizer), not one per workdir."""
    if not c.data.cache_dir:
        c.data.cache_dir = str(root / "cache")
    return c


def _apply(c: ml_collections.ConfigDict, changes: dict) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(c.to_dict(), type_safe=False)
    for key, value in plan.dotted(changes).items():
        node, (*parents, leaf) = c, key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return c


def run_config(cfg: ClaimsConfig, run: plan.Run, root: Path,
               adapters: Path | None = None) -> tuple[ml_collections.ConfigDict, dict]:
    """(base config of `run` with its task's overrides, its own changes with adapter paths resolved:
    a fusion reads its sources' saved copies in `adapters`, default <root>/adapters)."""
    changes = dict(run.changes)
    if "method.fusion_adapters" in changes:
        changes["method.fusion_adapters"] = tuple(str((adapters or root / "adapters") / n) for n in run.needs)
    overrides = cfg.task_overrides.get(run.task, {}) if run.kind != "multitask" else {}
    return shared_cache(_apply(base_config(cfg), overrides), root), changes


def _record(cfg: ClaimsConfig, run: plan.Run, summary: dict, run_dir: Path, adapters: Path, train_cfg) -> dict:
    rec = {**dataclasses.asdict(run), "summary": {k: summary.get(k) for k in SUMMARY_KEYS},
           "machine": provenance.machine()}  # a resumed job's runs come from several machines
    rec["score"] = summary["best"].get("score")  # the main metric (multi-task: the mean of the tasks' main metrics)
    if run.score_drops:
        at = scoring.score_run_at_drops(run_dir, run.score_drops)
        rec["scores_at"] = {str(n): m[summary["main_metric"]] for n, m in at.items()}
    if run.prune:
        pruned = scoring.score_pruned_fusion(run_dir, cfg.fusion_keep)
        rec["pruned"] = {"score": pruned["metrics"][summary["main_metric"]], "selected": pruned["selected"],
                         "weights": pruned["weights"]}
    if (run_dir / "adapter").is_dir() and run.method != "fusion":
        target = adapters / run.name
        shutil.copytree(run_dir / "adapter", target, dirs_exist_ok=True)
        data = train_cfg.data
        # A random-init base (the tiny suite) cannot be rebuilt from the adapter directory: not re-scored.
        rescored = None if cfg.random_init else scoring.score_adapter(
            target, run.task, data_dir=data.data_dir, split=data.eval_split, model=cfg.model, max_length=data.max_length)
        rec["adapter"] = {"dir": str(target), "task": run.task, "selected_on": f"{data.eval_split} split of "
                          f"{data.data_dir or 'the HF hub'} (best of the run's evaluations)",
                          "max_length": data.max_length, "dev_score": rec["score"],
                          "rescored": None if rescored is None else rescored[summary["main_metric"]],
                          "bytes": tracking.directory_bytes(target)}
    return rec


class Progress:
    """A line per finished run: elapsed wall clock and an ETA from the measured cost of each kind."""

    def __init__(self, todo: list[plan.Run], log: Callable[[str], None]):
        self.todo, self.log, self.start, self.spent = todo, log, time.perf_counter(), {}

    def eta_s(self, remaining: list[plan.Run]) -> float:
        done = [s for times in self.spent.values() for s in times]
        unit = np.mean([s / GUESS[k] for k, times in self.spent.items() for s in times]) if done else 60.0
        return sum(np.mean(self.spent[r.kind]) if r.kind in self.spent else GUESS[r.kind] * unit for r in remaining)

    def finished(self, i: int, run: plan.Run, seconds: float, score) -> None:
        self.spent.setdefault(run.kind, []).append(seconds)
        elapsed = (time.perf_counter() - self.start) / 60
        self.log(f"[{i + 1}/{len(self.todo)} {run.name}] {seconds:.0f} s, score {score if score is None else round(score, 4)}"
                 f" (elapsed {elapsed:.1f} min, ETA {self.eta_s(self.todo[i + 1:]) / 60:.1f} min)")


def _check_config(cfg: ClaimsConfig, *dirs: Path) -> None:
    """Refuses a workdir or results directory that holds a job of another config; records this one."""
    current = json.loads(json.dumps(dataclasses.asdict(cfg)))
    for d in dirs:
        stored = d / "claims_config.json"
        if stored.exists():
            # The folded-in tables are read when the report is written, not trained: they may move.
            old = json.loads(stored.read_text())
            diff = sorted(k for k in set(old) | set(current)
                          if k not in ("add_task_table", "families_table") and old.get(k) != current.get(k))
            if diff:
                raise ValueError(f"{d} holds a claims job with another config (differs in: {', '.join(diff)}); "
                                 "use a new --workdir / --results")
    for d in dirs:
        tracking.write_json(d / "claims_config.json", current)


def _keep_run_files(run_dir: Path, dest: Path) -> None:
    """Copies a run's summary, config and metrics log (not its checkpoints) to `dest`."""
    for name in ("summary.json", "config.json", "metrics.jsonl"):
        if (run_dir / name).is_file():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run_dir / name, dest / name)


def run_claims(cfg: ClaimsConfig, workdir: str | Path, log: Callable[[str], None] = print,
               report_only: bool = False, results: str | Path | None = None, only: str | None = None) -> list[dict]:
    """Runs (or resumes) every planned run, then writes the outputs; `report_only` rebuilds the
    outputs from the runs finished so far and trains nothing. `results`: where records, adapters,
    step costs and the report go (default: the workdir); a run parked there (inflight.py) resumes
    from its checkpoint. `only`: a regex; just the runs whose names it matches train (the report
    still covers every run)."""
    root = Path(workdir)
    out = Path(results) if results else root
    for d in {root, out}:
        d.mkdir(parents=True, exist_ok=True)
    _check_config(cfg, *{root, out})
    # Seeds repeat programs exactly: a persistent compilation cache makes their compiles cache hits.
    jax.config.update("jax_compilation_cache_dir", str(root / "xla_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    adapters = Path(cfg.adapters_dir) if Path(cfg.adapters_dir).is_absolute() else out / cfg.adapters_dir
    (out / "records").mkdir(exist_ok=True)
    if report_only:
        return write_outputs(cfg, out, adapters, final=True, environment=_job_environment(out))
    todo = select(plan.runs(cfg), only)
    for run in todo:  # a bad key or value fails here, once, before hours of training
        base, changes = run_config(cfg, run, root, adapters)
        from_config_dict(_apply(base, changes))
    progress = Progress(todo, log)
    log(f"claims job {cfg.suite}: {len(todo)} runs in {root}" + (f", results in {out}" if out != root else ""))
    trained = False
    for i, run in enumerate(todo):
        path = out / "records" / f"{run.name}.json"
        if path.exists():
            continue
        missing = [n for n in run.needs if not (out / "records" / f"{n}.json").exists()]
        if missing:  # `only` left out a fusion's sources, or they failed
            log(f"[{i + 1}/{len(todo)} {run.name}] skipped: its sources {missing} have not finished")
            continue
        trained = True
        t0 = time.perf_counter()
        base, changes = run_config(cfg, run, root, adapters)
        train_cfg = from_config_dict(_apply(base, changes))
        if out != root:
            inflight.unpark(out, root / "runs" / run.name, dataclasses.asdict(train_cfg), log)
        try:
            summary = train_with(base, root / "runs" / run.name, **changes)
            rec = _record(cfg, run, summary, root / "runs" / run.name, adapters, train_cfg)
        except FileNotFoundError:
            raise  # a missing data or model path: every later run would fail the same way
        except Exception as e:  # noqa: BLE001 — one failed run (diverged, …) must not stop the job
            log(f"[{i + 1}/{len(todo)} {run.name}] FAILED: {type(e).__name__}: {e} (no record; a re-run retries it)")
            continue
        rec["wall_s"] = time.perf_counter() - t0
        if out != root:
            _keep_run_files(root / "runs" / run.name, out / "runs" / run.name)
        tracking.write_json(path, rec)  # last: a record means everything of the run is in place
        inflight.discard(out, run.name)
        progress.finished(i, run, rec["wall_s"], rec["score"])
        trained |= measure_costs(cfg, root, out, log)
        write_outputs(cfg, out, adapters)
    trained |= measure_costs(cfg, root, out, log)
    # A re-run that trained nothing measured nothing: the report keeps the machine the runs ran on.
    return write_outputs(cfg, out, adapters, final=True,
                         environment=None if trained else _job_environment(out))


def select(runs: list[plan.Run], only: str | None) -> list[plan.Run]:
    """The runs whose names the regex `only` matches in full (None: all); none matching is an error."""
    if not only:
        return runs
    try:
        pattern = re.compile(only)
    except re.error as e:
        raise ValueError(f"--only {only!r} is not a regular expression: {e}") from None
    chosen = [r for r in runs if pattern.fullmatch(r.name)]
    if not chosen:
        raise ValueError(f"--only {only!r} matches none of the {len(runs)} runs (e.g. {runs[0].name!r})")
    return chosen


def measure_costs(cfg: ClaimsConfig, root: Path, out: Path, log: Callable[[str], None]) -> bool:
    """Times each cost group (plan.cost_groups) whose runs have all finished and that has no
    step_costs/<group>.json yet; whether any was timed."""
    by_name = {r.name: r for r in plan.runs(cfg)}
    done = False
    for group, names in plan.cost_groups(cfg).items():
        target = out / "step_costs" / f"{group}.json"
        if target.exists() or not all((out / "records" / f"{n}.json").exists() for n in names):
            continue
        log(f"step cost of {group}: {', '.join(names)} ({cfg.cost_rounds} rounds of {cfg.cost_steps} steps)")
        configs = {}
        for n in names:
            base, changes = run_config(cfg, by_name[n], root)
            configs[n] = from_config_dict(_apply(base, changes))
        result = step_cost.measure(configs, Path(configs[names[0]].data.cache_dir), cfg.cost_rounds, cfg.cost_steps,
                                   log=log)
        target.parent.mkdir(parents=True, exist_ok=True)
        tracking.write_json(target, result)
        done = True
    return done


def adapter_entry(rec: dict, root: Path) -> dict:
    """claims.json's entry of a saved adapter: `dev_score` is the whole dev file scored from the saved
    directory (what experiments/score.py prints); `selection_score` the run's best evaluation, on the
    `max_eval_examples` subsample where the suite sets one."""
    a = dict(rec["adapter"])
    path, base = Path(a["dir"]).resolve(), Path(root).resolve()
    if path.is_relative_to(base):  # relative to the job's directory: the results move with it
        a["dir"] = str(path.relative_to(base))
    a["selection_score"] = rec["score"]
    a["dev_score"] = a.pop("rescored") if a.get("rescored") is not None else rec["score"]
    return a


def export_results(cfg: ClaimsConfig, root: str | Path, dest: str | Path) -> list[dict]:
    """Copies what a job's results need into `dest` (records, each run's summary, config and
    metrics log, the saved adapters, the step costs) and rebuilds claims.json / .md / plots there:
    a directory small enough to commit, re-scorable without the job's checkpoints."""
    root, dest = Path(root), Path(dest)
    planned = {r.name for r in plan.runs(cfg)}  # not the leftovers of an earlier plan in the same workdir
    for record in (root / "records").glob("*.json"):
        if record.stem in planned:
            (dest / "records").mkdir(parents=True, exist_ok=True)
            shutil.copy2(record, dest / "records" / record.name)
    for run_dir in (p for p in (root / "runs").iterdir() if p.name in planned):
        _keep_run_files(run_dir, dest / "runs" / run_dir.name)
    for adapter in (p for p in (root / "adapters").iterdir() if p.name in planned):
        shutil.copytree(adapter, dest / "adapters" / adapter.name, dirs_exist_ok=True)
    if (root / "step_costs").is_dir():
        shutil.copytree(root / "step_costs", dest / "step_costs", dirs_exist_ok=True)
    relocate_adapters(dest)
    return write_outputs(cfg, dest, dest / "adapters", final=True,
                         environment=_job_environment(root) or _job_environment(dest))


def relocate_adapters(dest: Path) -> None:
    """Points the records in `dest` at the adapters copied there (not the job's) and re-measures
    their size, so the report shows the directories and bytes that are committed."""
    for path in (dest / "records").glob("*.json"):
        rec = json.loads(path.read_text())
        if "adapter" in rec:
            copy = dest / "adapters" / Path(rec["adapter"]["dir"]).name
            rec["adapter"]["dir"] = str(copy)
            rec["adapter"]["bytes"] = tracking.directory_bytes(copy)
            tracking.write_json(path, rec)


def load_records(root: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((root / "records").glob("*.json"))}


def _job_environment(root: Path) -> dict | None:
    """The machine the job's runs were measured on, as its claims.json recorded it: a rebuilt report
    keeps it (the machine that only re-reads the records measured nothing)."""
    path = Path(root) / "claims.json"
    return json.loads(path.read_text()).get("environment") if path.is_file() else None


def write_outputs(cfg: ClaimsConfig, root: Path, adapters: Path, final: bool = False,
                  environment: dict | None = None) -> list[dict]:
    rec = load_records(root)
    table = json.loads(Path(cfg.add_task_table).read_text()) if cfg.add_task_table else None
    families = json.loads(Path(cfg.families_table).read_text()) if cfg.families_table else None
    costs = {p.stem: json.loads(p.read_text()) for p in sorted((root / "step_costs").glob("*.json"))}
    claim_rows = rows.claim_rows(cfg, rec, table, families, costs)
    planned = {r.name for r in plan.runs(cfg)}
    rec = {n: r for n, r in rec.items() if n in planned}  # records of runs an earlier plan had are left out
    out = {"suite": cfg.suite, "config": dataclasses.asdict(cfg), "finished": final and len(rec) == len(planned),
           "runs_finished": len(rec), "runs_planned": len(planned),
           "wall_clock_s": sum(r.get("wall_s", 0.0) for r in rec.values()),
           "environment": environment or provenance.environment(), "claims": claim_rows,
           "drop_curves": {k: {str(n): v for n, v in c.items()} for k, c in rows.drop_curves(cfg, rec).items()},
           "learnt_tasks": rows.learnt_tasks(cfg, rec)[0],
           "drop_curves_by_task": {t: {k: {str(n): v for n, v in c.items()} for k, c in
                                       rows.task_curves(cfg, rec, t).items()} for t in cfg.drop_tasks},
           "no_drop_scores": {t: [rec.get(plan.drop_name(cfg, t, 0, s), {}).get("score") for s in cfg.seeds]
                              for t in cfg.drop_tasks},
           "step_costs": {g: {"reference": c["reference"], "rounds": c["rounds"], "steps": c["steps"],
                              "step_s": {n: v["step_s"] for n, v in c["variants"].items()}, "ratios": c["ratios"]}
                          for g, c in costs.items()},
           "adapters": {n: adapter_entry(r, root) for n, r in rec.items() if "adapter" in r},
           "runs": {n: {k: r[k] for k in ("kind", "task", "method", "seed", "drop", "score", "summary", "wall_s", "machine")
                        if k in r} | {k: r[k] for k in ("scores_at", "pruned") if k in r} for n, r in rec.items()}}
    tracking.write_json(root / "claims.json", out)
    (root / "claims.md").write_text(report.markdown(cfg, out, root))
    report.plots(cfg, out, root)
    return claim_rows
