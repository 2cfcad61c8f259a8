"""The adapter server: an ASGI (Starlette) app over one AdapterPool and its tokenizer.

    POST   /predict           {"adapter": name, "text": str, "text_pair"?: str} -> the head's output
    POST   /adapters          {"name": str, "path": AdapterHub directory}       -> loads it while serving
    GET    /adapters          the pool's adapters, their slots and labels
    DELETE /adapters/{name}   frees the adapter's slot
    GET    /health            liveness, with compile and batch counts

Requests for any adapters are batched together (batching.py). A bad request gets a 4xx with a
one-line JSON {"error": ...}; an unexpected failure a 500 of the same form — the server goes on.
`/adapters` loads directories from the server's own disk: expose it only to operators
(allow_loading=False turns it off).
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flax_adapters.adapters.base import AdapterError
from flax_adapters.adapters.heads import HeadConfig
from flax_adapters.adapters.hub_io import first_line
from flax_adapters.adapters.pool import AdapterPool
from flax_adapters.serving.batching import Batcher


class BadRequest(Exception):
    """A client error: its HTTP status and one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, fields: dict) -> dict:
    """The JSON object of a request, with `fields` (name -> required?) checked to be strings."""
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(400, f"malformed JSON: {first_line(e)}") from None
    if not isinstance(body, dict):
        raise BadRequest(400, f"expected a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest(422, f"unknown field {unknown[0]!r}; fields: {sorted(fields)}")
    for name, required in fields.items():
        if name not in body:
            if required:
                raise BadRequest(422, f"missing field {name!r}")
        elif not isinstance(body[name], str):
            raise BadRequest(422, f"field {name!r} must be a string, got {type(body[name]).__name__}")
    return body


def describe(config: HeadConfig, logits: np.ndarray, n_tokens: int) -> dict:
    """A head's output as JSON: label id (and name, when the head has labels) and scores."""
    names = config.id2label
    if config.kind == "regression":
        return {"score": float(logits[0]), "logits": logits.tolist()}
    if config.kind == "tagging":
        logits = logits[:n_tokens]
        labels = logits.argmax(-1).tolist()
        out = {"labels": labels, "logits": logits.tolist()}
        return out | ({"label_names": [names[i] for i in labels]} if names else {})
    if config.kind == "question_answering":
        logits = logits[:n_tokens]
        return {"start": int(logits[:, 0].argmax()), "end": int(logits[:, 1].argmax()), "logits": logits.tolist()}
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    label = int(logits.argmax())
    out = {"label": label, "score": float(probs[label]), "logits": logits.tolist()}
    return out | ({"label_name": names[label]} if names else {})


def create_app(pool: AdapterPool, tokenizer, *, max_batch: int = 16, max_wait_ms: float = 5.0,
               max_length: int | None = None, allow_loading: bool = True) -> Starlette:
    """The server. `tokenizer` is a Hugging Face tokenizer (called as tokenizer(text, text_pair));
    `max_length` (tokens, default: the model's positions) bounds every input."""
    cfg = pool.model.config
    positions = cfg.max_position_embeddings - (cfg.pad_token_id + 1 if cfg.position_style == "roberta" else 0)
    max_length = min(max_length or positions, positions)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else cfg.pad_token_id
    batcher = Batcher(pool, max_length=max_length, pad_id=pad_id, max_batch=max_batch, max_wait_ms=max_wait_ms)

    async def predict(request: Request):
        body = await _body(request, {"adapter": True, "text": True, "text_pair": False})
        adapter, text, pair = body["adapter"], body["text"], body.get("text_pair")
        if adapter not in pool.names:
            raise BadRequest(404, f"no adapter named {adapter!r}; this server has {sorted(pool.names) or 'none'}")
        for name, value in (("text", text), ("text_pair", pair)):
            if value is not None and not value.strip():
                raise BadRequest(422, f"field {name!r} is empty")
        # Tokenized whole, never truncated: an over-long input is the client's to shorten.
        encoded = tokenizer(text, pair) if pair is not None else tokenizer(text)
        ids = list(encoded["input_ids"])
        if len(ids) > max_length:
            raise BadRequest(413, f"input is {len(ids)} tokens; this server takes at most {max_length}")
        try:
            logits = await batcher.submit(adapter, ids, encoded.get("token_type_ids"))
            config = pool.head_config(adapter)
        except AdapterError as e:  # removed from the pool while the request waited
            raise BadRequest(404, first_line(e)) from None
        return JSONResponse({"adapter": adapter, **describe(config, logits, len(ids))})

    async def add_adapter(request: Request):
        if not allow_loading:
            raise BadRequest(403, "loading adapters is turned off on this server")
        body = await _body(request, {"name": True, "path": True})
        if body["name"] in pool.names:
            raise BadRequest(409, f"adapter {body['name']!r} is already served; DELETE it first")
        try:  # reading a directory is disk work: off the event loop
            index = await run_in_threadpool(pool.add, body["name"], body["path"])
        except AdapterError as e:
            raise BadRequest(400, first_line(e)) from None
        return JSONResponse({"name": body["name"], "index": index, "adapters": pool.names}, status_code=201)

    async def list_adapters(request: Request):
        rows = [{"name": n, "index": pool.index(n), "labels": list(pool.head_config(n).id2label or [])}
                for n in pool.names]
        return JSONResponse({"method": pool.config.method, "head": pool.head_template.kind, "mode": pool.mode,
                             "capacity": pool.capacity, "adapters": rows})

    async def remove_adapter(request: Request):
        name = request.path_params["name"]
        try:
            pool.remove(name)
        except AdapterError as e:
            raise BadRequest(404, first_line(e)) from None
        return JSONResponse({"removed": name, "adapters": pool.names})

    async def health(request: Request):
        return JSONResponse({"status": "ok", "adapters": len(pool.names), "compiles": pool.compiles,
                             "batches": batcher.batches})

    async def on_bad_request(request, e: BadRequest):
        return _error(e.status, str(e))

    async def on_http(request, e: HTTPException):  # 404 / 405 / 413 from Starlette itself
        return _error(e.status_code, f"{request.method} {request.url.path}: {e.detail}")

    async def on_crash(request, e: Exception):
        return _error(500, f"internal error: {type(e).__name__}: {first_line(e)}")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await batcher.close()

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"]),
                            Route("/adapters", add_adapter, methods=["POST"]),
                            Route("/adapters", list_adapters, methods=["GET"]),
                            Route("/adapters/{name}", remove_adapter, methods=["DELETE"]),
                            Route("/health", health, methods=["GET"])],
                    exception_handlers={BadRequest: on_bad_request, HTTPException: on_http, Exception: on_crash},
                    lifespan=lifespan, max_body_size=1 << 20)
    app.state.pool, app.state.batcher = pool, batcher
    return app
