"""The untimed sections: storage per task (measured on disk) and the real-data results of
training runs (time to convergence, adding a task), read from the workdirs that produced them.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from flax_adapters_lab.reproduce import jax_side, torch_side
from flax_adapters_lab.reproduce.config import ReproConfig
from flax_adapters_lab.reproduce.workload import Workload
from flax_adapters.training.config import nearest_first
from flax_adapters.training.tracking import directory_bytes, num_params


def storage(cfg: ReproConfig, wl: Workload, log) -> dict:
    """Bytes one more task costs: a whole fine-tuned model, or one adapter + head in AdapterHub's own
    layout (pytorch_adapter.bin + configs, saved here and measured on disk) — beside what AdapterHub's
    `save_adapter` writes for the same method and head on a model of the same shape, when installed."""
    model = jax_side.build_model(wl, {m: m for m in cfg.methods}, cfg.seed)
    base = num_params(model.params)
    head = model.heads["bare"].num_parameters
    rows = {"full": {"params": base + head, "bytes": 4 * (base + head), "on_disk": None, "adapterhub_on_disk": None}}
    hub = None if (not cfg.torch or torch_side.unavailable()) else torch_side.adapterhub_sizes(wl, cfg.methods)
    with tempfile.TemporaryDirectory() as tmp:
        for m in cfg.methods:
            # The .bin form alone: what AdapterHub's default load_adapter reads and its save_adapter
            # writes (our default save adds a safetensors twin, which would double the column).
            model.save_adapter(Path(tmp) / m, m, torch_format=True if hub is not None else False)
            n = model.adapters[m].num_parameters + model.heads[m].num_parameters
            rows[m] = {"params": n, "bytes": 4 * n, "on_disk": directory_bytes(Path(tmp) / m),
                       "adapterhub_on_disk": (hub or {}).get(m)}
    for r in rows.values():
        r["fraction_of_full"] = r["bytes"] / rows["full"]["bytes"]
        if r["on_disk"] and r["adapterhub_on_disk"]:
            r["ours_over_adapterhub"] = r["on_disk"] / r["adapterhub_on_disk"]
    log(f"storage: {len(rows)} rows")
    return {"workload": wl.as_dict(), "base_params": base, "rows": rows}


def check_inputs(cfg: ReproConfig) -> None:
    """The real-data inputs of the convergence section, checked before any section runs (not after
    ~15 minutes of timing): each run a finished train.py workdir, the add-a-task table a file."""
    if "convergence" not in cfg.sections:
        return
    for run in map(Path, cfg.convergence_runs):
        if not (run / "summary.json").is_file():
            found = sorted(str(d) for d in run.parent.glob("*") if (d / "summary.json").is_file()) \
                if run.parent.is_dir() else []
            listing = (f"finished runs in {run.parent}, nearest first: {', '.join(nearest_first(str(run), found))}"
                       if found else f"{run.parent} holds no finished run")
            raise FileNotFoundError(f"convergence_runs: {run} has no summary.json (not a finished train.py run); "
                                    f"{listing}")
    claims_path(cfg)
    if cfg.add_task_table and not Path(cfg.add_task_table).is_file():
        raise FileNotFoundError(f"add_task_table: {cfg.add_task_table} does not exist (experiments/add_task.py "
                                "writes <workdir>/add_task.json)")


def _summary(workdir: Path) -> dict:
    summary, config = workdir / "summary.json", workdir / "config.json"
    if not summary.exists():
        raise FileNotFoundError(f"convergence_runs: {workdir} has no summary.json (not a finished train.py run)")
    s = json.loads(summary.read_text())
    c = json.loads(config.read_text()) if config.exists() else {}
    method = c.get("method", {})
    drop = method.get("drop", "none")
    label = method.get("name", "?") + ("" if drop == "none" else f" + {drop} drop"
                                       + (f" {method.get('drop_n')}" if drop == "static" else ""))
    return {"run": str(workdir), "method": label, "tasks": s.get("tasks") or [s.get("task")],
            "model": c.get("model", {}).get("name_or_path"), "main_metric": s.get("main_metric"),
            "best_score": s.get("best", {}).get("score"),  # the early-stopping score (main metric / their mean)
            **{k: s.get(k) for k in ("best_step", "time_to_best_s", "train_time_to_best_s", "time_to_stop_s",
                                     "step_time_median_s", "status", "trainable_params", "checkpoint_bytes",
                                     "steps")}}


def convergence(cfg: ReproConfig, log) -> dict:
    """Rows of finished train.py runs and an add_task.py table, when configured."""
    out = {"runs": [_summary(Path(w)) for w in cfg.convergence_runs]}
    if cfg.add_task_table:
        path = Path(cfg.add_task_table)
        if not path.exists():
            raise FileNotFoundError(f"add_task_table: {path} does not exist (experiments/add_task.py writes it)")
        out["add_task"] = json.loads(path.read_text())
    claims = claims_path(cfg)
    if claims is not None:
        out["claims"] = {"path": str(claims), **json.loads(claims.read_text())}
    log(f"convergence: {len(out['runs'])} runs" + (", add-a-task table" if "add_task" in out else "")
        + (", claims" if "claims" in out else ""))
    return out


# The claims job's committed quick results, in this checkout (flax_adapters/ sits in the repository root).
COMMITTED_CLAIMS = Path(__file__).resolve().parents[2] / "results" / "claims_quick_cpu" / "claims.json"


def claims_path(cfg: ReproConfig) -> Path | None:
    """The claims.json the report lists: the configured one (which must exist), else the committed one."""
    if cfg.claims_json:
        path = Path(cfg.claims_json)
        if not path.is_file():
            raise FileNotFoundError(f"claims_json: {path} does not exist (experiments/claims.py writes "
                                    "<workdir>/claims.json)")
        return path
    return COMMITTED_CLAIMS if COMMITTED_CLAIMS.is_file() else None
