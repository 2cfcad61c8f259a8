"""The host-malloc experiment: how glibc's malloc settings change the speed and the
call-to-call noise of XLA CPU steps. XLA's worker threads allocate each execution's temporaries
(767 MiB for a BERT-base full-FT step at 8 × 64) from their own malloc arenas, where a block that
large is always a fresh mmap: every call faults its pages in (zeroed by the kernel) and unmaps them.
host_memory.MALLOC_SETTINGS: "hugepages" maps such blocks with transparent huge pages (2 MiB faults);
"reuse" (one arena, no mmap, no automatic trim) keeps the block in the heap.

glibc reads the settings at start-up, so each block of rounds runs in a child process under one
setting, and the blocks alternate the settings' order (default, hugepages, reuse, then backwards)
so drift of the machine falls on all. In each block a step is timed twice per round (an A/A control) with per-call system
time and minor page faults; the JSON holds, per setting, the step's median, the control's ratio
with its 95% rank interval (stats.rank_interval) and the robust SD of its log per-round ratio (the noise an interval must beat).

    python experiments/bench_host_malloc.py --kind=train --blocks=2 --rounds=40 --out=results/host_malloc_train_cpu.json
    python experiments/bench_host_malloc.py --kind=infer --blocks=2 --rounds=80 --out=results/host_malloc_infer_cpu.json
    python experiments/bench_host_malloc.py --kind=torch_train --blocks=2 --rounds=20 --out=results/host_malloc_torch_train_cpu.json
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from absl import flags

from flax_adapters_lab import host_memory, provenance, stats
from flax_adapters.training import cli

_KIND = flags.DEFINE_enum("kind", "train", ["train", "adapter_train", "infer", "torch_train", "torch_infer"],
                          "full-FT training step, Pfeiffer training step or bare inference; JAX's, or "
                          "PyTorch eager's (AdapterHub model: full FT, bare inference)")
_SHAPE = flags.DEFINE_string("shape", "bert-base", "model shape (reproduce/workload.py SHAPES)")
_BATCH = flags.DEFINE_integer("batch", 8, "batch size")
_SEQ = flags.DEFINE_integer("seq_len", 64, "tokens per example")
_ROUNDS = flags.DEFINE_integer("rounds", 40, "A/A rounds per block")
_BLOCKS = flags.DEFINE_integer("blocks", 2, "blocks per setting (alternating default, reuse)")
_OUT = flags.DEFINE_string("out", "results/host_malloc_cpu.json", "JSON output")
_CHILD = flags.DEFINE_string("child", "", "internal: run one block and print its rows as JSON")

SETTINGS = tuple(host_memory.MALLOC_SETTINGS)  # default, hugepages, reuse


def block(kind: str, shape: str, batch: int, seq_len: int, rounds: int, seed: int) -> list[dict]:
    """One block in this process: the step timed twice per round (shuffled order, 20 ms pause)."""
    import jax

    from flax_adapters_lab.reproduce import jax_side
    from flax_adapters_lab.reproduce.workload import Workload

    wl = Workload(shape, batch, seq_len)
    host = wl.host_batch(seed=0)
    if kind.startswith("torch_"):
        from flax_adapters_lab.reproduce import torch_side

        call = (torch_side.train if kind == "torch_train" else torch_side.infer)(wl, None, host).call
    else:
        model, data = jax_side.build_model(wl, {"seq_bn": "seq_bn"}, seed=0), jax_side.device_batch(host)
        step = {"train": lambda: jax_side.train(model, None, data), "adapter_train": lambda: jax_side.train(model, "seq_bn", data),
                "infer": lambda: jax_side.infer(model, None, data)}[kind]
        call = step().call
    for _ in range(2):
        jax.block_until_ready(call())
    rng, rows = random.Random(seed), []
    for r in range(rounds):
        for name in rng.sample(["reference", "twin"], 2):
            time.sleep(0.02)
            u0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            jax.block_until_ready(call())
            wall, u1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
            rows.append({"round": r, "name": name, "wall_s": wall, "system_s": u1.ru_stime - u0.ru_stime,
                         "minor_faults": u1.ru_minflt - u0.ru_minflt})
    return rows


def summarise(rows: list[dict]) -> dict:
    by = {}
    for x in rows:
        by.setdefault(x["round"], {})[x["name"]] = x["wall_s"]
    ref, twin = [v["reference"] for v in by.values()], [v["twin"] for v in by.values()]
    log_q = np.log(np.asarray(twin) / np.asarray(ref))
    return {"median_s": statistics.median(x["wall_s"] for x in rows),
            "system_s_per_call": statistics.median(x["system_s"] for x in rows),
            "minor_faults_per_call": statistics.median(x["minor_faults"] for x in rows),
            "aa": stats.paired_ratio(twin, ref), "aa_ci": stats.ratio(
                {"twin": {"samples_s": twin}, "ref": {"samples_s": ref}}, "twin", "ref", rank=True)["ci"],
            "aa_log_robust_sd": float(1.4826 * np.median(np.abs(log_q - np.median(log_q)))), "rounds": len(ref)}


def run(kind: str, shape: str, batch: int, seq_len: int, rounds: int, blocks: int) -> dict:
    rows = {s: [] for s in SETTINGS}
    per_block = []
    for b in range(blocks):
        for setting in SETTINGS if b % 2 == 0 else SETTINGS[::-1]:
            env = host_memory.malloc_env(setting)
            args = [sys.executable, os.path.abspath(__file__), f"--child={setting}", f"--kind={kind}",
                    f"--shape={shape}", f"--batch={batch}", f"--seq_len={seq_len}", f"--rounds={rounds}"]
            out = subprocess.run(args, env=env, capture_output=True, text=True)
            if out.returncode:  # the child's own last line says why
                raise RuntimeError(f"the {setting} block failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
            got = json.loads(out.stdout.strip().splitlines()[-1])
            assert got["malloc"] == setting, got["malloc"]
            rows[setting] += [dict(x, round=x["round"] + b * rounds) for x in got["rows"]]
            per_block.append({"block": b, "setting": setting, **summarise(got["rows"])})
            print(json.dumps(per_block[-1]), flush=True)
    out = {s: summarise(rows[s]) for s in SETTINGS}
    median = {(x["block"], x["setting"]): x["median_s"] for x in per_block}
    over_default = {s: [median[b, s] / median[b, "default"] for b in range(blocks)] for s in SETTINGS if s != "default"}
    return {"kind": kind, "workload": {"shape": shape, "batch": batch, "seq_len": seq_len}, "blocks": blocks,
            "settings": out, "over_default_by_block": over_default, "per_block": per_block,
            "malloc_settings": host_memory.MALLOC_SETTINGS, "environment": provenance.environment()}


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    if _CHILD.value:
        rows = block(_KIND.value, _SHAPE.value, _BATCH.value, _SEQ.value, _ROUNDS.value, seed=0)
        print(json.dumps({"malloc": host_memory.malloc_setting(), "rows": rows}))
        return
    if min(_ROUNDS.value, _BLOCKS.value) < 1:
        raise ValueError(f"--rounds {_ROUNDS.value} and --blocks {_BLOCKS.value} must be ≥ 1")
    result = run(_KIND.value, _SHAPE.value, _BATCH.value, _SEQ.value, _ROUNDS.value, _BLOCKS.value)
    provenance.write_json(_OUT.value, result)
    for s, r in result["settings"].items():
        ci = "[{:.4f}, {:.4f}]".format(*r["aa_ci"]) if r["aa_ci"] else "(no 95% interval under 6 rounds)"
        print(f"{s}: step {r['median_s']:.4f} s, system {r['system_s_per_call']:.3f} s, "
              f"{r['minor_faults_per_call']:.0f} faults/call, A/A {r['aa']:.4f} {ci}, "
              f"robust SD {r['aa_log_robust_sd']:.4f} ({r['rounds']} rounds)")
    for s, r in result["over_default_by_block"].items():
        print(f"{s} ÷ default by block:", [round(x, 3) for x in r])


if __name__ == "__main__":
    cli.run(main)
