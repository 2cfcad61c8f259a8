"""The main job: measure the papers' efficiency questions -- training speed, AdapterDrop, parallel
and mixed-task serving, fusion, storage, JAX vs PyTorch -- and write a report.

    python experiments/reproduce.py --config=configs/reproduce.py:quick --workdir=runs/reproduce_quick
    python experiments/reproduce.py --config=configs/reproduce.py:paper --workdir=runs/reproduce_paper

Writes DIR/report.md (tables beside the papers' numbers and cost-model bounds), DIR/*.png,
DIR/results.json (every sample) and DIR/headline.json. Re-running the same command resumes after
the last finished section; a changed config starts over.
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from flax_adapters_lab import host_memory
from flax_adapters_lab.reproduce import from_config_dict, run_suite
from flax_adapters.training import cli

_CONFIG = cli.define_config("config", os.path.join(os.path.dirname(__file__), "..", "configs", "reproduce.py"),
                            "configs/reproduce.py:<suite>; override keys with --config.a=v")
_WORKDIR = flags.DEFINE_string("workdir", "runs/reproduce", "output directory")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    # A bad key or value, a missing convergence run: one `error:` line (cli.run), before any section runs.
    cfg = from_config_dict(_CONFIG.value)
    host_memory.reexec_with(cfg.host_malloc)  # glibc reads its malloc settings at start-up only
    head = run_suite(cfg, _WORKDIR.value, log=lambda s: print(s, flush=True))
    print(json.dumps({k: v for k, v in head.items() if not isinstance(v, dict)}, indent=1))
    print(f"report: {os.path.join(_WORKDIR.value, 'report.md')}")


if __name__ == "__main__":
    cli.run(main)
