"""Multiple choice (Social IQa): the jsonl + labels-file reader and choice-row encoding.

Each question becomes `num_choices` rows `[CLS] context [SEP] question answer [SEP]`, one per
answer (the pairing of HF's run_swag and the Social IQa baselines). `ChoiceEncoded` batches
questions, not rows: `padded` returns input_ids [batch, choices, T], which the multiple-choice
head folds back to logits [batch, choices]; labels are 0-based answer indices.

    >>> ex = read_choices_jsonl(get_task("socialiqa"), "../shared/data/social_iqa/train.jsonl")
    >>> enc = encode_choices(ex, tokenizer, max_length=96)
    >>> Batcher(enc, 16).batch(0)["input_ids"].shape      # (16, 3, T)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from .pipeline import Encoded, encode
from .sources import DataError, Examples
from .tasks import Task


@dataclass(frozen=True)
class ChoiceExamples:
    """Questions with their context and candidate answers; labels are 0-based (-1: unlabelled)."""

    contexts: list[str]
    questions: list[str]
    choices: list[tuple[str, ...]]
    labels: np.ndarray  # int64 [n]
    source: str

    def __len__(self) -> int:
        return len(self.contexts)

    @property
    def groups(self) -> np.ndarray:
        return np.arange(len(self))

    def select(self, rows) -> ChoiceExamples:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise ValueError(f"rows: index out of range for {len(self)} questions from {self.source}")
        pick = lambda xs: [xs[i] for i in rows.tolist()]  # noqa: E731
        return ChoiceExamples(pick(self.contexts), pick(self.questions), pick(self.choices), self.labels[rows],
                              self.source)

    def rows(self) -> Examples:
        """One plain sentence-pair example per (question, answer): context | question + answer."""
        k = len(self.choices[0])
        text_a = [c for c in self.contexts for _ in range(k)]
        text_b = [f"{q} {a}" for q, answers in zip(self.questions, self.choices) for a in answers]
        return Examples(text_a, text_b, np.repeat(self.labels, k), self.source)


def labels_file(path: str) -> str:
    """AI2's label file beside a jsonl file: train.jsonl → train-labels.lst."""
    root, _ = os.path.splitext(path)
    return f"{root}-labels.lst"


def read_choices_jsonl(task: Task, path: str) -> ChoiceExamples:
    """Reads `{"context", "question", "answerA", …}` lines and the 1-based labels file beside them
    (line i: the gold answer of line i; `1` = the first answer column). A file without its labels
    file reads as unlabelled (-1)."""
    context, question, *answers = task.text_columns
    contexts, questions, choices = [], [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path} line {lineno}: not a JSON object ({e.msg})") from None
            missing = [c for c in task.text_columns if c not in row]
            if missing:
                raise DataError(f"{path} line {lineno}: missing field(s) {', '.join(missing)} (has: {', '.join(row)})")
            contexts.append(str(row[context]))
            questions.append(str(row[question]))
            choices.append(tuple(str(row[a]) for a in answers))
    if not contexts:
        raise DataError(f"{path}: no examples")
    lpath = labels_file(path)
    if not os.path.isfile(lpath):
        return ChoiceExamples(contexts, questions, choices, np.full(len(contexts), -1, np.int64), path)
    with open(lpath, encoding="utf-8") as f:
        values = [(i, v.strip()) for i, v in enumerate(f, 1) if v.strip()]
    if len(values) != len(contexts):
        raise DataError(f"{lpath}: {len(values)} labels for the {len(contexts)} examples of {path}")
    return ChoiceExamples(contexts, questions, choices,
                          np.asarray([one_based(v, len(answers), lpath, i) for i, v in values], np.int64), path)


def one_based(value, num_choices: int, where: str, lineno: int) -> int:
    """A 1-based answer number ("1".."N", as in AI2's files and the hub's `label`) as a 0-based id."""
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= num_choices:
        raise DataError(f"{where} line {lineno}: label {text!r} is not an answer number 1..{num_choices}")
    return int(text) - 1


@dataclass(frozen=True)
class ChoiceEncoded:
    """Choice rows of n questions (`rows`: n × num_choices sequences, question-major)."""

    rows: Encoded
    num_choices: int
    labels: np.ndarray  # int64 [n]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def max_length(self) -> int:
        return self.rows.max_length

    @property
    def lengths(self) -> np.ndarray:
        """The longest choice row of each question: what its batch must be padded to."""
        return self.rows.lengths.reshape(-1, self.num_choices).max(axis=1)

    def padded(self, indices, length: int, pad_id: int = 0) -> dict[str, np.ndarray]:
        indices = np.asarray(indices, dtype=np.int64)
        rows = (indices[:, None] * self.num_choices + np.arange(self.num_choices)[None, :]).reshape(-1)
        out = self.rows.padded(rows, length, pad_id)
        return {k: v.reshape(len(indices), self.num_choices, length) for k, v in out.items()}


def encode_choices(examples: ChoiceExamples, tokenizer, max_length: int, cache_dir=None) -> ChoiceEncoded:
    """Tokenises every (question, answer) row (truncating the context first, as the pair is
    truncated longest-first), through pipeline.encode and its cache."""
    k = {len(c) for c in examples.choices}
    if len(k) != 1:
        raise DataError(f"{examples.source}: questions have different numbers of answers: {sorted(k)}")
    return ChoiceEncoded(encode(examples.rows(), tokenizer, max_length, cache_dir=cache_dir), k.pop(),
                         np.asarray(examples.labels, np.int64))
