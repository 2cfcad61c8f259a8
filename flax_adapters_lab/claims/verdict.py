"""The verdict rule: a claim is a direction against a threshold, judged on per-seed values.

    verdict([0.97, 0.99], ">=", 0.951)  -> "confirmed"     every seed on the claim's side
    verdict([0.93, 0.94], ">=", 0.951)  -> "refuted"       every seed on the other side
    verdict([0.94, 0.97], ">=", 0.951)  -> "inconclusive"  the seeds' spread holds the threshold

With several seeds the band is the seeds' range [min, max]: a threshold inside it is a difference
inside the spread, so `inconclusive`, never `confirmed`. A claim measured once (a single seed, as
the add-a-task table) has no spread; it gets a stated `band` instead (additive, or a factor for
ratios of times), and is decided only outside threshold ± band. Fewer values than `min_seeds`
(and no band) is `inconclusive`.
"""

from __future__ import annotations

import math

DIRECTIONS = (">=", "<=", ">", "<", "within")
CONFIRMED, REFUTED, INCONCLUSIVE = "confirmed", "refuted", "inconclusive"


def _holds(v: float, direction: str, threshold) -> bool:
    if direction == "within":
        lo, hi = threshold
        return lo <= v <= hi
    return {">=": v >= threshold, "<=": v <= threshold, ">": v > threshold, "<": v < threshold}[direction]


def verdict(values, direction: str, threshold, *, band: float | None = None, factor: bool = False,
            min_seeds: int = 2) -> str:
    """`confirmed` / `refuted` / `inconclusive` of "value <direction> threshold" over `values`.

    `band` (single measurements): the value must clear the threshold by more than `band` (a
    multiplicative factor when `factor`) to be decided. `within` takes a (lo, hi) threshold."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}; choose one of {DIRECTIONS}")
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not values:
        return INCONCLUSIVE
    if band is not None:
        if len(values) != 1:
            raise ValueError("band is for a single measurement; several seeds use their own spread")
        v = values[0]
        # The band's two edges: the value moved toward either side of the threshold.
        edges = (v / band, v * band) if factor else (v - band, v + band)
        held = [_holds(e, direction, threshold) for e in edges]
        return CONFIRMED if all(held) else REFUTED if not any(held) else INCONCLUSIVE
    if len(values) < min_seeds:
        return INCONCLUSIVE
    held = [_holds(v, direction, threshold) for v in values]
    return CONFIRMED if all(held) else REFUTED if not any(held) else INCONCLUSIVE


def describe(direction: str, threshold, *, band: float | None = None, factor: bool = False) -> str:
    """The rule in words, for the report's rule column."""
    target = (f"in [{threshold[0]:g}, {threshold[1]:g}]" if direction == "within" else f"{direction} {threshold:g}")
    if band is None:
        return f"every seed {target} → confirmed; none → refuted; else inconclusive"
    margin = f"×/÷ {band:g}" if factor else f"± {band:g}"
    return f"one run: value {margin} all {target} → confirmed; none → refuted; else inconclusive"
