"""The timed sections of the suite. Each builds every variant it compares -- JAX and, where asked,
PyTorch -- compiles them, then times them interleaved in one run (timing.measure), and derives
its ratios from medians of that same run. A section returns a JSON-able dict; `report` renders it.

  peak         fp32 GEMM rate of XLA and torch (the MFU denominator)
  methods      per method: training step vs full FT, inference vs bare, JAX vs PyTorch (the runner adds
               tagging / QA training groups when config.tasks asks: head_kinds.py)
  adapterdrop  Pfeiffer training step with adapters dropped from layers 0…n−1, per n
  parallel     N task adapters over one input on the shared trunk, per N × n
  mixed        one batch of 8 different tasks vs the same batch through one task
  fusion       AdapterFusion of 2 / 8 adapters and 8 pruned to top-k, training and inference
"""

from __future__ import annotations

import statistics

import numpy as np

from flax_adapters_lab import host_memory, stats, timing
from flax_adapters_lab.reproduce import jax_side, methods_train, torch_side
from flax_adapters_lab.reproduce.config import ReproConfig
from flax_adapters_lab.reproduce.timing import (Log, aa_record, put_ratio, resolution, target, time_group,
                                            torch_variant)
from flax_adapters_lab.reproduce.workload import Workload
MERGEABLE = ("lora", "ia3")


def peak(cfg: ReproConfig, log: Log) -> dict:
    out = {"jax": jax_side.matmul_peak()}
    log(f"XLA fp32 GEMM 4096³: {out['jax']['gflops']:.0f} GFLOP/s")
    if cfg.torch and not torch_side.unavailable():
        out["torch"] = torch_side.matmul_peak()
        log(f"torch fp32 GEMM 4096³: {out['torch']['gflops']:.0f} GFLOP/s")
    return out


def methods(cfg: ReproConfig, wl: Workload, log: Log) -> dict:
    """Training and inference per method on one workload, JAX and PyTorch interleaved."""
    host = wl.host_batch(seed=cfg.seed)
    batch = jax_side.device_batch(host)
    build = lambda: jax_side.build_model(wl, {m: m for m in cfg.methods}, cfg.seed)  # noqa: E731
    compiled = lambda target: target in cfg.torch_compile  # noqa: E731
    infer, errors = {}, {}

    # Training: four groups, so that no group holds two full fine-tuning states (methods_train).
    timed = methods_train.time_training(cfg, wl, build, batch, host, errors, log)
    train, memory = timed["train"], timed["memory_by_group"]
    model = build()  # the same weights again (training's copy went before PyTorch's full FT)

    shared = torch_side.Shared(wl)  # the inference variants' (the training groups' went with them)
    infer["jax/bare"] = jax_side.infer(model, None, batch)
    torch_variant(cfg, infer, errors, "torch/bare", lambda: torch_side.infer(wl, None, host, shared=shared))
    for m in cfg.methods:
        infer[f"jax/{m}"] = jax_side.infer(model, m, batch)
        torch_variant(cfg, infer, errors, f"torch/{m}", lambda m=m: torch_side.infer(wl, m, host, shared=shared))
        if m in MERGEABLE:
            model.merge_adapter(m)  # the bare program over merged weights
            infer[f"jax/{m}_merged"] = jax_side.infer(model, None, batch, head=m)
            model.unmerge_adapter()
            torch_variant(cfg, infer, errors, f"torch/{m}_merged",
                          lambda m=m: torch_side.infer(wl, m, host, merged=True, shared=shared))
    if "lora" in cfg.methods:
        torch_variant(cfg, infer, errors, "peft/lora", lambda: torch_side.peft_infer(wl, host, shared=shared))
        torch_variant(cfg, infer, errors, "peft/lora_merged",
                      lambda: torch_side.peft_infer(wl, host, merged=True, shared=shared))
    for m in ("bare", "seq_bn"):
        if compiled(f"infer:{m}") and (m == "bare" or m in cfg.methods):
            torch_variant(cfg, infer, errors, f"torch.compile/{m}",
                   lambda m=m: torch_side.infer(wl, None if m == "bare" else m, host, compile=True, shared=shared))
    log(f"methods {wl.describe()}: {len(infer)} inference variants built; timing")
    host_memory.release_memory()  # what compiling left (caches, freed temporaries) is not the group's
    memory["infer"] = {"built": host_memory.rss_bytes()}
    # Every JAX method's overhead, the headline ratios and the control get extra rounds (among
    # themselves: timing.interleaved) until each resolves ± 1%: a JAX inference call is ~0.2 s.
    # A merged method runs bare's own program: another control, resolved only inside 1 ± 1%.
    overhead, tolerance = target("lora_merged_infer_overhead")
    merged_band = (1 + overhead, tolerance)  # as a ratio to bare
    pairs = [("jax/bare" + timing.AA, "jax/bare"), ("jax/seq_bn", "jax/bare"), ("torch/seq_bn", "jax/seq_bn")]
    pairs += [(name, "jax/bare", merged_band) if name.endswith("_merged") else (name, "jax/bare")
              for name in infer if name.startswith("jax/") and name not in ("jax/bare", "jax/seq_bn")]
    infer = timing.measure(infer, cfg.infer_repeats, cfg.warmup, twin="jax/bare",
                              resolve=resolution(cfg, pairs, "infer", headline=True))

    memory["infer"]["peak"] = host_memory.peak_rss_bytes()
    aa = {"train": timed["aa"], "infer": aa_record(infer, "jax/bare")}
    # Each framework against its own reference (peft and torch.compile fall back to eager torch's).
    for name, r in infer.items():
        framework, method = name.split("/")
        put_ratio(r, "overhead_vs_bare", infer, name, f"{framework}/bare" if f"{framework}/bare" in infer
                  else "torch/bare", minus=1.0, rank=method.endswith("_merged"))  # merged: should read 0
        if framework != "jax":
            put_ratio(r, "over_jax", infer, name, f"jax/{method}")
    # Resident memory once a group's variants are built (states, compiled programs) and its peak
    # while timing (plus gradients, optimizer moments allocated on the first step, temporaries).
    return {"workload": wl.as_dict(), "train": train, "infer": infer, "errors": errors,
            "aa": aa, "memory_by_group": memory, "train_anchors": timed["anchors"],
            "trainable_params": {m: model.adapters[m].num_parameters for m in cfg.methods}}


def adapterdrop(cfg: ReproConfig, wl: Workload, log: Log) -> dict:
    """Pfeiffer training step with adapters in layers ≥ n only, for every n of cfg.drops."""
    host = wl.host_batch(seed=cfg.seed)
    batch = jax_side.device_batch(host)
    model = jax_side.build_model(wl, {"a": "seq_bn"}, cfg.seed)
    drops = sorted(set(cfg.drops) | {0})
    variants, errors = {}, {}
    for n in drops:
        variants[f"jax/{n}"] = jax_side.train(model, "a", batch, drop_n=n)
    log(f"adapterdrop: {len(variants)} JAX variants built; timing")
    host_memory.release_memory()
    deepest = f"jax/{max(drops)}"
    pairs = [("jax/0" + timing.AA, "jax/0"),
             ("jax/0", "jax/5", target("adapterdrop5_train_speedup")) if "jax/5" in variants else ("jax/0", deepest)]
    res = timing.measure(variants, cfg.repeats, cfg.warmup, twin="jax/0", resolve=resolution(cfg, pairs, "train"))
    aa = aa_record(res, "jax/0")
    # PyTorch's steps in a group of their own (every ratio here is within one framework): JAX's
    # programs are released first, so the section's peak is the larger group's, not their sum.
    del variants
    host_memory.release_memory()
    torch_steps, shared = {}, torch_side.Shared(wl)
    for n in sorted(set(cfg.torch_drops) | {0}):
        torch_variant(cfg, torch_steps, errors, f"torch/{n}",
                      lambda n=n: torch_side.train(wl, "seq_bn", host, drop_n=n, shared=shared))
    if torch_steps:
        log(f"adapterdrop: {len(torch_steps)} PyTorch variants built; timing")
        res |= timing.measure(torch_steps, cfg.repeats, cfg.warmup)
    del torch_steps
    L = wl.num_layers
    for name, r in res.items():
        framework, n = name.split("/")
        r["n"] = int(n)
        put_ratio(r, "speedup_vs_n0", res, f"{framework}/0", name)
        r["cost_model"] = 2 * L / (2 * L - int(n))
    robust = list(range(min(11, L)))  # the reference implementation's U{0…10}
    out = {"workload": wl.as_dict(), "train": res, "errors": errors, "robust_over": robust, "aa": aa}
    if all(f"jax/{n}" in res for n in robust):
        # Per round: n = 0's step over the mean step of the drawn n's (the expected robust step).
        rounds = zip(res["jax/0"]["samples_s"], *(res[f"jax/{n}"]["samples_s"] for n in robust))
        out["robust_expected_speedup"] = statistics.median(r[0] / statistics.mean(r[1:]) for r in rounds)
        out["robust_cost_model"] = 2 * L / statistics.mean(2 * L - n for n in robust)
    return out


def parallel(cfg: ReproConfig, wl: Workload, log: Log) -> dict:
    """Shared-trunk parallel inference for every N × n; speed-up vs n = 0 beside the cost model."""
    host = wl.host_batch(cfg.parallel_batch, seed=cfg.seed)
    batch = jax_side.device_batch(host)
    names = [f"t{i}" for i in range(max(cfg.parallel_tasks))]
    model = jax_side.build_model(wl, {n: "seq_bn" for n in names}, cfg.seed)
    L, out, errors, aa = wl.num_layers, {}, {}, {}
    torch_drops = [n for n in (0, 5) if n < L]
    for N in cfg.parallel_tasks:
        variants = {f"jax/{n}": jax_side.parallel(model, names[:N], batch, n) for n in sorted(set(cfg.parallel_drops) | {0})}
        if N in cfg.torch_parallel:
            for n in torch_drops:
                torch_variant(cfg, variants, errors, f"torch/{n}", lambda n=n: torch_side.parallel(wl, N, n, host))
        # every n's speed-up (and the control) gets extra rounds to ± 1%, within the group's budget
        pairs = [("jax/0" + timing.AA, "jax/0")]
        pairs += [("jax/0", k) for k in variants if k.startswith("jax/") and k != "jax/0"]
        host_memory.release_memory()
        res = timing.measure(variants, cfg.repeats, cfg.warmup, twin="jax/0", resolve=resolution(cfg, pairs, "infer"))
        aa[str(N)] = aa_record(res, "jax/0")
        for name, r in res.items():
            framework, n = name.split("/")
            r["n"] = int(n)
            put_ratio(r, "speedup_vs_n0", res, f"{framework}/0", name)
            r["cost_model_vs_n0"] = N * L / (int(n) + N * (L - int(n)))
            if r.get("flops") and res[f"{framework}/0"].get("flops"):  # XLA programs (torch has no count)
                # Finer than the layer-count model: vmap fans out at layer n's first hook, not its input.
                r["flops_vs_n0"] = res[f"{framework}/0"]["flops"] / r["flops"]
        out[str(N)] = res
        log(f"parallel N={N}: n=0→{max(cfg.parallel_drops)} timed")
        del variants  # this N's programs go before the next N's are built
        host_memory.release_memory()
    shape = dict(wl.as_dict(), batch=cfg.parallel_batch, description=wl.describe(cfg.parallel_batch))
    return {"workload": shape, "tasks": out, "errors": errors, "aa": aa}


def mixed(cfg: ReproConfig, wl: Workload, log: Log) -> dict:
    """8 tasks in one batch (example i → task i mod 8) vs the same batch through one task."""
    host = wl.host_batch(seed=cfg.seed)
    batch = jax_side.device_batch(host)
    names = [f"t{i}" for i in range(8)]
    model = jax_side.build_model(wl, {n: "seq_bn" for n in names}, cfg.seed)
    variants = {"mixed8": jax_side.mixed(model, names, batch, np.arange(wl.batch) % 8),
                "single": jax_side.infer(model, "t0", batch)}
    log("mixed: timing")
    host_memory.release_memory()
    pairs = [("single" + timing.AA, "single"), ("single", "mixed8")]
    res = timing.measure(variants, cfg.infer_repeats, cfg.warmup, twin="single",
                            resolve=resolution(cfg, pairs, "infer"))
    out = {"workload": wl.as_dict(), "aa": aa_record(res, "single")}
    put_ratio(out, "relative_throughput", res, "single", "mixed8")
    # XLA's count of the two programs: how much of the gap is extra work rather than worse kernels.
    f_mixed, f_single = res["mixed8"].get("flops"), res["single"].get("flops")
    out["flops_ratio"] = f_mixed / f_single if f_mixed and f_single else None
    return dict(out, timings=res)


def fusion(cfg: ReproConfig, wl: Workload, log: Log) -> dict:
    """AdapterFusion cost against one adapter and against full FT / the bare model."""
    host = wl.host_batch(seed=cfg.seed)
    batch = jax_side.device_batch(host)
    N = max(cfg.fusion_sizes)
    names = [f"a{i}" for i in range(N)]
    model = jax_side.build_model(wl, {n: "seq_bn" for n in names}, cfg.seed)
    control = lambda ref, kind: resolution(cfg, [(ref + timing.AA, ref)], kind)  # noqa: E731
    out = {"workload": wl.as_dict(), "memory_by_group": {}}
    groups = {}

    def run(group: str, variants: dict, repeats: int, **options) -> None:
        log(f"fusion: {group}: {len(variants)} variants built; timing")
        groups[group] = time_group(out["memory_by_group"], group, variants, repeats, cfg.warmup, **options)

    # Training in groups paired through the single adapter's step, timed in each: full FT (with the
    # control), then the fusions, the largest alone -- full FT's state and the fusions' together
    # came to 6.3 GiB, the three fusions together to 3.8 -- then inference.
    adapter = jax_side.train(model, "a0", batch)
    run("train", {"full": jax_side.train(model, None, batch), "adapter": adapter}, cfg.repeats,
        twin="full", resolve=control("full", "train"))
    fusions = {}  # added after full FT's group: their parameters need not sit beside its state
    for k in cfg.fusion_sizes:
        model.add_fusion(f"fusion{k}", names[:k])
        fusions[f"fusion{k}"] = f"fusion{k}"
    pruned = jax_side.add_pruned_fusion(model, f"fusion{N}", batch, cfg.fusion_keep)
    fusions[f"fusion{N}_top{cfg.fusion_keep}"] = pruned
    out["pruned_selection"] = [list(map(int, s)) for s in model.adapters[pruned].config.selected]
    largest = f"fusion{N}"
    for group, labels in (("train_fusion", [f for f in fusions if f != largest]), (f"train_{largest}", [largest])):
        run(group, {"adapter": adapter} | {f: jax_side.fusion_train(model, fusions[f], "a0", batch) for f in labels},
            cfg.repeats)
    del adapter
    infer = {"bare": jax_side.infer(model, None, batch), "adapter": jax_side.infer(model, "a0", batch)}
    infer |= {label: jax_side.infer(model, name, batch, head="a0") for label, name in fusions.items()}
    # inference calls are short: every variant's ratio to bare gets extra rounds to ± 1% with the control
    pairs = [("bare" + timing.AA, "bare")] + [(k, "bare") for k in infer if k != "bare"]
    run("infer", infer, cfg.infer_repeats, twin="bare", resolve=resolution(cfg, pairs, "infer"))

    out["aa"] = {"train": aa_record(groups["train"], "full"), "infer": aa_record(groups["infer"], "bare")}
    full, infer = groups["train"], groups["infer"]
    for group, ref in ((full, "full"), (infer, "bare")):
        for name, r in group.items():
            put_ratio(r, "time_vs_adapter", group, name, "adapter")
            put_ratio(r, f"time_vs_{ref}", group, name, ref)
    fused, out["train_anchors"] = {}, {}
    for group in ("train_fusion", f"train_{largest}"):
        g = groups[group]
        for name, r in g.items():
            put_ratio(r, "time_vs_adapter", g, name, "adapter")
            # over full FT through the adapter's step, timed in both groups
            q = stats.chained_ratio((r["samples_s"], g["adapter"]["samples_s"]),
                                        (full["adapter"]["samples_s"], full["full"]["samples_s"]))
            r["time_vs_full"], r["time_vs_full_ci"] = q["value"], q["ci"]
        out["train_anchors"][group] = g.pop("adapter")
        fused |= g
    out["train"], out["infer"] = full | {f: fused[f] for f in fusions}, infer
    return out
