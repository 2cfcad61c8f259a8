"""AdapterFusion cost (docs/papers.md §1): inference and fusion-only training with 2 and 8 fused
adapters, and the 8-adapter fusion pruned to each layer's top 2, beside one plain adapter and
full fine-tuning / the bare model -- the `fusion` section of the reproduction suite.

Pruning keeps the k adapters with the highest mean fusion weight per layer (`fusion.prune`); the
weights are measured on the benchmark batch itself, since which two survive does not change the cost.

    python experiments/bench_fusion.py --batch=8 --seq_len=128 --repeats=5 --out=results/fusion_cpu_b8.json
"""

from __future__ import annotations

from absl import flags, logging

from flax_adapters_lab import provenance
from flax_adapters.training import cli
from flax_adapters_lab.reproduce import Workload, default_config, from_config_dict, sections

FLAGS = flags.FLAGS
flags.DEFINE_string("shape", "bert-base", "model shape (reproduce.workload.SHAPES)")
flags.DEFINE_integer("batch", 8, "batch size")
flags.DEFINE_integer("seq_len", 128, "tokens per example")
flags.DEFINE_integer("repeats", 5, "timed rounds")
flags.DEFINE_string("out", "results/fusion.json", "JSON output path")


def main(argv):
    del argv
    c = default_config()
    c.repeats = FLAGS.repeats
    result = dict(sections.fusion(from_config_dict(c), Workload(FLAGS.shape, FLAGS.batch, FLAGS.seq_len), logging.info),
                  environment=provenance.environment())
    provenance.write_json(FLAGS.out, result)
    for kind in ("infer", "train"):
        print(kind + ": " + "  ".join(f"{k} {v['median_s']:.3f}s ({v['time_vs_adapter']:.2f}x)"
                                      for k, v in result[kind].items()))
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main)  # a user error (bad flag, shape, method) is one `error:` line
