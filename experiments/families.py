"""Paper 2's other task families on real data: NER (CoNLL-2003), extractive QA (SQuAD v1.1 split by
article) and multiple choice (Social IQa) with all-MiniLM-L6-v2; full fine-tuning vs adapters, the
same evaluation schedule and patience, two seeds: best dev score, time to best, time to stop.

    python experiments/families.py --workdir=runs/families                         # every run below
    python experiments/families.py --workdir=runs/families --tasks=conll2003 --methods=full,seq_bn --seeds=0
    python experiments/families.py --workdir=runs/families --report_only --export_to=results/families_minilm_cpu

Each run is a train.py run of configs/minilm_families.py:<task>,<method>,<seed> in
DIR/<task>_<method>_s<seed>; re-running resumes. Writes DIR/table.md and DIR/runs.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from flax_adapters_lab.claims.families import export_families, markdown, rows_of, run_families
from flax_adapters.data import DataError
from flax_adapters.training import tracking

_WORKDIR = flags.DEFINE_string("workdir", "runs/families", "output directory (one train.py workdir per run)")
_RECIPES = flags.DEFINE_string("recipes", os.path.join(ROOT, "configs", "minilm_families.py"),
                               "config file whose get_config('<task>,<method>,<seed>') makes each run's config")
_TASKS = flags.DEFINE_list("tasks", ["conll2003", "squad", "socialiqa"], "tasks of the registry")
_METHODS = flags.DEFINE_list("methods", ["full", "seq_bn", "lora"], "full and/or adapter methods")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "seeds")
_OVERRIDES = flags.DEFINE_multi_string("set", [], "key=value overriding every run's config, e.g. max_steps=600")
_REPORT_ONLY = flags.DEFINE_bool("report_only", False, "tabulate the runs finished so far; train nothing")
_EXPORT = flags.DEFINE_string("export_to", None, "then copy the results (summaries, logs, adapters, table) here")


def _recipes(path: str):
    spec = importlib.util.spec_from_file_location("recipes", path)
    if spec is None or not os.path.isfile(path):
        raise FileNotFoundError(f"--recipes: {path} is not a config file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config


def _make_config(get_config, overrides):
    def make(task, method, seed):
        c = get_config(f"{task},{method},{seed}")
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"--set {item!r}: expected key=value")
            *path, leaf = key.split(".")
            target = c
            for part in path:
                target = target[part]
            old = target[leaf]  # a KeyError names an unknown key
            target[leaf] = (value.lower() in ("1", "true") if isinstance(old, bool)
                            else value if old is None else type(old)(value))
        return c
    return make


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    tracking.quiet_orbax()
    try:
        if _REPORT_ONLY.value:
            rows = rows_of(_WORKDIR.value)
        else:
            make = _make_config(_recipes(_RECIPES.value), _OVERRIDES.value)
            rows = run_families(make, _WORKDIR.value, tasks=_TASKS.value, methods=_METHODS.value,
                                seeds=[int(s) for s in _SEEDS.value], log=lambda s: print(s, flush=True))
        os.makedirs(_WORKDIR.value, exist_ok=True)
        with open(os.path.join(_WORKDIR.value, "runs.json"), "w") as f:
            json.dump(rows, f, indent=1)
        with open(os.path.join(_WORKDIR.value, "table.md"), "w") as f:
            f.write(markdown(rows))
        if _EXPORT.value:
            rows = export_families(_WORKDIR.value, _EXPORT.value)
    except (ValueError, KeyError, FileNotFoundError, DataError) as e:
        sys.exit(f"error: {e}")
    print(markdown(rows))


if __name__ == "__main__":
    app.run(main)
