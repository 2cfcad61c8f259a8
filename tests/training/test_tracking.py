"""A run's bookkeeping (training/tracking.py): wall-clock accounts carried across resumes, the metrics
log keeping one record per step when a run resumes, atomic JSON writes, sizes and counts, and the
TPU-probe log filter."""

import json
import logging

import numpy as np
import pytest

from flax_adapters.training import tracking


def test_clock_splits_time_into_accounts_and_carries_it(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(tracking.time, "perf_counter", lambda: now[0])
    clock = tracking.Clock({"train": 5.0, "eval": 1.0})
    now[0] += 2.0
    clock.start("compile")   # the 2 s before go to 'other'
    now[0] += 3.0
    clock.start("train")
    now[0] += 4.0
    clock.start("eval")
    now[0] += 1.5
    assert clock.seconds == {"train": 9.0, "compile": 3.0, "eval": 1.0, "other": 2.0}
    assert clock.elapsed == pytest.approx(9.0 + 3.0 + 1.0 + 2.0 + 1.5)  # the running account included
    assert tuple(tracking.Clock().seconds) == tracking.ACCOUNTS


def test_metrics_log_round_trip_and_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = tracking.MetricsLog(path, resume_step=0)
    for step in (10, 20, 30):
        log.write({"step": step, "kind": "train", "loss": 1.0 / step})
    log.write({"step": 30, "kind": "eval", "accuracy": 0.5})
    assert [r["step"] for r in tracking.MetricsLog.read(path)] == [10, 20, 30, 30]
    resumed = tracking.MetricsLog(path, resume_step=20)  # steps after the checkpoint will be redone
    assert tracking.MetricsLog.read(path) == [{"step": 10, "kind": "train", "loss": 0.1},
                                              {"step": 20, "kind": "train", "loss": 0.05}]
    resumed.write({"step": 30, "kind": "train", "loss": 0.02})
    assert [r["step"] for r in tracking.MetricsLog.read(path)] == [10, 20, 30]
    assert not list(tmp_path.glob("*.tmp"))


def test_write_json_sizes_and_counts(tmp_path):
    tracking.write_json(tmp_path / "summary.json", {"score": np.float32(0.5), "steps": 3})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"score": 0.5, "steps": 3}
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.bin").write_bytes(b"12345")
    assert tracking.directory_bytes(tmp_path) == 5 + (tmp_path / "summary.json").stat().st_size
    assert tracking.num_params({"a": np.zeros((3, 4)), "b": [np.zeros(5)]}) == 17
    memory = tracking.peak_memory()
    assert memory["peak_host_rss_bytes"] > 0 and "peak_device_bytes" in memory


def test_tpu_probe_noise_is_filtered():
    noise = logging.LogRecord("jax._src.xla_bridge", logging.INFO, "p", 1, "Unable to initialize backend 'tpu': "
                              "libtpu.so: cannot open shared object file", None, None)
    other = logging.LogRecord("jax._src.xla_bridge", logging.INFO, "p", 1, "Unable to initialize backend 'cuda'",
                              None, None)
    flt = tracking._NoTpuProbeNoise()
    assert not flt.filter(noise) and flt.filter(other)
