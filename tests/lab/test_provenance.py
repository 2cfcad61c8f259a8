"""Run records (flax_adapters_lab/provenance.py): a results file of another config is kept beside the
new one, never overwritten; a run records the commit it ran (+dirty for uncommitted changes, none
outside a checkout)."""

import json
import subprocess
from pathlib import Path

from flax_adapters_lab import provenance


def test_a_run_of_another_config_is_kept_not_overwritten(tmp_path):
    from flax_adapters_lab import provenance

    earlier = {"config": {"suite": "quick"}, "sections": {"peak": {"jax": {"gflops": 300.0}}}}
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    path, results = provenance.resumable(tmp_path, {"suite": "tiny"})
    assert results == {"config": {"suite": "tiny"}, "sections": {}} and not Path(path).exists()
    assert json.loads((tmp_path / "results.previous-1.json").read_text()) == earlier
    (tmp_path / "results.json").write_text(json.dumps(earlier))  # and again: a second copy, not a clobber
    provenance.resumable(tmp_path, {"suite": "tiny"})
    assert (tmp_path / "results.previous-2.json").exists()
    _, same = provenance.resumable(tmp_path, {"suite": "tiny"})  # nothing to keep: no sections yet
    assert same["sections"] == {} and not (tmp_path / "results.previous-3.json").exists()


def test_a_run_records_the_commit_it_ran(tmp_path):
    git = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], capture_output=True, text=True, check=True)  # noqa: E731
    assert provenance.code_commit(str(tmp_path)) is None                     # not a checkout
    git("init", "-q")
    (tmp_path / "f.py").write_text("x = 1\n")
    git("add", "f.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    sha = git("rev-parse", "--short=12", "HEAD").stdout.strip()
    (tmp_path / "new.txt").write_text("untracked files do not change what ran\n")
    assert provenance.code_commit(str(tmp_path)) == sha
    (tmp_path / "f.py").write_text("x = 2\n")
    assert provenance.code_commit(str(tmp_path)) == sha + "+dirty"
    (tmp_path / "site-packages").mkdir()  # an installed copy inside another repository: not its commit
    assert provenance.code_commit(str(tmp_path / "site-packages")) is None
    assert provenance.environment()["commit"] == provenance.code_commit()    # this checkout's, recorded
