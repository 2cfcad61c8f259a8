"""Per adapter method: adapter-only training step vs full fine-tuning, and inference with the
adapter vs the bare encoder (merged LoRA / (IA)³ too), BERT-base shape, one run, interleaved.

Every variant is compiled ahead of time (compile seconds reported apart) and reports XLA's FLOP
count of its compiled program beside its median time. Training uses AdamW over the trainable
parameters only (adapter + head; base + head for full fine-tuning), dropout on, batch of random
ids with a padded mask, classification head.

    python experiments/bench_methods.py --batch=32 --seq_len=128 --repeats=3 --out=results/methods.json
"""

from __future__ import annotations


import jax
import numpy as np
from absl import app, flags, logging

from flax_adapters import benchmark
from flax_adapters.adapters import AdapterModel, forward, registry
from flax_adapters.models import EncoderConfig
from flax_adapters.training import adamw, init_state, make_train_step
from flax_adapters.training.cost import step_flops

DEFAULT_METHODS = ["seq_bn", "double_seq_bn", "par_bn", "lora", "ia3", "prefix_tuning", "compacter"]
FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 32, "batch size")
flags.DEFINE_integer("seq_len", 128, "tokens per example")
flags.DEFINE_integer("layers", 12, "encoder depth (BERT-base: 12)")
flags.DEFINE_integer("repeats", 3, "timed rounds (each round runs every variant once)")
flags.DEFINE_list("methods", DEFAULT_METHODS, "registered adapter methods to compare")
flags.DEFINE_string("out", "results/methods.json", "JSON output path")


def _batch(cfg: EncoderConfig, batch: int, seq: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(seq // 2, seq + 1, batch)
    mask = (np.arange(seq)[None] < lengths[:, None]).astype(np.int32)
    ids = np.where(mask == 1, rng.integers(1, cfg.vocab_size, (batch, seq)), 0).astype(np.int32)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids),
            "labels": rng.integers(0, 2, batch).astype(np.int32)}


def run(batch=32, seq_len=128, layers=12, repeats=3, methods=DEFAULT_METHODS) -> dict:
    unknown = [m for m in methods if m not in registry.METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; registered: {sorted(registry.METHODS)}")
    cfg = EncoderConfig(num_hidden_layers=layers)
    model = AdapterModel.from_config(cfg, seed=0)
    model.add_head("task", "classification", num_labels=2)
    head = model.heads["task"]
    data = {k: jax.numpy.asarray(v) for k, v in _batch(cfg, batch, seq_len).items()}
    inputs = (data["input_ids"], data["attention_mask"], data["token_type_ids"])
    tx = adamw(1e-4)
    result = {"workload": dict(model="bert-base shape (random init)", layers=layers, batch=batch, seq_len=seq_len),
              "environment": benchmark.environment(), "train": {}, "infer": {}}

    # --- training: full fine-tuning vs each method's adapter-only step ---------------------------
    train, states = {}, {}
    def add_train(name, params, adapter_def, frozen, full):
        step = make_train_step(model.graphdef, adapter_def, head.graphdef, "classification", tx, full_finetune=full)
        states[name] = init_state(params, tx)  # copies: the donated state never aliases the model
        compiled, seconds = benchmark.compile_timed(step, states[name], frozen, data)
        result["train"][name] = {"compile_s": seconds, "flops": step_flops(compiled)}

        def call():
            states[name], metrics = compiled(states[name], frozen, data)
            return metrics["loss"]
        train[name] = call

    add_train("full", {"base": model.params, "head": head.params}, None, None, True)
    for m in methods:
        model.add_adapter(m, m)
        slot = model.adapters[m]
        add_train(m, {"adapter": slot.params, "head": head.params}, slot.graphdef, model.params, False)
        result["train"][m]["trainable_params"] = slot.num_parameters
        logging.info("compiled training step for %s", m)
    for name, samples in benchmark.interleaved(train, repeats, progress=logging.info).items():
        result["train"][name].update(benchmark.summary(samples))
    full = result["train"]["full"]["median_s"]
    for m in methods:
        r = result["train"][m]
        r["speedup_vs_full"] = full / r["median_s"]
        r["flops_ratio_full_over_adapter"] = result["train"]["full"]["flops"] / r["flops"]
    del states, train

    # --- inference: bare encoder + head vs each adapter (and merged LoRA / (IA)³) ----------------
    infer = {}
    def add_infer(name, params, adapter_def, adapter_params):
        args = (model.graphdef, params, adapter_def, adapter_params, head.graphdef, head.params, *inputs)
        compiled, seconds = benchmark.compile_timed(forward, *args)
        result["infer"][name] = {"compile_s": seconds, "flops": step_flops(compiled)}
        dynamic = (params, adapter_params, head.params, *inputs)  # the executable takes no static args
        infer[name] = lambda: compiled(*dynamic).logits

    add_infer("bare", model.params, None, None)
    for m in methods:
        add_infer(m, model.params, model.adapters[m].graphdef, model.adapters[m].params)
        if registry.METHODS[m][0].mergeable:
            model.merge_adapter(m)  # folded into the base: the bare program runs with merged weights
            add_infer(f"{m}_merged", model.params, None, None)
            model.unmerge_adapter()
    for name, samples in benchmark.interleaved(infer, repeats, progress=logging.info).items():
        result["infer"][name].update(benchmark.summary(samples))
    bare = result["infer"]["bare"]["median_s"]
    for name, r in result["infer"].items():
        r["overhead_vs_bare"] = r["median_s"] / bare - 1
    return result


def main(argv):
    del argv
    result = run(FLAGS.batch, FLAGS.seq_len, FLAGS.layers, FLAGS.repeats, FLAGS.methods)
    benchmark.write_json(FLAGS.out, result)
    print(f"{'method':16s} {'train s':>8s} {'vs full':>8s} {'FLOP ratio':>10s} {'infer s':>8s} {'overhead':>9s}")
    t, i = result["train"], result["infer"]
    print(f"{'full':16s} {t['full']['median_s']:8.3f} {1:8.2f} {1:10.2f} {i['bare']['median_s']:8.3f} {0:9.1%}")
    for m in FLAGS.methods:
        print(f"{m:16s} {t[m]['median_s']:8.3f} {t[m]['speedup_vs_full']:8.2f} "
              f"{t[m]['flops_ratio_full_over_adapter']:10.2f} {i[m]['median_s']:8.3f} {i[m]['overhead_vs_bare']:9.1%}")
        if f"{m}_merged" in i:
            print(f"{m + ' merged':16s} {'':8s} {'':8s} {'':10s} {i[m + '_merged']['median_s']:8.3f} "
                  f"{i[m + '_merged']['overhead_vs_bare']:9.1%}")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
