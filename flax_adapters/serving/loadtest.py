"""A bounded load-test client for the adapter server: open-loop requests at a fixed rate.

Requests are sent at `qps` (each on its own schedule, whether or not earlier ones came back — a
slow server then shows as latency, not as a lower offered rate) until `requests` were sent or
`duration_s` passed; each may take at most `timeout_s`. So a run ends by itself within
duration_s + timeout_s. The report gives latency percentiles of the answered requests and counts
the errors by kind.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time

import httpx
import numpy as np


async def run(url: str, *, adapters, texts, qps: float, requests: int, duration_s: float,
              timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None) -> dict:
    """POSTs {"adapter", "text"} pairs (adapters and texts cycled) to `url`/predict; returns the
    report. `transport` runs it in-process (httpx.ASGITransport(app)) for tests."""
    if qps <= 0 or requests < 1 or duration_s <= 0 or not adapters or not texts:
        raise ValueError(f"need qps > 0, requests >= 1, duration_s > 0, adapters and texts; got qps={qps}, "
                         f"requests={requests}, duration_s={duration_s}")
    latencies, errors = [], collections.Counter()
    pairs = zip(itertools.cycle(adapters), itertools.cycle(texts))

    async def one(client, adapter, text):
        start = time.perf_counter()
        try:
            response = await client.post("/predict", json={"adapter": adapter, "text": text})
        except httpx.HTTPError as e:  # timeouts, refused connections: counted, never raised
            errors[type(e).__name__] += 1
            return
        if response.status_code == 200:
            latencies.append(time.perf_counter() - start)
        else:
            errors[f"HTTP {response.status_code}"] += 1

    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout_s, transport=transport) as client:
        t0 = time.perf_counter()
        tasks = []
        for i in range(requests):
            offset = i / qps  # not (t0 + i/qps) - t0: how many are sent must not hang on t0's rounding
            if offset > duration_s:
                break
            await asyncio.sleep(max(0.0, t0 + offset - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client, *next(pairs))))
        if tasks:
            # Each request is bounded by the client timeout; the slack covers a stuck transport.
            done, pending = await asyncio.wait(tasks, timeout=timeout_s + 1)
            for task in pending:
                task.cancel()
                errors["unfinished"] += 1
        wall = time.perf_counter() - t0
    ms = np.asarray(latencies) * 1000
    pct = lambda q: round(float(np.percentile(ms, q)), 2) if len(ms) else None
    return {"sent": len(tasks), "ok": len(latencies), "errors": sum(errors.values()), "error_kinds": dict(errors),
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "mean_ms": round(float(ms.mean()), 2) if len(ms) else None,
            "offered_qps": qps, "achieved_qps": round(len(latencies) / wall, 2), "wall_s": round(wall, 2)}


def load_test(url: str, **options) -> dict:
    """`run` from synchronous code (a binary): see run for the options."""
    return asyncio.run(run(url, **options))
