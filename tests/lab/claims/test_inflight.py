"""Runs in flight carried across machines (claims/inflight.py) on hand-made workdirs: park copies an
unfinished run's latest checkpoint (not a finished run's, not one without a checkpoint, not one
over the size cap), unpark resumes it only into a workdir without a checkpoint and only with the
same config but for machine paths, discard removes it. The job end to end: test_runner.py."""

import json

from flax_adapters_lab.claims import from_config_dict, inflight, plan
from tests.lab.claims.common import get_config

CONFIG = {"seed": 0, "optim": {"learning_rate": 1e-3}, "data": {"cache_dir": "/machine_a/cache", "task": "sst2"},
          "method": {"name": "seq_bn", "options": {}}}


def _run_dir(root, name, steps, config=CONFIG, size=1000):
    d = root / "runs" / name
    for step in steps:
        (d / "checkpoints" / str(step)).mkdir(parents=True)
        (d / "checkpoints" / str(step) / "state").write_bytes(b"x" * size)
    (d / "checkpoints" / "9.orbax-checkpoint-tmp-1").mkdir(parents=True)  # a save cut off: not a checkpoint
    (d / "config.json").write_text(json.dumps(config))
    (d / "metrics.jsonl").write_text('{"step": 1}\n')
    return d


def test_park_copies_the_latest_checkpoint_of_unfinished_runs_only(tmp_path):
    cfg = from_config_dict(get_config("tiny"))
    a, b, c, d = (r.name for r in plan.runs(cfg)[:4])
    job, results = tmp_path / "job", tmp_path / "results"
    _run_dir(job, a, [4, 8])                       # in flight: parked at step 8
    _run_dir(job, b, [4])                          # finished: its record is in results
    (results / "records").mkdir(parents=True)
    (results / "records" / f"{b}.json").write_text("{}")
    _run_dir(job, c, [])                           # never reached a checkpoint
    _run_dir(job, d, [4], size=3 * 2**20)          # too big for the cap
    (results / inflight.DIR / a / "checkpoints" / "2").mkdir(parents=True)  # an older parked copy
    logged = []
    assert inflight.park(cfg, job, results, max_mb=2.0, log=logged.append) == [a]
    parked = results / inflight.DIR / a
    assert sorted(p.name for p in (parked / "checkpoints").iterdir()) == ["8"]
    assert (parked / "config.json").is_file() and (parked / "metrics.jsonl").is_file()
    assert sorted(p.name for p in (results / inflight.DIR).iterdir()) == [a]
    assert any(d in line and "> 2 MB" in line for line in logged)
    logged.clear()
    assert inflight.park(cfg, tmp_path / "empty", results, log=logged.append) == []
    assert logged and logged[-1].startswith("nothing parked")


def test_unpark_resumes_the_same_run_on_another_machine(tmp_path):
    name = "sst2_seq_bn_n0_s0"
    _run_dir(tmp_path / "job_a", name, [8])
    results = tmp_path / "results"
    (results / inflight.DIR).mkdir(parents=True)
    (tmp_path / "job_a" / "runs" / name).rename(results / inflight.DIR / name)
    here = dict(CONFIG, data=dict(CONFIG["data"], cache_dir="/machine_b/cache"))  # this machine's paths
    other = dict(here, optim={"learning_rate": 5e-4})                           # another run

    target = tmp_path / "job_b" / "runs" / name
    assert not inflight.unpark(results, target, other, log=lambda s: None) and not target.exists()
    assert inflight.unpark(results, target, here, log=lambda s: None)
    assert (target / "checkpoints" / "8" / "state").is_file()
    assert json.loads((target / "config.json").read_text())["data"]["cache_dir"] == "/machine_b/cache"
    assert not inflight.unpark(results, target, here, log=lambda s: None)  # it has its own checkpoint now
    inflight.discard(results, name)
    assert not (results / inflight.DIR / name).exists()


def test_park_flag_of_the_claims_binary(tmp_path):
    import os
    import subprocess
    import sys

    from tests.lab.claims.common import ROOT

    cmd = [sys.executable, str(ROOT / "experiments" / "claims.py"), f"--config={ROOT / 'configs' / 'claims.py'}:tiny",
           f"--workdir={tmp_path / 'job'}", "--park"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", JAX_PLATFORMS="cpu")
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert refused.returncode != 0 and "error: --park needs --results" in refused.stderr
    _run_dir(tmp_path / "job", "sst2_seq_bn_n0_s0", [3])
    done = subprocess.run(cmd + [f"--results={tmp_path / 'results'}"], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "parked sst2_seq_bn_n0_s0 at step 3" in done.stdout
    assert (tmp_path / "results" / inflight.DIR / "sst2_seq_bn_n0_s0" / "checkpoints" / "3").is_dir()
