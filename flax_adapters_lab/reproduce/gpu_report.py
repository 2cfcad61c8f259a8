"""report.md and headline.json of the `gpu` suite (reproduce/gpu.py), from its results dict; also
from a partial run (a device call cut short renders the sections that finished).

Every headline key names its workload and dtype (`…[32x128 bf16]`); targets are the GPU suite's own. Where
a target is missed the report puts the bounds measured in the same run beside it: each framework's
GEMM peak, each step's fraction of it, XLA's FLOP ratio of the compiled programs (what an
adapter step can save at best) and the papers' cost models for AdapterDrop and parallel serving.
"""

from __future__ import annotations

import json
from pathlib import Path

from flax_adapters_lab import provenance, stats

SHORT = {"float32": "fp32", "bfloat16": "bf16"}
ALL = lambda T, d: True  # noqa: E731
# prefix: (sense, target, where it applies (seq_len, dtype), meaning)
TARGETS = {
    "adapter_vs_full_train_speedup": ("≥", 1.6, lambda T, d: T == 128, "Pfeiffer train step vs full FT (paper 1: up to 1.6×)"),
    "adapterdrop5_train_speedup": ("≥", 1.26, ALL, "Pfeiffer train step, AdapterDrop n = 5 vs n = 0"),
    "parallel8_drop5_infer_speedup": ("≥", 1.39, ALL, "8 adapters in parallel over one batch, n = 5 vs n = 0"),
    "jax_vs_torch_eager_train_speedup": ("≥", 1.5, ALL, "train step, PyTorch eager time ÷ JAX time, same method"),
    "jax_vs_torch_compile_train_speedup": ("≥", 1.0, ALL, "train step, torch.compile time ÷ JAX time, same method"),
    "train_mfu": ("≥", 0.40, lambda T, d: T == 512 and d == "bfloat16",
                  "full-FT train step: XLA FLOPs/s ÷ the XLA GEMM peak of that dtype measured in this run"),
    "adapter_infer_overhead": ("≤", 0.01, ALL, "Pfeiffer inference time ÷ bare − 1"),
}


def _label(sec: dict) -> str:
    w = sec["workload"]
    return f"{w['batch']}x{w['seq_len']} {SHORT[sec['dtype']]}"


def _tflops(r: dict | None, flops: float | None) -> float | None:
    return None if not r or not flops else flops / r["median_s"] / 1e12


def values(results: dict) -> dict:
    """{key[label]: number} for every combo that ran."""
    s, out = results["sections"], {}
    peaks = s.get("peak", {})
    for name, sec in s.items():
        if not name.startswith("gpu:"):
            continue
        lab, tr, inf, par = _label(sec), sec["train"], sec["infer"], sec["parallel"]
        get = lambda d, k, f: (d.get(k) or {}).get(f)  # noqa: E731
        out[f"adapter_vs_full_train_speedup[{lab}]"] = get(tr, "jax/seq_bn", "speedup_vs_full")
        out[f"lora_vs_full_train_speedup[{lab}]"] = get(tr, "jax/lora", "speedup_vs_full")
        out[f"adapterdrop5_train_speedup[{lab}]"] = get(tr, "jax/seq_bn_drop5", "speedup_vs_n0")
        out[f"robust_adapterdrop_train_speedup[{lab}]"] = sec.get("jax_robust_expected_speedup")
        out[f"parallel8_drop5_infer_speedup[{lab}]"] = get(par, "jax/5", "speedup_vs_n0")
        out[f"mixed8_relative_throughput[{lab}]"] = sec.get("mixed_relative_throughput")
        out[f"adapter_infer_overhead[{lab}]"] = get(inf, "jax/seq_bn", "overhead_vs_bare")
        out[f"lora_merged_infer_overhead[{lab}]"] = get(inf, "jax/lora_merged", "overhead_vs_bare")
        for m in ("full", "seq_bn", "lora"):
            for fw, key in (("torch", "eager"), ("torch.compile", "compile")):
                if f"{fw}/{m}" in tr and f"jax/{m}" in tr:
                    out[f"jax_vs_torch_{key}_train_speedup[{m} {lab}]"] = stats.paired_ratio(
                        tr[f"{fw}/{m}"]["samples_s"], tr[f"jax/{m}"]["samples_s"])
        peak = (peaks.get(f"jax/{sec['dtype']}") or {}).get("gflops")
        achieved = _tflops(tr.get("jax/full"), get(tr, "jax/full", "flops"))
        out[f"train_mfu[{lab}]"] = None if not (peak and achieved) else achieved * 1e3 / peak
    return out


def _target(key: str):
    prefix, label = key.split("[")[0], key.split("[")[1].rstrip("]")
    if prefix not in TARGETS:
        return None
    sense, target, applies, meaning = TARGETS[prefix]
    size, dtype = label.split()[-2:]
    T = int(size.split("x")[1])
    return (sense, target, meaning) if applies(T, {v: k for k, v in SHORT.items()}[dtype]) else None


def build(results: dict) -> dict:
    nums = values(results)
    out = dict(nums)
    out["targets"], out["met"] = {}, {}
    for k, v in nums.items():
        t = _target(k)
        if t:
            out["targets"][k] = f"{t[0]} {t[1]:g}: {t[2]}"
            out["met"][k] = None if v is None else (v >= t[1] if t[0] == "≥" else v <= t[1] + 1e-12)
    env = results.get("environment", {})
    out["device"] = env.get("device_kind")
    out["torch_baselines"] = env.get("torch_baselines")
    return out


def write(results: dict, workdir: Path) -> dict:
    head = build(results)
    provenance.write_json(str(Path(workdir) / "headline.json"), head)
    (Path(workdir) / "report.md").write_text(markdown(results, head))
    return head


def _f(x, fmt="{:.3g}"):
    return "—" if x is None else fmt.format(x)


def markdown(results: dict, head: dict) -> str:
    s, env = results["sections"], results.get("environment", {})
    peaks = s.get("peak", {})
    out = [f"# Adapter efficiency on {env.get('device_kind', '?')}: suite `{results['config']['suite']}`\n",
           "Each table's variants were timed in the same rounds (shuffled order per round, compile apart, "
           "warm-up excluded); a ratio is the median over rounds of the per-round ratio; times are medians. "
           "Every figure names its dtype: fp32, or bf16 mixed precision (fp32 weights and optimizer state, "
           "bf16 matmuls, fp32 LayerNorm, softmax and loss; PyTorch: fp32 weights under bf16 autocast). "
           f"PyTorch baselines: **{env.get('torch_baselines')}**"
           + (f"; fp32 matmuls run as {env['fp32_matmul']} on both sides" if env.get("fp32_matmul") else "") + ".\n",
           "## Headline\n", "| key | value | target | met |", "|---|---|---|---|"]
    for k, v in head.items():
        if isinstance(v, (int, float)) or v is None:
            if k in ("device", "torch_baselines"):
                continue
            met = head["met"].get(k)
            out.append(f"| {k} | {_f(v)} | {head['targets'].get(k, '')} | "
                       f"{'' if k not in head['met'] else {True: '✓', False: '✗', None: '—'}[met]} |")
    out += ["\n## GEMM peaks measured in this run (MFU denominators)\n", "| | GFLOP/s |", "|---|---|"]
    out += [f"| {k} ({v['n']}³) | {v['gflops']:.0f} |" for k, v in peaks.items()]
    for name, sec in s.items():
        if name.startswith("gpu:"):
            out.append(_combo(sec, peaks))
    out += ["\n## Environment\n", "```json\n" + json.dumps(env, indent=1, default=str) + "\n```\n",
            f"\nSuite wall clock: {results.get('elapsed_s', 0) / 60:.1f} min.\n"]
    return "\n".join(out)


def _combo(sec: dict, peaks: dict) -> str:
    lab, dtype = _label(sec), sec["dtype"]
    flops = {k.split("/")[1]: r.get("flops") for k, r in sec["train"].items() if k.startswith("jax/")}
    iflops = {k.split("/")[1]: r.get("flops") for k, r in sec["infer"].items() if k.startswith("jax/")}
    out = [f"\n## {sec['workload']['description'].replace('(fp32, ', '(')}, {SHORT[dtype]}\n",
           "### Training step\n",
           "| variant | ms | vs full FT | vs n = 0 | cost model | XLA FLOP ratio full/this | TFLOP/s | of own peak | compile s |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, r in sec["train"].items():
        fw, what = name.split("/")
        tf = _tflops(r, flops.get(what))  # XLA's count of the same math for every framework
        pk = (peaks.get(f"{'jax' if fw == 'jax' else 'torch'}/{dtype}") or {}).get("gflops")
        out.append(f"| {name} | {r['median_s'] * 1e3:.2f} | {_f(r.get('speedup_vs_full'))} | {_f(r.get('speedup_vs_n0'))} | "
                   f"{_f(r.get('cost_model_vs_n0'))} | {_f(r.get('flops_ratio_full_over_this'))} | {_f(tf)} | "
                   f"{_f(tf * 1e3 / pk if tf and pk else None, '{:.0%}')} | {_f(r.get('compile_s'), '{:.1f}')} |")
    rob = sec.get("jax_robust_expected_speedup")
    out.append(f"\nRobust AdapterDrop (n ~ U{{0…10}}), expected step vs n = 0: JAX **{_f(rob)}**, PyTorch "
               f"{_f(sec.get('torch_robust_expected_speedup'))}; cost model {_f(sec.get('robust_cost_model'))}. "
               "(Mean of the n = 0 and n = 10 steps: the step is affine in n; n = 5's row checks that.)\n")
    out += ["### Inference\n", "| variant | ms | overhead vs bare | TFLOP/s | compile s |", "|---|---|---|---|---|"]
    for name, r in sec["infer"].items():
        tf = _tflops(r, iflops.get(name.split("/")[1]) or iflops.get("bare"))
        out.append(f"| {name} | {r['median_s'] * 1e3:.2f} | {_f(r.get('overhead_vs_bare'), '{:+.1%}')} | {_f(tf)} | "
                   f"{_f(r.get('compile_s'), '{:.1f}')} |")
    out += [f"\n### Parallel inference, N = {sec['parallel_tasks']} adapters over {sec['parallel_batch']} examples\n",
            "| variant | ms | vs n = 0 | cost model N·L/(n + N(L − n)) |", "|---|---|---|---|"]
    for name, r in sec["parallel"].items():
        out.append(f"| {name} | {r['median_s'] * 1e3:.2f} | {_f(r.get('speedup_vs_n0'))} | {_f(r.get('cost_model_vs_n0'))} |")
    m = sec["mixed"]
    out.append(f"\nMixed-task batch (8 tasks, one per example mod 8): **{_f(sec.get('mixed_relative_throughput'))}×** "
               f"the throughput of the batch through one task ({m['mixed']['median_s'] * 1e3:.2f} vs "
               f"{m['single']['median_s'] * 1e3:.2f} ms).\n")
    if sec.get("errors"):
        out += ["Not measured:\n"] + [f"- {k}: {v}" for k, v in sec["errors"].items()] + [""]
    return "\n".join(out)
