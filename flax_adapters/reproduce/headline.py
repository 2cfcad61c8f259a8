"""headline.json: the suite's answers in numbers, each with the workload it was measured on and
the target the project set for it (issue 6), so a reader (or a CI gate) need not parse the report.
"""

from __future__ import annotations

from flax_adapters.benchmark import paired_ratio

# key: (section, how to read it from that section's result, target, "≥" or "≤", what it means)
TARGETS = {
    "adapter_vs_full_train_speedup": ("methods", 1.5, "≥", "Pfeiffer rf16 training step vs full fine-tuning step"),
    "adapter_infer_overhead": ("methods", 0.01, "≤", "Pfeiffer inference time ÷ bare encoder − 1"),
    "lora_merged_infer_overhead": ("methods", 0.0, "≤", "merged LoRA inference time ÷ bare − 1 (same program)"),
    "adapterdrop5_train_speedup": ("adapterdrop", 1.3, "≥", "Pfeiffer training step, n = 5 vs n = 0"),
    "parallel8_drop5_infer_speedup": ("parallel", 1.45, "≥", "parallel inference of 8 tasks, n = 5 vs n = 0"),
    "mixed8_relative_throughput": ("mixed", 0.9, "≥", "8 tasks mixed in one batch vs one task, throughput"),
    "jax_vs_torch_train_speedup": ("methods", 1.7, "≥", "Pfeiffer training step, PyTorch eager + AdapterHub ÷ JAX"),
    "jax_vs_torch_infer_speedup": ("methods", 1.7, "≥", "Pfeiffer inference, PyTorch eager + AdapterHub ÷ JAX"),
    "train_mfu": ("methods", 0.6, "≥", "full-FT training step: XLA FLOPs/s ÷ measured XLA fp32 GEMM peak"),
}


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _div(a, b):
    return None if a is None or b is None else a / b


def _paired(res: dict, numerator: str, denominator: str):
    """Median per-round ratio of two variants timed in the same rounds (None if either is missing)."""
    if not res or numerator not in res or denominator not in res:
        return None
    return paired_ratio(res[numerator]["samples_s"], res[denominator]["samples_s"])


def values(sections: dict) -> dict:
    """The headline numbers from the sections' results (None where a section did not run)."""
    m, peak = sections.get("methods", {}), _get(sections, "peak", "jax", "gflops")
    full_flops, full_s = _get(m, "train", "jax/full", "flops"), _get(m, "train", "jax/full", "median_s")
    achieved = _div(full_flops, full_s)
    return {
        "adapter_vs_full_train_speedup": _get(m, "train", "jax/seq_bn", "speedup_vs_full"),
        "adapter_infer_overhead": _get(m, "infer", "jax/seq_bn", "overhead_vs_bare"),
        "lora_merged_infer_overhead": _get(m, "infer", "jax/lora_merged", "overhead_vs_bare"),
        "adapterdrop5_train_speedup": _get(sections, "adapterdrop", "train", "jax/5", "speedup_vs_n0"),
        "parallel8_drop5_infer_speedup": _get(sections, "parallel", "tasks", "8", "jax/5", "speedup_vs_n0"),
        "mixed8_relative_throughput": _get(sections, "mixed", "relative_throughput"),
        "jax_vs_torch_train_speedup": _paired(m.get("train"), "torch/seq_bn", "jax/seq_bn"),
        "jax_vs_torch_infer_speedup": _paired(m.get("infer"), "torch/seq_bn", "jax/seq_bn"),
        "train_mfu": _div(achieved / 1e9 if achieved else None, peak),
    }


def met(key: str, value) -> bool | None:
    if value is None:
        return None
    _, target, sense, _ = TARGETS[key]
    return value >= target if sense == "≥" else value <= target + 1e-12


def build(sections: dict, device: str) -> dict:
    """{key: number, ..., 'workloads': {key: description}, 'targets': {...}, 'met': {...}}."""
    nums = values(sections)
    out = dict(nums)
    out["workloads"] = {k: (_get(sections, TARGETS[k][0], "workload", "description") or "not run") + f", {device}"
                        for k in nums}
    out["targets"] = {k: f"{TARGETS[k][2]} {TARGETS[k][1]:g}: {TARGETS[k][3]}" for k in nums}
    out["met"] = {k: met(k, v) for k, v in nums.items()}
    return out
