"""Examples/s of training steps under fixed padding, length buckets and packing (JAX) beside
PyTorch + AdapterHub with dynamic padding, on the real SST-2 / MRPC / RTE length distributions,
all-MiniLM-L6-v2 and a BERT-base-shaped model; one interleaved run per task.

    python experiments/bench_packing.py --out=results/packing_cpu.json
    python experiments/bench_packing.py --shapes=minilm --tasks=sst2 --steps=2 --repeats=3 --out=/tmp/p.json

Writes the JSON (per group: examples/s, padding efficiency, rows × width, per-round samples,
paired ratios with 95% intervals; the targets with verdicts) and the same tables as <out>.md.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags, logging

from flax_adapters_lab import provenance
from flax_adapters_lab.reproduce import layouts
from flax_adapters.training import cli

SHARED_GLUE = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "glue")
FLAGS = flags.FLAGS
flags.DEFINE_list("shapes", ["minilm", "bert-base"], "minilm and/or bert-base (random weights, MiniLM's tokenizer)")
flags.DEFINE_list("tasks", ["sst2", "mrpc", "rte"], "GLUE tasks whose train-file lengths are batched")
flags.DEFINE_list("methods", ["full", "seq_bn"], "full and/or an adapter method")
flags.DEFINE_integer("steps", 4, "consecutive training batches per timed call")
flags.DEFINE_integer("repeats", 5, "timed rounds (variants interleaved in each)")
flags.DEFINE_integer("batch_size", 32, "examples per batch")
flags.DEFINE_integer("max_length", 128, "truncation length = fixed padding = packed row length")
flags.DEFINE_string("data_dir", SHARED_GLUE, "GLUE-layout directory")
flags.DEFINE_string("workdir", None, "where the random BERT-base checkpoint is kept (default: a temp dir)")
flags.DEFINE_bool("torch", True, "also time PyTorch + AdapterHub with dynamic padding")
flags.DEFINE_string("out", "results/packing_cpu.json", "JSON output path (tables in <out>.md)")


def main(argv):
    del argv
    result = layouts.run(FLAGS.shapes, FLAGS.tasks, FLAGS.methods, FLAGS.steps, FLAGS.repeats, FLAGS.batch_size,
                         FLAGS.max_length, FLAGS.data_dir, FLAGS.torch, FLAGS.workdir, log=logging.info)
    provenance.write_json(FLAGS.out, result)
    table = layouts.markdown(result)
    Path(FLAGS.out).with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main)  # a user error (bad flag, task, method) is one `error:` line
