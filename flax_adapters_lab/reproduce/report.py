"""report.md: the suite's tables, each with the papers' number and the cost-model bound of
docs/papers.md beside ours, then the plots (plots.py) and the environment. Pure formatting of the
results dict (runner.py); nothing here measures.
"""

from __future__ import annotations

import os
from pathlib import Path

from flax_adapters_lab.stats import paired_ratio, verdict
from flax_adapters_lab.reproduce import headline

# Paper 1 (AdapterDrop, Rücklé et al. 2021) numbers, as docs/papers.md gives them.
PAPER_TRAIN = {"seq_bn": "up to 1.6×", "double_seq_bn": "1.3–1.6×"}
PAPER_INFER = {"seq_bn": "+4–6%", "double_seq_bn": "+4–6%"}


def _f(x, fmt="{:.2f}", none="—"):
    return none if x is None else fmt.format(x)


def _sig(x: float) -> str:
    """Three significant digits at any scale (a toy model's 0.000412 GFLOP, not 0.0), whole numbers from 1000 up."""
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _pct(x):
    return _f(x, "{:+.1%}")


def with_interval(r: dict, key: str, pct: bool = False) -> str:
    """A ratio with its 95% interval, compactly: `1.52 [1.49, 1.55]` (or `+4.8% [+3.9, +5.6]`)."""
    value, ci = r.get(key), r.get(key + "_ci")
    if value is None:
        return "—"
    if not ci:
        return _pct(value) if pct else _f(value)
    if pct:
        return f"{value:+.1%} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def aa_table(sections: dict) -> str:
    """Every A/A control of the run: the reference timed twice per round; reads 1.00 when timing
    adds no error, and its interval is the resolution of that group's other ratios."""
    rows = []
    for name, res in sections.items():
        controls = res.get("aa") if isinstance(res, dict) else None
        if not controls:
            continue
        for group, q in (controls.items() if "value" not in controls else [("", controls)]):
            if q:
                ci = q["ci"]
                rows.append([name, group, q.get("reference", "—"), f"{q['value']:.3f}",
                             f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "— (< 6 rounds)", len(q["samples_s"]),
                             verdict(ci, (1.0, 0.01), "≈", q["value"])])
    if not rows:
        return ""
    return (markdown_table(["section", "group", "timed twice", "A/A ratio", "95% interval", "rounds", "inside 1 ± 1%"], rows)
            + "\nA control's interval is the rank interval of the median (distribution-free: the rounds' order "
              "statistics whose binomial coverage is ≥ 95%; none exists under 6 rounds), the one its rounds were "
              "resolved by. Its rounds stop at the first interval inside the band, so it needs an interval that "
              "holds at any number of rounds; the percentile bootstrap of the other ratios covers less than 95% "
              "on few rounds (on 3 it is about the rounds' range, which covers the median 75% of the time).\n")


def memory_by_section(sections: dict) -> str:
    """Each section's peak resident memory, and for a section that reports its groups (methods) the
    memory resident once each group's variants were built and the group's peak while timing."""
    gib = lambda b: f"{b / 2**30:.2f}" if b else "—"  # noqa: E731
    rows = []
    for name, res in sections.items():
        if isinstance(res, dict) and res.get("peak_rss_bytes"):
            rows.append([name, gib(res["peak_rss_bytes"]), ""])
            for group, m in res.get("memory_by_group", {}).items():
                rows.append([f"{name} / {group}", gib(m.get("peak")), gib(m.get("built"))])
    header = ["section", "peak resident memory GiB (VmHWM during the section)", "resident once built GiB"]
    return markdown_table(header, rows) if rows else ""


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub-markdown table (cells as str); every table of the reports goes through here."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def methods_table(m: dict) -> str:
    train, infer, params = m["train"], m["infer"], m.get("trainable_params", {})
    rows = []
    for method in ["full"] + list(params):
        t = train.get(f"jax/{method}", {})
        i = infer.get(f"jax/{'bare' if method == 'full' else method}", {})
        rows.append([method, f"{params[method]:,}" if method in params else "all",
                     with_interval(t, "speedup_vs_full"), with_interval(train.get(f"torch/{method}", {}), "speedup_vs_full"),
                     _f(t.get("flops_ratio_full_over_this", 1.0 if method == "full" else None)),
                     PAPER_TRAIN.get(method, "—"), with_interval(i, "overhead_vs_bare", pct=True),
                     with_interval(infer.get(f"torch/{'bare' if method == 'full' else method}", {}), "overhead_vs_bare", pct=True),
                     PAPER_INFER.get(method, "—")])
        merged = infer.get(f"jax/{method}_merged")
        if merged:
            same = merged.get("program") and merged.get("program") == infer.get("jax/bare", {}).get("program")
            rows.append([f"{method} (merged)", "", "", "", "", "", with_interval(merged, "overhead_vs_bare", pct=True)
                         + (" (the bare executable: any difference is timing noise)" if same else ""),
                         with_interval(infer.get(f"torch/{method}_merged", {}), "overhead_vs_bare", pct=True),
                         "0 by construction"])
    return markdown_table(["method", "trainable", "train speed-up vs full (JAX)", "(PyTorch)", "bound: XLA FLOPs full/this",
                   "paper", "inference vs bare (JAX)", "(PyTorch)", "paper"], rows)


def adapterdrop_table(a: dict) -> str:
    res, rows = a["train"], []
    for name in sorted((k for k in res if k.startswith("jax/")), key=lambda k: res[k]["n"]):
        n = res[name]["n"]
        rows.append([n, f"{res[name]['median_s']:.3f}", with_interval(res[name], "speedup_vs_n0"),
                     with_interval(res.get(f"torch/{n}", {}), "speedup_vs_n0"), _f(res[name]["cost_model"]),
                     "1.26 (robust, 26%)" if n == 5 else "—"])
    text = markdown_table(["n dropped", "JAX step s", "speed-up vs n=0 (JAX)", "(PyTorch)", "cost model 2L/(2L−n)", "paper"], rows)
    if "robust_expected_speedup" in a:
        text += (f"\nRobust AdapterDrop (n ~ U{{0…{max(a['robust_over'])}}}, one compile per n): expected step "
                 f"speed-up **{a['robust_expected_speedup']:.2f}×** (cost model {a['robust_cost_model']:.2f}×; "
                 "paper: 26% faster).\n")
    return text


def parallel_table(p: dict) -> str:
    drops = sorted({r["n"] for res in p["tasks"].values() for k, r in res.items() if k.startswith("jax/")})
    rows = []
    for N, res in p["tasks"].items():
        rows.append([N] + [_parallel_cell(res.get(f"jax/{n}", {})) for n in drops])
        if any(k.startswith("torch/") for k in res):
            rows.append([f"{N} (PyTorch)"] + [with_interval(res.get(f"torch/{n}", {}), "speedup_vs_n0") for n in drops])
    text = markdown_table(["N tasks \\ n shared"] + [str(n) for n in drops], rows)
    return text + ("\nEach cell: speed-up vs n = 0 with its 95% interval (cost model (N·L)/(n + N·(L−n)); XLA's FLOP ratio of the "
                   "compiled programs, which also shares layer n below its first adapter). Paper 1: "
                   "n = 5 gives 21–42% depending on N, **39% (1.39×) at N = 8**; one shared layer (n = 1) "
                   "+4.3% at N = 2 … +8.4% at N = 16.\n")


def _parallel_cell(r: dict) -> str:
    flops = f"; FLOPs {_f(r['flops_vs_n0'])}" if r.get("flops_vs_n0") else ""
    return f"{with_interval(r, 'speedup_vs_n0')} ({_f(r.get('cost_model_vs_n0'))}{flops})"


def fusion_table(f: dict) -> str:
    rows = []
    for label in f["train"]:
        t, i = f["train"][label], f["infer"].get("bare" if label == "full" else label, {})
        paper = {"fusion8": "train ≈47% slower than full FT, inference ≈62% slower than bare"}.get(label, "—")
        if label.endswith(f"_top{len(f['pruned_selection'][0])}"):
            paper = "+68% inference speed vs the unpruned 8"
        rows.append([label, f"{t['median_s']:.3f}", with_interval(t, "time_vs_full"), with_interval(t, "time_vs_adapter"),
                     f"{i.get('median_s', 0):.3f}", with_interval(i, "time_vs_bare"), with_interval(i, "time_vs_adapter"), paper])
    return markdown_table(["variant", "train s", "time ÷ full FT", "time ÷ adapter", "infer s", "time ÷ bare",
                   "time ÷ adapter", "paper 1"], rows) + ("\n(The `full` row's inference is the bare model. Ratios with "
                                                          "their 95% intervals; a fusion's time ÷ full FT chains "
                                                          "through the adapter's step, timed in both groups.)\n")


def _over_jax(other: dict, jax_result: dict) -> str:
    """`other ÷ JAX` as the section stored it (over_jax, with its interval), else paired from samples."""
    if other.get("over_jax") is not None:
        return with_interval(other, "over_jax") + "×"
    return f"{paired_ratio(other['samples_s'], jax_result['samples_s']):.2f}×"


def jax_vs_torch_table(m: dict) -> str:
    rows = []
    for kind in ("train", "infer"):
        res = m[kind]
        for name in res:
            if not name.startswith("jax/"):
                continue
            v = name[4:]
            jax_s = res[name]["median_s"]
            cells = [kind, v, f"{jax_s:.3f}"]
            for fw in ("torch", "torch.compile", "peft"):
                other = res.get(f"{fw}/{v}")
                cells.append("—" if other is None else f"{other['median_s']:.3f} ({_over_jax(other, res[name])})")
            rows.append(cells)
    text = markdown_table(["step", "variant", "JAX s", "PyTorch eager s (÷ JAX [95%])", "torch.compile s (÷ JAX)",
                   "peft s (÷ JAX)"], rows) + (
        "\n(Ratios: median over rounds of the per-round ratio, with its 95% interval. PyTorch's training "
        "variants are timed in a group of their own beside JAX's Pfeiffer step, so a training ratio is "
        "(PyTorch ÷ JAX Pfeiffer there) × (JAX Pfeiffer ÷ JAX's variant in JAX's group), each group's rounds "
        "resampled on their own: one full fine-tuning state per group keeps the section under 4 GiB.)\n")
    if m.get("errors"):
        text += "\nBaselines that failed to build or run: " + "; ".join(f"`{k}`: {v}" for k, v in m["errors"].items()) + "\n"
    return text


def head_kinds_table(m: dict, kinds) -> str:
    """The methods section's extra head kinds (reproduce/head_kinds.py): one training step per
    variant, JAX beside PyTorch + AdapterHub from the same rounds."""
    rows, notes = [], []
    for kind in kinds:
        g = m[kind]
        for name, r in g["train"].items():
            if not name.startswith("jax/"):
                continue
            v = name[4:]
            other = g["train"].get(f"torch/{v}")
            rows.append([kind, v, _sig(1e3 * r["median_s"]), "—" if other is None else _sig(1e3 * other["median_s"]),
                         with_interval(r, "jax_vs_torch_speedup"), with_interval(r, "speedup_vs_full"),
                         _f((other or {}).get("speedup_vs_full"))])
        notes.append(f"{kind}: {g['workload']['description']}")
        if g.get("errors"):
            notes.append(f"{kind} baselines that failed: " + "; ".join(f"`{k}`: {e}" for k, e in g["errors"].items()))
    return (markdown_table(["head", "variant", "JAX ms/step", "PyTorch + AdapterHub ms/step", "PyTorch ÷ JAX [95%]",
                    "speed-up vs full (JAX)", "(PyTorch)"], rows)
            + "\nWorkloads: " + ". ".join(notes) + ". Tagging: 9 labels per token, padding ignored; QA: AdapterHub's "
              "start/end head, both positions inside each row's real tokens.\n")


def mfu_table(m: dict, peak: dict) -> str:
    gemm = peak.get("jax", {}).get("gflops")
    rows = []
    for name, r in m["train"].items():
        if name.startswith("jax/") and r.get("flops"):
            rate = r["flops"] / r["median_s"] / 1e9
            rows.append([name[4:], _sig(r['flops'] / 1e9), f"{r['median_s']:.3g}", _sig(rate),
                         _f(rate / gemm if gemm else None)])
    head = f"Measured XLA fp32 GEMM peak (4096³): **{_f(gemm, '{:.0f}')} GFLOP/s**"
    if peak.get("torch"):
        head += f"; torch: {peak['torch']['gflops']:.0f} GFLOP/s"
    return head + ".\n\n" + markdown_table(["training step", "XLA GFLOP", "median s", "GFLOP/s", "MFU vs measured peak"], rows)


def memory_table(m: dict) -> str:
    def mb(x):
        return "—" if x is None else f"{x / 2**20:,.0f}"
    rows = []
    for method in ["full"] + list(m.get("trainable_params", {})):
        inf = "bare" if method == "full" else method
        rows.append([method, mb(m["train"].get(f"jax/{method}", {}).get("memory_bytes")),
                     mb(m["infer"].get(f"jax/{inf}", {}).get("memory_bytes")),
                     mb(m["train"].get(f"torch/{method}", {}).get("memory_bytes")),
                     mb(m["infer"].get(f"torch/{inf}", {}).get("memory_bytes"))])
    return markdown_table(["method", "JAX train MiB (XLA static peak)", "JAX infer MiB", "PyTorch train MiB (CUDA peak)",
                   "PyTorch infer MiB"], rows)


def storage_table(s: dict) -> str:
    mib = lambda b: "—" if not b else f"{b / 2**20:,.2f}"  # noqa: E731
    rows = [[name, f"{r['params']:,}", f"{r['bytes'] / 2**20:,.2f}", mib(r["on_disk"]), mib(r.get("adapterhub_on_disk")),
             _f(r.get("ours_over_adapterhub"), "{:.3f}"), f"{r['fraction_of_full']:.2%}"]
            for name, r in s["rows"].items()]
    full = s["rows"]["full"]["bytes"]
    ad = s["rows"].get("seq_bn", {}).get("bytes")
    note = ""
    if ad:
        note = (f"\n100 tasks: {100 * full / 2**30:.1f} GiB as fine-tuned models vs "
                f"{(4 * s['base_params'] + 100 * ad) / 2**30:.2f} GiB as one base + 100 Pfeiffer adapters.\n")
    note += ("\nOn disk: our `save_adapter(..., torch_format=True)` directory (pytorch_adapter.bin, head weights, "
             "configs) beside AdapterHub's own `save_adapter` of the same method and head on a model of this shape; "
             "prefix tuning's shared pool is written once in both.\n")
    return markdown_table(["per task", "parameters", "MiB (fp32)", "ours on disk MiB", "AdapterHub's on disk MiB",
                   "ours ÷ AdapterHub", "of a full model"], rows) + note


def convergence_table(c: dict) -> str:
    if not c.get("runs"):
        return ("No training runs configured (`convergence_runs`). Train with `experiments/train.py` "
                "(e.g. `configs/minilm_sst2.py:full`, `:seq_bn`, `:seq_bn,robust`, `configs/glue_minilm.py:sst2+mrpc+stsb`) "
                "and pass the workdirs: `--config.convergence_runs=runs/a,runs/b`.\n")
    rows = [[r["method"], "+".join(r["tasks"]), r["model"], _f(r["best_score"], "{:.4f}"), r["best_step"],
             _f(r["time_to_best_s"], "{:.0f}"), _f(r["time_to_stop_s"], "{:.0f}"), _f(r["step_time_median_s"], "{:.3f}"),
             f"{r['trainable_params']:,}" if r.get("trainable_params") else "—", r["status"]] for r in c["runs"]]
    return markdown_table(["method", "task(s)", "model", "best dev score", "best step", "time to best s", "time to stop s",
                   "step s (median)", "trainable", "status"], rows)


def add_task_table(c: dict) -> str:
    if "add_task" not in c:
        return ("No add-a-task table configured (`add_task_table`): run `experiments/add_task.py` and pass its "
                "`add_task.json`.\n")
    from flax_adapters_lab.add_task import markdown

    return markdown(c["add_task"])


def claims_table(c: dict, report_dir: str | Path = ".") -> str:
    """The claims job's verdicts (experiments/claims.py), linked to its own report by a path
    relative to the report's directory (so the link works in any checkout)."""
    if "claims" not in c:
        return ("No claims results: run `python experiments/claims.py --config=configs/claims.py:quick "
                "--workdir=runs/claims_quick` and pass `--config.claims_json=runs/claims_quick/claims.json`.\n")
    cl = c["claims"]
    rows = [[r["claim"], r["paper"], " / ".join(_f(v, "{:.3f}") for v in r["per_seed"]), f"**{r['verdict']}**"]
            for r in cl["claims"]]
    where = Path(os.path.relpath(Path(cl["path"]).resolve(), Path(report_dir).resolve()))
    md = where.with_name("claims.md")
    return (f"From `{where}` (suite `{cl['suite']}`, {cl['runs_finished']} of {cl['runs_planned']} runs; "
            f"rules, curves and saved adapters in [{md.name}]({md})):\n\n"
            + markdown_table(["claim", "paper", "ours (per seed)", "verdict"], rows))


def headline_table(h: dict) -> str:
    def interval(k):
        ci = h.get("intervals", {}).get(k)
        return "—" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
    verdicts = h.get("verdicts", {})
    rows = [[k, _f(h[k], "{:.3f}"), interval(k), h["targets"][k],
             {"met": "met", "missed": "**missed**", "inconclusive": "inconclusive", None: "—"}[verdicts.get(k)],
             h["workloads"][k]] for k in headline.TARGETS]
    return (markdown_table(["headline", "value", "95% interval", "target", "verdict", "measured on"], rows)
            + "\nA verdict is read from the interval (bootstrap over rounds; for the A/A controls and merged "
              "LoRA, which should read 1 and 0, the rank interval: section 9b): met or missed only when the whole "
              "interval is on one side of the target, else inconclusive. An interval covers the noise between "
              "this run's rounds, not between runs (compiled code, thread placement, the machine that hour): "
              "`experiments/compare_runs.py` puts several runs' headlines side by side.\n")
