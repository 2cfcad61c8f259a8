"""Suites of the reproduction job (experiments/reproduce.py). The argument names the suite:

  quick   (default) BERT-base shape, batch 8 × 64, every section, PyTorch eager + AdapterHub + peft
          beside JAX, torch.compile for bare inference: 12–16 min on a 2-core CPU (12.4–15.3 in five runs), under 4 GiB.
  paper   the papers' scale for a GPU/TPU: BERT-base at 32 × 128 plus an input-size grid and the
          RoBERTa-base shape, AdapterDrop and parallel inference over every n and N ∈ {1, 2, 4, 8, 16},
          torch.compile everywhere it applies. Hours on a CPU.
  tiny    a 2-layer toy shape through every section in about a minute (tests, smoke checks).
  gpu     for an accelerator (reproduce/gpu.py): BERT-base at 32 × 128 and 32 × 512, fp32 and bf16;
          full FT vs Pfeiffer vs LoRA, AdapterDrop n = 0/5/10 (static; robust from the same run),
          inference bare/Pfeiffer/merged LoRA, parallel N = 8 at n = 0/5, a mixed-task batch; PyTorch
          eager beside it (AdapterHub, or peft where AdapterHub is absent) and torch.compile at
          32 × 128 bf16; GEMM peaks of both frameworks in both dtypes. Sized for the ≤ 8 min device
          check on an H200 (experiments/device_check.sh runs it; not yet run on a GPU).
  gpu_tiny  the gpu suite's code on a 12-layer toy shape at 4 × 16/32: the device script's CPU dry run.

    python experiments/reproduce.py --config=configs/reproduce.py:quick --workdir=runs/reproduce_quick
    python experiments/reproduce.py --config=configs/reproduce.py:paper --workdir=runs/reproduce_paper
    # tabulate real training runs (paper 2) too:
    python experiments/reproduce.py --config=configs/reproduce.py:quick --workdir=runs/q \
        --config.convergence_runs=runs/minilm_sst2_full,runs/minilm_sst2_pfeiffer \
        --config.add_task_table=runs/add_rte/add_task.json
    # time a tagging step and a QA step (qa_seq_len = 384 tokens) beside PyTorch + AdapterHub too
    # (methods section; on a 2-core CPU the quick shape's QA group at 384 tokens would take about as
    # long as the whole quick suite -- an estimate from its FLOPs -- so try it on tiny or a GPU):
    python experiments/reproduce.py --config=configs/reproduce.py:tiny --workdir=runs/t \
        --config.sections=methods --config.tasks=classification,tagging,question_answering
"""

from flax_adapters_lab.reproduce import default_config
from flax_adapters_lab.reproduce import gpu

SUITES = ("quick", "paper", "tiny", "gpu", "gpu_tiny")


def get_config(suite: str = "quick"):
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose one of {SUITES}")
    if suite.startswith("gpu"):
        return _gpu_config(suite)
    c = default_config()
    c.suite = suite
    if suite == "paper":
        c.batch, c.seq_len, c.repeats, c.infer_repeats = 32, 128, 5, 7
        c.input_grid = ((1, 128), (16, 128), (16, 256), (8, 512))
        c.extra_shapes = ("roberta-base",)
        c.drops = c.torch_drops = tuple(range(12))
        c.parallel_batch = 32
        c.parallel_tasks = (1, 2, 4, 8, 16)
        c.parallel_drops = tuple(range(12))
        c.torch_parallel = (2, 8, 16)
        c.torch_compile = ("train:full", "train:seq_bn", "infer:bare", "infer:seq_bn")
    elif suite == "tiny":
        c.shape, c.batch, c.seq_len = "tiny", 4, 16
        c.drops, c.torch_drops, c.parallel_drops = (0, 1), (0, 1), (0, 1)
        c.parallel_batch, c.parallel_tasks, c.torch_parallel = 2, (1, 2, 8), (8,)
        c.methods = ("seq_bn", "lora")
        c.torch_compile = ()
        c.repeats, c.infer_repeats, c.warmup = 2, 2, 1
        c.max_repeats, c.max_infer_repeats, c.train_budget_s, c.infer_budget_s = 3, 4, 1.0, 1.0
        c.methods_max_repeats, c.methods_budget_s, c.methods_infer_budget_s = 4, 1.0, 1.0
    return c


def _gpu_config(suite: str):
    c = gpu.default_config()  # the gpu suite's own keys (reproduce/gpu.py: GpuConfig)
    c.suite = suite
    if suite == "gpu_tiny":
        # Same sections, drops and parallel n as `gpu`; a 12-layer toy so n = 5 and 10 exist.
        c.shape, c.layers, c.batch, c.seq_lens, c.parallel_batch = "tiny", 12, 4, (16, 32), 2
        c.repeats, c.infer_repeats, c.warmup, c.peak_n = 2, 2, 1, 256
        c.torch_compile, c.torch_compile_at = ("infer:bare",), ("16:bfloat16",)
    return c
