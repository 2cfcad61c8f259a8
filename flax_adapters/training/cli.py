"""Command-line plumbing shared by the binaries in experiments/: a user error is one line.

A user error — a misspelt flag or config key, a value of the wrong type, a missing file or run —
ends a binary with one `error: …` line on stderr and exit status 1, never a traceback; the line
names the culprit and lists the valid choices, nearest match first. `FLAX_ADAPTERS_TRACEBACK=1`
re-raises instead (for debugging the library itself).

    from flax_adapters.training import cli
    _CONFIG = cli.define_config("config", None, "configs/<file>.py[:arg]")
    if __name__ == "__main__":
        cli.run(main)       # instead of absl's app.run(main)

Two parsing details live here too, because every binary wants them:
- tuple config settings accept a bare comma list of paths (`--config.method.fusion_adapters=/a/x,/b/y`,
  `--config.convergence_runs=runs/a,runs/x/replay0.2`), which ml_collections' own tuple parser
  refuses (it evaluates the text as a Python literal first);
- JAX's INFO record "Unable to initialize backend 'tpu' … libtpu.so …" is dropped when libtpu is
  not installed at all, i.e. when no TPU is expected (training/tracking.py installs that filter,
  so binaries that import the training loop without this module are quiet too).
"""

from __future__ import annotations

import ast
import os
import re
import sys
from typing import Callable

from absl import app, flags
from ml_collections import config_dict
from ml_collections.config_flags import config_flags, tuple_parser

from flax_adapters.training import tracking  # noqa: F401  (installs the TPU-probe filter)
from flax_adapters.training.config import nearest_first

# What a binary reports as a user error rather than a crash (AdapterError is a ValueError).
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FileExistsError, app.UsageError)


class PathTupleParser(tuple_parser.TupleParser):
    """ml_collections' tuple parser, but "a/b,/c/d" (not a Python literal) is a tuple of strings."""

    def parse(self, argument):
        try:
            return super().parse(argument)
        except ValueError:
            if not isinstance(argument, str):
                raise
            return tuple(p.strip().strip("'\"") for p in argument.strip("()[] ").split(",") if p.strip())


class NoneFieldParser(flags.ArgumentParser):
    """A setting whose default is None (`method.init_from`, `data.cache_dir`): ml_collections has no
    parser for NoneType and refuses any override; here "None" stays None, a literal (8, 0.5, True)
    is that value and anything else (a path) is the string."""

    def parse(self, argument):
        if not isinstance(argument, str) or argument in ("None", "none", ""):
            return None if isinstance(argument, str) else argument
        try:
            return ast.literal_eval(argument)
        except (ValueError, SyntaxError):
            return argument

    def flag_type(self):
        return "none_or_value"


# ml_collections looks its parsers up by field type in this table at parse time; a subclass of
# TupleParser keeps the tuple fields' multi-flag behaviour (`--config.x=a --config.x=b`).
config_flags.register_flag_parser_for_type(tuple, PathTupleParser())
config_flags.register_flag_parser_for_type(type(None), NoneFieldParser())


def define_config(name: str, default: str | None, help_string: str, flag_values: flags.FlagValues = flags.FLAGS,
                  sys_argv: list[str] | None = None) -> flags.FlagHolder:
    """A config-file flag whose overrides may add keys: `--config.method.options.reduction_factor=8`
    sets an option the config file never named. Unknown keys are refused afterwards, by the
    config's own `from_config_dict`, with the valid ones listed. (`sys_argv`: where ml_collections
    looks for the overrides, sys.argv by default; tests parse other command lines.)"""
    return config_flags.DEFINE_config_file(name, default, help_string, flag_values=flag_values,
                                           lock_config=False, accept_new_attributes=True, sys_argv=sys_argv)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def fail(message: str) -> None:
    """Ends the binary with one `error: …` line and exit status 1."""
    sys.exit("error: " + one_line(message))


def run(main: Callable[[list[str]], None]) -> None:
    """absl's app.run with user errors — in flag parsing or raised by `main` — as one line."""

    def guarded(argv):
        if os.environ.get("FLAX_ADAPTERS_TRACEBACK"):
            return main(argv)
        try:
            return main(argv)
        except USER_ERRORS as e:
            fail(f"{type(e).__name__}: {e}" if isinstance(e, (FileNotFoundError, NotADirectoryError)) else str(e))

    app.run(guarded, flags_parser=_parse_flags)


def _parse_flags(argv: list[str]) -> list[str]:
    if os.environ.get("FLAX_ADAPTERS_TRACEBACK"):
        return flags.FLAGS(argv)
    try:
        rest = flags.FLAGS(argv)
    except flags.UnrecognizedFlagError as e:
        # The binary's flags and ours (config, multi-process), not absl's and JAX's dozens.
        names = sorted({f.name for module, fs in flags.FLAGS.flags_by_module_dict().items()
                        if module == sys.argv[0] or module.startswith("flax_adapters") for f in fs})
        fail(f"unknown flag --{e.flagname}" + (f"; this binary's flags, nearest first: "
                                               f"{', '.join(nearest_first(e.flagname, names))}" if names else "")
             + " (--helpfull lists every flag)")
    except flags.Error as e:  # absl's own: a bad int, a bad enum value, a config file that raised, …
        fail(_last_line_of_traceback(str(e)))
    except Exception as e:  # ml_collections raises plain KeyError/AttributeError/ValueError for an override
        fail(_describe_override_error(argv, e))
    for name in list(flags.FLAGS):
        # ml_collections defers a config file that cannot be read to its first use; say it now.
        error = getattr(flags.FLAGS[name].value, "_error", None) if config_flags.is_config_flag(
            flags.FLAGS[name]) else None
        if isinstance(error, OSError):
            fail(f"--{name}: cannot read the config file: {_last_line_of_traceback(str(error))}")
    return rest


def _last_line_of_traceback(message: str) -> str:
    """A message carrying a traceback (ml_collections wraps a config file's exception so) is reduced
    to its last line, the exception itself, behind the message's first line."""
    lines = [l for l in message.strip().splitlines() if l.strip()]
    if any("Traceback (most recent call last)" in l for l in lines) or len(lines) > 2:
        return f"{lines[0].rstrip(': ')}: {lines[-1].strip()}"
    return message


def _describe_override_error(argv: list[str], error: Exception) -> str:
    """Names the `--<config>.a.b` override that failed and, for a path that does not exist, the
    valid keys at the level where it goes wrong (nearest first)."""
    for name in list(flags.FLAGS):
        if not config_flags.is_config_flag(flags.FLAGS[name]):
            continue
        spec = next((a.split("=", 1)[1] for a in argv if re.match(rf"^-{{1,2}}{name}=", a)), None)
        overrides = [a.split("=", 1)[0].lstrip("-").split(".", 1)[1] for a in argv
                     if re.match(rf"^-{{1,2}}{name}\.", a)]
        if spec is None or not overrides:
            continue
        try:
            config = config_flags.ConfigFileFlagParser(name, lock_config=False).parse(spec)
        except Exception:  # the file itself is broken: the original error says more
            break
        for path in overrides:
            node, where = config, name
            for key in path.split(".")[:-1]:
                if not isinstance(node, (config_dict.ConfigDict, dict)):
                    return f"--{name}.{path}: {where} is a {type(node).__name__}, not a group of keys"
                if key not in node:
                    return (f"unknown key(s) {where}.{key} (in --{name}.{path}); valid keys of {where}, "
                            f"nearest first: {', '.join(nearest_first(key, node.keys()))}")
                node, where = node[key], f"{where}.{key}"
        return f"--{name} override: {type(error).__name__}: {one_line(error)}"
    return f"{type(error).__name__}: {one_line(error)}"
