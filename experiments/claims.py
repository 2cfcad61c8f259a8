"""The claims job: the papers' accuracy and convergence claims on real data, each row judged
confirmed / refuted / inconclusive over seeds, with the trained adapters saved in AdapterHub format.

    python experiments/claims.py --config=configs/claims.py:quick --workdir=runs/claims_quick

Writes DIR/claims.md, DIR/claims.json, DIR/*.png and DIR/adapters/<run>/; every run is a train.py
workdir under DIR/runs, so re-running the command resumes where it stopped. `--results=RES` sends
each finished run's record, adapter, summary and the report to RES as it lands (commit RES as it
grows: a job restarted from a checkout with RES retrains only the run in flight); checkpoints and
caches stay in DIR. `--park` (before a session stops) copies the runs in flight to RES/inflight/ so
the next machine resumes them; `--only=REGEX` trains just the runs it names (a long run first, or
on an accelerator). `--report_only` rebuilds the report from the runs finished so far;
`--export_to=results/x` copies what the results need (no checkpoints) into a directory to commit.

    python experiments/claims.py --config=configs/claims.py:converged --workdir=/tmp/claims \
        --results=results/claims_converged_cpu
"""

from __future__ import annotations

import os
import sys

from absl import app, flags
from ml_collections import config_flags

from flax_adapters_lab.claims import from_config_dict, run_claims
from flax_adapters_lab.claims import inflight
from flax_adapters_lab.claims.runner import export_results
from flax_adapters.training import tracking

_CONFIG = config_flags.DEFINE_config_file("config", os.path.join(os.path.dirname(__file__), "..", "configs",
                                                                  "claims.py"),
                                          "configs/claims.py:<suite>; override keys with --config.a=v")
_WORKDIR = flags.DEFINE_string("workdir", "runs/claims", "output directory")
_RESULTS = flags.DEFINE_string("results", None, "records, adapters, step costs and the report go here as each "
                               "run finishes (default: the workdir); runs recorded here are not retrained")
_REPORT_ONLY = flags.DEFINE_bool("report_only", False, "rebuild claims.md/json from the runs finished so far")
_ONLY = flags.DEFINE_string("only", None, "a regex: train just the runs whose names it matches (e.g. 'conv_squad_.*'); "
                            "the report still covers every run")
_PARK = flags.DEFINE_bool("park", False, "train nothing: copy each unfinished run's latest checkpoint (adapter-sized) "
                          "to <results>/inflight/ so a job restarted elsewhere resumes it (commit it before stopping)")
_EXPORT = flags.DEFINE_string("export_to", None, "then copy the results (records, summaries, adapters, report) "
                              "here: a directory small enough to commit")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    tracking.quiet_orbax()
    try:
        cfg = from_config_dict(_CONFIG.value)
        if _PARK.value:
            if not _RESULTS.value:
                raise ValueError("--park needs --results: the parked runs go there to be committed")
            inflight.park(cfg, _WORKDIR.value, _RESULTS.value)
            return
        rows = run_claims(cfg, _WORKDIR.value, log=lambda s: print(s, flush=True), report_only=_REPORT_ONLY.value,
                          results=_RESULTS.value, only=_ONLY.value)
        if _EXPORT.value:
            rows = export_results(cfg, _WORKDIR.value, _EXPORT.value)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    for r in rows:
        print(f"{r['verdict']:>12}  {r['id']}: ours {r['ours'] if r['ours'] is None else round(r['ours'], 3)}")
    print(f"report: {os.path.join(_EXPORT.value or _RESULTS.value or _WORKDIR.value, 'claims.md')}")


if __name__ == "__main__":
    app.run(main)
