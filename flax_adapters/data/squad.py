"""Extractive question answering (SQuAD v1.1): the official JSON reader, an article-level
hold-out split, sliding-window encoding with character offsets, and span decoding.

Split rule: SQuAD only ships train and dev; to hold out part of dev, split the *articles*
(`article_split`), never the questions: questions of one article share its paragraphs, so a
question split would evaluate on contexts seen in training.

Windows follow HF run_qa: long contexts become several `max_length` windows overlapping by
`stride` tokens; a window is labelled with the first reference answer's token span, or (0, 0)
(the [CLS] index) when that answer is not entirely inside it. Spans are whole tokens, so an
answer that is part of a word ("gold" in "golden") is labelled, and decodes, as the whole word
(about 1.4% of dev questions with MiniLM: the ceiling of exact match). At prediction time every
window's best span is scored and each question keeps its best window (metrics: squad_eval.py).

    >>> ex = read_squad("../shared/data/squad/dev-v1.1.json")
    >>> train_rows, eval_rows = article_split(ex, holdout_fraction=0.5, seed=0)
    >>> enc = encode_squad(ex.select(train_rows), tokenizer, max_length=384, stride=128)
    >>> batch = Batcher(enc, 32).batch(0)          # labels [32, 2]: start, end token
    >>> dev = encode_squad(ex.select(eval_rows), tokenizer)
    >>> answers = predict_answers(dev, windows, start_logits, end_logits)   # {id: text}
    >>> squad_eval.squad_metrics(answers, dev.examples)   # {"exact_match": 0.8, "f1": 0.87}
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .pipeline import Encoded
from .sources import DataError, row_split

_TOKENIZE_CHUNK = 1000  # questions per tokenizer call: bounds the Python lists held at once


@dataclass(frozen=True)
class SquadExamples:
    """One row per question, with its article title, paragraph and every reference answer."""

    ids: list[str]
    titles: list[str]
    contexts: list[str]
    questions: list[str]
    answers: list[tuple[str, ...]]        # all reference answer texts of each question
    answer_starts: list[tuple[int, ...]]  # their character starts in the context
    source: str                           # path or hub id, for messages

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def groups(self) -> np.ndarray:
        """int64 article index of each question, articles numbered by first appearance.

        Articles are identified by title (unique in SQuAD); were two articles to share one, they
        would be merged, which only makes a hold-out split stricter."""
        _, first, inverse = np.unique(np.asarray(self.titles, dtype=object).astype(str),
                                      return_index=True, return_inverse=True)
        rank = np.empty(len(first), np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return rank[inverse.reshape(-1)]

    def select(self, rows) -> SquadExamples:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise ValueError(f"rows: index out of range for {len(self)} questions from {self.source}")
        pick = lambda xs: [xs[i] for i in rows.tolist()]  # noqa: E731
        return SquadExamples(pick(self.ids), pick(self.titles), pick(self.contexts), pick(self.questions),
                             pick(self.answers), pick(self.answer_starts), self.source)


def _build(rows, source: str) -> SquadExamples:
    """SquadExamples from (id, title, context, question, texts, starts) tuples, checking each answer."""
    cols = [[] for _ in range(6)]
    for qid, title, context, question, texts, starts in rows:
        if not texts or len(texts) != len(starts):
            raise DataError(f"{source}: question {qid}: {len(texts)} answer texts and {len(starts)} starts "
                            "(need >= 1 of each, as many starts as texts)")
        for text, start in zip(texts, starts):
            if not isinstance(start, int):
                raise DataError(f"{source}: question {qid}: answer_start {start!r} is not an integer")
            # A misaligned answer_start would silently train on the wrong span: refuse it.
            if context[start:start + len(text)] != text:
                raise DataError(f"{source}: question {qid}: answer {text!r} is not at answer_start {start} "
                                f"in its context (found {context[start:start + len(text)]!r})")
        for col, value in zip(cols, (str(qid), str(title), context, question, tuple(texts), tuple(starts))):
            col.append(value)
    if not cols[0]:
        raise DataError(f"{source}: no questions")
    return SquadExamples(*cols, source)


def read_squad(path: str) -> SquadExamples:
    """Reads the official SQuAD v1.1 JSON ({"data": [{"title", "paragraphs": [{"context", "qas"}]}]})."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not JSON: {str(e).splitlines()[0]}") from None

    def rows():
        where = "top level"
        try:
            for a, article in enumerate(data["data"]):
                where = f"article {a}"
                for p, paragraph in enumerate(article["paragraphs"]):
                    where = f"article {a} ({article['title']!r}) paragraph {p}"
                    context = paragraph["context"]
                    for q, qa in enumerate(paragraph["qas"]):
                        where = f"article {a} paragraph {p} question {q}"
                        answers = qa["answers"]
                        yield (qa["id"], article["title"], context, qa["question"],
                               [x["text"] for x in answers], [x["answer_start"] for x in answers])
        except KeyError as e:
            raise DataError(f"{path}: {where}: missing key {e.args[0]!r}") from None
        except (TypeError, AttributeError) as e:
            raise DataError(f"{path}: {where}: not in the SQuAD v1.1 layout ({e})") from None

    return _build(rows(), path)


def squad_from_hub(hub_path: str, split: str) -> SquadExamples:
    """`datasets.load_dataset(hub_path, split=split)` with the SQuAD columns (e.g. "rajpurkar/squad")."""
    try:
        import datasets  # lazily: only the hub path needs it

        ds = datasets.load_dataset(hub_path, split=split)
        rows = [(r["id"], r["title"], r["context"], r["question"], r["answers"]["text"],
                 r["answers"]["answer_start"]) for r in ds]
    except Exception as e:  # noqa: BLE001 - offline, missing package, unknown split: all one remedy
        first = (str(e).splitlines() or [""])[0][:200]
        raise DataError(f"cannot load {hub_path}:{split} from the Hugging Face hub, unreachable or refused "
                        f"({type(e).__name__}: {first}); pass --data_dir with a local data directory holding "
                        "squad/dev-v1.1.json (e.g. ../shared/data)") from None
    return _build(rows, f"{hub_path}:{split}")


def article_split(examples: SquadExamples, holdout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train_rows, eval_rows) question indices; `row_split` over the articles, so every
    article (and so every context) lies on exactly one side."""
    groups = examples.groups
    n_articles = int(groups.max()) + 1 if groups.size else 0
    if n_articles < 2:
        raise ValueError(f"article_split: {examples.source} has {n_articles} article(s), need >= 2")
    train_articles, _ = row_split(n_articles, holdout_fraction, seed)
    in_train = np.isin(groups, train_articles)
    return np.flatnonzero(in_train), np.flatnonzero(~in_train)


@dataclass(frozen=True)
class QAEncoded:
    """Token windows of SQuAD questions (`tokens`, one row per window) with span labels.

    char_starts / char_ends are flat like tokens.input_ids: the character span in the context of
    each context token, -1 for question and special tokens; they map predicted tokens back to text.
    """

    tokens: Encoded                # Encoded.labels: zeros, unused
    start_positions: np.ndarray    # int32 [n_windows]; 0 ([CLS]) when the answer is not in the window
    end_positions: np.ndarray      # int32 [n_windows], inclusive; 0 likewise
    window_example: np.ndarray     # int64 [n_windows]: question index of each window
    char_starts: np.ndarray        # int32 [total tokens]
    char_ends: np.ndarray          # int32 [total tokens], exclusive
    examples: SquadExamples

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def labels(self) -> np.ndarray:
        return np.stack([self.start_positions, self.end_positions], axis=1).astype(np.int32)

    @property
    def lengths(self) -> np.ndarray:
        return self.tokens.lengths

    @property
    def max_length(self) -> int:
        return self.tokens.max_length

    def padded(self, indices, length: int, pad_id: int = 0) -> dict[str, np.ndarray]:
        out = self.tokens.padded(indices, length, pad_id)
        out["labels"] = self.labels[np.asarray(indices, dtype=np.int64)]
        return out


def encode_squad(examples: SquadExamples, tokenizer, max_length: int = 384, stride: int = 128) -> QAEncoded:
    """Tokenises (question, context) pairs into overlapping windows of the context (HF run_qa)."""
    if max_length <= 0 or not 0 <= stride < max_length:
        raise ValueError(f"need max_length > 0 and 0 <= stride < max_length, got {max_length}, {stride}")
    if len(examples) == 0:
        raise ValueError(f"examples: nothing to encode from {examples.source}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"tokenizer {type(tokenizer).__name__} is not a fast tokenizer: windows need "
                         "offset mappings and sequence_ids()")
    ids, types, seqs, spans, lengths, window_example = [], [], [], [], [], []
    for start in range(0, len(examples), _TOKENIZE_CHUNK):
        stop = start + _TOKENIZE_CHUNK
        # Leading spaces in some questions would make the window budget uneven (HF run_qa strips them).
        questions = [q.lstrip() for q in examples.questions[start:stop]]
        out = tokenizer(questions, examples.contexts[start:stop], truncation="only_second", max_length=max_length,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                        padding=False, return_token_type_ids=True, return_attention_mask=False)
        for w, row_ids in enumerate(out["input_ids"]):
            lengths.append(len(row_ids))
            ids.extend(row_ids)
            types.extend(out["token_type_ids"][w])
            seqs.extend(-1 if s is None else s for s in out.sequence_ids(w))
            spans.extend(out["offset_mapping"][w])
            window_example.append(start + out["overflow_to_sample_mapping"][w])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    window_example = np.asarray(window_example, np.int64)
    is_context = np.asarray(seqs) == 1
    spans = np.asarray(spans, np.int64).reshape(-1, 2)
    char_starts = np.where(is_context, spans[:, 0], -1)
    char_ends = np.where(is_context, spans[:, 1], -1)

    # Labels, vectorised over all tokens: per window, the last context token starting at or before
    # the answer's first character and the first one ending at or after its last (HF run_qa).
    first_start = np.array([s[0] for s in examples.answer_starts], np.int64)[window_example]
    first_end = first_start + np.array([len(a[0]) for a in examples.answers], np.int64)[window_example]
    token_window = np.repeat(np.arange(len(lengths)), lengths)
    local = np.arange(len(spans)) - offsets[token_window]
    big = np.iinfo(np.int64).max
    seg = offsets[:-1]
    ctx_lo = np.minimum.reduceat(np.where(is_context, char_starts, big), seg)
    ctx_hi = np.maximum.reduceat(np.where(is_context, char_ends, -1), seg)
    s_tok = np.maximum.reduceat(np.where(is_context & (char_starts <= first_start[token_window]), local, -1), seg)
    e_tok = np.minimum.reduceat(np.where(is_context & (char_ends >= first_end[token_window]), local, big), seg)
    inside = (ctx_lo <= first_start) & (ctx_hi >= first_end)
    tokens = Encoded(np.asarray(ids, np.int32), np.asarray(types, np.int32), offsets,
                     np.zeros(len(lengths), np.int64), max_length)
    return QAEncoded(tokens, np.where(inside, s_tok, 0).astype(np.int32), np.where(inside, e_tok, 0).astype(np.int32),
                     window_example, char_starts.astype(np.int32), char_ends.astype(np.int32), examples)


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, allowed: np.ndarray,
               max_answer_length: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the (start, end) maximising start_logits[s] + end_logits[e] over allowed s, e with
    s <= e < s + max_answer_length. Returns (start [N] int64, end [N] int64, score [N]); a row with
    no allowed token gets score -inf and (0, 0).

    Loops over the span length (max_answer_length steps), never over rows, and holds O(N * T)
    memory instead of the O(N * T * T) of a full score matrix.
    """
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    allowed = np.asarray(allowed, dtype=bool)
    if not start_logits.shape == end_logits.shape == allowed.shape or start_logits.ndim != 2:
        raise ValueError(f"start_logits {start_logits.shape}, end_logits {end_logits.shape} and allowed "
                         f"{allowed.shape} must be the same [N, T] shape")
    if max_answer_length <= 0:
        raise ValueError(f"max_answer_length must be > 0, got {max_answer_length}")
    n, t = start_logits.shape
    dtype = np.result_type(start_logits.dtype, end_logits.dtype, np.float32)
    if t == 0:
        return np.zeros(n, np.int64), np.zeros(n, np.int64), np.full(n, -np.inf, dtype)
    best = np.full((n, t), -np.inf, dtype)
    best_len = np.zeros((n, t), np.int64)
    for k in range(min(max_answer_length, t)):  # span end e = s + k
        end_k = np.full((n, t), -np.inf, dtype)
        end_k[:, :t - k] = np.where(allowed[:, k:], end_logits[:, k:], -np.inf)
        score = np.where(allowed, start_logits + end_k, -np.inf)
        better = score > best  # strict: on ties the shorter span wins
        best = np.where(better, score, best)
        best_len = np.where(better, k, best_len)
    rows, starts = np.arange(n), np.argmax(best, axis=1)
    score = best[rows, starts]
    found = score > -np.inf
    ends = np.where(found, starts + best_len[rows, starts], 0)
    return np.where(found, starts, 0).astype(np.int64), ends.astype(np.int64), score


def predict_answers(encoded: QAEncoded, window_indices: np.ndarray, start_logits: np.ndarray,
                    end_logits: np.ndarray, max_answer_length: int = 30) -> dict[str, str]:
    """{question id: answer text} from the logits [n, T'] of windows `window_indices` (padded rows
    allowed): the best span of each window (`best_spans`, over its context tokens), and per
    question the best-scoring window. Exhaustive over spans, so it is HF run_qa's top n-best
    answer whenever that answer's start and end are among HF's 20 best logits (the usual case)."""
    windows = np.asarray(window_indices, dtype=np.int64).reshape(-1)
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    if start_logits.ndim != 2 or start_logits.shape != end_logits.shape or len(start_logits) != len(windows):
        raise ValueError(f"start_logits {start_logits.shape} and end_logits {end_logits.shape} must be "
                         f"[{len(windows)}, T], one row per window index")
    if windows.size and (windows.min() < 0 or windows.max() >= len(encoded)):
        raise ValueError(f"window_indices: out of range for {len(encoded)} windows")
    lengths = encoded.lengths[windows]
    width = start_logits.shape[1]
    if lengths.size and lengths.max() > width:
        raise ValueError(f"logits have {width} positions, shorter than the longest window ({lengths.max()})")
    covered = np.zeros(len(encoded.examples), bool)
    covered[encoded.window_example[windows]] = True
    if not covered.all():
        raise ValueError(f"window_indices: {int((~covered).sum())} of {covered.size} questions have no window")

    # Which positions are context tokens of their window (padding and question tokens are not).
    in_row = np.arange(width)[None, :] < lengths[:, None]
    flat = np.where(in_row, encoded.tokens.offsets[windows][:, None] + np.arange(width)[None, :], 0)
    allowed = in_row & (encoded.char_starts[flat] >= 0)
    starts, ends, score = best_spans(start_logits, end_logits, allowed, max_answer_length)

    # Best window per question: sort by (question, -score), keep each question's first row.
    questions = encoded.window_example[windows]
    order = np.lexsort((-score, questions))
    _, first = np.unique(questions[order], return_index=True)
    pick = order[first]
    base = encoded.tokens.offsets[windows[pick]]
    lo = encoded.char_starts[base + starts[pick]]
    hi = encoded.char_ends[base + ends[pick]]
    ok = np.isfinite(score[pick])  # a question whose windows hold no context token answers ""
    ex = encoded.examples
    return {ex.ids[q]: ex.contexts[q][a:b] if good else ""
            for q, a, b, good in zip(questions[order][first].tolist(), lo.tolist(), hi.tolist(), ok.tolist())}
