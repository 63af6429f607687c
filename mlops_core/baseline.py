"""The naive baseline a challenger must beat: refit on its own training window.

A model worth deploying beats the best constant prediction learned from the
same rows it learned from, scored on the same holdout rows it is judged on.
Unlike an absolute floor profiled once from a whole file, the baseline moves
with the data: after the target level grows, or the class balance shifts, the
constant is refit on the window the challenger saw, so the bar is neither
stale nor measured with knowledge of the future.

The constant is the one that is best for the primary metric on the training
rows (the strongest naive competitor, so beating it means something):

- ``mae`` and ``mape``: the training target's median (it minimises the mean
  absolute error, and stays put under the skew and outliers of counts and
  sales, where the mean is pulled up by a few large rows);
- ``rmse``: the training target's mean (it minimises the squared error);
- classification: the training window's most frequent class as the label,
  and each class's share of the training rows as its probability (the class
  prior), so probability metrics (ROC AUC, log loss) compare with a model
  that knows the prior and nothing else. Ties between classes go to the
  label that sorts first.

Pure: arrays in, predictions out. The live flow and the backtester both build
the baseline here (through :func:`mlops_core.monitoring.challenger_evidence`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlops_core.metrics import METRICS


@dataclass(frozen=True)
class NaiveBaseline:
    """A constant prediction fitted on a training window.

    Attributes:
        kind: ``"median"``, ``"mean"`` or ``"majority class"``.
        value: The constant predicted for every row (a number or a class label).
        positive_share: For a classifier, the share of the training rows in the
            positive class (the larger label, as the metrics define it): the
            probability the baseline gives every row. None for a regressor.
        training_rows: Rows it was fitted on.
    """

    kind: str
    value: object
    positive_share: float | None
    training_rows: int

    def predict(self, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The constant for ``rows`` rows, and the constant probability for a classifier."""
        pred = np.full(rows, self.value, dtype=object if isinstance(self.value, str) else None)
        proba = None if self.positive_share is None else np.full(rows, self.positive_share)
        return pred, proba

    def describe(self) -> str:
        """``median 142`` or ``majority class 'DOWN'``, for reasons and reports."""
        if isinstance(self.value, str):
            return f"{self.kind} {self.value!r}"
        return f"{self.kind} {float(self.value):.4g}"  # type: ignore[arg-type]


def fit_naive_baseline(metric: str, y_train: object) -> NaiveBaseline | None:
    """The naive baseline for ``metric`` fitted on the training target.

    Args:
        metric: The primary metric; picks the constant (see the module docs).
        y_train: The target of the challenger's training rows. Missing values
            are left out.

    Returns:
        The baseline, or None when no row has a target (nothing to fit: the
        gate then rejects, fail-safe).

    Raises:
        ValueError: On an unknown metric.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    y = np.asarray(y_train)
    if METRICS[metric].task == "regression":
        values = y.astype(float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return None
        if metric == "rmse":
            return NaiveBaseline("mean", float(values.mean()), None, int(values.size))
        return NaiveBaseline("median", float(np.median(values)), None, int(values.size))
    present = y[~_missing(y)]
    if present.size == 0:
        return None
    labels, counts = np.unique(present, return_counts=True)
    majority = labels[int(np.argmax(counts))]  # argmax takes the first of a tie
    # The positive class is the larger label, as in mlops_core.metrics (with one
    # class only, that class: probability 1).
    positive_share = float(counts[-1] / counts.sum())
    value = majority.item() if hasattr(majority, "item") else majority
    return NaiveBaseline("majority class", value, positive_share, int(present.size))


def _missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fc":
        return ~np.isfinite(values)
    if values.dtype.kind == "O":
        return np.array(
            [v is None or (isinstance(v, float) and v != v) for v in values], dtype=bool
        )
    return np.zeros(values.shape, dtype=bool)
