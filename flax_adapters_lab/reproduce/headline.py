"""headline.json: the suite's answers in numbers, each with the workload it was measured on and
the target the project set for it, so a reader (or a CI gate) need not parse the report.
"""

from __future__ import annotations

import numpy as np

from flax_adapters_lab.stats import bootstrap_medians, verdict

# key: (section, target, "≥" / "≤" / "≈" (target = (centre, tolerance)), what it means). A headline's
# verdict is decided by its 95% bootstrap interval over rounds (stats.verdict), not its point value.
TARGETS = {
    "adapter_vs_full_train_speedup": ("methods", 1.5, "≥", "Pfeiffer rf16 training step vs full fine-tuning step"),
    "adapter_infer_overhead": ("methods", 0.01, "≤", "Pfeiffer inference time ÷ bare encoder − 1"),
    "lora_merged_infer_overhead": ("methods", (0.0, 0.01), "≈", "merged LoRA inference time ÷ bare − 1 (same program)"),
    "adapterdrop5_train_speedup": ("adapterdrop", 1.3, "≥", "Pfeiffer training step, n = 5 vs n = 0"),
    "parallel8_drop5_infer_speedup": ("parallel", 1.45, "≥", "parallel inference of 8 tasks, n = 5 vs n = 0"),
    "mixed8_relative_throughput": ("mixed", 0.9, "≥", "8 tasks mixed in one batch vs one task, throughput"),
    "jax_vs_torch_train_speedup": ("methods", 1.7, "≥", "Pfeiffer training step, PyTorch eager + AdapterHub ÷ JAX"),
    "jax_vs_torch_infer_speedup": ("methods", 1.7, "≥", "Pfeiffer inference, PyTorch eager + AdapterHub ÷ JAX"),
    "train_mfu": ("methods", 0.6, "≥", "full-FT training step: XLA FLOPs/s ÷ measured XLA fp32 GEMM peak"),
    # The A/A controls: the reference step timed twice per round; 1.00 if the method adds no error.
    "aa_train": ("methods", (1.0, 0.01), "≈", "A/A control: full-FT step, second timing ÷ first, same rounds"),
    "aa_infer": ("methods", (1.0, 0.01), "≈", "A/A control: bare inference, second timing ÷ first, same rounds"),
}


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _field(d: dict, *path: str) -> tuple:
    """(value, 95% interval) of a ratio a section stored as `key` and `key_ci` at `path`."""
    *where, key = path
    return _get(d, *where, key), _get(d, *where, key + "_ci")


def _mfu(sections: dict) -> tuple:
    """Full-FT step: XLA's FLOP count / median time / the measured GEMM peak (median of its
    samples). The interval resamples both — the step's rounds and the peak's repeats — since the
    peak is a noisy measurement too (its repeats spread 318–435 GFLOP/s within single runs here)."""
    full, peak = _get(sections, "methods", "train", "jax/full"), _get(sections, "peak", "jax")
    if not full or not full.get("flops") or not peak or not peak.get("gflops"):
        return None, None
    value = full["flops"] / full["median_s"] / 1e9 / peak["gflops"]
    n = peak.get("n", 4096)
    rates = [2 * n ** 3 / s / 1e9 for s in peak.get("samples_s", [])] or [peak["gflops"]]
    rng = np.random.default_rng(0)
    times, peaks = bootstrap_medians(full["samples_s"], rng=rng), bootstrap_medians(rates, rng=rng)
    lo, hi = np.quantile(full["flops"] / times / 1e9 / peaks, [0.025, 0.975])
    return value, [float(lo), float(hi)]


def intervals(sections: dict) -> dict:
    """{key: (value, [lo, hi])} for every headline (None, None where a section did not run)."""
    m = sections.get("methods", {})
    aa = lambda *keys: (_get(sections, *keys, "value"), _get(sections, *keys, "ci"))  # noqa: E731
    return {
        "adapter_vs_full_train_speedup": _field(m, "train", "jax/seq_bn", "speedup_vs_full"),
        "adapter_infer_overhead": _field(m, "infer", "jax/seq_bn", "overhead_vs_bare"),
        "lora_merged_infer_overhead": _field(m, "infer", "jax/lora_merged", "overhead_vs_bare"),
        "adapterdrop5_train_speedup": _field(sections, "adapterdrop", "train", "jax/5", "speedup_vs_n0"),
        "parallel8_drop5_infer_speedup": _field(sections, "parallel", "tasks", "8", "jax/5", "speedup_vs_n0"),
        "mixed8_relative_throughput": _field(sections, "mixed", "relative_throughput"),
        # PyTorch's training variants ran in a group of their own: the ratio chains through JAX's
        # Pfeiffer step timed in both groups (sections.chain_to_jax); inference shares one group.
        "jax_vs_torch_train_speedup": _field(m, "train", "torch/seq_bn", "over_jax"),
        "jax_vs_torch_infer_speedup": _field(m, "infer", "torch/seq_bn", "over_jax"),
        "train_mfu": _mfu(sections),
        "aa_train": aa("methods", "aa", "train"),
        "aa_infer": aa("methods", "aa", "infer"),
    }


def met(key: str, value) -> bool | None:
    """The point estimate against the target (kept for a quick look; the verdict is `judge`'s)."""
    if value is None:
        return None
    _, target, sense, _ = TARGETS[key]
    if sense == "≈":
        return abs(value - target[0]) <= target[1]
    return value >= target if sense == "≥" else value <= target + 1e-12


def judge(key: str, ci, value=None) -> str | None:
    """`met` / `missed` / `inconclusive` by the 95% interval (stats.verdict)."""
    _, target, sense, _ = TARGETS[key]
    return verdict(ci, target, sense, value)


def _target_text(key: str) -> str:
    _, target, sense, what = TARGETS[key]
    return f"{target[0]:g} ± {target[1]:g}: {what}" if sense == "≈" else f"{sense} {target:g}: {what}"


def build(sections: dict, device: str) -> dict:
    """{key: number, ..., 'intervals', 'verdicts', 'workloads', 'targets', 'met'}."""
    both = intervals(sections)
    out = {k: v for k, (v, _) in both.items()}
    out["intervals"] = {k: ci for k, (_, ci) in both.items()}
    out["verdicts"] = {k: judge(k, ci, v) for k, (v, ci) in both.items()}
    out["workloads"] = {k: (_get(sections, TARGETS[k][0], "workload", "description") or "not run") + f", {device}"
                        for k in both}
    out["targets"] = {k: _target_text(k) for k in both}
    out["met"] = {k: met(k, v) for k, (v, _) in both.items()}
    return out
