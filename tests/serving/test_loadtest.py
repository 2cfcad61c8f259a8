"""The load-test client (serving/loadtest.py) against a stub ASGI app (no model): every request sent
at the offered rate is counted as answered or as an error of its kind, latency percentiles are
ordered, the duration bounds what is sent, and bad settings are refused."""

import asyncio

import httpx
import pytest

pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from flax_adapters.serving import loadtest  # noqa: E402


def stub(seen):
    async def predict(request):
        body = await request.json()
        seen.append(body)
        return JSONResponse({"logits": [0.0]}, status_code=200 if body["adapter"] != "zzz" else 404)
    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def test_counts_latencies_and_error_kinds():
    seen = []
    report = asyncio.run(loadtest.run("http://test", adapters=["a", "zzz"], texts=["x", "y", "z"], qps=500,
                                      requests=6, duration_s=5, transport=httpx.ASGITransport(app=stub(seen))))
    assert report["sent"] == 6 and report["ok"] == 3 and report["errors"] == 3
    assert report["error_kinds"] == {"HTTP 404": 3}
    assert [b["adapter"] for b in seen] == ["a", "zzz"] * 3 and [b["text"] for b in seen] == ["x", "y", "z"] * 2
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"] and report["offered_qps"] == 500


def test_duration_bounds_the_requests_sent():
    report = asyncio.run(loadtest.run("http://test", adapters=["a"], texts=["x"], qps=20, requests=1000,
                                      duration_s=0.2, transport=httpx.ASGITransport(app=stub([]))))
    assert report["sent"] == report["ok"] == 5  # due at 0, 0.05, ..., 0.2 s: the rest never sent
    assert report["wall_s"] < 2


@pytest.mark.parametrize("options", [dict(qps=0), dict(requests=0), dict(duration_s=0), dict(adapters=[]),
                                     dict(texts=[])])
def test_bad_settings_are_refused(options):
    kwargs = dict(adapters=["a"], texts=["x"], qps=10, requests=5, duration_s=1) | options
    with pytest.raises(ValueError, match="need qps > 0, requests >= 1, duration_s > 0, adapters and texts"):
        loadtest.load_test("http://test", **kwargs)
