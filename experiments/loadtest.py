"""Load-tests a running adapter server (experiments/serve.py) at a fixed request rate; prints the
report (p50/p95/p99 latency, errors) as JSON. It stops by itself: after --requests or --duration_s,
plus at most --timeout_s for the last answers.

    python experiments/loadtest.py --url=http://127.0.0.1:8000 --adapters=sst2,rte --qps=50 --requests=500
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import httpx

from absl import app, flags

from flax_adapters.serving.loadtest import load_test

_URL = flags.DEFINE_string("url", "http://127.0.0.1:8000", "the server")
_ADAPTERS = flags.DEFINE_list("adapters", None, "adapters to name, cycled", required=True)
_TEXTS = flags.DEFINE_list("texts", ["a gripping, well acted film", "dull and far too long",
                                     "the plot holds together until the last act"], "texts to send, cycled")
_QPS = flags.DEFINE_float("qps", 20.0, "requests per second offered")
_REQUESTS = flags.DEFINE_integer("requests", 200, "requests to send at most")
_DURATION = flags.DEFINE_float("duration_s", 30.0, "seconds to send for at most")
_TIMEOUT = flags.DEFINE_float("timeout_s", 10.0, "seconds one request may take")
_OUT = flags.DEFINE_string("out", None, "also write the report, the command and the machine's load to this JSON file")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # absl logs INFO: one line per request otherwise
    report = load_test(_URL.value, adapters=_ADAPTERS.value, texts=_TEXTS.value, qps=_QPS.value,
                       requests=_REQUESTS.value, duration_s=_DURATION.value, timeout_s=_TIMEOUT.value)
    print(json.dumps(report, indent=2))
    if _OUT.value:  # what a committed number needs beside it: the command and how busy the machine was
        record = {"report": report, "command": " ".join(["python", "experiments/loadtest.py", *sys.argv[1:]]),
                  "cpu_count": os.cpu_count(), "loadavg_after": os.getloadavg(),
                  "server": requests_health(_URL.value)}
        Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
        Path(_OUT.value).write_text(json.dumps(record, indent=2) + "\n")


def requests_health(url: str) -> dict | None:
    """The server's /health answer (its adapters, batch settings), or None when it does not answer."""
    try:
        return httpx.get(url.rstrip("/") + "/health", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None


if __name__ == "__main__":
    app.run(main)
