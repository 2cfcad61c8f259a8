"""Serving many tasks from one encoder: an HTTP server over an AdapterPool (adapters/pool.py).

  batching.py   dynamic batching of requests across adapters into bucketed pool.apply calls
  app.py        the Starlette ASGI app: /predict, /adapters, /health (needs starlette)
  loadtest.py   a bounded load-test client (needs httpx)

Nothing is imported here, so `import flax_adapters.serving` needs neither starlette nor httpx;
import the module you use: `from flax_adapters.serving.app import create_app`.
"""
