"""The binaries in experiments/ as a new user meets them (issue 22): every adapter option settable
the dotted way and listed in README, user errors as one `error:` line naming the key with the
valid ones nearest first, comma lists of absolute paths, no TPU-probe noise, and DeprecationWarnings
from our own code failing the tests. The cases that need a trained run are in
tests/test_bad_inputs_training.py; the reproduce suite's progress ETA and report columns are checked
with their modules (tests/lab/reproduce/test_runner.py, test_report.py)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from absl import flags

from flax_adapters.adapters import registry
from flax_adapters.training import cli
from flax_adapters.training.config import from_config_dict, method_options

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.py"


def env(**extra):
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                JAX_PLATFORMS="cpu", **extra)


def run_binary(name: str, *args, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "experiments" / name), *map(str, args)], env=env(),
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def one_error_line(out) -> str:
    """The binary failed with exactly one line on stderr, `error: …`, and no traceback."""
    assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-3000:]
    return lines[0]


def tree_hash(path: Path) -> dict:
    """Every file under `path` with its bytes: what a failed command must leave as it found it."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


def parse(*args) -> "TrainConfig":  # noqa: F821
    """The TrainConfig a command line gives, through the binaries' own config flag and parser."""
    fv, argv = flags.FlagValues(), ["train.py", *args]
    holder = cli.define_config("config", None, "test", flag_values=fv, sys_argv=argv)
    fv(argv)
    return from_config_dict(holder.value)


def _as_text(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "()"
    return str(value)


# --- 22.2: every option of every method, the dotted way ----------------------------------------

@pytest.mark.parametrize("method", sorted(registry.METHODS) + ["fusion"])
def test_every_option_of_every_method_is_settable_dotted(method, tmp_path):
    extra = [f"--config.method.fusion_adapters={tmp_path}/a,{tmp_path}/b"] if method == "fusion" else []
    for option, (hint, default) in method_options(method).items():
        value = default if default is not None else 0.25  # dropout_prob: None means "the encoder's"
        cfg = parse(f"--config={SMOKE}:{method}", f"--config.method.options.{option}={_as_text(value)}", *extra)
        assert cfg.method.options == {option: value}, (option, cfg.method.options)
        if method != "fusion":  # the adapter accepts it as typed (hashable, the right types)
            registry.make_config(method, **cfg.method.options)
    cfg = parse(f"--config={SMOKE}:lora", "--config.method.options.r=4", "--config.method.options.attn_matrices=q,k,v",
                "--config.method.options.alpha=16", "--config.method.options.leave_out=0,1")
    assert cfg.method.options == {"r": 4, "attn_matrices": ("q", "k", "v"), "alpha": 16.0, "leave_out": (0, 1)}


def test_readme_lists_every_option_of_every_method():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("<!-- method options -->"):readme.index("<!-- /method options -->")]
    for method in sorted(registry.METHODS) + ["fusion"]:
        row = next((l for l in section.splitlines() if re.search(rf"`{re.escape(method)}`", l)), None)
        assert row is not None, f"README's option table has no row for {method}"
        for option in method_options(method):
            assert f"`{option}`" in row, (method, option)


# --- 22.3: user errors are one line naming the key, valid ones nearest first --------------------

@pytest.mark.parametrize("binary,args,expect", [
    ("train.py", ["--config.optim.lr=1e-3"], r"unknown key\(s\) config\.optim\.lr; .*nearest first: learning_rate,"),
    ("train.py", ["--config.optm.learning_rate=1e-3"], r"config\.optm .*nearest first: optim,"),
    ("train.py", ["--config.method.options.reduction_factr=8"],
     r"config\.method\.options\.reduction_factr \(method 'seq_bn'\).*nearest first: reduction_factor,"),
    ("train.py", ["--config.method.name=pfeifer"], r"unknown method 'pfeifer'; choose one of \(nearest first\): pfeiffer,"),
    ("train.py", ["--config.data.task=sst3"], r"unknown task 'sst3'.*nearest first\): sst2,"),
    ("train.py", ["--config.batch_size=abc"], r"config\.batch_size=abc"),
    ("train.py", ["--config.method.options.reduction_factor=big"], r"config\.method\.options\.reduction_factor must be float"),
    ("train.py", ["--workdirr=/tmp/x"], r"unknown flag --workdirr; .*nearest first: workdir,"),
    ("add_task.py", ["--config.optim.lr=1e-3"], r"config\.optim\.lr; .*nearest first: learning_rate,"),
    ("reproduce.py", ["--config.reps=3"], r"config\.reps; .*nearest first: repeats,"),
    ("bench_methods.py", ["--methods=seq_bn,pfeifer", "--notorch"], r"\['pfeifer'\]; registered \(nearest first\): \['pfeiffer',"),
    ("bench_fusion.py", ["--batchsize=2"], r"unknown flag --batchsize; .*nearest first: batch,"),
])
def test_user_error_is_one_line_naming_the_key(binary, args, expect, tmp_path):
    workdir = tmp_path / "run"
    config = {"train.py": [f"--config={SMOKE}:seq_bn", f"--workdir={workdir}"],
              "add_task.py": [f"--config={ROOT / 'configs' / 'glue_minilm.py'}", f"--workdir={workdir}"],
              "reproduce.py": [f"--config={ROOT / 'configs' / 'reproduce.py'}:tiny", f"--workdir={workdir}"]}
    line = one_error_line(run_binary(binary, *config.get(binary, []), *args))
    assert re.search(expect, line), line
    assert not workdir.exists()  # refused before anything was written


def test_reproduce_missing_convergence_run_is_one_line(tmp_path):
    runs = tmp_path / "runs"
    for name in ("replay0.2", "replay0.05"):
        (runs / name).mkdir(parents=True)
        (runs / name / "summary.json").write_text("{}")
    before = tree_hash(runs)
    # A tuple of absolute paths with dots in them, bare (22.5), one of them missing (22.3).
    line = one_error_line(run_binary("reproduce.py", f"--config={ROOT / 'configs' / 'reproduce.py'}:tiny",
                                     f"--workdir={tmp_path / 'out'}", "--config.sections=convergence",
                                     f"--config.convergence_runs={runs}/replay0.2,{runs}/replay0.3"))
    assert f"{runs}/replay0.3 has no summary.json" in line
    assert re.search(rf"nearest first: {re.escape(str(runs))}/replay0.2, ", line), line
    assert tree_hash(runs) == before and not (tmp_path / "out").exists()


def test_config_file_errors_are_one_line(tmp_path):
    line = one_error_line(run_binary("reproduce.py", f"--config={ROOT / 'configs' / 'reproduce.py'}:fast",
                                     f"--workdir={tmp_path}"))
    assert "unknown suite 'fast'" in line
    line = one_error_line(run_binary("train.py", f"--config={tmp_path / 'nope.py'}", f"--workdir={tmp_path / 'w'}"))
    assert "cannot read the config file" in line and "nope.py" in line


# --- 22.5: tuple settings take comma lists of absolute paths ------------------------------------

def test_tuple_settings_take_comma_lists_of_absolute_paths():
    cfg = parse(f"--config={SMOKE}:fusion", "--config.method.fusion_adapters=/a/x,/b/replay0.2")
    assert cfg.method.fusion_adapters == ("/a/x", "/b/replay0.2")
    cfg = parse(f"--config={SMOKE}:seq_bn", "--config.method.drop=robust", "--config.method.drop_choices=0,2,4")
    assert cfg.method.drop_choices == (0, 2, 4)
    cfg = parse(f"--config={SMOKE}:seq_bn", "--config.data.tasks=sst2", "--config.data.buckets=16,32")
    assert cfg.data.tasks == ("sst2",) and cfg.data.buckets == (16, 32)


def test_settings_defaulting_to_none_take_a_value_and_none():
    cfg = parse(f"--config={SMOKE}:seq_bn", "--config.method.init_from=/runs/a", "--config.data.cache_dir=/c")
    assert cfg.method.init_from == "/runs/a" and cfg.data.cache_dir == "/c"
    assert parse(f"--config={SMOKE}:seq_bn", "--config.data.data_dir=None").data.data_dir is None  # the HF hub


# --- 22.8: quiet output (the suite's honest ETA and GFLOP columns: tests/lab/reproduce/test_runner.py,
# test_report.py) -----------------------------------------------------------------------------------

def test_no_tpu_probe_noise_where_no_tpu_is_expected():
    probe = "import jax, logging; logging.basicConfig(level=logging.INFO); jax.devices()"
    control = subprocess.run([sys.executable, "-c", probe], env=dict(env(), JAX_PLATFORMS=""), capture_output=True,
                             text=True, timeout=600)
    if "Unable to initialize backend 'tpu'" not in control.stderr:
        pytest.skip("JAX does not probe for a TPU here")
    quiet = subprocess.run([sys.executable, "-c", "import flax_adapters.training.cli; " + probe],
                           env=dict(env(), JAX_PLATFORMS=""), capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0 and "Unable to initialize backend 'tpu'" not in quiet.stderr, quiet.stderr


# --- 22.7: a DeprecationWarning raised from our code fails the tests ---------------------------------

def test_deprecation_from_our_code_is_an_error_in_tests():
    """pyproject's filterwarnings turns a DeprecationWarning attributed to a flax_adapters module into
    an error (and leaves third parties' alone); a deliberate one proves the switch is on."""
    code = compile("import warnings\nwarnings.warn('old', DeprecationWarning)\n", "flax_adapters/fake.py", "exec")
    with pytest.raises(DeprecationWarning):
        exec(code, {"__name__": "flax_adapters.fake"})
    exec(code, {"__name__": "somebody_else"})  # another package's deprecation stays a warning
