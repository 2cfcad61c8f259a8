"""The official SQuAD v1.1 evaluation (evaluate-v1.1.py): answer normalisation, exact match and
token-overlap F1, each question scored against its best reference, as fractions in [0, 1].

    >>> from flax_adapters.data.squad import read_squad
    >>> from flax_adapters.data.squad_eval import squad_metrics
    >>> squad_metrics({"56be4db0acb8001400a502ec": "Denver Broncos"}, read_squad(dev_path))
    {"exact_match": ..., "f1": ...}   # every other question is unanswered, so scores 0
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .squad import SquadExamples

_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, drop punctuation and articles, squeeze spaces."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """The official token-overlap F1 of the normalised answers."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions: dict[str, str], examples: SquadExamples) -> dict[str, float]:
    """{"exact_match", "f1"} as fractions (the official script's values / 100): best over each
    question's references, mean over every question of `examples`; an unanswered question scores 0."""
    if len(examples) == 0:
        raise ValueError(f"examples: no questions to score from {examples.source}")
    em = f1 = 0.0
    for qid, refs in zip(examples.ids, examples.answers):
        if qid in predictions:
            em += max(exact_match_score(predictions[qid], r) for r in refs)
            f1 += max(f1_score(predictions[qid], r) for r in refs)
    return {"exact_match": em / len(examples), "f1": f1 / len(examples)}
