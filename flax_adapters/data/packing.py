"""Packed batches: several examples per row, so a batch computes (almost) no padding.

GLUE sentences are short and varied (SST-2's median is 10 MiniLM tokens), so padding each example to a
bucket length computes mostly padding. `pack` lays the examples of a batch end to end in rows of
`row_length` tokens (first-fit decreasing: longest first, each into the first row with room) and
pads only the number of rows, to a small set of row counts, so `jax.jit` compiles a handful of
shapes. Given several candidate row widths (the padding buckets), each batch takes the one that
computes the fewest tokens: short sentences pack into narrow rows, long ones into wide rows.
The batch holds the same examples as the padded one: the optimiser sees the same per-example mean
loss, and evaluation keeps its order and its `example_mask`.

    >>> batch = pack(encoded, indices, row_length=128)
    >>> batch["input_ids"].shape, batch["example_rows"].shape      # (R, 128), (len(indices),)

Arrays: input_ids / token_type_ids / segment_ids [R, L] (segment k > 0: the row's k-th example,
0: padding), example_rows / example_starts / example_lengths [E] (where each example lives;
models/packed.py reads them), labels as the padded batch has them (token labels padded to L).
A multiple-choice question is `num_choices` examples, consecutive in E, so the head folds them
back as it does for padded batches.
"""

from __future__ import annotations

import numpy as np


def first_fit(lengths, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, start column) of each length, packed first-fit decreasing into rows of `capacity`.
    Deterministic: ties keep the input order."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and lengths.max() > capacity:
        raise ValueError(f"row_length {capacity} is shorter than the longest example ({lengths.max()} tokens)")
    rows, starts = np.zeros(len(lengths), np.int32), np.zeros(len(lengths), np.int32)
    used: list[int] = []
    for i in np.argsort(-lengths, kind="stable"):
        n = int(lengths[i])
        row = next((r for r, u in enumerate(used) if u + n <= capacity), len(used))
        if row == len(used):
            used.append(0)
        rows[i], starts[i] = row, used[row]
        used[row] += n
    return rows, starts


def row_buckets(max_rows: int, multiple: int = 1) -> tuple[int, ...]:
    """Row counts a packed batch is padded to: 1-8, then steps of an eighth to a quarter (10, 12,
    14, 16, 20, 24, 28, 32, 40, …), and `max_rows` itself: few shapes, under 25% of rows wasted.
    With `multiple` > 1 (rows split over that many devices) each count is rounded up to a multiple."""
    if max_rows < 1 or multiple < 1:
        raise ValueError(f"max_rows and multiple must be >= 1, got {max_rows}, {multiple}")
    counts, n = {1, 2, 3, 4, max_rows}, 4
    while n < max_rows:
        n += max(1, 2 ** (int(np.log2(n)) - 2))
        counts.add(min(n, max_rows))
    up = lambda c: -(-c // multiple) * multiple  # noqa: E731
    return tuple(sorted({up(c) for c in counts if c <= max_rows} | {up(max_rows)}))


def units(encoded, indices) -> tuple[object, np.ndarray]:
    """The token sequences of batch `indices`: (Encoded of the rows, row indices). One per example,
    `num_choices` per multiple-choice question (question-major); token-level encodings pack
    their `tokens`."""
    indices = np.asarray(indices, dtype=np.int64)
    if hasattr(encoded, "num_choices"):
        c = encoded.num_choices
        return encoded.rows, (indices[:, None] * c + np.arange(c)[None, :]).reshape(-1)
    return getattr(encoded, "tokens", encoded), indices


def choose_width(lengths, widths, buckets) -> tuple[int, np.ndarray, np.ndarray, int]:
    """(width, rows, starts, row count) of the cheapest packing of `lengths` over candidate row
    widths: the fewest computed tokens (row count padded to `buckets`, times width), ties to the
    wider width — taking the narrower on ties (10 × 32 = 5 × 64) adds compiled shapes for nothing
    (on SST-2 at max length 64: 10 shapes instead of 6, the same tokens)."""
    longest = int(np.max(lengths)) if len(lengths) else 1
    fits = sorted((int(w) for w in widths if w >= longest), reverse=True)
    if not fits:
        raise ValueError(f"row_length {max(widths)} is shorter than the longest example ({longest} tokens)")
    best = None
    for width in fits:
        row, start = first_fit(lengths, width)
        needed = int(row.max()) + 1 if len(row) else 1
        count = next((b for b in sorted(buckets) if b >= needed), needed)
        if best is None or count * width < best[3] * best[0]:
            best = (width, row, start, count)
    return best


def pack(encoded, indices, row_length, pad_id: int = 0, buckets: tuple[int, ...] | None = None,
         labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The packed batch of examples `indices` of `encoded` (any family's encoding). `row_length`:
    the row width, or a tuple of candidate widths (the cheapest for this batch is taken: see
    `choose_width`); `labels` overrides the per-example labels (Batcher passes them cast)."""
    tokens, rows_of = units(encoded, indices)
    lengths = tokens.lengths[rows_of].astype(np.int64)
    buckets = buckets or row_buckets(max(len(lengths), 1))
    widths = (row_length,) if np.isscalar(row_length) else tuple(row_length)
    row_length, row, start, n_rows = choose_width(lengths, widths, buckets)
    # Every token of every example, flattened: its source position and its packed (row, column).
    total = int(lengths.sum())
    example = np.repeat(np.arange(len(lengths)), lengths)
    within = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    source = tokens.offsets[rows_of][example] + within
    r, c = row[example], start[example] + within
    # The k-th example placed in a row (by column) gets segment k + 1.
    order = np.lexsort((start, row))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - np.searchsorted(row[order], row[order])
    ids = np.full((n_rows, row_length), pad_id, np.int32)
    types = np.zeros((n_rows, row_length), np.int32)
    segments = np.zeros((n_rows, row_length), np.int32)
    ids[r, c] = tokens.input_ids[source]
    types[r, c] = tokens.token_type_ids[source]
    segments[r, c] = rank[example] + 1
    out = {"input_ids": ids, "token_type_ids": types, "segment_ids": segments,
           "example_rows": row, "example_starts": start, "example_lengths": lengths.astype(np.int32)}
    if hasattr(encoded, "tokens"):  # token labels (tagging) or spans (QA): the family pads its own, to L
        out["labels"] = encoded.padded(np.asarray(indices, dtype=np.int64), row_length, pad_id)["labels"]
    elif labels is not None:
        out["labels"] = labels
    return out

