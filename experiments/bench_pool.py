"""Serving many tasks from one encoder: throughput, latency, memory and compiles of the adapter pool
as the number of adapters K grows, beside PEFT (mixed LoRA batches) and AdapterHub (switching the
active adapter per task), timed in the same interleaved rounds (flax_adapters_lab/pool_scaling.py).

    python experiments/bench_pool.py --shapes=minilm,bert-base --ks=1,8,64,512 --out=results/pool_scaling_cpu.json
    python experiments/bench_pool.py --merge=seq_bn.json,lora.json --out=both.json   # one run per method, joined
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags

from flax_adapters_lab import provenance
from flax_adapters_lab.pool_scaling import Settings, markdown, merge, plot, run

_SHAPES = flags.DEFINE_list("shapes", ["minilm", "bert-base"], "model shapes (reproduce/workload.py)")
_METHODS = flags.DEFINE_list("methods", ["seq_bn", "lora"], "adapter methods of the pools")
_MODES = flags.DEFINE_list("modes", ["gather", "grouped"], "how each row's adapter runs (adapters/pool.py)")
_KS = flags.DEFINE_list("ks", ["1", "8", "64", "512"], "numbers of adapters")
_BATCH = flags.DEFINE_integer("batch", 16, "rows per batch")
_SEQ_LEN = flags.DEFINE_integer("seq_len", 64, "tokens per row")
_ROUNDS = flags.DEFINE_integer("rounds", 8, "interleaved rounds")
_BASELINES = flags.DEFINE_list("baselines", ["peft", "adapterhub"], "PyTorch sides (empty: none)")
_BASELINE_MAX_K = flags.DEFINE_integer("baseline_max_k", 64, "largest K the PyTorch sides build")
_MERGE = flags.DEFINE_list("merge", None, "instead of timing: join these result JSONs (one run per method) into --out")
_OUT = flags.DEFINE_string("out", None, "result JSON (a .md report and a .png plot are written beside it)")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _MERGE.value:
        missing = [p for p in _MERGE.value if not Path(p).is_file()]
        if not _OUT.value or missing:
            raise app.UsageError(f"--merge needs --out and existing result files; missing: {missing}")
        _write(merge([json.loads(Path(p).read_text()) for p in _MERGE.value]), Path(_OUT.value))
        return
    try:
        ks = tuple(int(k) for k in _KS.value)
    except ValueError:
        raise app.UsageError(f"--ks: integers, got {_KS.value}") from None
    if not ks or min(ks) < 1:
        raise app.UsageError(f"--ks: positive integers, got {_KS.value}")
    settings = Settings(shapes=tuple(_SHAPES.value), methods=tuple(_METHODS.value), modes=tuple(_MODES.value),
                        ks=tuple(sorted(ks)), batch=_BATCH.value, seq_len=_SEQ_LEN.value, rounds=_ROUNDS.value,
                        baselines=tuple(b for b in _BASELINES.value if b), baseline_max_k=_BASELINE_MAX_K.value)
    result = run(settings, log=lambda s: print(s, flush=True))
    _write(result, Path(_OUT.value) if _OUT.value else None)


def _write(result: dict, out: Path | None) -> None:
    """Prints the report; with --out, writes the JSON, the report (.md) and the plot (.png) beside."""
    report = markdown(result, plot_name=out.with_suffix(".png").name if out else None)
    print(report)
    if out:
        provenance.write_json(str(out), result)
        out.with_suffix(".md").write_text(report)
        plot(result, out.with_suffix(".png"))


if __name__ == "__main__":
    app.run(main)
