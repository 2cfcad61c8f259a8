"""The packages' import graph: every module imports on its own, no cycles, no private names across
modules, the library (flax_adapters) never imports the lab (flax_adapters_lab) nor torch, and the
library's floors (models <- adapters <- data/training; methods -> registry -> container, I/O beside it).

The graph is read from the source (ast), function-level imports included: a lazy import inside a
function still ties two modules together, and that is how the old adapters/ circle hid.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (ROOT / "flax_adapters", ROOT / "flax_adapters_lab")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for package in PACKAGES for p in sorted(package.rglob("*.py"))}
LIBRARY = [m for m in MODULES if m.split(".")[0] == "flax_adapters"]


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str):
    """(target module, names imported from it, line) for every import statement of `module`
    that reaches into flax_adapters; `from pkg import sub` counts as importing the submodule."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb from this module's package
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base not in MODULES:
                continue
            plain = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:
                    yield sub, [], node.lineno
                else:
                    plain.append(alias.name)
            if plain:
                yield base, plain, node.lineno


GRAPH = {m: sorted({t for t, _, _ in _imports(m) if t != m}) for m in MODULES}


def _find_cycle(graph: dict) -> list[str] | None:
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == "open":
                return stack[stack.index(t):] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        stack.pop()
        state[m] = "done"
        return None

    for m in graph:
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_the_graph_is_read():
    """Guards the parser: known edges of the package must show up."""
    assert "flax_adapters.adapters.registry" in GRAPH["flax_adapters.adapters.model"]
    assert "flax_adapters.adapters.bottleneck" in GRAPH["flax_adapters.adapters.registry"]
    assert "flax_adapters.models.hooks" in GRAPH["flax_adapters.adapters.bottleneck"]
    assert _find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": ["b"], "b": []}) is None


def _third_party_imports(module: str) -> set[str]:
    """Top-level names of every import statement of `module` (function-level ones included)."""
    out = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_the_library_imports_neither_the_lab_nor_torch():
    """flax_adapters is the library: no module of it imports flax_adapters_lab, torch or the PyTorch
    baselines, even lazily inside a function; and importing all of it loads none of them."""
    bad = [f"{m} imports {t}" for m in LIBRARY for t in GRAPH[m] if t.startswith("flax_adapters_lab")]
    bad += [f"{m} imports {t}" for m in LIBRARY for t in _third_party_imports(m) & {"torch", "adapters", "peft"}]
    assert not bad, "\n".join(bad)
    script = ("import sys\n" + "".join(f"import {m}\n" for m in LIBRARY if not m.endswith("__main__")) +
              "loaded = sorted(m for m in ('torch', 'adapters', 'peft', 'flax_adapters_lab') if m in sys.modules)\n"
              "print(loaded); sys.exit(1 if loaded else 0)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]


# The floors, lowest first: a module imports only its own floor and those below it (the lab sits on
# top of the whole library; serving, the multi-task server, on the adapters and the data pipeline).
FLOORS = {"flax_adapters.models": 0, "flax_adapters.data": 0, "flax_adapters.adapters": 1,
          "flax_adapters.training": 2, "flax_adapters.serving": 2, "flax_adapters": 3, "flax_adapters_lab": 4}


def _floor(module: str) -> tuple[str, int]:
    key = next(k for k in sorted(FLOORS, key=len, reverse=True) if module == k or module.startswith(k + "."))
    return key, FLOORS[key]


def test_imports_point_down_the_floors():
    """experiments -> lab -> training -> adapters -> models, never back; data beside models."""
    bad = []
    for m, targets in GRAPH.items():
        (here, level) = _floor(m)
        for t in targets:
            there, other = _floor(t)
            if other > level or (other == level and here != there and here != "flax_adapters"):
                bad.append(f"{m} -> {t} ({here} may not import {there})")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    cycle = _find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_private_name_crosses_a_module():
    """No `from flax_adapters.x import _name`, and no `x._name` on an imported flax_adapters module."""
    bad = []
    for m, path in MODULES.items():
        tree = ast.parse(path.read_text())
        modules_bound = {}
        for target, names, line in _imports(m):
            bad += [f"{m}:{line} imports {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    full = alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
                    if full in MODULES:
                        modules_bound[alias.asname or alias.name.split(".")[0]] = full
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in modules_bound and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                bad.append(f"{m}:{node.lineno} uses {modules_bound[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


ADAPTERS = "flax_adapters.adapters."
METHOD_FILES = {"base", "common", "bottleneck", "compacter", "lora", "ia3", "prefix", "fusion", "heads"}


def test_adapters_import_order():
    """Method files import only the contract, common.py, models/ and other method files; only the
    container (model.py) and hub_io.py import the registry; hub_io never imports the container;
    models/ imports nothing above it and adapters/ nothing but models/ (experiments -> training ->
    adapters -> models)."""
    bad = []
    for m, targets in GRAPH.items():
        for t in targets:
            if m.startswith("flax_adapters.models") and not t.startswith("flax_adapters.models"):
                bad.append(f"{m} -> {t} (models/ is the bottom layer)")
            if m.startswith(ADAPTERS) and not t.startswith((ADAPTERS, "flax_adapters.models")):
                bad.append(f"{m} -> {t} (adapters/ may import only adapters/ and models/)")
            here, there = m.removeprefix(ADAPTERS), t.removeprefix(ADAPTERS)
            if m.startswith(ADAPTERS) and here in METHOD_FILES and t.startswith(ADAPTERS) and there not in METHOD_FILES:
                bad.append(f"{m} -> {t} (a method file may import only the contract and other method files)")
            if t == ADAPTERS + "registry" and m.startswith(ADAPTERS) and here not in ("model", "hub_io", "__init__"):
                bad.append(f"{m} -> {t} (only the container and the I/O use the registry)")
            if m == ADAPTERS + "hub_io" and t == ADAPTERS + "model":
                bad.append(f"{m} -> {t} (the I/O sits beside the container, not above it)")
    assert not bad, "\n".join(bad)


def test_every_module_imports_on_its_own():
    """Each module imported first, with no other flax_adapters module loaded: a cycle that Python
    cannot resolve, or a module that works only after another was imported, fails here."""
    script = (
        "import sys, traceback\n"
        "failed = []\n"
        f"for name in {sorted(MODULES)!r}:\n"
        "    for m in [k for k in sys.modules if k.split('.')[0] in ('flax_adapters', 'flax_adapters_lab')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except Exception as e:\n"
        "        failed.append(f'{name}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]


@pytest.mark.parametrize("name", ["flax_adapters", "flax_adapters.adapters", "flax_adapters.models"])
def test_all_lists_what_the_package_exports(name):
    """`__all__` of each public package names only real attributes, and every public class or
    function it imports is listed."""
    module = __import__(name, fromlist=["__all__"])
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists {missing}, which do not exist"
    unlisted = [n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
                and getattr(v, "__module__", "").startswith("flax_adapters") and n not in module.__all__]
    assert not unlisted, f"{name} exports {unlisted} without listing them in __all__"


def test_readme_names_what_exists():
    """README's API examples import only what exists (`fa.X`, `from flax_adapters... import ...`),
    and its layout section names only files that exist."""
    import flax_adapters as fa

    readme = (ROOT / "README.md").read_text()
    missing = [n for n in re.findall(r"\bfa\.([A-Za-z_]\w*)", readme) if not hasattr(fa, n)]
    for module, names in re.findall(r"^from (flax_adapters[\w.]*) import ([\w, ]+)", readme, re.M):
        imported = importlib.import_module(module)
        missing += [f"{module}.{n.strip()}" for n in names.split(",") if not hasattr(imported, n.strip())]
    layout = readme.split("## Layout", 1)[1].split("```", 2)[1]
    named, top, folder = [], "", ""
    for line in layout.splitlines():
        entry = re.match(r"^( *)(\S+/)(?=\s|$)", line)
        if entry:  # a folder: at the margin a top-level one, indented one inside the last top-level
            top, folder = (entry.group(2), "") if not entry.group(1) else (top, entry.group(2))
            text = line[entry.end():]
        else:      # files of the top-level folder itself (at the first indent), or a continuation line
            folder = "" if re.match(r"^ {1,4}\w+\.py", line) else folder
            text = line
        named += [top + folder + f for f in re.findall(r"(?<![/\w])(\w+\.py)\b", text)]
    assert "flax_adapters/adapters/hub_io.py" in named  # the layout section was read
    missing += [f for f in named if not (ROOT / f).exists()]
    assert not missing, f"README names what does not exist: {missing}"
