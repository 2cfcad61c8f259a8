"""Per-example task metrics (GLUE conventions; multiple choice is accuracy over choices) computed
with scikit-learn and scipy. Tagging and QA are scored by families.score_outputs.

`compute_metrics` takes raw model outputs (logits or class ids; regression scores) and gold
labels and returns every metric of the task, always including `task.main_metric`.

    >>> import numpy as np
    >>> from flax_adapters.data import compute_metrics
    >>> compute_metrics("mrpc", np.array([[0.1, 2.0], [1.5, -1.0], [0.0, 3.0]]), np.array([1, 0, 0]))
    {'accuracy': 0.666..., 'f1': 0.666...}
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from .tasks import QUESTION_ANSWERING, TAGGING, Task, get_task


def _correlation(fn, predictions: np.ndarray, labels: np.ndarray) -> float:
    with warnings.catch_warnings():
        # Constant input (e.g. a collapsed regressor early in training) makes the correlation
        # undefined: scipy warns and returns NaN. We report 0.0, "no linear relation", so that
        # early stopping and metric logging keep working with a finite number.
        warnings.simplefilter("ignore")
        value = float(fn(predictions, labels)[0])
    return 0.0 if np.isnan(value) else value


_METRICS = {
    "accuracy": lambda p, y: float(accuracy_score(y, p)),
    # Binary F1 of the positive class (MRPC "equivalent"); no positive prediction gives 0, not a warning.
    "f1": lambda p, y: float(f1_score(y, p, zero_division=0)),
    # sklearn already returns 0.0 when predictions (or labels) are constant.
    "matthews": lambda p, y: float(matthews_corrcoef(y, p)),
    "pearson": lambda p, y: _correlation(stats.pearsonr, p, y),
    "spearman": lambda p, y: _correlation(stats.spearmanr, p, y),
}


def predictions_to_labels(task: str | Task, predictions) -> np.ndarray:
    """Class ids (classification, argmax over logits [n, C]) or float scores [n] (regression)."""
    task = get_task(task)
    predictions = np.asarray(predictions)
    if task.is_regression:
        if predictions.ndim == 2 and predictions.shape[1] == 1:
            predictions = predictions[:, 0]
        if predictions.ndim != 1:
            raise ValueError(f"predictions: regression expects shape [n] or [n, 1], got {predictions.shape}")
        return predictions.astype(np.float64)
    if predictions.ndim == 2:
        if predictions.shape[1] != task.num_labels:
            raise ValueError(f"predictions: {task.name} has {task.num_labels} classes, logits have "
                             f"{predictions.shape[1]}")
        return predictions.argmax(axis=-1)
    if predictions.ndim != 1:
        raise ValueError(f"predictions: expected logits [n, C] or class ids [n], got {predictions.shape}")
    if predictions.dtype.kind == "f" and not np.all(predictions == np.round(predictions)):
        raise ValueError("predictions: 1-D classification predictions must be class ids, got fractional values")
    return predictions.astype(np.int64)


def compute_metrics(task: str | Task, predictions, labels) -> dict[str, float]:
    """Every metric in `task.metrics` as a float; drop padded (masked) rows before calling."""
    task = get_task(task)
    if task.kind in (TAGGING, QUESTION_ANSWERING):
        raise ValueError(f"{task.name}: {task.kind} outputs are scored per word / per question by "
                         "flax_adapters.data.score_outputs, not compute_metrics")
    predicted = predictions_to_labels(task, predictions)
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != predicted.shape:
        raise ValueError(f"labels: shape {labels.shape} does not match predictions {predicted.shape}")
    if labels.size == 0:
        raise ValueError("labels: no examples to score")
    if task.is_regression:
        labels = labels.astype(np.float64)
        if np.isnan(labels).any():
            raise ValueError("labels: NaN targets (an unlabelled test split?)")
    else:
        labels = labels.astype(np.int64)
        if labels.min() < 0:
            raise ValueError("labels: negative class ids (an unlabelled test split?)")
    return {name: _METRICS[name](predicted, labels) for name in task.metrics}
