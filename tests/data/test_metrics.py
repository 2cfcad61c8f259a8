"""Metrics: known values, logits vs ids, degenerate inputs, errors."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from flax_adapters.data import TASKS, compute_metrics


def test_matthews_hand_case():
    labels, preds = np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])
    out = compute_metrics("cola", preds, labels)
    # TP=1 TN=2 FP=0 FN=1: (1*2 - 0*1) / sqrt(1*2*2*3)
    assert out["matthews"] == pytest.approx(2 / np.sqrt(12)) == pytest.approx(matthews_corrcoef(labels, preds))
    assert out["accuracy"] == 0.75


def test_logits_are_argmaxed():
    logits = np.array([[0.1, 2.0], [1.5, -1.0], [0.0, 3.0]], dtype=np.float32)
    labels = np.array([1, 0, 0])
    out = compute_metrics("mrpc", logits, labels)
    assert out == compute_metrics("mrpc", np.array([1, 0, 1]), labels)
    assert out["accuracy"] == pytest.approx(2 / 3) and out["f1"] == pytest.approx(2 / 3)  # P=1/2, R=1


def test_three_classes():
    logits = np.eye(3)[[0, 1, 2, 2]]
    assert compute_metrics("xnli", logits, [0, 1, 2, 0]) == {"accuracy": 0.75}


def test_pearson_spearman_small_vector():
    labels = np.array([1.0, 2.0, 3.0, 4.0])
    preds = np.array([1.0, 3.0, 2.0, 4.0])
    out = compute_metrics("stsb", preds, labels)
    assert out["pearson"] == pytest.approx(0.8) and out["spearman"] == pytest.approx(0.8)
    assert compute_metrics("stsb", preds[:, None], labels[:, None]) == out  # [n, 1] head outputs


def test_degenerate_inputs_give_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = compute_metrics("stsb", np.full(5, 2.5), np.arange(5.0))
        cola = compute_metrics("cola", np.ones(4, dtype=int), np.array([1, 0, 1, 0]))
        mrpc = compute_metrics("mrpc", np.zeros(4, dtype=int), np.array([1, 0, 1, 0]))
    assert reg == {"pearson": 0.0, "spearman": 0.0}
    assert cola["matthews"] == 0.0 and mrpc["f1"] == 0.0


@pytest.mark.parametrize("name", sorted(n for n, t in TASKS.items() if t.kind not in ("tagging", "question_answering")))
def test_main_metric_present_and_finite(name):
    task, rng = TASKS[name], np.random.default_rng(0)
    if task.is_regression:
        preds, labels = rng.normal(size=(20, 1)), rng.uniform(0, 5, 20)
    else:
        preds, labels = rng.normal(size=(20, task.num_labels)), rng.integers(0, task.num_labels, 20)
    out = compute_metrics(name, preds, labels)
    assert set(out) == set(task.metrics) and task.main_metric in out
    assert all(isinstance(v, float) and np.isfinite(v) for v in out.values())


@pytest.mark.parametrize("task,preds,labels,match", [
    ("sst2", np.zeros((3, 2)), np.zeros(4, dtype=int), "labels"),
    ("xnli", np.zeros((3, 2)), np.zeros(3, dtype=int), "3 classes"),
    ("sst2", np.array([0.5, 1.0]), np.array([0, 1]), "class ids"),
    ("sst2", np.array([0, 1]), np.array([-1, -1]), "unlabelled"),
    ("stsb", np.zeros((3, 2)), np.zeros(3), "regression"),
    ("stsb", np.zeros(2), np.array([np.nan, 1.0]), "NaN"),
    ("rte", np.zeros((0, 2)), np.zeros(0, dtype=int), "no examples"),
])
def test_errors(task, preds, labels, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(task, preds, labels)


@pytest.mark.parametrize("name", ["conll2003", "squad"])
def test_span_and_tag_tasks_point_to_score_outputs(name):
    with pytest.raises(ValueError, match="scored per word / per question by flax_adapters.data.score_outputs"):
        compute_metrics(name, np.zeros((2, 2)), np.zeros(2, int))
