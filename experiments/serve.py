"""Serves AdapterHub adapters of one method from one encoder over HTTP (flax_adapters/serving).

    python experiments/serve.py --model=DIR --adapters=sst2=adapters/sst2,rte=adapters/rte --port=8000
    curl -s localhost:8000/predict -d '{"adapter": "sst2", "text": "a fine film"}'

The first directory fixes the pool's method and head; more load while serving (POST /adapters).
"""

from __future__ import annotations

import sys
import time

from absl import app, flags

import flax_adapters as fa
from flax_adapters.adapters.base import AdapterError
from flax_adapters.adapters.pool import MODES, AdapterPool
from flax_adapters.training import tracking  # noqa: F401  (drops JAX's TPU-probe noise where no TPU is expected)

_MODEL = flags.DEFINE_string("model", None, "base model directory (or hub id)", required=True)
_ADAPTERS = flags.DEFINE_list("adapters", None, "name=DIR,... AdapterHub directories with heads", required=True)
_HOST = flags.DEFINE_string("host", "127.0.0.1", "address to listen on")
_PORT = flags.DEFINE_integer("port", 8000, "port to listen on")
_CAPACITY = flags.DEFINE_integer("capacity", 8, "adapter slots before the pool doubles (and recompiles)")
_MODE = flags.DEFINE_enum("mode", "gather", MODES, "per-row adapter maths (see adapters/pool.py)")
_MAX_BATCH = flags.DEFINE_integer("max_batch", 16, "most rows in one batch")
_MAX_WAIT_MS = flags.DEFINE_float("max_wait_ms", 5.0, "longest a request waits for others to batch with")
_MAX_LENGTH = flags.DEFINE_integer("max_length", None, "longest input in tokens (default: the model's)")
_NO_LOADING = flags.DEFINE_bool("no_loading", False, "turn off POST /adapters")
_WARMUP = flags.DEFINE_integer("warmup_max_length", 128, "compile every batch bucket up to this many tokens "
                               "before serving (0: none; longer inputs compile on first use)")


def parse_adapters(items) -> dict:
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (name, eq, path) in zip(items, pairs) if not (name and eq and path)]
    if bad:
        raise AdapterError(f"--adapters takes name=DIR items, got {bad[0]!r}")
    return {name: path for name, _, path in pairs}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import uvicorn

    from flax_adapters.serving.app import create_app

    try:
        model = fa.from_pretrained(_MODEL.value)
        pool = AdapterPool.from_directories(model, parse_adapters(_ADAPTERS.value), capacity=_CAPACITY.value,
                                            mode=_MODE.value)
        tokenizer = model.tokenizer()
    except (AdapterError, fa.CheckpointError, OSError) as e:
        sys.exit(f"error: {str(e).strip().splitlines()[0]}")
    server = create_app(pool, tokenizer, max_batch=_MAX_BATCH.value, max_wait_ms=_MAX_WAIT_MS.value,
                        max_length=_MAX_LENGTH.value, allow_loading=not _NO_LOADING.value)
    if _WARMUP.value:
        t0 = time.perf_counter()
        shapes = server.state.batcher.warmup(_WARMUP.value)
        print(f"compiled {shapes} batch shapes in {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"serving {pool.names} ({pool.config.method}, {pool.mode}) on http://{_HOST.value}:{_PORT.value}",
          flush=True)
    uvicorn.run(server, host=_HOST.value, port=_PORT.value, log_level="warning")


if __name__ == "__main__":
    app.run(main)
