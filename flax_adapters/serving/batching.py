"""Dynamic batching for the adapter server: requests for any adapters of one pool are collected
for at most `max_wait_ms` (or until `max_batch` rows) and run as one `pool.apply`.

Inputs are padded to bucketed shapes — batch and length rounded up to powers of two — so the
server compiles a handful of programs, one per bucket, whatever adapters the rows name. The
device work runs in a worker thread: the event loop keeps accepting (and queueing) requests
while a batch runs, and those form the next batch.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses

import numpy as np

from flax_adapters.adapters.base import AdapterError
from flax_adapters.adapters.pool import AdapterPool


def buckets(smallest: int, largest: int) -> list[int]:
    """Powers of two from `smallest` up to `largest`, and `largest` itself."""
    out, b = [], max(1, smallest)
    while b < largest:
        out.append(b)
        b *= 2
    return out + [largest]


def fit(n: int, sizes: list[int]) -> int:
    return next(s for s in sizes if s >= n)


@dataclasses.dataclass
class Request:
    adapter: str
    input_ids: list[int]
    token_type_ids: list[int]
    future: asyncio.Future


class Batcher:
    """Queues requests and runs them in padded, bucketed batches through `pool.apply`."""

    def __init__(self, pool: AdapterPool, *, max_length: int, pad_id: int = 0, max_batch: int = 16,
                 max_wait_ms: float = 5.0, min_length: int = 8):
        if max_batch < 1 or max_wait_ms < 0 or max_length < 1:
            raise ValueError(f"need max_batch >= 1, max_wait_ms >= 0, max_length >= 1; got {max_batch}, "
                             f"{max_wait_ms}, {max_length}")
        self.pool, self.pad_id, self.max_length = pool, pad_id, max_length
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.length_buckets = buckets(min(min_length, max_length), max_length)
        self.batch_buckets = buckets(1, max_batch)
        self.batches = 0
        # (rows, adapters) of recent batches: what /health reports and tests check.
        self.recent = collections.deque(maxlen=64)
        self._queue = self._task = self._loop = None

    def warmup(self, max_length: int | None = None, log=None) -> int:
        """Compiles the pool's program for every (batch, length) bucket up to `max_length` (default:
        all), so no request waits behind a compile; returns the number of shapes run. A server calls
        it before taking traffic: on a CPU each compile costs seconds, and every request queued
        behind one waits that long."""
        if not self.pool.names:
            return 0
        slot = self.pool.index(self.pool.names[0])
        lengths = [n for n in self.length_buckets if max_length is None or n <= max_length]
        for size in self.batch_buckets:
            for length in lengths:
                ids = np.full((size, length), self.pad_id, np.int32)
                ones = np.ones((size, length), np.int32)
                np.asarray(self.pool.apply(ids, ones, np.zeros_like(ids), np.full(size, slot, np.int32)))
                if log:
                    log(f"warm: batch {size} x {length} tokens")
        return len(self.batch_buckets) * len(lengths)

    async def submit(self, adapter: str, input_ids, token_type_ids=None) -> np.ndarray:
        """The logits row of one example through adapter `adapter` (awaits its batch)."""
        if not 0 < len(input_ids) <= self.max_length:
            raise AdapterError(f"input of {len(input_ids)} tokens; this server takes 1 to {self.max_length}")
        self._start()
        future = self._loop.create_future()
        types = [0] * len(input_ids) if token_type_ids is None else list(token_type_ids)
        await self._queue.put(Request(adapter, list(input_ids), types, future))
        return await future

    def _start(self) -> None:
        # Started lazily in the running loop (ASGI servers and test clients own their loops); a
        # new loop — a test client per request, say — gets a new queue and collector.
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._collect())

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None

    async def _collect(self) -> None:
        while True:
            batch = [await self._queue.get()]
            deadline = self._loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                try:  # get_nowait first: a zero wait must still take what is already queued
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - self._loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except asyncio.TimeoutError:
                    break
            try:
                results = await self._loop.run_in_executor(None, self.run_batch, batch)
            except Exception as e:  # noqa: BLE001 — a failed batch fails its requests, not the server
                results = [e] * len(batch)
            for request, result in zip(batch, results):
                if request.future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    request.future.set_exception(result)
                else:
                    request.future.set_result(result)

    def run_batch(self, batch: list[Request]) -> list:
        """Logits row (or the exception) of each request; one pool.apply for all of them."""
        results, rows = [None] * len(batch), []
        for i, r in enumerate(batch):
            try:
                rows.append((i, self.pool.index(r.adapter)))
            except AdapterError as e:  # removed since it was accepted
                results[i] = e
        if not rows:
            return results
        size = fit(len(rows), self.batch_buckets)
        length = fit(max(len(batch[i].input_ids) for i, _ in rows), self.length_buckets)
        ids = np.full((size, length), self.pad_id, np.int32)
        types = np.zeros((size, length), np.int32)
        mask = np.zeros((size, length), np.int32)
        mask[:, 0] = 1  # padding rows see one token: finite maths; their outputs are dropped
        idx = np.full(size, rows[0][1], np.int32)  # padding rows run any live slot
        for row, (i, slot) in enumerate(rows):
            n = len(batch[i].input_ids)
            ids[row, :n], types[row, :n], mask[row, :n], idx[row] = batch[i].input_ids, batch[i].token_type_ids, 1, slot
        logits = np.asarray(self.pool.apply(ids, mask, types, idx))
        for row, (i, _) in enumerate(rows):
            results[i] = logits[row]
        self.batches += 1
        self.recent.append((len(rows), sorted({batch[i].adapter for i, _ in rows})))
        return results
