"""A timed section (reproduce/sections.py) on the tiny shape: the mixed-tasks section times one batch
of 8 tasks against the same batch through one task, with its A/A control taken out and the ratio's
interval. (Every section end to end: test_runner.py.)"""

import pytest

from flax_adapters_lab.reproduce import sections
from flax_adapters_lab.reproduce.workload import Workload
from tests.lab.reproduce.common import tiny


def test_mixed_section_times_eight_tasks_against_one():
    lines = []
    out = sections.mixed(tiny(), Workload("tiny", batch=8, seq_len=8), lines.append)
    assert lines == ["mixed: timing"] and out["workload"]["shape"] == "tiny"
    assert set(out["timings"]) == {"mixed8", "single"}  # the A/A twin is out of the table
    assert out["aa"]["reference"] == "single" and len(out["aa"]["samples_s"]) == len(out["timings"]["single"]["samples_s"])
    assert out["relative_throughput"] > 0 and out["flops_ratio"] > 0
    assert out["relative_throughput"] == pytest.approx(
        sections.stats.ratio(out["timings"], "single", "mixed8")["value"])
