"""AdapterDrop and multi-task serving speed (papers.md §1), one run, variants interleaved.

  train:    Pfeiffer adapter training step with adapters dropped from layers 0…n−1, for every n;
            speed-up vs n = 0, and robust AdapterDrop's expected speed-up (mean step time over
            n ~ U{0…10}, each n compiled once).
  parallel: N task adapters over one batch with the shared trunk (multitask.parallel) for each
            N × n; speed-up vs n = 0 beside the cost model (N·L)/(n + N·(L − n)).
  mixed:    one batch whose examples use 8 different tasks vs the same batch through one task.

    python experiments/bench_adapterdrop.py --batch=32 --seq_len=128 --tasks=1,2,4,8 --drops=0,1,3,5,7,9,11 \
        --sections=train,parallel,mixed \
        --repeats=3 --out=results/adapterdrop_cpu.json
"""

from __future__ import annotations

import statistics

import jax
import numpy as np
from absl import app, flags, logging

from flax_adapters import benchmark
from flax_adapters.adapters import AdapterModel, forward, multitask
from flax_adapters.models import EncoderConfig
from flax_adapters.training import adamw, init_state, make_train_step

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 32, "batch size")
flags.DEFINE_integer("seq_len", 128, "tokens per example")
flags.DEFINE_integer("layers", 12, "encoder depth")
flags.DEFINE_integer("repeats", 3, "timed rounds")
flags.DEFINE_list("tasks", ["1", "2", "4", "8"], "numbers of parallel tasks N")
flags.DEFINE_list("drops", [str(n) for n in range(12)], "numbers of dropped layers n")
flags.DEFINE_list("sections", ["train", "parallel", "mixed"], "which parts to run")
flags.DEFINE_string("out", "results/adapterdrop.json", "JSON output path")


def _median(samples):
    return statistics.median(samples)


def run(batch=32, seq_len=128, layers=12, repeats=3, tasks=(1, 2, 4, 8), drops=tuple(range(12)),
        sections=("train", "parallel", "mixed")) -> dict:
    drops = sorted(set(drops) | {0})
    if max(drops) >= layers:
        raise ValueError(f"drops {drops} must be below the layer count {layers}")
    model = AdapterModel.from_config(EncoderConfig(num_hidden_layers=layers), seed=0)
    names = [f"task{t}" for t in range(max(max(tasks), 8))]
    for t, name in enumerate(names):
        model.add_adapter(name, "seq_bn", seed=t)
        model.add_head(name, "classification", num_labels=2, seed=t)
    rng = np.random.default_rng(0)
    mask = (np.arange(seq_len)[None] < rng.integers(seq_len // 2, seq_len + 1, batch)[:, None]).astype(np.int32)
    ids = np.where(mask == 1, rng.integers(1, 30522, (batch, seq_len)), 0).astype(np.int32)
    inputs = tuple(jax.numpy.asarray(a) for a in (ids, mask, np.zeros_like(ids)))
    data = dict(input_ids=inputs[0], attention_mask=inputs[1], token_type_ids=inputs[2],
                labels=jax.numpy.asarray(rng.integers(0, 2, batch), jax.numpy.int32))
    out = {"workload": dict(layers=layers, batch=batch, seq_len=seq_len, method="seq_bn"),
           "environment": benchmark.environment(), "train": {}, "parallel": {}, "mixed": {}}
    slot, head = model.adapters[names[0]], model.heads[names[0]]

    unknown = set(sections) - {"train", "parallel", "mixed"}
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; choose from train, parallel, mixed")
    if "train" in sections:
        _train_section(out, model, slot, head, data, drops, layers, repeats)
    if "parallel" in sections:
        _parallel_section(out, model, slot, names, inputs, tasks, drops, layers, repeats)
    if "mixed" in sections:
        _mixed_section(out, model, slot, head, names, inputs, batch, repeats)
    return out


def _train_section(out, model, slot, head, data, drops, layers, repeats):
    tx, calls, states = adamw(1e-4), {}, {}
    for n in drops:
        step = make_train_step(model.graphdef, slot.graphdef, head.graphdef, "classification", tx, drop_n=n)
        states[n] = init_state({"adapter": slot.params, "head": head.params}, tx)
        compiled, seconds = benchmark.compile_timed(step, states[n], model.params, data)
        out["train"][n] = {"compile_s": seconds}

        def call(n=n, compiled=compiled):
            states[n], metrics = compiled(states[n], model.params, data)
            return metrics["loss"]
        calls[n] = call
    for n, s in benchmark.interleaved(calls, repeats, progress=logging.info).items():
        out["train"][n].update(benchmark.summary(s))
    t0 = out["train"][0]["median_s"]
    for n in drops:
        out["train"][n]["speedup_vs_n0"] = t0 / out["train"][n]["median_s"]
        out["train"][n]["cost_model"] = 2 * layers / (layers + layers - n)
    robust = [n for n in drops if n <= 10]
    out["robust_expected_speedup"] = {"over": robust, "value": t0 / np.mean([out["train"][n]["median_s"] for n in robust])}


def _parallel_section(out, model, slot, names, inputs, tasks, drops, layers, repeats):
    for N in tasks:
        slots = [model.adapters[x] for x in names[:N]]
        stacked = multitask.stack([s.params for s in slots])
        hdefs = tuple(model.heads[x].graphdef for x in names[:N])
        hparams = tuple(model.heads[x].params for x in names[:N])
        calls = {}
        for n in drops:
            compiled, _ = benchmark.compile_timed(multitask.parallel, model.graphdef, model.params, slot.graphdef,
                                                  stacked, hdefs, hparams, *inputs, drop_n=n)
            calls[n] = (lambda c: lambda: c(model.params, stacked, hparams, *inputs)[1])(compiled)
        samples = benchmark.interleaved(calls, repeats)
        base = _median(samples[0])
        out["parallel"][N] = {n: dict(benchmark.summary(s), speedup_vs_n0=base / _median(s),
                                      cost_model_vs_n0=(N * layers) / (n + N * (layers - n)))
                              for n, s in samples.items()}
        logging.info("parallel N=%d done", N)


def _mixed_section(out, model, slot, head, names, inputs, batch, repeats):
    stacked8 = multitask.stack([model.adapters[x].params for x in names[:8]])
    h8 = tuple(model.heads[x].graphdef for x in names[:8]), tuple(model.heads[x].params for x in names[:8])
    task_ids = jax.numpy.asarray(np.arange(batch) % 8)
    mixed, _ = benchmark.compile_timed(multitask.mixed, model.graphdef, model.params, slot.graphdef, stacked8,
                                       h8[0], h8[1], *inputs, task_ids)
    single, _ = benchmark.compile_timed(forward, model.graphdef, model.params, slot.graphdef, slot.params,
                                        head.graphdef, head.params, *inputs)
    samples = benchmark.interleaved({
        "mixed8": lambda: mixed(model.params, stacked8, h8[1], *inputs, task_ids)[0],
        "single": lambda: single(model.params, slot.params, head.params, *inputs).logits}, repeats)
    out["mixed"] = {k: benchmark.summary(s) for k, s in samples.items()}
    out["mixed"]["relative_throughput"] = _median(samples["single"]) / _median(samples["mixed8"])


def main(argv):
    del argv
    result = run(FLAGS.batch, FLAGS.seq_len, FLAGS.layers, FLAGS.repeats, [int(t) for t in FLAGS.tasks],
                 [int(n) for n in FLAGS.drops], FLAGS.sections)
    benchmark.write_json(FLAGS.out, result)
    if result["train"]:
        print("train  n: " + "  ".join(f"{n}:{r['speedup_vs_n0']:.2f}x" for n, r in result["train"].items()))
        print(f"robust expected speed-up: {result['robust_expected_speedup']['value']:.2f}x")
    for N, row in result["parallel"].items():
        print(f"parallel N={N}: " + "  ".join(f"{n}:{r['speedup_vs_n0']:.2f}x(model {r['cost_model_vs_n0']:.2f})"
                                              for n, r in row.items()))
    if result["mixed"]:
        print(f"mixed 8 tasks / single: {result['mixed']['relative_throughput']:.2f}")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
