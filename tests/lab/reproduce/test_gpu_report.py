"""The GPU report (reproduce/gpu_report.py): where the headline's targets apply (the workloads the issue
sets them for) and how a workload is labelled."""

from flax_adapters_lab.reproduce import gpu_report


def test_headline_targets_apply_where_the_issue_sets_them():
    sec = lambda T, d: {"workload": {"batch": 32, "seq_len": T}, "dtype": d}  # noqa: E731
    assert gpu_report._target("train_mfu[32x512 bf16]")[1] == 0.40
    assert gpu_report._target("train_mfu[32x128 bf16]") is None
    assert gpu_report._target("adapter_vs_full_train_speedup[32x128 fp32]")[1] == 1.6
    assert gpu_report._target("adapter_vs_full_train_speedup[32x512 fp32]") is None
    assert gpu_report._label(sec(512, "bfloat16")) == "32x512 bf16"
