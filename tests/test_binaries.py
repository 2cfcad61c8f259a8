"""Every binary in experiments/ starts from any directory (an installed checkout, no sys.path edits)
and documents itself: `--helpfull` prints its docstring and every flag it defines, no traceback."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINARIES = sorted(p.name for p in (ROOT / "experiments").glob("*.py"))


def _defined_flags(path: Path) -> list[str]:
    """Names passed to flags.DEFINE_* / config_flags.DEFINE_config_* in the binary's own source."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("DEFINE_") and node.args and isinstance(node.args[0], ast.Constant)):
            names.append(node.args[0].value)
    return names


def test_every_binary_is_listed():
    assert len(BINARIES) >= 20 and "train.py" in BINARIES and "serve.py" in BINARIES


@pytest.mark.parametrize("binary", BINARIES)
def test_binary_starts_anywhere_and_documents_its_flags(binary, tmp_path):
    path = ROOT / "experiments" / binary
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", JAX_PLATFORMS="cpu")
    env.pop("PYTHONPATH", None)  # the installed package, as a user has it
    done = subprocess.run([sys.executable, str(path), "--helpfull"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out[-3000:]
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and doc.splitlines()[0] in out, f"{binary} has no docstring, or --helpfull does not show it"
    flags = _defined_flags(path)
    missing = [f for f in flags if f"--{f}" not in out and f"--[no]{f}" not in out]  # booleans: --[no]name
    assert not missing, f"{binary}: --helpfull does not list {missing}"


def test_shell_scripts_parse():
    for script in sorted((ROOT / "experiments").glob("*.sh")) + [ROOT / ".ci" / "run"]:
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
