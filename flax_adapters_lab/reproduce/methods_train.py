"""The methods section's training steps, timed in four groups so that no group holds two full
fine-tuning states (weights, AdamW moments, gradients and temporaries: 1.7–2.0 GiB each at BERT-base;
with both frameworks' libraries and two base models, one group holding both came to 7.2 GiB):

  train             JAX's full FT (and its A/A twin: the suite's training control) beside the anchor,
                    JAX's Pfeiffer step: the adapter-vs-full headline, paired in one group
  train_jax         the anchor beside JAX's other methods
  train_torch       PyTorch + AdapterHub per method, peft LoRA, torch.compile'd adapters, beside the anchor
  train_torch_full  PyTorch's full FT (eager and compiled) beside PyTorch's Pfeiffer step

A ratio between variants that never shared a group chains through the variants two groups share
(stats.chained_ratio): e.g. PyTorch's LoRA over its full FT is (full ÷ Pfeiffer) in
train_torch_full × (Pfeiffer ÷ LoRA) in train_torch, each group's rounds resampled on their own.
Each group's states and programs are freed, and the memory returned, before the next is built;
JAX's model is dropped before PyTorch's full FT, which trains the shared model's own tensors
(torch_side.train). Measured per group: BUILD_NOTES, "Decisions: the lab" (memory).
"""

from __future__ import annotations

from typing import Callable

from flax_adapters_lab import host_memory, stats, timing
from flax_adapters.adapters import AdapterModel
from flax_adapters_lab.reproduce import jax_side, torch_side
from flax_adapters_lab.reproduce.config import ReproConfig
from flax_adapters_lab.reproduce.timing import Log, aa_record, resolution, target, time_group, torch_variant
from flax_adapters_lab.reproduce.workload import Workload

GROUPS = ("train", "train_jax", "train_torch", "train_torch_full")


def anchor_method(cfg: ReproConfig) -> str:
    """The method whose step every group but the last times: Pfeiffer (the headlines'), else the first."""
    return "seq_bn" if "seq_bn" in cfg.methods else cfg.methods[0]


def time_training(cfg: ReproConfig, wl: Workload, build_model: Callable[[], AdapterModel], batch: dict,
                  host: dict, errors: dict, log: Log) -> dict:
    """{"train": results by variant, "aa": the control, "anchors": the anchor's timings in the groups
    that only borrow it, "memory_by_group": resident once built and peak while timing, per group}.
    JAX's model (`build_model()`) lives through the groups that time JAX, not PyTorch's full FT."""
    model = build_model()
    a = anchor_method(cfg)
    anchor, torch_anchor = f"jax/{a}", f"torch/{a}"
    groups, memory = {}, {}
    anchor_name = lambda group: torch_anchor if group == "train_torch_full" else anchor  # noqa: E731

    def run(name: str, variants: dict, borrow=None, **options) -> None:
        """Times `variants` (+ the anchor's variant `borrow`ed from another group), then empties it."""
        log(f"methods {wl.describe()}: {name}: {len(variants) + (borrow is not None)} variants built; timing")
        group = variants | ({} if borrow is None else {anchor_name(name): borrow})
        variants.clear()
        groups[name] = time_group(memory, name, group, cfg.repeats, cfg.warmup, **options)

    keep = {anchor: jax_side.train(model, a, batch)}  # lives through the first three groups
    # Pairs with a target resolve once their verdict is decided: the control needs the rounds more.
    pairs = [("jax/full" + timing.AA, "jax/full"), ("jax/full", anchor, target("adapter_vs_full_train_speedup"))]
    run("train", {"jax/full": jax_side.train(model, None, batch), anchor: keep[anchor]}, twin="jax/full",
        resolve=resolution(cfg, pairs, "train", headline=True))
    variants = {f"jax/{m}": jax_side.train(model, m, batch) for m in cfg.methods if m != a}
    if variants:
        run("train_jax", variants, borrow=keep[anchor])

    shared = torch_side.Shared(wl)  # the AdapterHub adapters share one base model
    for m in cfg.methods:
        torch_variant(cfg, variants, errors, f"torch/{m}", lambda m=m: torch_side.train(wl, m, host, shared=shared))
    if "lora" in cfg.methods:
        torch_variant(cfg, variants, errors, "peft/lora", lambda: torch_side.peft_train(wl, host, shared=shared))
    if f"train:{a}" in cfg.torch_compile:
        torch_variant(cfg, variants, errors, f"torch.compile/{a}", lambda: torch_side.train(wl, a, host, compile=True))
    keep[torch_anchor] = variants.get(torch_anchor)
    if variants:
        pairs = [(torch_anchor, anchor, target("jax_vs_torch_train_speedup"))]
        run("train_torch", variants, borrow=keep[anchor], resolve=resolution(cfg, pairs, "train"))
    del keep[anchor], model  # JAX is done: its model's 0.5 GiB go before PyTorch's full FT is built
    host_memory.release_memory()
    # Full FT trains the shared model's own base tensors (no second copy; torch_side.train).
    torch_variant(cfg, variants, errors, "torch/full", lambda: torch_side.train(wl, None, host, shared=shared))
    if "train:full" in cfg.torch_compile:
        torch_variant(cfg, variants, errors, "torch.compile/full", lambda: torch_side.train(wl, None, host, compile=True))
    if variants and keep[torch_anchor] is not None:
        run("train_torch_full", variants, borrow=keep[torch_anchor])
    variants.clear()
    keep.clear()
    return _results(groups, anchor, torch_anchor) | {"memory_by_group": memory}


def _results(groups: dict, anchor: str, torch_anchor: str) -> dict:
    """The groups' variants in one table with their ratios to full FT (`speedup_vs_full`) and, for
    the other frameworks', to JAX's same variant (`over_jax`), chained where they sit apart."""
    def link(group: str, numerator: str, denominator: str):
        g = groups.get(group, {})
        if numerator in g and denominator in g:
            return g[numerator]["samples_s"], g[denominator]["samples_s"]
        return None

    def put(r: dict, key: str, *links) -> None:
        if links and all(links):
            q = stats.chained_ratio(*links)
            r[key], r[key + "_ci"] = q["value"], q["ci"]

    aa = aa_record(groups.get("train", {}), "jax/full")
    train, where = {}, {}
    borrowed = {"train": None, "train_jax": anchor, "train_torch": anchor, "train_torch_full": torch_anchor}
    for name in GROUPS:  # each variant once: the groups that only borrow an anchor do not list it
        for variant, r in groups.get(name, {}).items():
            if variant != borrowed[name]:
                train[variant], where[variant] = r, name
    full = link("train", "jax/full", anchor)
    for variant, r in train.items():
        framework, method = variant.split("/")
        if framework == "jax":
            if variant == "jax/full":
                r["speedup_vs_full"], r["speedup_vs_full_ci"] = 1.0, [1.0, 1.0]
            else:
                put(r, "speedup_vs_full", full, *([] if variant == anchor else [link(where[variant], anchor, variant)]))
                r["flops_ratio_full_over_this"] = train["jax/full"]["flops"] / r["flops"]
            continue
        ref = f"{framework}/full" if f"{framework}/full" in train else "torch/full"
        jax_same = f"jax/{method}"
        if where[variant] == "train_torch_full":
            put(r, "speedup_vs_full", link("train_torch_full", ref, variant))
            put(r, "over_jax", link("train_torch_full", variant, torch_anchor),
                link("train_torch", torch_anchor, anchor), link("train", anchor, "jax/full"))
        else:
            put(r, "speedup_vs_full", link("train_torch_full", ref, torch_anchor),
                link("train_torch", torch_anchor, variant))
            chain = [link("train_torch", variant, anchor)]
            if jax_same != anchor:
                chain.append(link(where.get(jax_same, "train_jax"), anchor, jax_same))
            put(r, "over_jax", *chain)
    anchors = {name: groups[name][a] for name, a in (("train_jax", anchor), ("train_torch", anchor),
                                                      ("train_torch_full", torch_anchor)) if name in groups}
    return {"train": train, "aa": aa, "anchors": anchors}
