"""Reading other jobs' records (reproduce/records.py): the convergence section reads train.py runs'
summaries into the report, and a run without a summary is named."""

import json

import pytest

from flax_adapters_lab.reproduce import run_suite
from tests.lab.reproduce.common import tiny


def test_convergence_section_reads_training_runs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"task": "sst2", "tasks": ["sst2"], "best": {"score": 0.9},
                                                  "best_step": 10, "time_to_best_s": 5.0, "status": "completed",
                                                  "main_metric": "accuracy", "trainable_params": 12}))
    (run / "config.json").write_text(json.dumps({"method": {"name": "seq_bn", "drop": "static", "drop_n": 5},
                                                 "model": {"name_or_path": "m"}}))
    head = run_suite(tiny(sections=("convergence",), convergence_runs=(str(run),)), tmp_path / "out", log=lambda s: None)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| seq_bn + static drop 5 | sst2 | m | 0.9000 | 10 | 5 |" in report
    assert head["adapter_vs_full_train_speedup"] is None and head["met"]["train_mfu"] is None
    with pytest.raises(FileNotFoundError, match="has no summary.json"):
        run_suite(tiny(sections=("convergence",), convergence_runs=(str(tmp_path),)), tmp_path / "o2", log=print)
