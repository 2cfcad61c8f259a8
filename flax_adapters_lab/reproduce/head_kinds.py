"""The methods section's training step with other heads than classification (config.tasks):

  tagging             AdapterHub's TaggingHead, 9 labels per token (an NER-sized label set), at the
                      workload's seq_len; labels [B, T] with -100 (no loss) on padding
  question_answering  AdapterHub's QuestionAnsweringHead (start/end logits per token), at
                      config.qa_seq_len tokens (SQuAD's usual 384) and the workload's batch; labels
                      [B, 2] start/end positions inside each row's real length, start ≤ end

For each kind one more timed group joins the section: one training step of full fine-tuning and of
every method of config.methods, JAX (training.steps with that head kind) beside PyTorch eager +
AdapterHub on the same host batch, all interleaved in the same rounds (timing.measure, with the
A/A twin and adaptive rounds of sections.methods). peft and torch.compile are left to the
classification group (peft has no AdapterHub-layout QA head; a CPU compile of a step costs ~75 s).

Results: methods[kind] = {"workload", "train", "errors"} with the classification group's record
format, plus on each JAX record `jax_vs_torch_speedup` (PyTorch step ÷ JAX step, paired over rounds,
with its interval); the group's A/A control is methods["aa"][kind]. Only the main workload's methods
section gets these groups (not the input grid or the extra shapes): QA at 384 tokens is their cost.
"""

from __future__ import annotations

import numpy as np

from flax_adapters_lab import timing
from flax_adapters_lab.reproduce import jax_side, torch_side
from flax_adapters_lab.reproduce.config import ReproConfig
from flax_adapters_lab.reproduce.timing import Log, aa_record, put_ratio, resolution, torch_variant
from flax_adapters_lab.reproduce.workload import Workload

# Our HeadConfig options per kind; AdapterHub's add_tagging_head / add_qa_head default to 1 layer too.
HEADS = {"tagging": {"num_labels": 9, "layers": 1}, "question_answering": {"num_labels": 2, "layers": 1}}
IGNORE_INDEX = -100  # training.steps.IGNORE_INDEX and torch's CrossEntropyLoss default
# Minutes the quick suite's classification training group takes on a 2-core CPU (17 variants,
# ~3 min): the ETA's guess for one more kind's group at the same tokens, scaled by tokens per row.
GROUP_MINUTES = 3.0


def extra_kinds(cfg: ReproConfig) -> list[str]:
    return [k for k in cfg.tasks if k != "classification"]


def workload_of(cfg: ReproConfig, wl: Workload, kind: str) -> Workload:
    """QA runs SQuAD-length windows (qa_seq_len) at the same batch; tagging the workload itself."""
    if kind == "question_answering":
        return Workload(wl.shape, wl.batch, cfg.qa_seq_len, wl.layers)
    return wl


def eta_minutes(cfg: ReproConfig) -> float:
    """The ETA weight the kinds add to the methods section (0 for the default tasks)."""
    return sum(GROUP_MINUTES * workload_of(cfg, Workload(cfg.shape, cfg.batch, cfg.seq_len), k).seq_len / cfg.seq_len
               for k in extra_kinds(cfg))


def labelled(host: dict, kind: str, seed: int = 0) -> dict:
    """`host` with labels for `kind`, drawn from their own seeded stream (the input arrays are
    untouched, so the classification group's batch stays what it was)."""
    mask = host["attention_mask"]
    b, t = mask.shape
    rng = np.random.default_rng([seed, 1])
    if kind == "tagging":
        tags = rng.integers(0, HEADS["tagging"]["num_labels"], (b, t))
        labels = np.where(mask == 1, tags, IGNORE_INDEX)
    elif kind == "question_answering":
        lengths = mask.sum(axis=1)
        start = rng.integers(0, lengths)                # inside the real tokens
        end = rng.integers(start, lengths)              # start ≤ end < length
        labels = np.stack([start, end], axis=1)
    else:
        raise ValueError(f"no labels for head kind {kind!r}; choose from {', '.join(HEADS)}")
    return dict(host, labels=labels.astype(np.int32))


def train_group(cfg: ReproConfig, wl: Workload, kind: str, log: Log) -> tuple[dict, dict | None]:
    """One kind's timed group: ({"workload", "train", "errors"}, its A/A control)."""
    wl = workload_of(cfg, wl, kind)
    host = labelled(wl.host_batch(seed=cfg.seed), kind, cfg.seed)
    batch = jax_side.device_batch(host)
    model = jax_side.build_model(wl, {m: m for m in cfg.methods}, cfg.seed, kind=kind, **HEADS[kind])
    train, errors = {}, {}
    shared = torch_side.Shared(wl)  # one AdapterHub base for the group's adapter variants (see Shared)
    opts = dict(kind=kind, num_labels=HEADS[kind]["num_labels"])
    train["jax/full"] = jax_side.train(model, None, batch, kind=kind)
    torch_variant(cfg, train, errors, "torch/full", lambda: torch_side.train(wl, None, host, **opts))
    for m in cfg.methods:
        train[f"jax/{m}"] = jax_side.train(model, m, batch, kind=kind)
        torch_variant(cfg, train, errors, f"torch/{m}", lambda m=m: torch_side.train(wl, m, host, shared=shared, **opts))
    log(f"methods {kind} {wl.describe()}: {len(train)} training variants built; timing")
    pairs = [("jax/full" + timing.AA, "jax/full"), ("torch/full", "jax/full"), ("torch/seq_bn", "jax/seq_bn")]
    train = timing.measure(train, cfg.repeats, cfg.warmup, twin="jax/full", resolve=resolution(cfg, pairs, "train"))
    aa = aa_record(train, "jax/full")
    for name, r in train.items():
        framework, method = name.split("/")
        put_ratio(r, "speedup_vs_full", train, f"{framework}/full", name)
        if framework == "jax":
            if method != "full":
                r["flops_ratio_full_over_this"] = train["jax/full"]["flops"] / r["flops"]
            put_ratio(r, "jax_vs_torch_speedup", train, f"torch/{method}", name)
    return {"workload": wl.as_dict(), "train": train, "errors": errors}, aa


def add_groups(cfg: ReproConfig, wl: Workload, section: dict, log: Log) -> dict:
    """The methods section's result with one group per extra kind of cfg.tasks (unchanged when
    there is none)."""
    for kind in extra_kinds(cfg):
        section[kind], section["aa"][kind] = train_group(cfg, wl, kind, log)
    return section
