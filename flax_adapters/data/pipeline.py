"""Tokenisation (with an on-disk cache) and deterministic, bucketed batching.

`encode` runs a fast tokenizer over whole lists of examples, without padding; `Batcher` pads
each batch only up to a small set of bucket lengths, so `jax.jit` compiles a handful of
shapes, and derives the order of every epoch from (seed, epoch) so a resumed run replays the
exact batches: `batcher.batch(step)` depends on nothing but `step`.

    >>> from transformers import AutoTokenizer
    >>> from flax_adapters.data import Batcher, encode, load_examples
    >>> tok = AutoTokenizer.from_pretrained(model_dir)
    >>> enc = encode(load_examples("rte", "train", "../shared/data"), tok, 128, cache_dir="/tmp/cache")
    >>> train = Batcher(enc, 32, seed=0)
    >>> batch = train.batch(step)            # input_ids/attention_mask/token_type_ids [32, T], labels [32]
    >>> for batch in Batcher(dev_enc, 64).eval_batches():  # original order; batch["example_mask"]
    ...     ...
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from .packing import pack, row_buckets
from .packing import units as packing_units

_CACHE_FORMAT = 1  # bump when the cached arrays change meaning
_TOKENIZE_CHUNK = 8192  # examples per tokenizer call: bounds the Python lists held at once


@dataclass(frozen=True)
class Encoded:
    """Token ids of n examples, concatenated without padding (a ragged array).

    Example i is input_ids[offsets[i]:offsets[i + 1]]; flat storage keeps e.g. MNLI at 128
    tokens a third the size of a padded [n, max_length] array and saves to .npz as is.
    """

    input_ids: np.ndarray  # int32 [total_tokens]
    token_type_ids: np.ndarray  # int32 [total_tokens]
    offsets: np.ndarray  # int64 [n + 1]
    labels: np.ndarray  # int64 [n] or float32 [n]
    max_length: int

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets).astype(np.int32)

    def example(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.input_ids[lo:hi], self.token_type_ids[lo:hi]

    def padded(self, indices, length: int, pad_id: int = 0) -> dict[str, np.ndarray]:
        """Rows `indices` right-padded to `length`: input_ids, attention_mask, token_type_ids int32."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]
        if lengths.size and lengths.max() > length:
            raise ValueError(f"length: {length} is shorter than the longest row ({lengths.max()})")
        mask = np.arange(length)[None, :] < lengths[:, None]
        positions = np.where(mask, self.offsets[indices][:, None] + np.arange(length)[None, :], 0)
        ids = np.where(mask, self.input_ids[positions] if self.input_ids.size else 0, pad_id)
        types = np.where(mask, self.token_type_ids[positions] if self.token_type_ids.size else 0, 0)
        return {"input_ids": ids.astype(np.int32), "attention_mask": mask.astype(np.int32),
                "token_type_ids": types.astype(np.int32)}


def _cache_key(examples, tokenizer, max_length: int) -> str:
    h = hashlib.sha256()
    identity = (_CACHE_FORMAT, type(tokenizer).__name__, getattr(tokenizer, "name_or_path", ""),
                len(tokenizer), max_length, examples.text_b is not None)
    h.update(repr(identity).encode())
    for column in (examples.text_a, examples.text_b or ()):
        for text in column:
            # Length-prefixed so ("ab", "c") and ("a", "bc") hash differently.
            data = text.encode("utf-8")
            h.update(len(data).to_bytes(8, "little") + data)
    labels = np.ascontiguousarray(examples.labels)
    h.update(labels.dtype.str.encode() + labels.tobytes())
    return h.hexdigest()


def _tokenize(examples, tokenizer, max_length: int) -> Encoded:
    ids, types, lengths = [], [], []
    for start in range(0, len(examples), _TOKENIZE_CHUNK):
        stop = start + _TOKENIZE_CHUNK
        pair = () if examples.text_b is None else (examples.text_b[start:stop],)
        out = tokenizer(examples.text_a[start:stop], *pair, truncation=True, max_length=max_length,
                        padding=False, return_token_type_ids=True, return_attention_mask=False)
        for row_ids, row_types in zip(out["input_ids"], out["token_type_ids"]):
            lengths.append(len(row_ids))
            ids.extend(row_ids)
            types.extend(row_types)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Encoded(np.asarray(ids, dtype=np.int32), np.asarray(types, dtype=np.int32), offsets,
                   np.asarray(examples.labels), max_length)


def encode(examples, tokenizer, max_length: int, cache_dir: str | os.PathLike | None = None) -> Encoded:
    """Tokenises `examples` (sources.Examples) with a HF fast tokenizer, truncating to max_length.

    With cache_dir, the result is stored as <cache_dir>/<sha256>.npz, keyed by the tokenizer
    (class, name_or_path, vocab size), max_length, the texts and the labels; a later call with
    the same inputs loads it without touching the tokenizer.
    """
    if max_length <= 0:
        raise ValueError(f"max_length must be > 0, got {max_length}")
    if len(examples) == 0:
        raise ValueError(f"examples: nothing to encode from {examples.source}")
    path = None
    if cache_dir is not None:
        path = os.path.join(os.fspath(cache_dir), _cache_key(examples, tokenizer, max_length) + ".npz")
        if os.path.isfile(path):
            with np.load(path, allow_pickle=False) as f:
                return Encoded(f["input_ids"], f["token_type_ids"], f["offsets"], f["labels"],
                               int(f["max_length"]))
    encoded = _tokenize(examples, tokenizer, max_length)
    if path is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Write then rename: a concurrent reader or a killed run never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, input_ids=encoded.input_ids, token_type_ids=encoded.token_type_ids,
                         offsets=encoded.offsets, labels=encoded.labels, max_length=encoded.max_length)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    return encoded


class Batcher:
    """Batches of an `Encoded` set, padded to bucket lengths, in an order fixed by (seed, epoch).

    Training: `batch(step)` / `batches_in_epoch(epoch)`. With shuffle and group_by_length (as
    HF's length-grouped sampler) each epoch's permutation is cut into chunks of ~50 batches,
    each chunk sorted by length and cut into batches, and the batch order shuffled: batches
    hold similar lengths, so less padding. Without shuffle the original order is kept.
    Evaluation: `eval_batches()` in the original order, the last batch filled up to batch_size
    with copies of a real row and flagged by `example_mask` (False on the copies), so no
    extra shape is compiled; drop masked rows before computing metrics.
    With `packing`, every batch (same examples, same order) is laid out packed (data/packing.py):
    rows of `row_length` tokens (default: per batch, the bucket length that computes the fewest
    tokens) holding several examples, their
    number padded to a few row counts (multiples of `row_multiple`: the devices a batch is split over).
    """

    def __init__(self, encoded: Encoded, batch_size: int, *, seed: int = 0, shuffle: bool = True,
                 drop_last: bool = True, buckets=(32, 64, 128, 256, 512), group_by_length: bool = True,
                 pad_id: int = 0, chunk_batches: int = 50, packing: bool = False, row_length: int | None = None,
                 row_multiple: int = 1):
        n = len(encoded)
        if n == 0:
            raise ValueError("encoded: no examples")
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if drop_last and batch_size > n:
            raise ValueError(f"batch_size {batch_size} exceeds the {n} examples with drop_last=True "
                             "(use drop_last=False, e.g. for evaluation)")
        if any(int(b) <= 0 for b in buckets):
            raise ValueError(f"buckets must be positive lengths, got {tuple(buckets)}")
        if seed < 0 or chunk_batches <= 0:
            raise ValueError(f"seed must be >= 0 and chunk_batches > 0, got seed={seed}, "
                             f"chunk_batches={chunk_batches}")
        self.encoded, self.batch_size, self.seed = encoded, int(batch_size), int(seed)
        self.shuffle, self.drop_last, self.group_by_length = shuffle, drop_last, group_by_length
        self.pad_id, self.chunk_batches = pad_id, chunk_batches
        # max_length is always a bucket, so the longest (truncated) row always fits.
        self.buckets = tuple(sorted({int(b) for b in buckets if b < encoded.max_length} | {encoded.max_length}))
        self._lengths = encoded.lengths
        self._labels = encoded.labels.astype(np.float32 if encoded.labels.dtype.kind == "f" else np.int32)
        self._epoch_cache: tuple[int, list[np.ndarray]] | None = None
        # Packed row widths: `row_length`, or (None) the cheapest bucket for each batch.
        self.packing, self.row_length = bool(packing), int(row_length) if row_length else self.buckets
        if self.packing:
            tokens, per_example = packing_units(encoded, np.arange(1))  # MC: num_choices sequences each
            longest = int(tokens.lengths.max())
            if max(np.atleast_1d(self.row_length)) < longest:
                raise ValueError(f"row_length {self.row_length} is shorter than the longest example ({longest} tokens)")
            # Sharded batches split rows over devices: row counts stay multiples of the device count.
            self.row_buckets = row_buckets(len(per_example) * self.batch_size, row_multiple)

    @property
    def steps_per_epoch(self) -> int:
        n, b = len(self.encoded), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def bucket(self, length: int) -> int:
        """The smallest bucket >= length."""
        return next(b for b in self.buckets if b >= length)

    def batches_in_epoch(self, epoch: int) -> list[np.ndarray]:
        """Example indices of every batch of `epoch`, in order; a pure function of (seed, epoch)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        n, b = len(self.encoded), self.batch_size
        if not self.shuffle:
            batches = [np.arange(i, min(i + b, n)) for i in range(0, n, b)]
            return batches[: self.steps_per_epoch]
        rng = np.random.default_rng([self.seed, epoch])
        # Drop the remainder before grouping, so the dropped rows are random, not the shortest.
        perm = rng.permutation(n)[: self.steps_per_epoch * b] if self.drop_last else rng.permutation(n)
        if not self.group_by_length:
            return [perm[i:i + b] for i in range(0, len(perm), b)]
        chunk, batches = b * self.chunk_batches, []
        for start in range(0, len(perm), chunk):
            part = perm[start:start + chunk]
            part = part[np.argsort(-self._lengths[part], kind="stable")]
            batches.extend(part[i:i + b] for i in range(0, len(part), b))
        return [batches[i] for i in rng.permutation(len(batches))]

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """The batch of global training step `step` (epoch = step // steps_per_epoch)."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        epoch, position = divmod(int(step), self.steps_per_epoch)
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            self._epoch_cache = (epoch, self.batches_in_epoch(epoch))
        return self.collate(self._epoch_cache[1][position])

    def eval_batches(self, sort_by_length: bool = False):
        """Yields every example once in batches of exactly batch_size rows; `example_index` gives
        each row's position in the data. In order, or longest first with `sort_by_length` (far
        less padding: evaluating sentence-length data costs a fraction of max-length batches)."""
        n, b = len(self.encoded), self.batch_size
        order = np.argsort(-self._lengths, kind="stable") if sort_by_length else np.arange(n)
        for start in range(0, n, b):
            indices = order[start:start + b]
            real = len(indices)
            # Dummy rows copy a real row (not all padding): a fully masked row can turn into
            # NaNs in attention and poison batch-level reductions.
            indices = np.concatenate([indices, np.full(b - real, indices[0])])
            out = self.collate(indices)
            out["example_mask"] = np.arange(b) < real
            out["example_index"] = indices
            yield out

    def collate(self, indices) -> dict[str, np.ndarray]:
        indices = np.asarray(indices, dtype=np.int64)
        if self.packing:
            return pack(self.encoded, indices, self.row_length, self.pad_id, self.row_buckets,
                        labels=self._labels[indices])
        out = self.encoded.padded(indices, self.bucket(int(self._lengths[indices].max())), self.pad_id)
        if "labels" not in out:  # token-level encodings (data/tagging.py) pad their own labels
            out["labels"] = self._labels[indices]
        return out
