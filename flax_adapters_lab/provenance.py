"""Provenance of a result: the machine, library versions, thread and malloc settings and the code
commit it was measured with, and the resumable results file of a suite's workdir.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import jax

from flax_adapters_lab.host_memory import malloc_setting


def code_commit(root: str | None = None) -> str | None:
    """The git commit of the checkout whose top level is `root` (default: the directory holding
    flax_adapters), with "+dirty" when its tracked files differ from it (a result is then not that
    commit's); None when `root` is not a checkout's top — e.g. an installed copy in site-packages
    inside some other repository, whose commit would say nothing about this code."""
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        run = lambda *a: subprocess.run(["git", "-C", root, *a], capture_output=True, text=True, timeout=10)  # noqa: E731
        head = run("rev-parse", "--show-toplevel", "--short=12", "HEAD")
        lines = head.stdout.splitlines()
        if head.returncode != 0 or len(lines) != 2 or os.path.realpath(lines[0]) != os.path.realpath(root):
            return None
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return lines[1] + ("+dirty" if dirty else "")


def machine() -> dict:
    """What a single run of a long, resumed job records: its CPU (or accelerator), jax and code commit —
    the job's runs may come from several machines and commits."""
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), cpu)
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "device_kind": jax.devices()[0].device_kind,
            "jax": jax.__version__, "commit": code_commit()}


def environment() -> dict:
    """Device, versions and thread settings, recorded beside every result."""
    env = {"platform": platform.platform(), "python": platform.python_version(), **machine(),
           "loadavg": os.getloadavg(), "devices": [str(d) for d in jax.devices()],
           "xla_flags": os.environ.get("XLA_FLAGS", ""), "malloc": malloc_setting()}
    try:
        import torch

        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    except ImportError:
        env["torch"] = None
    return env


def resumable(workdir, config: dict) -> tuple[str, dict]:
    """(path of workdir/results.json, its results) for a suite's run: what an earlier run of the same
    config left there (a rerun resumes after its finished sections), else a fresh {config, sections}.
    An earlier run of another config is kept: its results.json moves to results.previous-N.json
    (and a warning says so) before the fresh run writes its own."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "results.json")
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    if results.get("config") != config:
        if results.get("sections"):
            n = 1
            while os.path.exists(kept := os.path.join(workdir, f"results.previous-{n}.json")):
                n += 1
            os.replace(path, kept)
            print(f"warning: {path} holds a run of another config; kept as {kept}", file=sys.stderr)
        results = {"config": config, "sections": {}}
    return path, results


def write_json(path: str | None, result: dict) -> None:
    """Writes a benchmark's result (creating folders); None writes nothing."""
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=2, default=str)
