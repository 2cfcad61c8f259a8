"""Task families: one data path per kind of task, chosen by the task's registry entry, never by
its name. Sentence(-pair) classification and regression (GLUE, XNLI, PAWS-X) read TSV files;
tagging (CoNLL-2003) reads `word POS NER` files; multiple choice (Social IQa) reads jsonl + a
labels file; extractive QA (SQuAD v1.1) reads the official JSON. Each family has a loader
(local file or HF hub), an encoder (what `Batcher` batches) and a scorer (model outputs → the
task's metrics), so the training loop and the scoring command treat them all alike:

    >>> examples = load_examples("conll2003", "validation", "../shared/data")
    >>> encoded = encode_examples("conll2003", examples, tokenizer, max_length=128)
    >>> batches = Batcher(encoded, 64, shuffle=False, drop_last=False)
    >>> score_outputs("conll2003", encoded, indices, logits)["entity_f1"]

Hold-out splits (`Task.holdout`): where the official development set is kept apart (Social IQa)
or there is no training file (SQuAD: only dev-v1.1.json is here), "train" and "validation" are
disjoint parts of one file, split over its groups — questions, or SQuAD articles, so no context
is in both — by `row_split(n_groups, fraction, seed)`.
"""

from __future__ import annotations

import os

import numpy as np

from . import choices, metrics, pipeline, squad, squad_eval, tagging
from .sources import DataError, find_file, hub_dataset, row_split
from .sources import load_examples as load_tsv
from .tasks import MULTIPLE_CHOICE, QUESTION_ANSWERING, REGRESSION, TAGGING, Task, get_task


def load_examples(task: str | Task, split: str, data_dir: str | os.PathLike | None = None, language: str = "en",
                  rows=None):
    """Examples of `task`'s `split` from `data_dir` (None: the HF hub): `Examples` for TSV tasks,
    `TaggedExamples`, `ChoiceExamples` or `SquadExamples` for the other families."""
    task = get_task(task)
    if task.layout.format == "tsv":
        return load_tsv(task, split, data_dir, language, rows)
    read = _READERS.get(task.layout.format)
    if read is None:
        raise DataError(f"{task.name}: no reader for file format {task.layout.format!r}; known: tsv, "
                        f"{', '.join(_READERS)}")
    if data_dir is None:
        examples = read(task, split, None)
    else:
        examples = read(task, split, find_file(task, split, os.fspath(data_dir), language))
    if task.holdout and split in ("train", "validation"):
        train_rows, eval_rows = holdout_rows(task, examples)
        examples = examples.select(train_rows if split == "train" else eval_rows)
    return examples if rows is None else examples.select(rows)


def holdout_rows(task: Task, examples) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows) of a hold-out task's file: whole groups on either side."""
    fraction, seed = task.holdout
    groups = np.asarray(examples.groups)
    ids, inverse = np.unique(groups, return_inverse=True)
    train_groups, _ = row_split(len(ids), fraction, seed)
    in_train = np.isin(inverse, train_groups)
    return np.flatnonzero(in_train), np.flatnonzero(~in_train)


def _read_conll(task: Task, split: str, path: str | None):
    if path is not None:
        return tagging.read_conll(task, path)
    ds, source = hub_dataset(task, split, columns=("tokens", "ner_tags"))
    names = getattr(ds.features["ner_tags"].feature, "names", None)
    if names is not None and tuple(names) != task.label_names:
        raise DataError(f"{source}: hub tags {names} differ from {task.name}'s {list(task.label_names)}")
    return tagging.from_sentences([list(t) for t in ds["tokens"]], list(ds["ner_tags"]), source)


def _read_choices(task: Task, split: str, path: str | None):
    if path is not None:
        return choices.read_choices_jsonl(task, path)
    ds, source = hub_dataset(task, split, columns=(*task.text_columns, "label"))
    context, question, *answers = task.text_columns
    labels = [choices.one_based(v, len(answers), source, i) for i, v in enumerate(ds["label"], 1)]
    return choices.ChoiceExamples([str(c) for c in ds[context]], [str(q) for q in ds[question]],
                                  [tuple(str(r[a]) for a in answers) for r in ds], np.asarray(labels, np.int64),
                                  source)


def _read_squad(task: Task, split: str, path: str | None):
    return squad.read_squad(path) if path is not None else squad.squad_from_hub(task.hub_path, task.hub_split(split))


_READERS = {"conll": _read_conll, "choices_jsonl": _read_choices, "squad_json": _read_squad}


def encode_examples(task: str | Task, examples, tokenizer, max_length: int, *, cache_dir=None,
                    doc_stride: int = 128):
    """What `Batcher` batches for `task`'s family: token ids (+ aligned tags, choice rows, or
    QA windows of `max_length` tokens overlapping by `doc_stride`)."""
    task = get_task(task)
    if task.kind == TAGGING:
        return tagging.encode_tagged(examples, tokenizer, max_length)
    if task.kind == MULTIPLE_CHOICE:
        return choices.encode_choices(examples, tokenizer, max_length, cache_dir=cache_dir)
    if task.kind == QUESTION_ANSWERING:
        return squad.encode_squad(examples, tokenizer, max_length, doc_stride)
    return pipeline.encode(examples, tokenizer, max_length, cache_dir=cache_dir)


def score_outputs(task: str | Task, encoded, indices: list, outputs: list) -> dict[str, float]:
    """The task's metrics (+ 'loss') from model outputs: `outputs[k]` are the logits of batch k's
    real rows, `indices[k]` those rows' positions in `encoded` (Batcher.eval_batches order).

    Classification / regression / multiple choice: logits [b, C] (MC: C = choices). Tagging:
    [b, T, tags]; scored per word, entity-level. QA: [b, T, 2]; the best span per question over
    all its windows, scored with the official SQuAD v1.1 EM / F1.
    """
    task = get_task(task)
    if not outputs:
        raise ValueError("outputs: no batches to score")
    if task.kind == TAGGING:
        return _score_tags(task, encoded, indices, outputs)
    if task.kind == QUESTION_ANSWERING:
        return _score_spans(task, encoded, indices, outputs)
    logits = np.concatenate([np.asarray(o, np.float64) for o in outputs])
    labels = np.asarray(encoded.labels)[np.concatenate(indices)]
    out = metrics.compute_metrics(task, logits, labels)
    if task.kind == REGRESSION:
        out["loss"] = float(np.mean((logits.reshape(-1) - labels) ** 2))
    else:  # CLASSIFICATION, MULTIPLE_CHOICE
        out["loss"] = _cross_entropy(logits, labels.astype(np.int64))
    return out


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    logp = _log_softmax(np.asarray(logits, np.float64))
    return float(-np.take_along_axis(logp, labels[..., None], -1).mean())


def _score_tags(task: Task, encoded, indices: list, outputs: list) -> dict[str, float]:
    outside = task.label_index()["O"]
    predicted, gold, losses, counted = [], [], 0.0, 0
    for idx, logits in zip(indices, outputs):
        logits = np.asarray(logits, np.float64)
        labels = encoded.padded(idx, logits.shape[1])["labels"]
        valid = labels != tagging.IGNORE_INDEX
        logp = np.take_along_axis(_log_softmax(logits), np.where(valid, labels, 0)[..., None], -1)[..., 0]
        losses, counted = losses - float(logp[valid].sum()), counted + int(valid.sum())
        best = logits.argmax(-1)
        for row, i in enumerate(np.asarray(idx).tolist()):
            predicted.append(encoded.word_predictions(i, best[row], outside))
            gold.append(encoded.examples.sentence_tags(i))
    out = tagging.entity_metrics(task, predicted, gold)
    out["loss"] = losses / max(counted, 1)
    return out


def _score_spans(task: Task, encoded, indices: list, outputs: list) -> dict[str, float]:
    # Windows come in length-sorted batches of different padded lengths: one [n, max_length] array.
    idx = np.concatenate(indices)
    width = encoded.max_length
    logits = np.full((len(idx), width, 2), -1e9, np.float32)
    row = 0
    for o in outputs:
        logits[row:row + len(o), :o.shape[1]] = o
        row += len(o)
    mask = encoded.padded(idx, width)["attention_mask"] > 0
    labels = encoded.labels[idx]
    logp = _log_softmax(np.where(mask[..., None], logits, -1e9).astype(np.float64).transpose(0, 2, 1))
    loss = -np.take_along_axis(logp, labels[..., None].astype(np.int64), -1).mean()
    answers = squad.predict_answers(encoded, idx, logits[..., 0], logits[..., 1])
    out = squad_eval.squad_metrics(answers, encoded.examples)
    out["loss"] = float(loss)
    return out

