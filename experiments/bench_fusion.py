"""AdapterFusion cost (papers.md §1): inference and fusion-only training with 2 and 8 fused
adapters, and the 8-adapter fusion pruned to each layer's top 2, beside one plain adapter.

All variants are compiled first, then timed interleaved in one run (medians). Pruning keeps the
k adapters with the highest mean fusion weight per layer (`fusion.prune`); the weights here are
measured on the benchmark batch itself, since which two survive does not change the cost.

    python experiments/bench_fusion.py --batch=8 --seq_len=128 --repeats=5 --out=results/fusion_cpu_b8.json
"""

from __future__ import annotations

import jax
import numpy as np
from absl import app, flags, logging
from flax import nnx

from flax_adapters import benchmark
from flax_adapters.adapters import AdapterModel, forward
from flax_adapters.adapters import fusion as fusion_lib
from flax_adapters.models import EncoderConfig
from flax_adapters.training import adamw, init_state, make_train_step
from flax_adapters.training.fusion import make_fusion_train_step

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 8, "batch size")
flags.DEFINE_integer("seq_len", 128, "tokens per example")
flags.DEFINE_integer("layers", 12, "encoder depth")
flags.DEFINE_integer("repeats", 5, "timed rounds")
flags.DEFINE_string("out", "results/fusion.json", "JSON output path")


def run(batch=8, seq_len=128, layers=12, repeats=5) -> dict:
    model = AdapterModel.from_config(EncoderConfig(num_hidden_layers=layers), seed=0)
    names = [f"a{i}" for i in range(8)]
    for i, name in enumerate(names):
        model.add_adapter(name, "seq_bn", seed=i)
    model.add_head("h", "classification", num_labels=2)
    model.add_fusion("fuse2", names[:2])
    model.add_fusion("fuse8", names)
    rng = np.random.default_rng(0)
    mask = (np.arange(seq_len)[None] < rng.integers(seq_len // 2, seq_len + 1, batch)[:, None]).astype(np.int32)
    ids = np.where(mask == 1, rng.integers(1, 30522, (batch, seq_len)), 0).astype(np.int32)
    inputs = tuple(jax.numpy.asarray(a) for a in (ids, mask, np.zeros_like(ids)))
    data = dict(input_ids=inputs[0], attention_mask=inputs[1], token_type_ids=inputs[2],
                labels=jax.numpy.asarray(rng.integers(0, 2, batch), jax.numpy.int32))
    weights = fusion_lib.fusion_weights(model.graphdef, model.params, model.adapter_module("fuse8"), [data])
    pruned = fusion_lib.prune(model.adapter_module("fuse8"), weights, 2)
    model.adapters["fuse8_top2"] = type(model.adapters["fuse8"])(pruned.config, *nnx.split(pruned))
    head = model.heads["h"]
    variants = {"adapter": "a0", "fusion2": "fuse2", "fusion8": "fuse8", "fusion8_pruned2": "fuse8_top2"}
    out = {"workload": dict(layers=layers, batch=batch, seq_len=seq_len, method="seq_bn", fusion="dynamic"),
           "environment": benchmark.environment(), "inference": {}, "train": {}}

    infer, train, compile_s = {}, {}, {}
    tx, states = adamw(1e-4), {}
    for label, name in variants.items():
        slot = model.adapters[name]
        c, s = benchmark.compile_timed(forward, model.graphdef, model.params, slot.graphdef, slot.params,
                                       head.graphdef, head.params, *inputs)
        infer[label] = (lambda c, p: lambda: c(model.params, p, head.params, *inputs).logits)(c, slot.params)
        if name == "a0":  # the plain adapter trains adapter + head; fusions train fusion + head
            step = make_train_step(model.graphdef, slot.graphdef, head.graphdef, "classification", tx)
            states[label], frozen = init_state({"adapter": slot.params, "head": head.params}, tx), model.params
        else:
            fdef, fparams, subs = fusion_lib.split_fusion(model.adapter_module(name))
            step = make_fusion_train_step(model.graphdef, fdef, head.graphdef, "classification", tx)
            states[label], frozen = init_state({"adapter": fparams, "head": head.params}, tx), (model.params, subs)
        ct, st = benchmark.compile_timed(step, states[label], frozen, data)
        compile_s[label] = {"inference_compile_s": s, "train_compile_s": st}

        def call(label=label, ct=ct, frozen=frozen):
            states[label], metrics = ct(states[label], frozen, data)
            return metrics["loss"]
        train[label] = call
        logging.info("compiled %s", label)
    for kind, calls in (("inference", infer), ("train", train)):
        samples = benchmark.interleaved(calls, repeats, progress=logging.info)
        base = benchmark.summary(samples["adapter"])["median_s"]
        for label, s in samples.items():
            out[kind][label] = dict(benchmark.summary(s), **compile_s[label])
            out[kind][label]["relative_to_adapter"] = out[kind][label]["median_s"] / base
    out["pruned_selection"] = [list(x) for x in pruned.config.selected]
    return out


def main(argv):
    del argv
    result = run(FLAGS.batch, FLAGS.seq_len, FLAGS.layers, FLAGS.repeats)
    benchmark.write_json(FLAGS.out, result)
    for kind in ("inference", "train"):
        print(kind + ": " + "  ".join(f"{k} {v['median_s']:.3f}s ({v['relative_to_adapter']:.2f}x)"
                                      for k, v in result[kind].items()))
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
