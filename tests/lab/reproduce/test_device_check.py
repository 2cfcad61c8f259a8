"""The device check's pieces on this CPU: device parity against the CPU reference (passes here and
fails on a wrong result), the gpu suite's config and where the headline's targets apply.

The end-to-end dry run of experiments/device_check.sh (test stage, parity over every method, the
gpu_tiny suite) is the documented command in BUILD_NOTES ("On a GPU"), with its measured wall clock:
it takes tens of minutes on the shared 2-core machine, too long for CI.
"""

import pytest

from flax_adapters_lab.reproduce import gpu, gpu_report, parity
from tests.training.test_config import load_config


def test_parity_passes_here_and_catches_a_wrong_result(monkeypatch):
    result = parity.check(adapters=["prefix_tuning"])
    assert result["ok"], result["rows"]
    rows = {(r["adapter"], r["dtype"], r["attention"]): r for r in result["rows"]}
    assert set(rows) == {(a, d, t) for a in ("bare", "prefix_tuning")
                         for d, t in (("float32", "xla"), ("bfloat16", "auto"), ("bfloat16", "xla"))}
    assert all(0 < r["max_abs_err"] <= r["bound"] for r in result["rows"] if r["dtype"] == "bfloat16")
    # A device result off by 2e-4 (above the fp32 bound) must fail the check.
    real_run, calls = parity._run, []

    def off(model, adapter, batch, device):
        calls.append(adapter)
        out = real_run(model, adapter, batch, device)
        return out + 2e-4 if len(calls) % 4 == 2 else out  # per name: reference, fp32, bf16 auto, bf16 xla
    monkeypatch.setattr(parity, "_run", off)
    bad = parity.check(adapters=[])
    assert not bad["ok"] and [r["ok"] for r in bad["rows"]] == [False, True, True]


def test_gpu_config_validation():
    get_config = lambda suite: load_config("reproduce", suite)  # noqa: E731
    cfg = gpu.from_config_dict(get_config("gpu"))
    assert gpu.combos(cfg) == ["128:bfloat16", "512:bfloat16", "128:float32", "512:float32"]
    assert cfg.batch == 32 and cfg.parallel_tasks == 8 and 5 in cfg.parallel_drops
    cd = get_config("gpu_tiny")
    cd.drops = (5, 12)
    with pytest.raises(ValueError, match="outside"):
        gpu.from_config_dict(cd)
    cd = get_config("gpu")
    cd.torch = "tensorflow"
    with pytest.raises(ValueError, match="torch"):
        gpu.from_config_dict(cd)


def test_headline_targets_apply_where_the_issue_sets_them():
    sec = lambda T, d: {"workload": {"batch": 32, "seq_len": T}, "dtype": d}  # noqa: E731
    assert gpu_report._target("train_mfu[32x512 bf16]")[1] == 0.40
    assert gpu_report._target("train_mfu[32x128 bf16]") is None
    assert gpu_report._target("adapter_vs_full_train_speedup[32x128 fp32]")[1] == 1.6
    assert gpu_report._target("adapter_vs_full_train_speedup[32x512 fp32]") is None
    assert gpu_report._label(sec(512, "bfloat16")) == "32x512 bf16"
