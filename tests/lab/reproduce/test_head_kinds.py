"""The methods section's tagging and question-answering groups (config.tasks, reproduce/head_kinds.py):
the tiny suite's methods section times them for both frameworks and the report renders them; the
default tasks add nothing; their labels; a bad kind refused in one line, also from the command line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flax_adapters_lab.reproduce import from_config_dict, head_kinds, run_suite
from flax_adapters_lab.reproduce.workload import Workload
from tests.training.test_config import load_config

ROOT = Path(__file__).resolve().parents[3]
KINDS = ("tagging", "question_answering")


def tiny(**changes):
    c = load_config("reproduce", "tiny")
    for k, v in changes.items():
        c[k] = v
    return from_config_dict(c)


def test_methods_section_times_tagging_and_qa_beside_pytorch(tmp_path):
    # One method and short QA windows keep this to the methods section's compiles (~30 s on 2 cores).
    cfg = tiny(sections=("methods",), methods=("seq_bn",), tasks=("classification",) + KINDS, qa_seq_len=32)
    run_suite(cfg, tmp_path, log=lambda s: None)
    m = json.loads((tmp_path / "results.json").read_text())["sections"]["methods"]
    torch = head_kinds.torch_side.unavailable() is None
    for kind in KINDS:
        g = m[kind]
        assert g["workload"]["seq_len"] == (32 if kind == "question_answering" else cfg.seq_len)
        assert not g["errors"], g["errors"]
        names = ["jax/full", "jax/seq_bn"] + (["torch/full", "torch/seq_bn"] if torch else [])
        for name in names:
            r = g["train"][name]
            assert np.isfinite(r["median_s"]) and r["median_s"] > 0 and len(r["samples_s"]) >= cfg.repeats, (kind, name)
            lo, hi = r["speedup_vs_full_ci"]
            assert lo <= r["speedup_vs_full"] <= hi
        if torch:
            r = g["train"]["jax/seq_bn"]
            assert r["jax_vs_torch_speedup"] > 0 and len(r["jax_vs_torch_speedup_ci"]) == 2
        assert g["train"]["jax/full"]["flops"] > g["train"]["jax/seq_bn"]["flops"] > 0
        assert m["aa"][kind]["value"] > 0  # the group's A/A control sits beside the classification ones
    report = (tmp_path / "report.md").read_text()
    table = report.split("## 1c. Other head kinds")[1].split("\n## ")[0]
    for kind in KINDS:
        assert f"| {kind} | full |" in table and f"| {kind} | seq_bn |" in table, table
    assert "| methods | tagging |" in report  # its A/A row


def test_default_tasks_leave_the_section_as_it_was():
    cfg = tiny()
    assert cfg.tasks == ("classification",) and cfg.qa_seq_len == 384
    assert from_config_dict(load_config("reproduce", "quick")).tasks == ("classification",)
    section = {"train": {}, "aa": {"train": None}}
    assert head_kinds.add_groups(cfg, Workload("tiny"), section, print) == {"train": {}, "aa": {"train": None}}
    assert head_kinds.eta_minutes(cfg) == 0.0


def test_labels_per_kind():
    host = Workload("tiny", 6, 16).host_batch(seed=3)
    real = host["attention_mask"] == 1
    tags = head_kinds.labelled(host, "tagging", 3)["labels"]
    assert tags.shape == (6, 16) and (tags[~real] == -100).all() and ((0 <= tags[real]) & (tags[real] < 9)).all()
    qa = head_kinds.labelled(host, "question_answering", 3)["labels"]
    assert qa.shape == (6, 2) and qa.dtype == np.int32
    assert ((0 <= qa[:, 0]) & (qa[:, 0] <= qa[:, 1]) & (qa[:, 1] < real.sum(1))).all()
    assert (head_kinds.labelled(host, "question_answering", 3)["labels"] == qa).all()  # deterministic
    assert (head_kinds.labelled(host, "tagging", 3)["input_ids"] == host["input_ids"]).all()


def test_bad_kind_and_qa_length_are_refused():
    with pytest.raises(ValueError, match=r"^tasks: unknown head kind\(s\) \['ner'\]; choose from classification, "
                                         r"tagging, question_answering$"):
        tiny(tasks=("classification", "ner"))
    with pytest.raises(ValueError, match=r"qa_seq_len 600 must be in \[2, 512\]"):
        tiny(tasks=("question_answering",), qa_seq_len=600)


def test_binary_takes_tasks_as_a_comma_list(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "reproduce.py"),
                          f"--config={ROOT / 'configs' / 'reproduce.py'}:tiny", "--config.tasks=tagging,qa",
                          f"--workdir={tmp_path}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode != 0
    assert "tasks: unknown head kind(s) ['qa']; choose from" in out.stderr.strip().splitlines()[-1]
