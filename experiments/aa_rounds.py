"""How many rounds does an A/A control need to land inside 1 ± 1%, and how often would a biased one
wrongly land there? For a quick suite's results.json, the share of simulated controls with that
run's per-round spread (shifted by each --biases) that got inside by each cap on rounds, by each
stop rule (reproduce/control_rounds.py says how they are simulated).

    python experiments/aa_rounds.py --results=runs/reproduce_quick/results.json --caps=40,80,120,160,240 \
        --rules=rank,bootstrap --biases=0,0.015
"""

from __future__ import annotations

import json

from absl import flags

from flax_adapters_lab import provenance
from flax_adapters_lab.reproduce import control_rounds
from flax_adapters.training import cli

_RESULTS = flags.DEFINE_string("results", "runs/reproduce_quick/results.json", "a quick suite's results.json")
_CAPS = flags.DEFINE_list("caps", ["40", "80", "120", "160", "240"], "round caps to report")
_TRIALS = flags.DEFINE_integer("trials", 200, "simulated controls per kind")
_RULES = flags.DEFINE_list("rules", list(control_rounds.RULES), "stop rules to simulate: rank, bootstrap")
_BIASES = flags.DEFINE_list("biases", ["0"], "true A/A ratio − 1 of the simulated controls (0: unbiased)")
_OUT = flags.DEFINE_string("out", "", "JSON output (optional)")


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    caps = sorted(int(c) for c in _CAPS.value)
    if not caps or caps[0] < 3:
        raise ValueError(f"--caps {_CAPS.value}: round caps must be ≥ 3")
    if _TRIALS.value < 1:
        raise ValueError(f"--trials {_TRIALS.value}: simulate at least 1 control")
    bad = sorted(set(_RULES.value) - set(control_rounds.RULES))
    if bad:
        raise ValueError(f"--rules {','.join(bad)}: choose from {', '.join(control_rounds.RULES)}")
    try:
        biases = [float(b) for b in _BIASES.value]
    except ValueError:
        biases = []
    if not biases or min(biases) <= -1:
        raise ValueError(f"--biases {','.join(_BIASES.value)}: give numbers > -1 (a true A/A ratio − 1)")
    with open(_RESULTS.value) as f:
        results = json.load(f)
    out = control_rounds.run(results, caps, _TRIALS.value, rules=_RULES.value, biases=biases)
    for kind, r in out.items():
        print(f"{kind}: robust SD {r['robust_sd']:.4f} (SD {r['sd']:.4f}) over {r['rounds_in_run']} rounds")
        for name, q in r["rules"].items():
            shares = ", ".join(f"{c}: {s:.2f}" for c, s in q["share_inside_by"].items())
            print(f"  {name}: inside 1 ± 1% by round {shares}; median {q['median_rounds']:.0f}")
    provenance.write_json(_OUT.value or None, dict(out, results=_RESULTS.value))


if __name__ == "__main__":
    cli.run(main)
