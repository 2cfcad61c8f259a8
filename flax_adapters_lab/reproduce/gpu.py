"""The `gpu` suite (configs/reproduce.py:gpu): the papers' training and serving questions at BERT-base
shape on an accelerator, in fp32 and bf16 mixed precision, JAX beside PyTorch eager and
`torch.compile`, with MFU against matmul peaks measured in the same run.

One section per (sequence length, dtype) "combo", each timing interleaved:
  train  full FT, Pfeiffer, LoRA, Pfeiffer with AdapterDrop n = 5 (static) and n = 10; robust
         AdapterDrop (n ~ U{0…10}) is read off the same run: the step time is affine in n (each
         dropped layer removes the same work), so its expected step is the mean of n = 0 and n = 10,
         and n = 5 (E[n]) checks the affinity
  infer  bare, Pfeiffer, merged LoRA (the bare program over folded weights)
  serve  parallel N = 8 adapters at n = 0 and 5; a mixed-task batch (8 tasks) vs one task
PyTorch: HF + AdapterHub (`adapters`, its LoRA too) where it imports, else HF + `peft` (full FT,
LoRA, bare; the Pfeiffer, AdapterDrop and parallel rows then say "needs AdapterHub"); bf16 = fp32 weights
under `torch.autocast(bfloat16)`, the same mixed precision as JAX's `compute_dtype`. On CUDA both
frameworks run fp32 matmuls as TF32 (XLA's default; torch is set to match) and the report says so.

`gpu_tiny` runs the same code on a 2-layer toy shape in about a minute on a CPU: the device
script's dry run (tests/lab/reproduce/test_parity.py).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import jax.numpy as jnp
import ml_collections
import numpy as np

from flax_adapters_lab import provenance, stats, timing
from flax_adapters.adapters import AdapterModel
from flax_adapters_lab.reproduce import jax_side, torch_side
from flax_adapters_lab.reproduce.workload import SHAPES, Workload
from flax_adapters.training.config import config_dict_of, dataclass_from

DTYPES = ("float32", "bfloat16")
COMPILE_TARGETS = ("train:full", "train:seq_bn", "train:lora", "infer:bare")
TORCH_MODES = ("auto", "adapterhub", "peft", "none")


@dataclasses.dataclass(frozen=True)
class GpuConfig:
    suite: str = "gpu"
    shape: str = "bert-base"
    layers: int = 0                      # 0: the shape's depth; gpu_tiny keeps 12 toy layers so n = 5, 10 exist
    batch: int = 32
    seq_lens: tuple = (128, 512)
    dtypes: tuple = ("bfloat16", "float32")   # the outer loop: bf16 combos first (a cut-short run keeps them)
    attention: str = "auto"              # EncoderConfig.attention: cuDNN flash attention in bf16 on CUDA
    drops: tuple = (5, 10)               # AdapterDrop n besides 0 (10: robust's upper end, see above)
    parallel_tasks: int = 8
    parallel_drops: tuple = (0, 5)
    parallel_batch: int = 32
    mixed_tasks: int = 8
    repeats: int = 5
    infer_repeats: int = 10
    warmup: int = 2
    peak_n: int = 8192                   # n of the n×n×n GEMM whose rate is the MFU denominator
    torch: str = "auto"                  # PyTorch baselines: auto (AdapterHub, else peft), adapterhub, peft, none
    torch_compile: tuple = ("train:full", "train:seq_bn", "train:lora", "infer:bare")
    torch_compile_at: tuple = ("128:bfloat16",)   # combos "T:dtype" where torch.compile runs (~1 min each)
    compile_workers: int = 4             # JAX variants of a section are compiled on this many threads
    seed: int = 0


def default_config() -> ml_collections.ConfigDict:
    return config_dict_of(GpuConfig())


def from_config_dict(cd) -> GpuConfig:
    cfg = dataclass_from(GpuConfig, cd, "config")
    if cfg.shape not in SHAPES:
        raise ValueError(f"unknown model shape {cfg.shape!r}; choose one of {sorted(SHAPES)}")
    bad = [d for d in cfg.dtypes if d not in DTYPES] + [t for t in cfg.torch_compile if t not in COMPILE_TARGETS]
    if bad:
        raise ValueError(f"unknown dtype(s) or torch_compile target(s) {bad}: dtypes from {DTYPES}, "
                         f"targets from {COMPILE_TARGETS}")
    if cfg.torch not in TORCH_MODES:
        raise ValueError(f"torch {cfg.torch!r}: choose one of {TORCH_MODES}")
    layers = cfg.layers or SHAPES[cfg.shape][1]
    bad = [n for n in (*cfg.drops, *cfg.parallel_drops) if not 0 <= n < layers]
    if bad:
        raise ValueError(f"drop n {bad} outside [0, {layers}) for {cfg.shape}")
    return cfg


def combos(cfg: GpuConfig) -> list[str]:
    return [f"{t}:{d}" for d in cfg.dtypes for t in cfg.seq_lens]


def _built(cfg: GpuConfig, thunks: dict[str, Callable[[], timing.Variant]]) -> dict[str, timing.Variant]:
    """Builds JAX variants (trace + XLA compile each) on `compile_workers` threads: XLA compiles
    with the GIL released, and a section's dozen BERT-base programs would otherwise take most of the
    device budget one after another. Each variant's compile_s is then its wall time under that
    concurrency (an upper bound on compiling it alone)."""
    if cfg.compile_workers <= 1:
        return {k: f() for k, f in thunks.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(cfg.compile_workers) as pool:
        futures = {k: pool.submit(f) for k, f in thunks.items()}
        return {k: fut.result() for k, fut in futures.items()}


# --- torch side: AdapterHub where it imports, peft otherwise ------------------------------------

def torch_mode(cfg: GpuConfig) -> str | None:
    """'adapterhub', 'peft' or None (no PyTorch baselines here, or asked for none)."""
    if cfg.torch == "none":
        return None
    if cfg.torch in ("auto", "adapterhub") and torch_side.unavailable() is None:
        return "adapterhub"
    if cfg.torch == "adapterhub":
        return None
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return None
    return "peft"


def _setup_torch() -> dict:
    """TF32 for fp32 matmuls on CUDA (XLA's default there), so fp32 rows compare like with like."""
    import torch

    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return {"fp32_matmul": "tf32" if torch.cuda.is_available() else "fp32"}


def _hf(wl: Workload):
    import torch
    import transformers

    torch.manual_seed(0)
    config = wl.hf_config()
    config.num_labels = 2
    return transformers.AutoModelForSequenceClassification.from_config(config)


def _autocast(build: Callable[[], timing.Variant], dtype: str) -> timing.Variant:
    """A torch variant built (its torch.compile included) and called under bf16 autocast."""
    if dtype == "float32":
        return build()
    import torch

    device = torch_side.device()
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        variant = build()

    def call():
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            return variant.call()
    return timing.Variant(call, variant.meta, variant.setup)  # setup: a shared model selects its adapter


def _torch_builders(mode: str, wl: Workload, host: dict, what: str, drop_n: int = 0):
    """{variant suffix: builder(compile) -> Variant} for one row kind, or a reason string."""
    if what == "train:full":
        if mode == "adapterhub":
            return lambda c: torch_side.train(wl, None, host, compile=c)
        return lambda c: torch_side.train_variant(_hf(wl), host, compile=c)
    if what == "train:lora":  # AdapterHub's LoRA where it is installed (peft may not import beside it)
        if mode == "adapterhub":
            return lambda c: torch_side.train(wl, "lora", host, compile=c)
        return lambda c: torch_side.train_variant(torch_side.peft_lora(wl), host, compile=c)
    if what == "infer:bare":
        if mode == "adapterhub":
            return lambda c: torch_side.infer(wl, None, host, compile=c)
        return lambda c: torch_side.infer_variant(_hf(wl).eval(), host, compile=c)
    if what == "infer:lora_merged":
        if mode == "adapterhub":
            return lambda c: torch_side.infer(wl, "lora", host, merged=True)
        return lambda c: torch_side.peft_infer(wl, host, merged=True)
    if mode != "adapterhub":
        return "needs AdapterHub (adapters), not installed here"
    if what == "train:seq_bn":
        return lambda c: torch_side.train(wl, "seq_bn", host, drop_n=drop_n, compile=c)
    if what == "infer:seq_bn":
        return lambda c: torch_side.infer(wl, "seq_bn", host, compile=c)
    raise ValueError(what)


def _add_torch(variants: dict, errors: dict, name: str, builder, dtype: str, compile: bool = False):
    if isinstance(builder, str):
        errors[name] = builder
        return
    try:
        variants[name] = _autocast(lambda: builder(compile), dtype)
    except Exception as e:  # noqa: BLE001 -- a failing baseline is reported, the suite goes on
        errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


# --- JAX side -------------------------------------------------------------------------------------

def build_model(cfg: GpuConfig, wl: Workload, dtype: str, adapters: dict[str, str]) -> AdapterModel:
    enc = wl.encoder_config().replace(compute_dtype=dtype, attention=cfg.attention)
    model = AdapterModel.from_config(enc, seed=cfg.seed)
    model.add_head("bare", "classification", num_labels=2, seed=cfg.seed)
    for i, (name, method) in enumerate(adapters.items()):
        model.add_adapter(name, method, seed=cfg.seed + i)
        model.add_head(name, "classification", num_labels=2, seed=cfg.seed + i)
    return model


def _ratio(res: dict, num: str, den: str) -> float | None:
    if num not in res or den not in res:
        return None
    return stats.paired_ratio(res[num]["samples_s"], res[den]["samples_s"])


def peak(cfg: GpuConfig, log: Callable[[str], None]) -> dict:
    """JAX's and torch's n×n×n GEMM rates, fp32 and bf16, measured now: the MFU denominators."""
    out = {}
    for dtype in cfg.dtypes:
        out[f"jax/{dtype}"] = jax_side.matmul_peak(cfg.peak_n, dtype=jnp.dtype(dtype))
        log(f"XLA {dtype} GEMM {cfg.peak_n}³: {out[f'jax/{dtype}']['gflops']:.0f} GFLOP/s")
    if torch_mode(cfg):
        _setup_torch()
        for dtype in cfg.dtypes:
            out[f"torch/{dtype}"] = torch_matmul_peak(cfg.peak_n, dtype)
            log(f"torch {dtype} GEMM {cfg.peak_n}³: {out[f'torch/{dtype}']['gflops']:.0f} GFLOP/s")
    return out


def torch_matmul_peak(n: int, dtype: str, repeats: int = 5) -> dict:
    import torch

    a, b = (torch.randn(n, n, device=torch_side.device(), dtype=getattr(torch, dtype)) for _ in range(2))
    a @ b
    torch_side.sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        torch_side.sync()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"n": n, "median_s": median, "gflops": 2 * n ** 3 / median / 1e9, "samples_s": times}


def combo_section(cfg: GpuConfig, combo: str, log: Callable[[str], None]) -> dict:
    """Every row of one (seq_len, dtype) combo: train, infer, parallel and mixed, JAX and torch."""
    seq_len, dtype = int(combo.split(":")[0]), combo.split(":")[1]
    wl = Workload(cfg.shape, cfg.batch, seq_len, layers=cfg.layers or None)
    host = wl.host_batch(seed=cfg.seed)
    batch = jax_side.device_batch(host)
    mode = torch_mode(cfg)
    compile_here = combo in cfg.torch_compile_at
    errors: dict = {}
    model = build_model(cfg, wl, dtype, {"seq_bn": "seq_bn", "lora": "lora"})

    thunks = {"jax/full": lambda: jax_side.train(model, None, batch),
              "jax/seq_bn": lambda: jax_side.train(model, "seq_bn", batch),
              "jax/lora": lambda: jax_side.train(model, "lora", batch)}
    for n in cfg.drops:
        thunks[f"jax/seq_bn_drop{n}"] = lambda n=n: jax_side.train(model, "seq_bn", batch, drop_n=n)
    # Merged LoRA: the bare program over folded weights (the parameters are captured at build time).
    merged = AdapterModel(model.config, model.graphdef, model.params)  # same weights, its own merge state
    merged.adapters, merged.heads = dict(model.adapters), model.heads
    merged.merge_adapter("lora")
    thunks.update({"infer/jax/bare": lambda: jax_side.infer(model, None, batch),
                   "infer/jax/seq_bn": lambda: jax_side.infer(model, "seq_bn", batch),
                   "infer/jax/lora_merged": lambda: jax_side.infer(merged, None, batch, head="lora")})
    built = _built(cfg, thunks)
    train = {k: v for k, v in built.items() if not k.startswith("infer/")}
    if mode:
        for what in ("full", "seq_bn", "lora"):
            b = _torch_builders(mode, wl, host, f"train:{what}")
            _add_torch(train, errors, f"torch/{what}", b, dtype)
            if compile_here and f"train:{what}" in cfg.torch_compile:
                _add_torch(train, errors, f"torch.compile/{what}", b, dtype, compile=True)
        for n in cfg.drops:
            _add_torch(train, errors, f"torch/seq_bn_drop{n}",
                       _torch_builders(mode, wl, host, "train:seq_bn", drop_n=n), dtype)
    log(f"gpu {combo}: {len(train)} training variants built; timing")
    train = timing.measure(train, cfg.repeats, cfg.warmup)

    infer = {k[len("infer/"):]: v for k, v in built.items() if k.startswith("infer/")}
    if mode:
        for what in ("bare", "seq_bn", "lora_merged"):
            b = _torch_builders(mode, wl, host, f"infer:{what}")
            _add_torch(infer, errors, f"torch/{what}", b, dtype)
            if compile_here and f"infer:{what}" in cfg.torch_compile:
                _add_torch(infer, errors, f"torch.compile/{what}", b, dtype, compile=True)
    log(f"gpu {combo}: {len(infer)} inference variants built; timing")
    infer = timing.measure(infer, cfg.infer_repeats, cfg.warmup)
    # Release the weights (the thunks close over them) before _serving builds its own model.
    model = merged = thunks = built = None

    serve = _serving(cfg, wl, dtype, mode, errors)
    log(f"gpu {combo}: parallel and mixed timed")
    return _derive({"combo": combo, "dtype": dtype, "workload": wl.as_dict(), "torch_mode": mode,
                    "train": train, "infer": infer, **serve, "errors": errors}, wl.num_layers)


def _serving(cfg: GpuConfig, wl: Workload, dtype: str, mode: str | None, errors: dict) -> dict:
    N = max(cfg.parallel_tasks, cfg.mixed_tasks)
    names = [f"t{i}" for i in range(N)]
    model = build_model(cfg, wl, dtype, {n: "seq_bn" for n in names})
    pbatch = jax_side.device_batch(wl.host_batch(cfg.parallel_batch, seed=cfg.seed))
    batch = jax_side.device_batch(wl.host_batch(seed=cfg.seed))
    thunks = {f"jax/{n}": lambda n=n: jax_side.parallel(model, names[:cfg.parallel_tasks], pbatch, n)
              for n in cfg.parallel_drops}
    thunks["mixed"] = lambda: jax_side.mixed(model, names[:cfg.mixed_tasks], batch,
                                             np.arange(wl.batch) % cfg.mixed_tasks)
    thunks["single"] = lambda: jax_side.infer(model, "t0", batch)
    built = _built(cfg, thunks)
    par = {k: v for k, v in built.items() if k.startswith("jax/")}
    if mode == "adapterhub":
        host = wl.host_batch(cfg.parallel_batch, seed=cfg.seed)
        for n in cfg.parallel_drops:
            _add_torch(par, errors, f"torch/{n}",
                       lambda c, n=n: torch_side.parallel(wl, cfg.parallel_tasks, n, host), dtype)
    elif mode:
        errors["parallel/torch"] = "needs AdapterHub (adapters), not installed here"
    par = timing.measure(par, cfg.infer_repeats, cfg.warmup)
    mixed = timing.measure({k: built[k] for k in ("mixed", "single")}, cfg.infer_repeats, cfg.warmup)
    return {"parallel": par, "mixed": mixed, "parallel_batch": cfg.parallel_batch, "parallel_tasks": cfg.parallel_tasks}


def _derive(out: dict, L: int) -> dict:
    """Ratios from the same rounds: speed-ups vs full FT / n = 0 / bare, JAX vs torch, cost models."""
    train, infer, par = out["train"], out["infer"], out["parallel"]
    for name, r in train.items():
        fw, what = name.split("/")
        full = f"{fw}/full" if f"{fw}/full" in train else "torch/full"
        r["speedup_vs_full"] = _ratio(train, full, name)
        if what.startswith("seq_bn_drop"):
            n = int(what[len("seq_bn_drop"):])
            r["speedup_vs_n0"] = _ratio(train, f"{fw}/seq_bn", name)
            r["cost_model_vs_n0"] = 2 * L / (2 * L - n)
        if fw == "jax" and what != "full" and r.get("flops"):
            r["flops_ratio_full_over_this"] = train["jax/full"]["flops"] / r["flops"]
    for name, r in infer.items():
        fw = name.split("/")[0]
        over = _ratio(infer, name, f"{fw}/bare" if f"{fw}/bare" in infer else "torch/bare")
        r["overhead_vs_bare"] = None if over is None else over - 1
    for name, r in par.items():
        fw, n = name.split("/")
        N = out["parallel_tasks"]
        r["speedup_vs_n0"] = _ratio(par, f"{fw}/0", name)
        r["cost_model_vs_n0"] = N * L / (int(n) + N * (L - int(n)))
    out["mixed_relative_throughput"] = _ratio(out["mixed"], "single", "mixed")
    # Robust AdapterDrop, n ~ U{0…10}: expected step = mean of the affine ends n = 0 and n = 10.
    for fw in ("jax", "torch"):
        ends = [train.get(f"{fw}/seq_bn"), train.get(f"{fw}/seq_bn_drop10")]
        if all(ends):
            rounds = zip(ends[0]["samples_s"], ends[1]["samples_s"])
            out[f"{fw}_robust_expected_speedup"] = statistics.median(a / ((a + b) / 2) for a, b in rounds)
    out["robust_cost_model"] = 2 * L / statistics.mean(2 * L - n for n in range(min(11, L)))
    return out


# --- the suite ------------------------------------------------------------------------------------

def run_suite(cfg: GpuConfig, workdir: str | Path, log: Callable[[str], None] = print) -> dict:
    """peak, then one section per combo; results.json after each (a rerun resumes), then
    report.md and headline.json (also from a partial run: finished sections only)."""
    from flax_adapters_lab.reproduce import gpu_report

    workdir = Path(workdir)
    path, results = provenance.resumable(workdir, json.loads(json.dumps(dataclasses.asdict(cfg))))
    mode = torch_mode(cfg)
    env = dict(provenance.environment(), torch_baselines=mode or "none (torch or peft/AdapterHub missing, or off)")
    if mode:
        env.update(_setup_torch(), torch_side_versions=_versions())
    results["environment"] = env
    start = time.perf_counter()
    plan = ["peak"] + [f"gpu:{c}" for c in combos(cfg)]
    for i, name in enumerate(plan):
        if name in results["sections"]:
            continue
        log(f"[{i + 1}/{len(plan)} {name}] started (elapsed {(time.perf_counter() - start) / 60:.1f} min)")
        results["sections"][name] = peak(cfg, log) if name == "peak" else combo_section(cfg, name[4:], log)
        provenance.write_json(str(path), results)
    results["elapsed_s"] = time.perf_counter() - start
    provenance.write_json(str(path), results)
    return gpu_report.write(results, workdir)


def _versions() -> dict:
    out = {}
    for name in ("torch", "transformers", "peft", "adapters"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = None
    return out
