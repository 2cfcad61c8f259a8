"""Per adapter method: training step vs full fine-tuning and inference vs the bare encoder (merged
LoRA / (IA)³ too), JAX beside PyTorch + AdapterHub (+ peft LoRA), one run, interleaved.

The `methods` section of the reproduction suite (flax_adapters_lab/reproduce/sections.py) on one
workload: every variant compiled ahead of time (compile seconds, XLA FLOPs and memory reported
apart), AdamW over the trainable parameters, dropout on, random ids with a padded mask.

    python experiments/bench_methods.py --batch=32 --seq_len=128 --repeats=3 --out=results/methods.json [--notorch]
"""

from __future__ import annotations

from absl import flags, logging

from flax_adapters_lab import provenance
from flax_adapters.training import cli
from flax_adapters_lab.reproduce import Workload, default_config, from_config_dict, sections

FLAGS = flags.FLAGS
flags.DEFINE_string("shape", "bert-base", "model shape (reproduce.workload.SHAPES)")
flags.DEFINE_integer("batch", 32, "batch size")
flags.DEFINE_integer("seq_len", 128, "tokens per example")
flags.DEFINE_integer("layers", None, "encoder depth (default: the shape's)")
flags.DEFINE_integer("repeats", 3, "timed rounds (each round runs every variant once)")
flags.DEFINE_list("methods", list(default_config().methods), "registered adapter methods to compare")
flags.DEFINE_bool("torch", True, "time the PyTorch baselines too")
flags.DEFINE_string("out", "results/methods.json", "JSON output path")


def main(argv):
    del argv
    c = default_config()
    c.methods, c.repeats, c.torch, c.torch_compile = tuple(FLAGS.methods), FLAGS.repeats, FLAGS.torch, ()
    cfg = from_config_dict(c)
    wl = Workload(FLAGS.shape, FLAGS.batch, FLAGS.seq_len, FLAGS.layers)
    result = dict(sections.methods(cfg, wl, logging.info), environment=provenance.environment())
    provenance.write_json(FLAGS.out, result)
    t, i = result["train"], result["infer"]
    print(f"{'variant':22s} {'train s':>8s} {'vs full':>8s} {'infer s':>8s} {'vs bare':>8s}")
    for name in sorted(set(t) | set(i)):
        tr, inf = t.get(name, {}), i.get(name, {})
        cell = lambda r, k, f: f.format(r[k]) if r.get(k) is not None else "-"  # noqa: E731
        print(f"{name:22s} {cell(tr, 'median_s', '{:8.3f}'):>8s} {cell(tr, 'speedup_vs_full', '{:8.2f}'):>8s} "
              f"{cell(inf, 'median_s', '{:8.3f}'):>8s} {cell(inf, 'overhead_vs_bare', '{:+8.1%}'):>8s}")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main)  # a user error (bad flag, shape, method) is one `error:` line
