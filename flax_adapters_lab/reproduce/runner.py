"""Runs a suite: its sections in order, with progress, writing `results.json` after each (a
re-run with the same config resumes after the last finished section), then `report.md`, the
plots and `headline.json` in the workdir.

    from flax_adapters_lab.reproduce import run_suite
    headline = run_suite(from_config_dict(get_config("quick")), "runs/quick")
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

from absl import logging

from flax_adapters_lab import host_memory, provenance
from flax_adapters_lab.reproduce import head_kinds, headline, plots, records, sections, torch_side
from flax_adapters_lab.reproduce import report as fmt
from flax_adapters_lab.reproduce.config import TASK_KINDS, ReproConfig, workload

# Minutes each section took in the quick suite on a 2-core CPU. Before sections worth one such
# minute have finished, the ETA is these times the suite's PACE; after, the pace measured so far.
WEIGHTS = {"peak": 0.2, "methods": 7.0, "adapterdrop": 3.0, "parallel": 1.8, "mixed": 0.1, "fusion": 2.4,
           "storage": 0.1, "convergence": 0.01}
# Minutes per weight unit before any is measured: the tiny suite took 1.1 min where quick took 14.6
# (same 2-core CPU); other suites start from quick's pace.
PACE = {"quick": 1.0, "tiny": 1.1 / 14.6}


class Progress:
    """One line per event: what runs now, its place in the suite, elapsed time and an ETA."""

    def __init__(self, plan: list[str], log: Callable[[str], None], suite: str = "quick",
                 extra: dict[str, float] | None = None):
        self.plan, self.log, self.start, self.done = plan, log, time.perf_counter(), 0.0
        self.prior = PACE.get(suite, 1.0)
        # extra: minutes a plan entry adds to its section's weight (the methods section's head kinds).
        self.weights = {s: WEIGHTS[s.split(":")[0]] + (extra or {}).get(s, 0.0) for s in plan}
        self.total = sum(self.weights.values())
        self.current = ""

    def begin(self, name: str) -> None:
        self.current = name
        self.say("started")

    def finish(self, name: str) -> None:
        self.done += self.weights.get(name, WEIGHTS[name.split(":")[0]])
        self.say("finished")

    def say(self, what: str) -> None:
        elapsed = time.perf_counter() - self.start
        # Minutes per weight unit: measured once sections worth a quick-suite minute are done, else the prior.
        pace = elapsed / 60 / self.done if self.done >= 1 else self.prior
        eta = f", ETA {(self.total - self.done) * pace:.1f} min"
        index = self.plan.index(self.current) + 1 if self.current in self.plan else 0
        self.log(f"[{index}/{len(self.plan)} {self.current}] {what} (elapsed {elapsed / 60:.1f} min{eta})")


def _plan(cfg: ReproConfig) -> list[str]:
    plan = []
    for s in cfg.sections:
        plan.append(s)
        if s == "methods":  # the input-size grid and extra model shapes: one methods table each
            plan += [f"methods:{cfg.shape}:{b}x{t}" for b, t in cfg.input_grid]
            plan += [f"methods:{shape}:{cfg.batch}x{cfg.seq_len}" for shape in cfg.extra_shapes]
    return plan


def _run_section(cfg: ReproConfig, name: str, say: Callable[[str], None]) -> dict:
    if name.startswith("methods:"):
        _, shape, size = name.split(":")
        b, t = map(int, size.split("x"))
        return sections.methods(cfg, workload(cfg, b, t, shape), say)
    wl = workload(cfg)
    if name == "peak":
        return sections.peak(cfg, say)
    if name == "methods":  # the main workload's methods, with a group per extra head kind (cfg.tasks)
        return head_kinds.add_groups(cfg, wl, sections.methods(cfg, wl, say), say)
    if name in ("storage",):
        return records.storage(cfg, wl, say)
    if name == "convergence":
        return records.convergence(cfg, say)
    return getattr(sections, name)(cfg, wl, say)


def run_suite(cfg: ReproConfig, workdir: str | Path, log: Callable[[str], None] = logging.info) -> dict:
    records.check_inputs(cfg)
    workdir = Path(workdir)
    path, results = provenance.resumable(workdir, json.loads(json.dumps(dataclasses.asdict(cfg))))
    torch_note = torch_side.unavailable() if cfg.torch else "PyTorch baselines off (config.torch = False)"
    env = dict(provenance.environment(), torch_baselines=torch_note or torch_side.info())
    plan = _plan(cfg)
    # A resumed run keeps the machine and wall clock its finished sections were timed with: the
    # environment is the first run's (a resume that times more sections is listed under
    # "resumed_on"), and elapsed_s adds up the time of every run that timed something.
    if not results["sections"]:
        results["environment"] = env
    elif any(name not in results["sections"] for name in plan):
        results.setdefault("resumed_on", []).append(env)
    elapsed_before = results.get("elapsed_s", 0.0)
    progress = Progress(plan, log, cfg.suite, extra={"methods": head_kinds.eta_minutes(cfg)})
    for name in plan:
        if name in results["sections"]:
            progress.current = name
            progress.finish(name)
            continue
        progress.begin(name)
        host_memory.release_memory()  # so each section's peak is its own (see release_memory)
        host_memory.reset_peak_rss()
        results["sections"][name] = _run_section(cfg, name, progress.say)
        # A section that resets the peak between its groups (methods) reports each group's peak too.
        groups = [g.get("peak") or 0 for g in results["sections"][name].get("memory_by_group", {}).values()]
        results["sections"][name]["peak_rss_bytes"] = max([host_memory.peak_rss_bytes() or 0, *groups]) or None
        results["elapsed_s"] = elapsed_before + time.perf_counter() - progress.start  # so far, if cut short
        provenance.write_json(str(path), results)
        progress.finish(name)
    return write_report(results, workdir)


def write_report(results: dict, workdir: Path) -> dict:
    """report.md, the plots and headline.json from a results dict; returns the headline."""
    s, env = results["sections"], results["environment"]
    kind = env.get("device_kind", "?")
    device = f"{kind} ({env.get('cpu')}, {env.get('cpu_count')} cores)" if kind == "cpu" else kind
    head = headline.build(s, device)
    provenance.write_json(str(workdir / "headline.json"), head)
    figures = [f for f in (plots.methods(s["methods"], workdir) if "methods" in s else None,
                           plots.adapterdrop(s["adapterdrop"], workdir) if "adapterdrop" in s else None,
                           plots.parallel(s["parallel"], workdir) if "parallel" in s else None,
                           plots.jax_vs_torch(s["methods"], workdir) if "methods" in s else None) if f]
    (workdir / "report.md").write_text(_markdown(results, head, figures, workdir))
    return head


def _markdown(results: dict, head: dict, figures: list[str], workdir: Path) -> str:
    s, env, cfg = results["sections"], results["environment"], results["config"]
    out = [f"# Adapter efficiency: suite `{cfg['suite']}`\n",
           "Variants compared in a table were timed in the same rounds (each round runs each once, in a "
           "shuffled order; compile time apart, warm-up excluded), and a ratio is the median over rounds "
           "of the per-round ratio. Times in seconds are medians. Speed-ups > 1 mean faster than the reference named "
           "in the column. Paper numbers are from docs/papers.md; cost-model bounds are its "
           "formulas (or XLA's FLOP count of the compiled programs). Absolute times are only meaningful "
           "from a quiet machine, and compared with the paper only from a GPU. Host malloc: "
           + host_memory.MALLOC_SUMMARY.get(env.get("malloc"), host_memory.MALLOC_SUMMARY["default"])
           + " (host_memory.MALLOC_SETTINGS).\n",
           "## Headline\n", fmt.headline_table(head), _bounds(s)]
    def section(title, key, render, *extra):
        if key in s:
            out.extend([f"## {title}\n", f"Workload: {s[key].get('workload', {}).get('description', '—')}.\n\n"
                        if "workload" in s[key] else "", render(s[key], *extra)])
    section("1. Each method vs full fine-tuning (paper 1, Table 1)", "methods", fmt.methods_table)
    for key in (k for k in s if k.startswith("methods:")):
        section(f"1b. Each method vs full fine-tuning, {key[8:]}", key, fmt.methods_table)
    kinds = [k for k in s.get("methods", {}) if k in TASK_KINDS]  # cfg.tasks beyond classification
    if kinds:
        out += ["## 1c. Other head kinds: training step, JAX vs PyTorch + AdapterHub\n",
                fmt.head_kinds_table(s["methods"], kinds)]
    section("2. AdapterDrop: training speed vs n", "adapterdrop", fmt.adapterdrop_table)
    section("3. Parallel multi-task inference, N × n (paper 1, Table 2)", "parallel", fmt.parallel_table)
    section("4. AdapterFusion and pruning", "fusion", fmt.fusion_table)
    if "mixed" in s:
        m = s["mixed"]
        out += ["## 5. Mixed-task batches\n", f"Workload: {m['workload']['description']}.\n\n",
                f"8 tasks mixed in one batch: **{fmt.with_interval(m, 'relative_throughput')}×** the throughput of the same batch "
                f"through one task (mixed {m['timings']['mixed8']['median_s']:.3f} s, single "
                f"{m['timings']['single']['median_s']:.3f} s). No adapter library offers this for bottleneck "
                "adapters; the target is ≥ 0.9×."
                + (f" XLA counts {m['flops_ratio']:.3f}× the FLOPs of the single-task program (per-example "
                   "adapter weights and all 8 heads on every example), so a throughput below 1/that is "
                   "kernel efficiency, not work." if m.get("flops_ratio") else "") + "\n"]
    section("6. JAX vs PyTorch per workload", "methods", fmt.jax_vs_torch_table)
    for key in (k for k in s if k.startswith("methods:")):
        section(f"6b. JAX vs PyTorch, {key[8:]}", key, fmt.jax_vs_torch_table)
    if "convergence" in s:
        out += ["## 7. Time to convergence on real data (paper 2)\n", fmt.convergence_table(s["convergence"]),
                "\n## 8. Adding a task (paper 2's maintainability)\n", fmt.add_task_table(s["convergence"]),
                "\n## 8b. The papers' accuracy and convergence claims (the claims job)\n",
                fmt.claims_table(s["convergence"], workdir)]
    section("9. Storage per task", "storage", fmt.storage_table)
    out += ["## 9b. Timing controls (A/A)\n", fmt.aa_table(s) or "No timed section ran.\n",
            "\n## 9c. Peak resident memory per section\n", fmt.memory_by_section(s) or "Not recorded.\n"]
    if "methods" in s:
        out += ["## 10. Achieved FLOP/s of the training step\n", fmt.mfu_table(s["methods"], s.get("peak", {})),
                "\n## 11. Peak memory per method\n", fmt.memory_table(s["methods"])]
    out += ["\n## Plots\n"] + [f"![{f}]({f})\n" for f in figures]
    out += ["\n## Environment\n", "```json\n" + json.dumps(env, indent=1, default=str) + "\n```\n",
            f"\nSuite wall clock: {results.get('elapsed_s', 0) / 60:.1f} min"
            + (f" over {1 + len(results['resumed_on'])} runs (resumed on: "
               + "; ".join(f"{e.get('cpu')}, {e.get('cpu_count')} cores" for e in results["resumed_on"]) + ")"
               if results.get("resumed_on") else "") + ".\n"]
    return "\n".join(out)


def _bounds(s: dict) -> str:
    """What stands in the way of the JAX-vs-PyTorch and MFU targets, from this run's own numbers:
    if both frameworks ran GEMM-bound at their measured peaks, their speed ratio would be the ratio
    of those peaks; each step's achieved fraction of its own framework's peak says how far each is."""
    peak, m = s.get("peak", {}), s.get("methods")
    if not m or "jax" not in peak:
        return ""
    lines = ["\n**Bounds measured in this run.** "]
    jax_peak = peak["jax"]["gflops"]
    if "torch" in peak:
        lines.append(f"GEMM peaks: XLA {jax_peak:.0f}, torch {peak['torch']['gflops']:.0f} GFLOP/s — if both "
                     f"ran at their peak, JAX could be at most **{jax_peak / peak['torch']['gflops']:.2f}×** faster on "
                     "GEMM-bound work. ")
    for kind, name in (("train", "full"), ("train", "seq_bn"), ("infer", "seq_bn")):
        jx = m[kind].get(f"jax/{name}")
        tr = m[kind].get(f"torch/{name}")
        if jx and jx.get("flops"):
            text = f"{kind} {name}: JAX at {jx['flops'] / jx['median_s'] / 1e9 / jax_peak:.0%} of the XLA peak"
            if tr and "torch" in peak:
                text += f", PyTorch at {jx['flops'] / tr['median_s'] / 1e9 / peak['torch']['gflops']:.0%} of its own"
            lines.append(text + " (same FLOPs, XLA's count). ")
    return "".join(lines) + "\n"
