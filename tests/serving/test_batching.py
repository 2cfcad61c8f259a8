"""Request batching (serving/batching.py) behind the server: concurrent requests for two adapters share
one batch (and a short load test through the app is served whole), and warmup compiles every
(batch, length) bucket before traffic."""

from __future__ import annotations

import asyncio
import warnings

import httpx
import numpy as np
import pytest

pytest.importorskip("starlette")
with warnings.catch_warnings():  # starlette >= 1.10 nudges TestClient users from httpx to its fork
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from flax_adapters.serving import loadtest  # noqa: E402
from tests.serving.common import direct  # noqa: E402


def test_requests_for_two_adapters_share_a_batch(served, tokenizer):
    _, pool, app = served
    texts = ["the film was good", "awful", "not fun", "great actors", "the plot is boring"]
    jobs = [("a" if i % 2 else "b", t) for i, t in enumerate(texts)]

    async def send_all():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await asyncio.gather(*[client.post("/predict", json={"adapter": a, "text": t}) for a, t in jobs])

    responses = asyncio.run(send_all())
    for (adapter, text), r in zip(jobs, responses):
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["logits"], direct(pool, tokenizer, adapter, text), atol=1e-5)
    assert (5, ["a", "b"]) in app.state.batcher.recent  # all five rows, both adapters: one apply
    report = asyncio.run(loadtest.run("http://test", adapters=["a", "b"], texts=texts, qps=200, requests=12,
                                      duration_s=5, transport=httpx.ASGITransport(app=app)))
    assert report["sent"] == report["ok"] == 12 and report["errors"] == 0
    assert report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"]


def test_warmup_compiles_every_bucket_before_traffic(served):
    """After warmup, requests of any batch and length bucket run programs already compiled."""
    _, pool, app = served
    batcher = app.state.batcher
    shapes = batcher.warmup()
    assert shapes == len(batcher.batch_buckets) * len(batcher.length_buckets) >= 4
    compiled = pool.compiles
    with TestClient(app) as client:
        for text in ("good", "a much longer text about the film and its plot"):
            assert client.post("/predict", json={"adapter": "b", "text": text}).status_code == 200
    assert pool.compiles == compiled


def test_buckets_are_powers_of_two_up_to_the_largest():
    from flax_adapters.serving.batching import buckets, fit

    assert buckets(1, 16) == [1, 2, 4, 8, 16] and buckets(8, 20) == [8, 16, 20] and buckets(0, 1) == [1]
    assert fit(3, buckets(1, 16)) == 4 and fit(16, buckets(1, 16)) == 16 and fit(17, buckets(8, 20)) == 20
