"""Runs in flight carried across machines: a run longer than a session resumes where it stopped.

The claims job commits each *finished* run under `--results`; a run cut off with its session (a
SQuAD run on two cores takes longer than one) would restart from step 0 on the next machine. So,
before a session stops, `park` copies every unfinished run of the job's workdir that has reached a
checkpoint — its config, metrics log and latest checkpoint (trainable state, optimiser state, best
weights, clocks, data position) — to `<results>/inflight/<run>/`, to be committed. A job started
from that checkout `unpark`s it into its own workdir before training the run, and the training
loop resumes from the checkpoint. A finished run's parked copy is deleted (`discard`).

Only runs whose checkpoint fits `max_mb` are parked: an adapter run's is a few MB, a full fine-tuning
run's holds the whole model and both Adam moments (~270 MB for MiniLM), too much to commit each
session; such a run restarts from step 0 (or runs where a session can hold it).

    python experiments/claims.py --config=configs/claims.py:converged --workdir=/tmp/claims \
        --results=results/claims_converged_cpu --park      # then commit results/claims_converged_cpu
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from flax_adapters.training import tracking
from flax_adapters.training.checkpoint import saved_steps
from flax_adapters_lab.claims import plan
from flax_adapters_lab.claims.config import ClaimsConfig

DIR = "inflight"
# Keys of a run's config that name places on one machine (the data, its cache, the fusion's source
# adapters, the model directory), not the run: a carried run may resume with another machine's.
MACHINE_KEYS = ("data.cache_dir", "data.data_dir", "method.fusion_adapters", "model.name_or_path")


def park(cfg: ClaimsConfig, workdir: str | Path, results: str | Path, max_mb: float = 64.0,
         log: Callable[[str], None] = print) -> list[str]:
    """Copies each unfinished run with a checkpoint from `workdir` to `results`/inflight (replacing
    an older copy); the names of the runs parked."""
    root, out = Path(workdir), Path(results)
    parked = []
    for run in plan.runs(cfg):
        src = root / "runs" / run.name
        if (out / "records" / f"{run.name}.json").exists() or not (src / "config.json").is_file():
            continue
        steps = saved_steps(src / "checkpoints")
        if not steps:
            continue
        step = steps[-1]
        size = tracking.directory_bytes(src / "checkpoints" / str(step)) / 2**20
        if size > max_mb:
            log(f"not parked: {run.name} (checkpoint at step {step} is {size:.0f} MB > {max_mb:.0f} MB)")
            continue
        dest = out / DIR / run.name
        shutil.rmtree(dest, ignore_errors=True)
        (dest / "checkpoints").mkdir(parents=True)
        for name in ("config.json", "metrics.jsonl"):
            if (src / name).is_file():
                shutil.copy2(src / name, dest / name)
        shutil.copytree(src / "checkpoints" / str(step), dest / "checkpoints" / str(step))
        log(f"parked {run.name} at step {step} ({size:.1f} MB) in {dest}")
        parked.append(run.name)
    if not parked:
        log(f"nothing parked: no unfinished run in {root / 'runs'} has reached a checkpoint")
    return parked


def unpark(results: str | Path, run_dir: str | Path, config: dict, log: Callable[[str], None] = print) -> bool:
    """Puts the parked copy of the run into `run_dir` (its workdir) when that has no checkpoint of its
    own and the parked run's config is `config` (a TrainConfig as a dict) but for MACHINE_KEYS, which
    take this machine's values; whether it did. A parked run of another config stays where it is."""
    run_dir = Path(run_dir)
    src = Path(results) / DIR / run_dir.name
    if not src.is_dir() or saved_steps(run_dir / "checkpoints"):
        return False
    carried = plan.dotted(json.loads((src / "config.json").read_text()))
    current = plan.dotted(json.loads(json.dumps(config)))
    diff = sorted(k for k in set(carried) | set(current)
                  if not k.startswith(MACHINE_KEYS + ("mesh.",)) and carried.get(k) != current.get(k))
    if diff:
        log(f"not resumed: the parked {run_dir.name} has another config ({', '.join(diff[:4])}); it starts afresh")
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(src, run_dir)
    tracking.write_json(run_dir / "config.json", config)
    log(f"resuming {run_dir.name} from its parked checkpoint (step {saved_steps(run_dir / 'checkpoints')[-1]})")
    return True


def discard(results: str | Path, name: str) -> None:
    """Deletes the parked copy of a finished run."""
    shutil.rmtree(Path(results) / DIR / name, ignore_errors=True)
