"""The reproduce report (reproduce/report.py): the claims job's rows rendered in the report (and a
missing claims.json named), and the MFU table's GFLOP column keeping its significant digits."""

import json

import pytest

from flax_adapters_lab.claims import from_config_dict, rows
from tests.lab.claims.common import ROOT, get_config


def test_reproduce_report_lists_the_claims(tmp_path):
    from flax_adapters_lab.reproduce import from_config_dict as repro_config
    from flax_adapters_lab.reproduce import records
    from flax_adapters_lab.reproduce import report as repro_report
    from configs.reproduce import get_config as repro

    rows_ = rows.claim_rows(from_config_dict(get_config("quick")), {},
                            json.loads((ROOT / "results" / "add_task_rte" / "add_task.json").read_text()))
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"suite": "quick", "runs_finished": 0, "runs_planned": 61, "claims": rows_}))
    cd = repro("tiny")
    cd.claims_json = str(path)
    section = records.convergence(repro_config(cd), log=lambda s: None)
    table = repro_report.claims_table(section, tmp_path / "report")
    assert f"**{rows.NOT_CONVERGED}**" in table and table.count("\n|") >= len(rows_)
    assert "From `../claims.json`" in table and "[claims.md](../claims.md)" in table  # relative to the report
    cd.claims_json = str(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="claims_json"):
        records.check_inputs(repro_config(cd))


def test_gflop_column_keeps_significant_digits():
    from flax_adapters_lab.reproduce import report

    table = report.mfu_table({"train": {"jax/full": {"flops": 4.12e5, "median_s": 0.00321},
                                        "jax/seq_bn": {"flops": 2.2e11, "median_s": 1.5}}}, {"jax": {"gflops": 150.0}})
    rows = {l.split("|")[1].strip(): [c.strip() for c in l.split("|")[2:-1]] for l in table.splitlines()
            if l.startswith("| full") or l.startswith("| seq_bn")}
    assert rows["full"][0] == "0.000412" and rows["full"][2] == "0.128"
    assert rows["seq_bn"][0] == "220" and rows["seq_bn"][2] == "147"
