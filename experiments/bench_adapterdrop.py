"""AdapterDrop and multi-task serving speed (docs/papers.md §1), one run, variants interleaved: the
`adapterdrop`, `parallel` and `mixed` sections of the reproduction suite on one workload.

  train:    Pfeiffer training step with adapters dropped from layers 0…n−1, for every n; speed-up
            vs n = 0 and robust AdapterDrop's expected speed-up (mean over n ~ U{0…10}).
  parallel: N task adapters over one batch on the shared trunk, for each N × n; speed-up vs n = 0
            beside the cost model (N·L)/(n + N·(L − n)).
  mixed:    one batch whose examples use 8 different tasks vs the same batch through one task.

    python experiments/bench_adapterdrop.py --batch=32 --seq_len=128 --tasks=1,2,4,8 --drops=0,1,3,5,7,9,11 \
        --sections=train,parallel,mixed --repeats=3 --out=results/adapterdrop_cpu.json [--notorch]
"""

from __future__ import annotations

from absl import app, flags, logging

from flax_adapters_lab import provenance
from flax_adapters.training import cli
from flax_adapters_lab.reproduce import Workload, default_config, from_config_dict, sections

FLAGS = flags.FLAGS
flags.DEFINE_string("shape", "bert-base", "model shape (reproduce.workload.SHAPES)")
flags.DEFINE_integer("batch", 32, "batch size (parallel inference uses it too)")
flags.DEFINE_integer("seq_len", 128, "tokens per example")
flags.DEFINE_integer("repeats", 3, "timed rounds")
flags.DEFINE_list("tasks", ["1", "2", "4", "8"], "numbers of parallel tasks N")
flags.DEFINE_list("drops", [str(n) for n in range(12)], "numbers of dropped layers n")
flags.DEFINE_list("sections", ["train", "parallel", "mixed"], "which parts to run")
flags.DEFINE_bool("torch", True, "time PyTorch + AdapterHub at n = 0 and 5 too")
flags.DEFINE_string("out", "results/adapterdrop.json", "JSON output path")
SECTIONS = {"train": sections.adapterdrop, "parallel": sections.parallel, "mixed": sections.mixed}


def main(argv):
    del argv
    unknown = sorted(set(FLAGS.sections) - set(SECTIONS))
    if unknown:
        raise app.UsageError(f"unknown sections {unknown}; choose from {sorted(SECTIONS)}")
    c = default_config()
    drops = tuple(int(n) for n in FLAGS.drops)
    c.drops, c.parallel_drops, c.torch_drops = drops, drops, (0, 5)
    c.parallel_tasks, c.torch_parallel = tuple(int(t) for t in FLAGS.tasks), (8,)
    c.batch, c.seq_len, c.parallel_batch, c.repeats, c.torch = FLAGS.batch, FLAGS.seq_len, FLAGS.batch, FLAGS.repeats, FLAGS.torch
    cfg = from_config_dict(c)
    wl = Workload(FLAGS.shape, FLAGS.batch, FLAGS.seq_len)
    result = {name: SECTIONS[name](cfg, wl, logging.info) for name in FLAGS.sections}
    result["environment"] = provenance.environment()
    provenance.write_json(FLAGS.out, result)
    if "train" in result:
        rows = sorted(result["train"]["train"].items(), key=lambda kv: (kv[0].split("/")[0], kv[1]["n"]))
        print("train  " + "  ".join(f"{k}:{r['speedup_vs_n0']:.2f}x" for k, r in rows))
        if "robust_expected_speedup" in result["train"]:
            print(f"robust expected speed-up: {result['train']['robust_expected_speedup']:.2f}x")
    for N, res in result.get("parallel", {}).get("tasks", {}).items():
        print(f"parallel N={N}: " + "  ".join(f"{k}:{r['speedup_vs_n0']:.2f}x(model {r['cost_model_vs_n0']:.2f})"
                                              for k, r in res.items()))
    if "mixed" in result:
        print(f"mixed 8 tasks / single: {result['mixed']['relative_throughput']:.2f}")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main)  # a user error (bad flag, shape, method) is one `error:` line
