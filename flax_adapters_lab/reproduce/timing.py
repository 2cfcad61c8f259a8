"""What every timed section shares: adding a PyTorch baseline without letting its failure sink the
section, paired ratios with their intervals, the A/A control taken out of a group's results, and the
adaptive-rounds rule of a group (timing.Resolution)."""

from __future__ import annotations

from typing import Callable

from flax_adapters_lab import host_memory, stats, timing
from flax_adapters_lab.reproduce import torch_side
from flax_adapters_lab.reproduce.config import ReproConfig
from flax_adapters_lab.reproduce.headline import TARGETS

Log = Callable[[str], None]


def torch_variant(cfg: ReproConfig, variants: dict, errors: dict, name: str, build: Callable[[], timing.Variant]):
    """Adds a PyTorch variant unless torch is off or absent; a failure (e.g. torch.compile on an
    unsupported platform) is recorded under `errors` and the rest of the section goes on."""
    if not cfg.torch or torch_side.unavailable():
        return
    try:
        variants[name] = build()
    except Exception as e:  # noqa: BLE001 -- a baseline failing must not sink the suite; it is reported
        errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


def put_ratio(r: dict, key: str, results: dict, numerator: str, denominator: str, minus: float = 0.0,
              rank: bool = False) -> None:
    """r[key] = the paired ratio (− minus), r[key + "_ci"] = its 95% interval over rounds: the
    bootstrap's, or with `rank` (a ratio that should equal something) the rank interval, None
    with fewer than 6 rounds (stats.ratio)."""
    q = stats.ratio(results, numerator, denominator, rank=rank)
    r[key] = None if q is None else q["value"] - minus
    r[key + "_ci"] = None if q is None or q["ci"] is None else [c - minus for c in q["ci"]]


def aa_record(results: dict, reference: str) -> dict | None:
    """The A/A control — the reference's second timing in each round over its first — taken out of
    `results` (the tables list programs, not the control) with its samples kept; its interval is the
    rank interval (the one its rounds were resolved by: timing.unresolved), None under 6 rounds."""
    q = stats.ratio(results, reference + timing.AA, reference, rank=True)
    twin = results.pop(reference + timing.AA, None)
    return None if q is None else dict(q, samples_s=twin["samples_s"], reference=reference)


def resolution(cfg: ReproConfig, pairs, kind: str, headline: bool = False) -> timing.Resolution:
    """Rounds beyond cfg.repeats/infer_repeats until the listed ratios resolve ± cfg.resolve_halfwidth,
    within this group's share of the time budget (inference: short calls, many rounds); `headline`:
    the methods groups, whose A/A controls are the suite's: the control may go on alone to
    cfg.methods_max_repeats rounds, within cfg.methods_budget_s (training) or methods_infer_budget_s."""
    budget = cfg.infer_budget_s if kind == "infer" else cfg.train_budget_s
    rounds = cfg.max_infer_repeats if kind == "infer" else cfg.max_repeats
    if headline:  # the other pairs keep their cap; the control goes on alone to methods_max_repeats
        extra = cfg.methods_infer_budget_s if kind == "infer" else cfg.methods_budget_s
        return timing.Resolution(tuple(pairs), cfg.resolve_halfwidth, rounds, extra,
                                    control_max_repeats=cfg.methods_max_repeats)
    return timing.Resolution(tuple(pairs), cfg.resolve_halfwidth, rounds, budget)


def target(headline: str):
    """The headline's target (headline.TARGETS): a ratio, or (centre, tolerance) for an "≈" one."""
    return TARGETS[headline][1]


def time_group(memory: dict, name: str, variants: dict, repeats: int, warmup: int, **options) -> dict:
    """timing.measure over one group, then empties `variants` so its states and programs are
    freed and returned to the OS before the next group is built; memory[name] is the resident set
    once built (after what compiling left is released) and the peak while timing."""
    host_memory.release_memory()
    memory[name] = {"built": host_memory.rss_bytes()}
    results = timing.measure(variants, repeats, warmup, **options)
    memory[name]["peak"] = host_memory.peak_rss_bytes()
    variants.clear()
    host_memory.release_memory()
    host_memory.reset_peak_rss()
    return results
