"""Several runs of the suite side by side: how far each headline moves between processes, beside
the interval each run gave it over its own rounds (reproduce/spread.py says what each column is).

    python experiments/compare_runs.py --workdirs=runs/a,runs/b,runs/c --out=results/between_runs.json
    python experiments/compare_runs.py --workdirs='runs/quick_*'

Prints the table and writes the comparison as JSON and, beside it, the table as .md.
"""

from __future__ import annotations

import os

from absl import flags

from flax_adapters_lab import provenance
from flax_adapters_lab.reproduce import spread
from flax_adapters.training import cli

_WORKDIRS = flags.DEFINE_list("workdirs", [], "the suite runs' workdirs (each with results.json and headline.json); "
                              "a glob pattern, quoted ('runs/quick_*'), expands in sorted order")
_LABELS = flags.DEFINE_list("labels", [], "a name per run (default: the commit each run recorded)")
_OUT = flags.DEFINE_string("out", "", "JSON output (optional; the table goes beside it as .md)")


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    comparison = spread.compare(_WORKDIRS.value, _LABELS.value or None)
    table = spread.markdown(comparison)
    print(table)
    if _OUT.value:
        provenance.write_json(_OUT.value, comparison)
        with open(os.path.splitext(_OUT.value)[0] + ".md", "w") as f:
            f.write(table)


if __name__ == "__main__":
    cli.run(main)
