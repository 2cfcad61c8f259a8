"""Bookkeeping of a run: wall-clock accounts, the metrics log, the console progress line, memory.

Time is split into accounts so a run's cost can be read honestly: `compile` (the first call of
each distinct step shape — compilation plus that one execution), `train` (all later steps),
`eval` and `other` (data, checkpoints, logging). `elapsed` is their sum, carried across resumes
through the checkpoint's meta record, so a killed-and-resumed run reports the wall clock it
actually spent in training, not the time of its last process alone.
"""

from __future__ import annotations

import json
import math
import os
import resource
import time
from pathlib import Path

import jax
import numpy as np
from absl import logging

ACCOUNTS = ("train", "compile", "eval", "other")


class Clock:
    """Seconds per account; `start(account)` switches the running account."""

    def __init__(self, carried: dict[str, float] | None = None):
        self.seconds = {a: float((carried or {}).get(a, 0.0)) for a in ACCOUNTS}
        self._account, self._since = "other", time.perf_counter()

    def start(self, account: str) -> float:
        now = time.perf_counter()
        self.seconds[self._account] += now - self._since
        self._account, self._since = account, now
        return now

    @property
    def elapsed(self) -> float:
        return sum(self.seconds.values()) + time.perf_counter() - self._since


class MetricsLog:
    """JSON lines in `<workdir>/metrics.jsonl`, one record per train log or evaluation."""

    def __init__(self, path: Path, resume_step: int):
        self.path = path
        if jax.process_index() != 0:
            # Multi-process runs: process 0 alone keeps the log; the others write to (and read) nothing.
            self.path = Path(os.devnull)
            return
        if path.exists():
            # Records after the restored checkpoint describe steps the resumed run will redo;
            # dropping them keeps exactly one record per step (atomic rewrite: no torn file).
            kept = [l for l in path.read_text().splitlines() if l and json.loads(l)["step"] <= resume_step]
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(l + "\n" for l in kept))
            os.replace(tmp, path)

    def write(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    @staticmethod
    def read(path: Path) -> list[dict]:
        return [json.loads(l) for l in Path(path).read_text().splitlines() if l]


class _DropOrbaxInfo(logging.logging.Filter):
    def filter(self, record) -> bool:
        return record.levelno >= logging.logging.WARNING or "/orbax/" not in record.pathname


class _NoTpuProbeNoise(logging.logging.Filter):
    """JAX probes every platform it knows; without libtpu installed the TPU probe can only fail, and
    its INFO record ("Unable to initialize backend 'tpu' … libtpu.so …") opened every CPU command."""

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not ("Unable to initialize backend 'tpu'" in message and "libtpu.so" in message
                    and "cannot open shared object file" in message)


logging.logging.getLogger("jax._src.xla_bridge").addFilter(_NoTpuProbeNoise())


def quiet_orbax() -> None:
    """Drops orbax's INFO records (a dozen per save) from absl's log, keeping its warnings."""
    logging.get_absl_handler().addFilter(_DropOrbaxInfo())


def progress(step: int, total: int, loss: float, step_s: float, batch_size: int) -> None:
    rate = batch_size / step_s if step_s > 0 else math.inf
    eta = (total - step) * step_s
    logging.info("step %d/%d  loss %.4f  %.1f ex/s  %.3f s/step  ETA %s", step, total, loss, rate, step_s,
                 time.strftime("%H:%M:%S", time.gmtime(eta)))


def peak_memory() -> dict[str, int | None]:
    """Peak host RSS of this process and, where the backend reports it, peak device memory."""
    host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    stats = jax.local_devices()[0].memory_stats() or {}
    return {"peak_host_rss_bytes": int(host), "peak_device_bytes": stats.get("peak_bytes_in_use")}


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def num_params(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))


def write_json(path: Path, obj: dict) -> None:
    """Atomic write; in multi-process runs only process 0 writes (config.json, summary.json)."""
    if jax.process_index() != 0:
        return
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=float) + "\n")
    os.replace(tmp, path)
