"""Metrics the product decides on, with their direction and per-row losses.

Every metric maps predictions to one number. Where a metric is a mean of
per-row losses (MAE, RMSE's square, accuracy's 0/1 error, balanced accuracy's
class-weighted 0/1 error, log loss) the paired bootstrap of the promotion gate
resamples those losses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

TaskType = Literal["regression", "classification"]
MetricName = Literal[
    "mae", "rmse", "mape", "accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"
]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is and which way is better."""

    name: str
    task: TaskType
    greater_is_better: bool
    needs_proba: bool
    description: str


METRICS: dict[str, MetricSpec] = {
    "mae": MetricSpec("mae", "regression", False, False, "mean absolute error"),
    "rmse": MetricSpec("rmse", "regression", False, False, "root mean squared error"),
    "mape": MetricSpec("mape", "regression", False, False, "mean absolute percentage error"),
    "accuracy": MetricSpec("accuracy", "classification", True, False, "share of correct labels"),
    "balanced_accuracy": MetricSpec(
        "balanced_accuracy",
        "classification",
        True,
        False,
        "mean over the classes of the share of their rows labeled right",
    ),
    "f1": MetricSpec("f1", "classification", True, False, "F1 score of the positive class"),
    "roc_auc": MetricSpec("roc_auc", "classification", True, True, "area under the ROC curve"),
    "log_loss": MetricSpec("log_loss", "classification", False, True, "logarithmic loss"),
}


def _arr(x: object) -> np.ndarray:
    return np.asarray(x, dtype=float)


def per_row_loss(
    name: str, y_true: object, y_pred: object, proba: object | None = None
) -> np.ndarray:
    """Per-row loss whose mean (or its square root, for RMSE) is the metric's loss.

    Lower is always better for the returned values, whatever the metric's
    direction, so paired comparisons can subtract them. Metrics that are not a
    mean of row losses (F1, ROC AUC) fall back to the 0/1 error, which is the
    row-level loss they rank.

    Args:
        name: Metric name.
        y_true: True values.
        y_pred: Predicted values (labels for classifiers).
        proba: Probability of the positive class, for log loss.

    Returns:
        One non-negative loss per row.
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if name == "mae":
        return np.abs(_arr(yt) - _arr(yp))
    if name == "rmse":
        return (_arr(yt) - _arr(yp)) ** 2
    if name == "mape":
        denom = np.maximum(np.abs(_arr(yt)), 1e-9)
        return np.abs(_arr(yt) - _arr(yp)) / denom
    if name == "balanced_accuracy":
        return class_balanced_weights(yt) * (yt != yp).astype(float)
    if name == "log_loss" and proba is not None:
        p = np.clip(_arr(proba), 1e-15, 1 - 1e-15)
        t = _arr(yt)
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))
    return (yt != yp).astype(float)


def class_balanced_weights(y_true: object) -> np.ndarray:
    """Per row, ``n / (k * n_c)``: the weight that gives every class the same total.

    With ``n`` rows, ``k`` classes present and ``n_c`` rows of the row's class,
    the weights of each class sum to ``n / k``, so the mean of weighted 0/1
    errors is one minus the balanced accuracy, and a class holding 5% of the
    rows counts as much as one holding 95%.
    """
    yt = np.asarray(y_true)
    if yt.size == 0:
        return np.zeros(0, dtype=float)
    _, inverse, counts = np.unique(yt.astype(str), return_inverse=True, return_counts=True)
    return yt.size / (counts.size * counts[inverse].astype(float))


def loss_to_metric(name: str, mean_loss: float) -> float:
    """Turn a mean of :func:`per_row_loss` values back into the metric's scale."""
    if name == "rmse":
        return float(np.sqrt(mean_loss))
    if name in ("accuracy", "balanced_accuracy", "f1", "roc_auc"):
        return float(1.0 - mean_loss)
    return float(mean_loss)


def compute_metric(name: str, y_true: object, y_pred: object, proba: object | None = None) -> float:
    """Compute a metric exactly (F1 and ROC AUC included).

    Args:
        name: Metric name.
        y_true: True values.
        y_pred: Predictions (labels for classifiers).
        proba: Positive-class probabilities, needed by ROC AUC and log loss.

    Returns:
        The metric value; NaN when it is undefined (empty input, one class only).
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yt.size == 0:
        return float("nan")
    if name == "f1":
        # Predictions name the classes too: a batch whose labels are all "DOWN"
        # must still score F1 of the positive class "UP", not of "DOWN".
        pos = _positive_label(np.concatenate([yt, yp]))
        tp = float(np.sum((yp == pos) & (yt == pos)))
        fp = float(np.sum((yp == pos) & (yt != pos)))
        fn = float(np.sum((yp != pos) & (yt == pos)))
        denom = 2 * tp + fp + fn
        return 1.0 if denom == 0 else 2 * tp / denom
    if name == "roc_auc":
        if proba is None:
            return float("nan")
        pos = _positive_label(yt)
        t = (yt == pos).astype(int)
        if t.min() == t.max():
            return float("nan")
        from scipy.stats import rankdata

        ranks = rankdata(_arr(proba))
        n_pos = t.sum()
        n_neg = t.size - n_pos
        return float((ranks[t == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    loss = per_row_loss(name, yt, yp, proba)
    return loss_to_metric(name, float(loss.mean()))


def _positive_label(y: np.ndarray) -> object:
    labels = np.unique(y)
    # The positive class is the larger label (1 over 0, "UP" over "DOWN" by sort order).
    return labels[-1]


def worsening(name: str, reference: float, current: float) -> float:
    """Relative worsening of ``current`` against ``reference`` (positive is worse).

    For error metrics it is ``(current - reference) / reference``; for scores it
    is the relative rise of the error ``1 - score``, so 0.90 -> 0.85 accuracy is a
    50% worsening of the error rate, comparable to an error metric's scale.
    """
    spec = METRICS[name]
    if spec.greater_is_better:
        ref_err, cur_err = 1.0 - reference, 1.0 - current
    else:
        ref_err, cur_err = reference, current
    return float((cur_err - ref_err) / max(abs(ref_err), 1e-12))
