"""How many rounds does an A/A control need to land inside 1 ± 1%? For a quick suite's results.json,
the share of simulated unbiased controls with that run's per-round spread that got inside by each
cap on rounds (reproduce/control_rounds.py says how they are simulated).

    python experiments/aa_rounds.py --results=runs/reproduce_quick/results.json --caps=40,80,120,160,240
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root, if not installed
from flax_adapters import benchmark  # noqa: E402
from flax_adapters.reproduce import control_rounds  # noqa: E402
from flax_adapters.training import cli  # noqa: E402

_RESULTS = flags.DEFINE_string("results", "runs/reproduce_quick/results.json", "a quick suite's results.json")
_CAPS = flags.DEFINE_list("caps", ["40", "80", "120", "160", "240"], "round caps to report")
_TRIALS = flags.DEFINE_integer("trials", 200, "simulated controls per kind")
_OUT = flags.DEFINE_string("out", "", "JSON output (optional)")


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    caps = sorted(int(c) for c in _CAPS.value)
    if not caps or caps[0] < 3:
        raise ValueError(f"--caps {_CAPS.value}: round caps must be ≥ 3")
    with open(_RESULTS.value) as f:
        results = json.load(f)
    out = control_rounds.run(results, caps, _TRIALS.value)
    for kind, r in out.items():
        shares = ", ".join(f"{c}: {s:.2f}" for c, s in r["share_inside_by"].items())
        print(f"{kind}: robust SD {r['robust_sd']:.4f} (SD {r['sd']:.4f}) over {r['rounds_in_run']} rounds; "
              f"inside 1 ± 1% by round {shares}; median {r['median_rounds']:.0f}")
    benchmark.write_json(_OUT.value or None, dict(out, results=_RESULTS.value))


if __name__ == "__main__":
    cli.run(main)
