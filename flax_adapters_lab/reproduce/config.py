"""The reproduction suite's configuration: ml_collections (configs/reproduce.py) → frozen dataclass.

A suite is a set of sections (SECTIONS), each measuring one of the papers' questions on one
workload, JAX and PyTorch interleaved in the same run. `quick` fits 15 minutes on a 2-core CPU;
`paper` runs the papers' shapes and input grid (for a GPU/TPU). `tasks` adds head kinds beyond
classification to the methods section's training step (reproduce/head_kinds.py).
"""

from __future__ import annotations

import dataclasses

import ml_collections

from flax_adapters.training.config import config_dict_of, dataclass_from, nearest_first

SECTIONS = ("peak", "methods", "adapterdrop", "parallel", "mixed", "fusion", "storage", "convergence")
TORCH_COMPILE_TARGETS = ("train:full", "train:seq_bn", "infer:bare", "infer:seq_bn")
TASK_KINDS = ("classification", "tagging", "question_answering")  # head kinds the methods section can time


@dataclasses.dataclass(frozen=True)
class ReproConfig:
    suite: str = "quick"
    sections: tuple = SECTIONS
    # The main workload: model shape name (reproduce.workload.SHAPES), batch, tokens per example.
    shape: str = "bert-base"
    batch: int = 8
    seq_len: int = 64
    # Extra (batch, seq_len) inputs for the per-method table (paper 1 measured several sizes),
    # and extra model shapes measured there too ("roberta-base").
    input_grid: tuple = ()
    extra_shapes: tuple = ()
    methods: tuple = ("seq_bn", "double_seq_bn", "par_bn", "lora", "ia3", "prefix_tuning", "compacter")
    # Head kinds of the methods section's training step: classification is its own groups (always
    # run); "tagging" (9 labels per token) and "question_answering" (start/end per token, at
    # qa_seq_len tokens) each add one more group of full FT + every method, JAX beside PyTorch +
    # AdapterHub (reproduce/head_kinds.py). Main workload only, not the input grid / extra shapes.
    tasks: tuple = ("classification",)
    qa_seq_len: int = 384                    # SQuAD's usual window
    drops: tuple = tuple(range(11))          # AdapterDrop training: n = dropped layers (robust draws 0…10)
    torch_drops: tuple = (0, 5)              # the same on PyTorch + AdapterHub
    parallel_batch: int = 4                  # one input through N task adapters
    parallel_tasks: tuple = (1, 2, 4, 8)
    parallel_drops: tuple = (0, 1, 5, 11)
    torch_parallel: tuple = (8,)             # N measured on AdapterHub's Parallel at n = 0 and 5
    fusion_sizes: tuple = (2, 8)
    fusion_keep: int = 2                     # pruning: top-k adapters per layer
    repeats: int = 3
    infer_repeats: int = 4                   # inference steps are short and their overheads small: more rounds
    warmup: int = 1
    # Adaptive rounds (timing.Resolution): after the repeats above, the variants of each timed
    # group's headline ratios and A/A control get extra rounds among themselves until those resolve
    # ± resolve_halfwidth (95% bootstrap interval), up to max_(infer_)repeats rounds or the group's
    # budget of extra timing.
    resolve_halfwidth: float = 0.01
    max_repeats: int = 12
    max_infer_repeats: int = 40
    train_budget_s: float = 20.0
    infer_budget_s: float = 20.0
    # Two of the methods section's groups hold the suite's headline A/A controls (aa_train, aa_infer):
    # after the caps above, the control goes on alone (two calls a round) up to this cap, within
    # these budgets of extra timing (training group, inference group); it stops as soon as its
    # rank interval (stats.rank_interval) lies inside 1 ± resolve_halfwidth. The control's
    # per-round spread on a 2-core CPU is 1.4-4.7% (robust SD of the log ratio, heavy-tailed, by day),
    # so an unbiased control needs ~25-200 rounds to get inside 1 ± 1% (simulated by
    # experiments/aa_rounds.py, results/aa_rounds_rules_cpu.json): ~2.3 s a round for the training control (two full-FT steps),
    # ~0.5-0.8 s for inference's (its group's pairs beside).
    methods_max_repeats: int = 240
    methods_budget_s: float = 200.0
    # inference: every JAX method's overhead vs bare resolves in this budget too (~3 s a round of ~12
    # calls, up to max_infer_repeats rounds), before the control goes on alone
    methods_infer_budget_s: float = 180.0
    # glibc malloc of the timing process (host_memory.MALLOC_SETTINGS; the binary re-executes itself
    # under it). "default": glibc's own, what a user gets (XLA's per-call temporaries faulted in 4 KiB
    # pages: 10-13% of a JAX step). "reuse" keeps them in the heap (JAX steps 10-13% faster, but the
    # heap keeps its high-water mark: the methods section peaked at 3.85 GiB); "hugepages" was as fast
    # alone but twice as slow in the suite (full FT 1.97 s vs 0.98), where memory is fragmented
    # (BUILD_NOTES, "Decisions: the lab").
    host_malloc: str = "default"
    torch: bool = True                       # PyTorch baselines (skipped with a note if torch is absent)
    torch_compile: tuple = ("infer:bare",)   # of TORCH_COMPILE_TARGETS (a CPU compile of a training step: ~75 s)
    torch_threads: int = 0                   # 0: torch's default
    # Real-data results to tabulate: train.py workdirs (time to convergence) and an add_task.py
    # table.json; empty: those tables say how to produce them.
    convergence_runs: tuple = ()
    add_task_table: str = ""
    # The claims job's claims.json (experiments/claims.py), whose verdicts the report lists; "" = the
    # committed results/claims_quick_cpu/claims.json of this checkout, when present.
    claims_json: str = ""
    seed: int = 0


def default_config() -> ml_collections.ConfigDict:
    return config_dict_of(ReproConfig())


def from_config_dict(cd) -> ReproConfig:
    cfg = dataclass_from(ReproConfig, cd, "config")
    _validate(cfg)
    return cfg


def _validate(cfg: ReproConfig) -> None:
    from flax_adapters_lab import host_memory
    from flax_adapters.adapters import registry
    from flax_adapters_lab.reproduce.workload import SHAPES, Workload

    bad = [s for s in cfg.sections if s not in SECTIONS]
    if bad:
        raise ValueError(f"unknown section(s) {bad}; choose from (nearest first) {nearest_first(bad[0], SECTIONS)}")
    bad = [m for m in cfg.methods if m not in registry.METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; registered (nearest first): {nearest_first(bad[0], registry.METHODS)}")
    if not cfg.methods and "methods" in cfg.sections:
        raise ValueError("methods: empty; the methods section times at least one (its first, or Pfeiffer, "
                         "is the step every training group is paired through)")
    bad = [t for t in cfg.tasks if t not in TASK_KINDS]
    if bad:
        raise ValueError(f"tasks: unknown head kind(s) {bad}; choose from {', '.join(TASK_KINDS)}")
    bad = [t for t in cfg.torch_compile if t not in TORCH_COMPILE_TARGETS]
    if bad:
        raise ValueError(f"torch_compile: unknown target(s) {bad}; choose from (nearest first) "
                         f"{nearest_first(bad[0], TORCH_COMPILE_TARGETS)}")
    bad = [s for s in (cfg.shape, *cfg.extra_shapes) if s not in SHAPES]
    if bad:
        raise ValueError(f"unknown model shape(s) {bad}; choose from (nearest first) {nearest_first(bad[0], SHAPES)}")
    layers = Workload(cfg.shape).num_layers
    enc = Workload(cfg.shape).encoder_config()
    # RoBERTa's positions start after the padding index (514 → 512 usable), as models/model.py counts.
    positions = enc.max_position_embeddings - (enc.pad_token_id + 1 if enc.position_style == "roberta" else 0)
    if "question_answering" in cfg.tasks and not 2 <= cfg.qa_seq_len <= positions:
        raise ValueError(f"qa_seq_len {cfg.qa_seq_len} must be in [2, {positions}] (the {cfg.shape} shape's positions)")
    for name in ("drops", "torch_drops", "parallel_drops"):
        bad = [n for n in getattr(cfg, name) if not 0 <= n < layers]
        if bad:
            raise ValueError(f"{name}: {bad} outside [0, {layers}) for the {layers}-layer {cfg.shape}")
    for pair in cfg.input_grid:
        if len(pair) != 2 or min(pair) < 1:
            raise ValueError(f"input_grid entries are (batch, seq_len) pairs; got {pair!r}")
    if cfg.host_malloc not in host_memory.MALLOC_SETTINGS:
        raise ValueError(f"host_malloc {cfg.host_malloc!r}: choose one of {', '.join(host_memory.MALLOC_SETTINGS)}")
    for name in ("max_repeats", "max_infer_repeats", "methods_max_repeats", "train_budget_s", "infer_budget_s",
                 "methods_budget_s", "methods_infer_budget_s", "resolve_halfwidth"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} {getattr(cfg, name)} must be ≥ 0")
    if min(cfg.repeats, cfg.infer_repeats) < 1 or cfg.warmup < 0:
        raise ValueError(f"repeats {cfg.repeats} and infer_repeats {cfg.infer_repeats} must be ≥ 1, "
                         f"warmup {cfg.warmup} ≥ 0")
    if not 1 <= cfg.fusion_keep <= max(cfg.fusion_sizes, default=1):
        raise ValueError(f"fusion_keep {cfg.fusion_keep} must be in [1, {max(cfg.fusion_sizes, default=1)}]")


def workload(cfg: ReproConfig, batch: int | None = None, seq_len: int | None = None, shape: str | None = None):
    from flax_adapters_lab.reproduce.workload import Workload

    return Workload(shape or cfg.shape, batch or cfg.batch, seq_len or cfg.seq_len)
