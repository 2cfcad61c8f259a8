"""Between-run spread of the suite's headline: several runs' headline.json side by side.

A headline's interval is over the rounds of one process: it covers the noise between rounds, not
what differs between processes (XLA's compiled code and thread placement, where the heap lands, the
VM's neighbours that hour). Runs of one config on one machine, compared here, show that part. Per
headline: each run's value, interval and verdict; the range of the values, which for k runs holds
the runs' common median with probability 1 − 2^(1−k) (any continuous distribution: the chance that
all k fall on one side is 2 · 2^−k); the rank interval of that median (≥ 95%, from 6 runs on;
stats.rank_interval); the median within-run half-width beside the between-run one; whether
all the runs' intervals share a point (if not, the processes differ by more than the rounds say);
whether the verdicts agree, and the verdict the runs give together (by that rank interval, so
inconclusive under 6 runs). Nothing here measures: it reads the runs' files.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
from pathlib import Path

from flax_adapters_lab.stats import rank_interval
from flax_adapters_lab.reproduce import headline
from flax_adapters_lab.reproduce.report import markdown_table

# Config keys naming files the report tabulates (real-data runs), not anything the run timed.
_NOT_MEASURED = {"claims_json", "convergence_runs", "add_task_table"}


def load_run(workdir: str | Path) -> dict:
    """{workdir, config, environment, elapsed_s, headline} of one suite run (its results.json and
    headline.json); a missing or unreadable file is a one-line ValueError naming it."""
    workdir = Path(workdir)
    out = {"workdir": str(workdir)}
    for name in ("results.json", "headline.json"):
        try:
            out[name] = json.loads((workdir / name).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{workdir / name}: not a finished suite run's file ({type(e).__name__}: {e})") from None
        if not isinstance(out[name], dict):
            raise ValueError(f"{workdir / name}: not a finished suite run's file (a JSON {type(out[name]).__name__})")
    results = out.pop("results.json")
    return dict(out, headline=out.pop("headline.json"), config=results.get("config", {}),
                environment=results.get("environment", {}), elapsed_s=results.get("elapsed_s"))


def _config_differences(configs: list[dict]) -> dict:
    keys = sorted({k for c in configs for k in c} - _NOT_MEASURED)
    return {k: [c.get(k) for c in configs] for k in keys if len({json.dumps(c.get(k)) for c in configs}) > 1}


def spread_of(values: list[float], cis: list, verdicts: list) -> dict:
    """The between-run statistics of one headline over the runs that measured it."""
    k = len(values)
    within = [(ci[1] - ci[0]) / 2 for ci in cis if ci]
    rank = rank_interval(values)
    return {"values": values, "intervals": cis, "verdicts": verdicts,
            "median": statistics.median(values), "range": [min(values), max(values)],
            "range_coverage": 1 - 2.0 ** (1 - k),
            "rank_interval": None if rank is None else list(rank),
            "within_halfwidth": statistics.median(within) if within else None,
            "between_halfwidth": (max(values) - min(values)) / 2,
            # all intervals share a point iff the highest lower end is below the lowest upper end
            "intervals_overlap": (max(ci[0] for ci in cis) <= min(ci[1] for ci in cis)
                                  if len(within) == k else None),
            "verdicts_agree": len(set(verdicts)) == 1}


def expand(workdirs: list[str | Path]) -> list[str]:
    """Workdirs with glob patterns expanded in sorted order (`runs/quick_*`: an absl list flag
    splits on commas only, so the shell's expansion does not reach it); a pattern that matches
    nothing is a one-line ValueError."""
    out = []
    for w in map(str, workdirs):
        if not glob.has_magic(w):
            out.append(w)
            continue
        matches = sorted(m for m in glob.glob(w) if os.path.isdir(m))
        if not matches:
            raise ValueError(f"{w}: no run directory matches")
        out.extend(matches)
    return out


def compare(workdirs: list[str | Path], labels: list[str] | None = None) -> dict:
    """Every headline of ≥ 2 runs, side by side (module docstring); the runs' config keys that
    differ are listed, since runs of different configs need not agree. `labels` name the runs (e.g.
    the commits of runs made before results recorded theirs); default: the commit each recorded."""
    workdirs = expand(workdirs)
    if len(workdirs) < 2:
        raise ValueError(f"compare needs at least 2 runs, got {len(workdirs)}")
    if labels is not None and len(labels) != len(workdirs):
        raise ValueError(f"{len(labels)} labels for {len(workdirs)} runs: give one per run, or none")
    runs = [load_run(w) for w in workdirs]
    headlines = {}
    for key in headline.TARGETS:
        measured = [r["headline"] for r in runs if r["headline"].get(key) is not None]
        if len(measured) >= 2:
            # a run from before intervals and verdicts were recorded has neither: shown as values only
            headlines[key] = spread_of([h[key] for h in measured], [h.get("intervals", {}).get(key) for h in measured],
                                       [h.get("verdicts", {}).get(key) for h in measured])
            # the verdict the runs give together: by the rank interval of their median (none under 6 runs)
            headlines[key]["verdict_over_runs"] = headline.judge(key, headlines[key]["rank_interval"],
                                                                 headlines[key]["median"])
            headlines[key]["runs"] = len(measured)
    labels = labels or [r["environment"].get("commit") or "commit not recorded" for r in runs]
    return {"runs": [{"workdir": r["workdir"], "label": label, "elapsed_s": r["elapsed_s"],
                      "cpu": r["environment"].get("cpu"), "loadavg": r["environment"].get("loadavg")}
                     for r, label in zip(runs, labels)],
            "config_differs": _config_differences([r["config"] for r in runs]),
            "headlines": headlines}


def _num(x: float, pct: bool) -> str:
    return f"{100 * x:+.1f}%" if pct else f"{x:.3f}"


def markdown(c: dict) -> str:
    """The comparison as a table: per headline, each run's value [interval], then the spread."""
    pct = {k for k in headline.TARGETS if k.endswith("_overhead")}
    rows = []
    for key, s in c["headlines"].items():
        p = key in pct
        runs = "; ".join(f"{_num(v, p)} [{_num(ci[0], p)}, {_num(ci[1], p)}]" if ci else _num(v, p)
                         for v, ci in zip(s["values"], s["intervals"]))
        rank = s["rank_interval"]
        rows.append([key, runs, f"[{_num(s['range'][0], p)}, {_num(s['range'][1], p)}] ({s['range_coverage']:.0%})",
                     f"{_num(s['median'], p)} " + ("(< 6 runs)" if rank is None else f"[{_num(rank[0], p)}, {_num(rank[1], p)}]"),
                     s["verdict_over_runs"],
                     "—" if s["within_halfwidth"] is None else _num(s["within_halfwidth"], p).lstrip("+"),
                     _num(s["between_halfwidth"], p).lstrip("+"),
                     {True: "yes", False: "**no**", None: "—"}[s["intervals_overlap"]],
                     ", ".join(v or "—" for v in s["verdicts"]) if not s["verdicts_agree"] else (s["verdicts"][0] or "—")])
    header = ["headline", "each run: value [95% interval]", "range (holds the median with)",
              "median [95% rank interval]", "verdict over runs", "within-run ±", "between-run ±", "intervals share a point", "verdicts"]
    notes = ["Runs, in the order of each row's values: " + ", ".join(f"{r['workdir']} ({r['label']})" for r in c["runs"]) + "."]
    if c["config_differs"]:
        notes.append("Config keys that differ between the runs: " + "; ".join(
            f"{k} = {', '.join(json.dumps(v) for v in vs)}" for k, vs in c["config_differs"].items()) + ".")
    notes.append("Within-run ± is the median half-width of the runs' own intervals (noise between rounds); "
                 "between-run ± is half the range of their values (noise between processes too). Where the "
                 "intervals share no point, one run's interval understates what another run would read.")
    return markdown_table(header, rows) + "\n" + "\n\n".join(notes) + "\n"
