"""The timed sections of the suite. Each builds every variant it compares -- JAX and, where asked,
PyTorch -- compiles them, then times them interleaved in one run (benchmark.measure), and derives
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
from typing import Callable

import numpy as np

from flax_adapters import benchmark
from flax_adapters.reproduce import jax_side, torch_side
from flax_adapters.reproduce.config import ReproConfig
from flax_adapters.reproduce.headline import TARGETS
from flax_adapters.reproduce.workload import Workload

Log = Callable[[str], None]
MERGEABLE = ("lora", "ia3")


def torch_variant(cfg: ReproConfig, variants: dict, errors: dict, name: str, build: Callable[[], benchmark.Variant]):
    """Adds a PyTorch variant unless torch is off or absent; a failure (e.g. torch.compile on an
    unsupported platform) is recorded under `errors` and the rest of the section goes on."""
    if not cfg.torch or torch_side.unavailable():
        return
    try:
        variants[name] = build()
    except Exception as e:  # noqa: BLE001 -- a baseline failing must not sink the suite; it is reported
        errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


def put_ratio(r: dict, key: str, results: dict, numerator: str, denominator: str, minus: float = 0.0) -> None:
    """r[key] = the paired ratio (− minus), r[key + "_ci"] = its 95% bootstrap interval over rounds."""
    q = benchmark.ratio(results, numerator, denominator)
    r[key] = None if q is None else q["value"] - minus
    r[key + "_ci"] = None if q is None else [c - minus for c in q["ci"]]


def aa_record(results: dict, reference: str) -> dict | None:
    """The A/A control — the reference's second timing in each round over its first — taken out of
    `results` (the tables list programs, not the control) with its samples kept."""
    q = benchmark.ratio(results, reference + benchmark.AA, reference)
    twin = results.pop(reference + benchmark.AA, None)
    return None if q is None else dict(q, samples_s=twin["samples_s"])


def resolution(cfg: ReproConfig, pairs, kind: str, headline: bool = False) -> benchmark.Resolution:
    """Rounds beyond cfg.repeats/infer_repeats until the listed ratios resolve ± cfg.resolve_halfwidth,
    within this group's share of the time budget (inference: short calls, many rounds); `headline`:
    the methods groups, whose A/A controls are the suite's: the control may go on alone to
    cfg.methods_max_repeats rounds, within cfg.methods_budget_s."""
    budget = cfg.infer_budget_s if kind == "infer" else cfg.train_budget_s
    rounds = cfg.max_infer_repeats if kind == "infer" else cfg.max_repeats
    if headline:  # the other pairs keep their cap; the control goes on alone to methods_max_repeats
        return benchmark.Resolution(tuple(pairs), cfg.resolve_halfwidth, rounds, cfg.methods_budget_s,
                                    control_max_repeats=cfg.methods_max_repeats)
    return benchmark.Resolution(tuple(pairs), cfg.resolve_halfwidth, rounds, budget)


def target(headline: str):
    """The headline's target (headline.TARGETS): a ratio, or (centre, tolerance) for an "≈" one."""
    return TARGETS[headline][1]


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
    model = jax_side.build_model(wl, {m: m for m in cfg.methods}, cfg.seed)
    compiled = lambda target: target in cfg.torch_compile  # noqa: E731
    train, infer, errors = {}, {}, {}

    shared = torch_side.Shared(wl)  # the AdapterHub adapters' variants share one base model
    train["jax/full"] = jax_side.train(model, None, batch)
    torch_variant(cfg, train, errors, "torch/full", lambda: torch_side.train(wl, None, host))
    for m in cfg.methods:
        train[f"jax/{m}"] = jax_side.train(model, m, batch)
        torch_variant(cfg, train, errors, f"torch/{m}", lambda m=m: torch_side.train(wl, m, host, shared=shared))
    if "lora" in cfg.methods:
        torch_variant(cfg, train, errors, "peft/lora", lambda: torch_side.peft_train(wl, host, shared=shared))
    for m in ("full", "seq_bn"):
        if compiled(f"train:{m}") and (m == "full" or m in cfg.methods):
            torch_variant(cfg, train, errors, f"torch.compile/{m}",
                   lambda m=m: torch_side.train(wl, None if m == "full" else m, host, compile=True))
    log(f"methods {wl.describe()}: {len(train)} training variants built; timing")
    memory = {"train": {"built": benchmark.rss_bytes()}}
    # Training pairs with a headline resolve once their verdict is decided (the target outside the
    # interval): each round of a training step costs seconds, and the control needs them more.
    pairs = [("jax/full" + benchmark.AA, "jax/full"),
             ("jax/full", "jax/seq_bn", target("adapter_vs_full_train_speedup")),
             ("torch/seq_bn", "jax/seq_bn", target("jax_vs_torch_train_speedup"))]
    train = benchmark.measure(train, cfg.repeats, cfg.warmup, twin="jax/full",
                              resolve=resolution(cfg, pairs, "train", headline=True))

    memory["train"]["peak"] = benchmark.peak_rss_bytes()
    shared = torch_side.Shared(wl)  # a new one: the training variants' model is released with them
    benchmark.release_memory()  # …and their memory returned, so the inference group does not stack on it
    benchmark.reset_peak_rss()
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
    memory["infer"] = {"built": benchmark.rss_bytes()}
    # The headline ratios and the control get extra rounds (among themselves: benchmark.interleaved).
    # merged LoRA runs bare's own program: a second control, resolved inside (or outside) 1 ± 1%.
    overhead, tolerance = target("lora_merged_infer_overhead")
    merged_band = (1 + overhead, tolerance)  # as a ratio to bare
    pairs = [("jax/bare" + benchmark.AA, "jax/bare"), ("jax/seq_bn", "jax/bare"),
             ("jax/lora_merged", "jax/bare", merged_band), ("torch/seq_bn", "jax/seq_bn")]
    infer = benchmark.measure(infer, cfg.infer_repeats, cfg.warmup, twin="jax/bare",
                              resolve=resolution(cfg, pairs, "infer", headline=True))

    memory["infer"]["peak"] = benchmark.peak_rss_bytes()
    aa = {"train": aa_record(train, "jax/full"), "infer": aa_record(infer, "jax/bare")}
    # Each framework against its own reference (peft and torch.compile fall back to eager torch's).
    ref = lambda res, fw, what: f"{fw}/{what}" if f"{fw}/{what}" in res else f"torch/{what}"  # noqa: E731
    for name, r in train.items():
        framework, method = name.split("/")
        put_ratio(r, "speedup_vs_full", train, ref(train, framework, "full"), name)
        if framework == "jax" and method != "full":
            r["flops_ratio_full_over_this"] = train["jax/full"]["flops"] / r["flops"]
    for name, r in infer.items():
        put_ratio(r, "overhead_vs_bare", infer, name, ref(infer, name.split("/")[0], "bare"), minus=1.0)
    # Resident memory once a group's variants are built (states, compiled programs) and its peak
    # while timing (plus gradients, optimizer moments allocated on the first step, temporaries).
    return {"workload": wl.as_dict(), "train": train, "infer": infer, "errors": errors,
            "aa": aa, "memory_by_group": memory,
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
    shared = torch_side.Shared(wl)
    for n in sorted(set(cfg.torch_drops) | {0}):
        torch_variant(cfg, variants, errors, f"torch/{n}",
               lambda n=n: torch_side.train(wl, "seq_bn", host, drop_n=n, shared=shared))
    log(f"adapterdrop: {len(variants)} variants built; timing")
    deepest = f"jax/{max(drops)}"
    pairs = [("jax/0" + benchmark.AA, "jax/0"),
             ("jax/0", "jax/5", target("adapterdrop5_train_speedup")) if "jax/5" in variants else ("jax/0", deepest)]
    res = benchmark.measure(variants, cfg.repeats, cfg.warmup, twin="jax/0", resolve=resolution(cfg, pairs, "train"))
    aa = aa_record(res, "jax/0")
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
        pairs = [("jax/0" + benchmark.AA, "jax/0"), ("jax/0", "jax/5")]
        res = benchmark.measure(variants, cfg.repeats, cfg.warmup, twin="jax/0",
                                resolve=resolution(cfg, pairs, "infer") if N == max(cfg.parallel_tasks) else None)
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
    pairs = [("single" + benchmark.AA, "single"), ("single", "mixed8")]
    res = benchmark.measure(variants, cfg.infer_repeats, cfg.warmup, twin="single",
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
    fusions = {}
    for k in cfg.fusion_sizes:
        model.add_fusion(f"fusion{k}", names[:k])
        fusions[f"fusion{k}"] = f"fusion{k}"
    pruned = jax_side.add_pruned_fusion(model, f"fusion{N}", batch, cfg.fusion_keep)
    fusions[f"fusion{N}_top{cfg.fusion_keep}"] = pruned

    train = {"full": jax_side.train(model, None, batch), "adapter": jax_side.train(model, "a0", batch)}
    infer = {"bare": jax_side.infer(model, None, batch), "adapter": jax_side.infer(model, "a0", batch)}
    for label, name in fusions.items():
        train[label] = jax_side.fusion_train(model, name, "a0", batch)
        infer[label] = jax_side.infer(model, name, batch, head="a0")
    log(f"fusion: {len(train) + len(infer)} variants built; timing")
    control = lambda ref, kind: resolution(cfg, [(ref + benchmark.AA, ref)], kind)  # noqa: E731
    out = {"workload": wl.as_dict(),
           "train": benchmark.measure(train, cfg.repeats, cfg.warmup, twin="full", resolve=control("full", "train")),
           "infer": benchmark.measure(infer, cfg.infer_repeats, cfg.warmup, twin="bare", resolve=control("bare", "infer")),
           "pruned_selection": [list(map(int, s)) for s in model.adapters[pruned].config.selected]}
    out["aa"] = {"train": aa_record(out["train"], "full"), "infer": aa_record(out["infer"], "bare")}
    for kind, ref in (("train", "full"), ("infer", "bare")):
        for name, r in out[kind].items():
            put_ratio(r, "time_vs_adapter", out[kind], name, "adapter")
            put_ratio(r, f"time_vs_{ref}", out[kind], name, ref)
    return out
