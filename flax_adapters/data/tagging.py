"""Token tagging (CoNLL-2003 NER): the `word POS NER` reader, word → sub-token label alignment,
and entity-level scores with conlleval semantics (seqeval's default mode).

Alignment: the first sub-token of every word carries the word's tag; the other sub-tokens, the
special tokens and padding carry IGNORE_INDEX (-100), which the loss and the metric skip. Words
cut off by truncation (or that tokenise to nothing) are scored as predicted `O`, so a too-short
max_length costs F1 instead of hiding gold entities; `TaggedEncoded.dropped_words` counts them.

    >>> ex = read_conll(get_task("conll2003"), "../shared/data/conll2003/dev.txt")
    >>> enc = encode_tagged(ex, tokenizer, max_length=128)
    >>> batch = Batcher(enc, 32).batch(0)        # labels [32, T]: tag ids or -100
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pipeline import Encoded
from .sources import DataError
from .tasks import Task

IGNORE_INDEX = -100  # the torch / HF convention; training/steps.py skips it in the loss
_TOKENIZE_CHUNK = 4096


@dataclass(frozen=True)
class TaggedExamples:
    """Sentences as word lists with one tag id per word (flat, ragged by `word_offsets`)."""

    words: list[list[str]]
    tags: np.ndarray          # int64 [total words]
    word_offsets: np.ndarray  # int64 [n + 1]
    source: str

    def __len__(self) -> int:
        return len(self.words)

    @property
    def groups(self) -> np.ndarray:
        return np.arange(len(self))  # a sentence is its own group for hold-out splits

    def sentence_tags(self, i: int) -> np.ndarray:
        return self.tags[self.word_offsets[i]:self.word_offsets[i + 1]]

    def select(self, rows) -> TaggedExamples:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise ValueError(f"rows: index out of range for {len(self)} sentences from {self.source}")
        return from_sentences([self.words[i] for i in rows.tolist()],
                              [self.sentence_tags(i) for i in rows.tolist()], self.source)


def from_sentences(words: list[list[str]], tags: list, source: str) -> TaggedExamples:
    """TaggedExamples from per-sentence word lists and tag-id lists of the same lengths."""
    lengths = [len(w) for w in words]
    for i, (w, t) in enumerate(zip(words, tags)):
        if len(w) != len(t):
            raise DataError(f"{source}: sentence {i} has {len(w)} words but {len(t)} tags")
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in tags]) if tags else np.zeros(0, np.int64)
    return TaggedExamples(list(words), flat, offsets, source)


def read_conll(task: Task, path: str) -> TaggedExamples:
    """Reads one-token-per-line CoNLL files (`word … TAG`, the tag in column `task.layout.label`;
    a blank line ends a sentence; `-DOCSTART-` lines are skipped, as conlleval does)."""
    names = task.label_index()
    column = task.layout.label
    words, tags, cur_w, cur_t = [], [], [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            cells = line.split()
            if not cells or cells[0] == "-DOCSTART-":
                if cur_w:
                    words.append(cur_w)
                    tags.append(cur_t)
                    cur_w, cur_t = [], []
                continue
            if len(cells) <= column:
                raise DataError(f"{path} line {lineno}: expected `word POS NER` ({column + 1}+ space-separated "
                                f"fields), found {len(cells)}: {line.strip()!r}")
            tag = cells[column]
            if tag not in names:
                raise DataError(f"{path} line {lineno}: unknown tag {tag!r}; valid tags: {', '.join(task.label_names)}")
            cur_w.append(cells[0])
            cur_t.append(names[tag])
    if cur_w:
        words.append(cur_w)
        tags.append(cur_t)
    if not words:
        raise DataError(f"{path}: no sentences")
    return from_sentences(words, tags, path)


@dataclass(frozen=True)
class TaggedEncoded:
    """Sub-token ids of n sentences (`tokens`, an Encoded) with aligned token labels.

    token_labels / label_words are flat like tokens.input_ids: the tag id and the word index of
    each word's first sub-token, IGNORE_INDEX / -1 elsewhere. `labels` is what Batcher casts;
    `padded` returns the label rows itself, padded with IGNORE_INDEX.
    """

    tokens: Encoded
    token_labels: np.ndarray   # int32 [total tokens]
    label_words: np.ndarray    # int32 [total tokens]
    examples: TaggedExamples   # the gold tags of every word, truncated or not
    dropped_words: int         # words without a labelled sub-token (truncated, or no sub-token at all)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def labels(self) -> np.ndarray:
        return self.token_labels

    @property
    def lengths(self) -> np.ndarray:
        return self.tokens.lengths

    @property
    def max_length(self) -> int:
        return self.tokens.max_length

    def padded(self, indices, length: int, pad_id: int = 0) -> dict[str, np.ndarray]:
        out = self.tokens.padded(indices, length, pad_id)
        out["labels"] = self._pad_flat(self.token_labels, indices, length, IGNORE_INDEX)
        return out

    def _pad_flat(self, flat: np.ndarray, indices, length: int, fill: int) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.tokens.lengths[indices]
        mask = np.arange(length)[None, :] < lengths[:, None]
        positions = np.where(mask, self.tokens.offsets[indices][:, None] + np.arange(length)[None, :], 0)
        return np.where(mask, flat[positions] if flat.size else fill, fill).astype(np.int32)

    def word_predictions(self, index: int, token_predictions: np.ndarray, outside: int) -> np.ndarray:
        """Tag ids of every word of sentence `index` from its row of token predictions [T] (the
        first sub-token's); words without a labelled sub-token get `outside` (the `O` tag)."""
        lo, hi = self.tokens.offsets[index], self.tokens.offsets[index + 1]
        words = self.label_words[lo:hi]
        labelled = words >= 0
        out = np.full(self.examples.word_offsets[index + 1] - self.examples.word_offsets[index], outside, np.int64)
        out[words[labelled]] = np.asarray(token_predictions)[: hi - lo][labelled]
        return out


def encode_tagged(examples: TaggedExamples, tokenizer, max_length: int) -> TaggedEncoded:
    """Tokenises pre-split words with a fast tokenizer (`word_ids()` gives the alignment)."""
    if max_length <= 0:
        raise ValueError(f"max_length must be > 0, got {max_length}")
    if len(examples) == 0:
        raise ValueError(f"examples: nothing to encode from {examples.source}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"tokenizer {type(tokenizer).__name__} is not a fast tokenizer: word alignment needs word_ids()")
    ids, types, labels, label_words, lengths = [], [], [], [], []
    dropped = 0
    for start in range(0, len(examples), _TOKENIZE_CHUNK):
        batch = examples.words[start:start + _TOKENIZE_CHUNK]
        out = tokenizer(batch, is_split_into_words=True, truncation=True, max_length=max_length, padding=False,
                        return_token_type_ids=True, return_attention_mask=False)
        for row, (row_ids, row_types) in enumerate(zip(out["input_ids"], out["token_type_ids"])):
            tags = examples.sentence_tags(start + row)
            previous, seen = None, 0
            for word in out.word_ids(row):
                first = word is not None and word != previous
                labels.append(int(tags[word]) if first else IGNORE_INDEX)
                label_words.append(word if first else -1)
                seen += first
                previous = word
            dropped += len(tags) - seen
            lengths.append(len(row_ids))
            ids.extend(row_ids)
            types.extend(row_types)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = Encoded(np.asarray(ids, np.int32), np.asarray(types, np.int32), offsets,
                     np.zeros(len(lengths), np.int64), max_length)
    return TaggedEncoded(tokens, np.asarray(labels, np.int32), np.asarray(label_words, np.int32), examples, dropped)


def entity_metrics(task: Task, predictions, labels) -> dict[str, float]:
    """Entity-level precision / recall / F1 (conlleval semantics, seqeval's default mode: an `I-X`
    after `O` or another type starts an entity) and word accuracy, over lists of tag-id sequences."""
    from seqeval.metrics import f1_score, precision_score, recall_score  # only taggers need seqeval

    if len(predictions) != len(labels):
        raise ValueError(f"predictions: {len(predictions)} sentences, labels: {len(labels)}")
    if not labels:
        raise ValueError("labels: no sentences to score")
    names = task.label_names
    pred, gold = [], []
    for i, (p, y) in enumerate(zip(predictions, labels)):
        p, y = np.asarray(p, np.int64), np.asarray(y, np.int64)
        if p.shape != y.shape:
            raise ValueError(f"predictions: sentence {i} has {p.size} tags, its labels {y.size}")
        if y.size and (y.min() < 0 or y.max() >= len(names) or p.min() < 0 or p.max() >= len(names)):
            raise ValueError(f"sentence {i}: tag ids outside 0..{len(names) - 1}")
        pred.append([names[t] for t in p])
        gold.append([names[t] for t in y])
    words = sum(len(y) for y in gold)
    correct = sum(a == b for p, y in zip(pred, gold) for a, b in zip(p, y))
    return {"entity_f1": float(f1_score(gold, pred, zero_division=0)),
            "entity_precision": float(precision_score(gold, pred, zero_division=0)),
            "entity_recall": float(recall_score(gold, pred, zero_division=0)),
            "token_accuracy": correct / max(words, 1)}

