"""The adapter server's routes (serving/app.py) on a tiny random model and a tiny BERT tokenizer built
from a vocab file (fixtures in conftest.py): answers equal the pool's own outputs, every bad request
gets its 4xx (one-line JSON) and the server answers on, an adapter directory loads while serving
without a recompile, and each head kind's output is described. (Batching: test_batching.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("starlette")
with warnings.catch_warnings():  # starlette >= 1.10 nudges TestClient users from httpx to its fork
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from flax_adapters import HeadConfig  # noqa: E402
from tests.serving.common import LABELS, direct  # noqa: E402


def test_predictions_equal_the_pool(served, tokenizer):
    _, pool, app = served
    with TestClient(app) as client:
        for adapter, text in [("a", "the film was good"), ("b", "not very fun"), ("a", "boring plot")]:
            response = client.post("/predict", json={"adapter": adapter, "text": text})
            assert response.status_code == 200, response.text
            out = response.json()
            np.testing.assert_allclose(out["logits"], direct(pool, tokenizer, adapter, text), atol=1e-5)
            assert out["label"] == int(np.argmax(out["logits"])) and 0 < out["score"] <= 1
            assert (out.get("label_name") == LABELS[out["label"]]) if adapter == "a" else "label_name" not in out
        pair = client.post("/predict", json={"adapter": "b", "text": "good film", "text_pair": "bad actors"})
        assert pair.status_code == 200 and len(pair.json()["logits"]) == 3
        assert client.get("/health").json()["status"] == "ok"


BAD = [  # (method, path, body: dict or raw str, status, words the error names)
    ("POST", "/predict", {"adapter": "zzz", "text": "good"}, 404, ["'zzz'"]),
    ("POST", "/predict", {"adapter": "a", "text": ""}, 422, ["'text'", "empty"]),
    ("POST", "/predict", {"adapter": "a", "text": "good", "text_pair": "  "}, 422, ["'text_pair'", "empty"]),
    ("POST", "/predict", {"adapter": "a", "text": "good " * 40}, 413, ["42 tokens", "16"]),
    ("POST", "/predict", "{not json", 400, ["malformed JSON"]),
    ("POST", "/predict", "[1, 2]", 400, ["JSON object", "list"]),
    ("POST", "/predict", {"adapter": "a"}, 422, ["missing field 'text'"]),
    ("POST", "/predict", {"text": "good"}, 422, ["missing field 'adapter'"]),
    ("POST", "/predict", {"adapter": "a", "text": 7}, 422, ["'text'", "int"]),
    ("POST", "/predict", {"adapter": "a", "text": "good", "lang": "en"}, 422, ["'lang'"]),
    ("GET", "/predict", None, 405, ["GET /predict"]),
    ("GET", "/nowhere", None, 404, ["/nowhere"]),
    ("POST", "/adapters", {"name": "x", "path": "/no/such/dir"}, 400, ["/no/such/dir"]),
    ("POST", "/adapters", {"name": "x"}, 422, ["missing field 'path'"]),
    ("POST", "/adapters", {"name": "a", "path": "/tmp"}, 409, ["'a'"]),
    ("DELETE", "/adapters/zzz", None, 404, ["'zzz'"]),
]


def test_every_bad_request_gets_a_4xx_and_the_server_answers_on(served):
    _, _, app = served
    with TestClient(app) as client:
        for method, path, body, status, words in BAD:
            kwargs = {"content": body} if isinstance(body, str) else {"json": body} if body else {}
            response = client.request(method, path, **kwargs)
            assert response.status_code == status, (method, path, body, response.text)
            error = response.json()["error"]
            assert "\n" not in error and all(w in error for w in words), (path, body, error)
        assert client.get("/health").status_code == 200
        assert client.post("/predict", json={"adapter": "a", "text": "good"}).status_code == 200
        assert client.get("/adapters").json()["capacity"] == 4


def test_an_adapter_directory_loads_while_serving(served, tokenizer, tmp_path):
    model, pool, app = served
    model.save_adapter(tmp_path / "c", "c")
    text = "the actors were fun"
    with TestClient(app) as client:
        assert client.post("/predict", json={"adapter": "a", "text": text}).status_code == 200
        compiles = client.get("/health").json()["compiles"]
        added = client.post("/adapters", json={"name": "c2", "path": str(tmp_path / "c")})
        assert added.status_code == 201 and added.json()["index"] == 2, added.text
        listed = client.get("/adapters").json()
        assert [(r["name"], r["index"]) for r in listed["adapters"]] == [("a", 0), ("b", 1), ("c2", 2)]
        assert listed["adapters"][0]["labels"] == list(LABELS)
        out = client.post("/predict", json={"adapter": "c2", "text": text}).json()
        expected = model(np.asarray([tokenizer(text)["input_ids"]]), adapter="c").logits[0]
        np.testing.assert_allclose(out["logits"], np.asarray(expected), atol=1e-5)
        assert client.get("/health").json()["compiles"] == compiles  # same bucket: no new program
        assert client.delete("/adapters/c2").status_code == 200
        assert client.post("/predict", json={"adapter": "c2", "text": text}).status_code == 404


def test_head_outputs_are_described():
    from flax_adapters.serving.app import describe

    tag = describe(HeadConfig("tagging", num_labels=2, id2label=("O", "X")), np.array([[0., 1.], [2., 0.], [9., 9.]]), 2)
    assert tag["labels"] == [1, 0] and tag["label_names"] == ["X", "O"] and len(tag["logits"]) == 2
    assert describe(HeadConfig("regression"), np.array([0.5]), 3) == {"score": 0.5, "logits": [0.5]}
