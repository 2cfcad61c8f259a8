"""The reproduce suite's config (reproduce/config.py): every suite config builds; bad values, unknown
keys and suites are refused with the culprit named, also from the command line."""

import subprocess
import sys
from pathlib import Path

import pytest

from flax_adapters_lab.reproduce import from_config_dict
from tests.lab.reproduce.common import tiny
from tests.training.test_config import load_config

ROOT = Path(__file__).resolve().parents[3]


def test_every_suite_config_builds():
    for suite in ("quick", "paper", "tiny"):
        cfg = from_config_dict(load_config("reproduce", suite))
        assert cfg.suite == suite
    quick = from_config_dict(load_config("reproduce", "quick"))
    assert quick.shape == "bert-base" and set(quick.sections) >= {"methods", "adapterdrop", "parallel", "mixed", "fusion"}


@pytest.mark.parametrize("key,value,message", [
    ("sections", ("methods", "speed"), r"unknown section\(s\) \['speed'\]; choose from"),
    ("methods", ("seq_bn", "adapterx"), r"unknown method\(s\) \['adapterx'\]; registered"),
    ("shape", "bert-huge", r"unknown model shape\(s\) \['bert-huge'\]"),
    ("drops", (0, 2), r"drops: \[2\] outside \[0, 2\) for the 2-layer tiny"),
    ("torch_compile", ("infer:everything",), r"torch_compile: unknown target\(s\)"),
    ("fusion_keep", 9, r"fusion_keep 9 must be in \[1, 8\]"),
    ("methods_budget_s", -5.0, r"methods_budget_s -5.0 must be ≥ 0"),
    ("methods", (), r"methods: empty; the methods section times at least one"),
])
def test_bad_config_names_the_culprit(key, value, message):
    with pytest.raises(ValueError, match=message):
        tiny(**{key: value})


def test_unknown_key_and_suite_are_refused():
    c = load_config("reproduce", "tiny")
    c.unlock() if hasattr(c, "unlock") else None
    c["reps"] = 3
    with pytest.raises(ValueError, match=r"unknown key\(s\) config.reps"):
        from_config_dict(c)
    with pytest.raises(ValueError, match=r"unknown suite 'fast'; choose one of"):
        load_config("reproduce", "fast")


def test_binary_refuses_a_bad_override(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "reproduce.py"),
                          f"--config={ROOT / 'configs' / 'reproduce.py'}:tiny", "--config.sections=methods,speed",
                          f"--workdir={tmp_path}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode != 0
    assert "unknown section(s) ['speed']" in out.stderr.strip().splitlines()[-1]
