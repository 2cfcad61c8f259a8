"""Rewrites saved AdapterHub directories' weights in place: safetensors → the .bin files AdapterHub's
default `load_adapter(dir)` reads (or back with --to=safetensors), one copy of the weights each.

    python experiments/convert_adapters.py --dirs='results/claims_quick_cpu/adapters/*'
"""

from __future__ import annotations

import glob
import sys

from absl import app, flags

from flax_adapters.adapters.base import AdapterError
from flax_adapters.adapters.hub_io import convert_directory

_DIRS = flags.DEFINE_list("dirs", None, "adapter directories (a quoted glob is expanded)", required=True)
_TO = flags.DEFINE_enum("to", "bin", ["bin", "safetensors"], "the form to write")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    dirs = sorted({d for pattern in _DIRS.value for d in (glob.glob(pattern) or [pattern])})
    for d in dirs:
        try:
            written = convert_directory(d, torch_format=_TO.value == "bin")
        except AdapterError as e:
            sys.exit(f"error: {e}")
        print(f"{d}: {', '.join(written) or 'already ' + _TO.value}")


if __name__ == "__main__":
    app.run(main)
