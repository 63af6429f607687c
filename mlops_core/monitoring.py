"""Realized and label-free performance of the champion in one cycle.

Pure: the live ``monitor`` flow and every in-memory replay call this same
function, so the evidence behind a decision is computed one way only.
"""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from mlops_core.config import UseCase
from mlops_core.decisions import MetricInterval, PerformanceSummary
from mlops_core.estimation import PerformanceEstimator, estimate_performance
from mlops_core.features import model_input
from mlops_core.stats import performance_summary
from mlops_core.training import predict


def _estimate(
    estimator: PerformanceEstimator,
    model: Pipeline,
    frame: pd.DataFrame,
    usecase: UseCase,
    seed: int,
) -> MetricInterval:
    pred, proba = predict(model, frame, usecase)
    e = estimate_performance(
        estimator,
        model_input(frame, usecase),
        pred,
        proba,
        confidence=usecase.retrain.confidence,
        seed=seed,
        n_resamples=usecase.retrain.bootstrap_samples,
    )
    return MetricInterval(metric=e.metric, value=e.value, low=e.low, high=e.high, rows=e.rows)


def assess_performance(
    usecase: UseCase,
    model: Pipeline,
    reference_metric: float,
    estimator: PerformanceEstimator | None,
    new_rows: pd.DataFrame,
    current: pd.DataFrame | None,
    *,
    seed: int,
) -> PerformanceSummary:
    """The champion's realized metric on newly labeled rows, and label-free estimates.

    Args:
        usecase: The use case.
        model: The champion.
        reference_metric: The champion's metric on its holdout at training time.
        estimator: Fitted on that holdout; None when the champion has none.
        new_rows: Rows whose labels arrived this cycle (features and target).
        current: The batch just scored (no labels yet), for an early estimate.
        seed: Seed of the bootstrap and the estimator's simulation.

    Returns:
        Realized metric with interval and decay; beside it, the estimate on the
        same labeled rows under "P(y|x) unchanged" (for attribution), and the
        estimate on the current batch (an early warning).
    """
    metric = usecase.metric.primary
    r = usecase.retrain
    on_labeled = None
    if estimator is not None and not new_rows.empty:
        on_labeled = _estimate(estimator, model, new_rows, usecase, seed)
    if new_rows.empty:
        summary = PerformanceSummary(metric=metric, reference=reference_metric)
    else:
        pred, proba = predict(model, new_rows, usecase)
        summary = performance_summary(
            metric,
            reference_metric,
            new_rows[usecase.data.target_column].to_numpy(),
            pred,
            proba,
            n_resamples=r.bootstrap_samples,
            confidence=r.confidence,
            seed=seed,
            estimated=on_labeled.value if on_labeled else None,
            estimated_low=on_labeled.low if on_labeled else None,
            estimated_high=on_labeled.high if on_labeled else None,
        )
    current_estimate = None
    if estimator is not None and current is not None and not current.empty:
        current_estimate = _estimate(estimator, model, current, usecase, seed + 1)
    return summary.model_copy(
        update={
            "estimate_method": estimator.method if estimator is not None else None,
            "current_estimate": current_estimate,
        }
    )
