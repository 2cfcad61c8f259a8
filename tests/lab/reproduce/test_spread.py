"""Between-run spread (reproduce/spread.py, experiments/compare_runs.py) on synthetic suite runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flax_adapters_lab.reproduce import spread

ROOT = Path(__file__).resolve().parents[3]


def write_run(path: Path, values: dict, config: dict | None = None, commit: str | None = None) -> Path:
    """A workdir with the two files a finished suite run leaves: values {key: (value, ci, verdict)}."""
    path.mkdir(parents=True)
    h = {k: v for k, (v, _, _) in values.items()}
    h |= {"intervals": {k: ci for k, (_, ci, _) in values.items()},
          "verdicts": {k: vd for k, (_, _, vd) in values.items()}}
    (path / "headline.json").write_text(json.dumps(h))
    results = {"config": dict({"suite": "quick", "claims_json": str(path / "claims.json")}, **(config or {})),
               "environment": {"commit": commit, "cpu": "test"}, "elapsed_s": 600.0, "sections": {}}
    (path / "results.json").write_text(json.dumps(results))
    return path


def test_spread_of_three_runs(tmp_path):
    runs = [write_run(tmp_path / "a", {"aa_train": (1.00, [0.99, 1.01], "met"),
                                       "adapter_infer_overhead": (0.016, [0.009, 0.026], "inconclusive")}, commit="abc"),
            write_run(tmp_path / "b", {"aa_train": (1.002, [0.996, 1.006], "met"),
                                       "adapter_infer_overhead": (0.035, [0.027, 0.046], "missed")}, commit="def"),
            write_run(tmp_path / "c", {"aa_train": (0.998, [0.992, 1.008], "met")}, commit="ghi")]
    c = spread.compare(runs)
    aa = c["headlines"]["aa_train"]
    assert aa["runs"] == 3 and aa["median"] == 1.00 and aa["range"] == [0.998, 1.002]
    assert aa["range_coverage"] == pytest.approx(0.75)        # all three on one side of the median: 2/8
    assert aa["rank_interval"] is None                        # a 95% one needs 6 runs
    assert aa["verdict_over_runs"] == "inconclusive"          # so the runs together decide nothing yet
    assert aa["within_halfwidth"] == pytest.approx(0.008) and aa["between_halfwidth"] == pytest.approx(0.002)
    assert aa["intervals_overlap"] and aa["verdicts_agree"]
    over = c["headlines"]["adapter_infer_overhead"]          # run c did not measure it: two runs
    assert over["runs"] == 2 and over["intervals_overlap"] is False and not over["verdicts_agree"]
    assert "mixed8_relative_throughput" not in c["headlines"]
    assert [r["label"] for r in c["runs"]] == ["abc", "def", "ghi"] and c["config_differs"] == {}
    table = spread.markdown(c)
    assert "| adapter_infer_overhead | +1.6% [+0.9%, +2.6%]; +3.5% [+2.7%, +4.6%] |" in table
    assert "| **no** | inconclusive, missed |" in table and "(75%)" in table


def test_six_runs_give_the_rank_interval_and_config_differences_are_listed(tmp_path):
    values = [1.61, 1.67, 1.59, 1.66, 1.63, 1.60]
    runs = [write_run(tmp_path / str(i), {"adapter_vs_full_train_speedup": (v, [v - 0.02, v + 0.02], "met")},
                      config={"methods_infer_budget_s": 120.0 if i < 2 else 180.0}) for i, v in enumerate(values)]
    c = spread.compare(runs, labels=[f"run{i}" for i in range(6)])
    s = c["headlines"]["adapter_vs_full_train_speedup"]
    assert s["rank_interval"] == [1.59, 1.67]                 # at 6 runs: ranks 1 and 6 (coverage 96.9%)
    assert s["verdict_over_runs"] == "met"                    # the whole interval ≥ 1.5
    assert s["range_coverage"] == pytest.approx(1 - 2 ** -5)
    assert c["config_differs"] == {"methods_infer_budget_s": [120.0, 120.0, 180.0, 180.0, 180.0, 180.0]}
    assert "| 1.620 [1.590, 1.670] | met |" in spread.markdown(c) and "run5" in spread.markdown(c) and "methods_infer_budget_s = 120.0, 120.0, 180.0" in spread.markdown(c)


def test_bad_inputs_are_one_clear_line(tmp_path):
    a = write_run(tmp_path / "a", {"aa_train": (1.0, [0.99, 1.01], "met")})
    with pytest.raises(ValueError, match="compare needs at least 2 runs, got 1"):
        spread.compare([a])
    with pytest.raises(ValueError, match=r"missing/results.json: not a finished suite run's file"):
        spread.compare([a, tmp_path / "missing"])
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "results.json").write_text("{}")
    (tmp_path / "half" / "headline.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"half/headline.json: not a finished suite run's file \(JSONDecodeError"):
        spread.compare([a, tmp_path / "half"])
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "results.json").write_text("[]")
    with pytest.raises(ValueError, match=r"list/results.json: not a finished suite run's file \(a JSON list\)"):
        spread.compare([a, tmp_path / "list"])
    old = write_run(tmp_path / "old", {"aa_train": (1.004, None, None)})  # before intervals were recorded
    h = json.loads((old / "headline.json").read_text())
    (old / "headline.json").write_text(json.dumps({"aa_train": h["aa_train"]}))
    s = spread.compare([a, old])["headlines"]["aa_train"]
    assert s["values"] == [1.0, 1.004] and s["intervals"] == [[0.99, 1.01], None] and s["intervals_overlap"] is None
    with pytest.raises(ValueError, match="1 labels for 2 runs"):
        spread.compare([a, a], labels=["x"])
    with pytest.raises(ValueError, match=r"nothing\*: no run directory matches"):
        spread.compare([a, tmp_path / "nothing*"])


def test_glob_patterns_expand_in_sorted_order(tmp_path):
    for name, v in (("run_b", 1.002), ("run_a", 1.0), ("other", 2.0)):
        write_run(tmp_path / name, {"aa_infer": (v, [v - 0.01, v + 0.01], "met")})
    (tmp_path / "run_notes.txt").write_text("a file, not a run\n")
    c = spread.compare([tmp_path / "run_*"])
    assert [Path(r["workdir"]).name for r in c["runs"]] == ["run_a", "run_b"]
    assert c["headlines"]["aa_infer"]["values"] == [1.0, 1.002]


def test_binary_prints_and_writes_the_table_and_json(tmp_path):
    runs = [write_run(tmp_path / n, {"aa_infer": (v, [v - 0.01, v + 0.01], "met")}) for n, v in (("a", 1.0), ("b", 1.004))]
    out = tmp_path / "cmp" / "between.json"
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "compare_runs.py"),
                           f"--workdirs={runs[0]},{runs[1]}", f"--out={out}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| aa_infer | 1.000 [0.990, 1.010]; 1.004 [0.994, 1.014] |" in done.stdout
    assert json.loads(out.read_text())["headlines"]["aa_infer"]["between_halfwidth"] == pytest.approx(0.002)
    assert out.with_suffix(".md").read_text() == done.stdout.rstrip("\n") + "\n"
    bad = subprocess.run([sys.executable, str(ROOT / "experiments" / "compare_runs.py"), f"--workdirs={runs[0]}"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1] == "error: compare needs at least 2 runs, got 1"
