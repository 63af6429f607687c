"""Realized and label-free performance of the champion in one cycle.

Pure: the live ``monitor`` flow and every in-memory replay call this same
function, so the evidence behind a decision is computed one way only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlops_core.baseline import fit_naive_baseline
from mlops_core.config import UseCase
from mlops_core.decisions import MetricInterval, PerformanceSummary, PromotionInputs
from mlops_core.estimation import PerformanceEstimator, estimate_performance
from mlops_core.features import model_input, numeric_features
from mlops_core.guardrails import apply_guardrails
from mlops_core.promotion import compare_on_holdout
from mlops_core.stats import performance_summary, target_association
from mlops_core.training import Predictions, labeled_rows, predict

#: Columns of a model's served output on labeled rows (``tasks.served_predictions``
#: reads it back from the predictions and review files), indexed like the rows.
SERVED_FOUND = "found"
SERVED_PREDICTION = "prediction"
SERVED_PROBABILITY = "probability"


def predicted_or_served(
    model: Pipeline, rows: pd.DataFrame, usecase: UseCase, served: pd.DataFrame | None
) -> Predictions:
    """The model's output on ``rows``: as served where ``served`` holds it, predicted elsewhere.

    A model's output on a row depends on that row alone, so what the same
    version served when the row was scored is what predicting it again gives
    (at a million rows, predicting again was half of a cycle's ``performance``
    step). ``served`` is the output of that version only; rows it does not hold
    (scored by another version, or before an output was stored) are predicted.

    Args:
        model: The model.
        rows: The rows (any index).
        usecase: The model's use case (its task).
        served: Columns :data:`SERVED_FOUND`, :data:`SERVED_PREDICTION` and
            :data:`SERVED_PROBABILITY`, indexed like (a subset of) ``rows``;
            None predicts every row.

    Returns:
        Predictions and, for a classifier, positive-class probabilities, as
        :func:`mlops_core.training.predict` gives them.
    """
    if served is None or rows.empty:
        return predict(model, rows, usecase)
    served = served.reindex(rows.index)
    found = served[SERVED_FOUND].fillna(False).to_numpy(dtype=bool)
    classifier = usecase.model.task == "classification"
    with_proba = classifier and hasattr(model, "predict_proba")
    if with_proba:
        found &= served[SERVED_PROBABILITY].notna().to_numpy()
    # Class labels are not merged across two sources (their types may differ):
    # a classifier's rows are taken as served only when all of them were.
    if not found.any() or (classifier and not found.all()):
        return predict(model, rows, usecase)
    proba = served[SERVED_PROBABILITY].to_numpy(dtype=float) if with_proba else None
    if classifier:
        labels = _as_model_classes(model, served[SERVED_PREDICTION].to_numpy())
        return predict(model, rows, usecase) if labels is None else (labels, proba)
    pred = served[SERVED_PREDICTION].to_numpy(dtype=float, na_value=np.nan)
    if not found.all():
        pred[~found] = predict(model, rows.loc[~found], usecase)[0]
    return pred, None


def _as_model_classes(model: Pipeline, labels: np.ndarray) -> np.ndarray | None:
    """Stored class labels in the type of the model's classes, None when they are not.

    The files store integer classes as numbers (1.0 for 1): cast back, they
    compare and count as the model's own output does.
    """
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    classes = np.asarray(classes)
    try:
        cast = labels.astype(classes.dtype)
    except (TypeError, ValueError):
        return None
    # Compared back to what was stored: a cast that changed a value (1.5 to 1, or
    # text cut to a fixed width) is no class the model gave.
    equal = np.asarray(cast == labels)
    if equal.shape != cast.shape or not bool(equal.all()):
        return None
    return cast if bool(np.isin(cast, classes).all()) else None


def _estimate(
    estimator: PerformanceEstimator,
    model: Pipeline,
    frame: pd.DataFrame,
    usecase: UseCase,
    seed: int,
    predicted: Predictions | None = None,
) -> MetricInterval | None:
    """The label-free estimate on the rows the model gave a usable output for.

    A row whose prediction (or probability) is missing or infinite cannot be
    estimated: the guardrails replace or hold it, and the estimate covers the
    other rows (its ``rows`` says how many). None when no row is usable.

    Above ``retrain.estimate_sample_rows`` usable rows, the estimate is computed
    on a uniform sample of that many, drawn with ``seed`` (its ``sampled_rows``
    says so). The estimate is a mean over rows: from 100,000 rows its sampling
    error is a fraction of a percent, and the simulated interval includes it.
    At a million rows the whole-batch estimate took about 5 CPU-s of a cycle.
    """
    pred, proba = predict(model, frame, usecase) if predicted is None else predicted
    usable = _usable_outputs(pred, proba)
    if not usable.any():
        return None
    if not usable.all():
        frame, pred = frame.loc[usable], pred[usable]
        proba = None if proba is None else proba[usable]
    rows = len(frame)
    budget = usecase.retrain.estimate_sample_rows
    if rows > budget:
        picked = np.sort(np.random.default_rng(seed).choice(rows, size=budget, replace=False))
        frame, pred = frame.iloc[picked], np.asarray(pred)[picked]
        proba = None if proba is None else np.asarray(proba)[picked]
    e = estimate_performance(
        estimator,
        model_input(frame, usecase),
        pred,
        proba,
        confidence=usecase.retrain.confidence,
        seed=seed,
        n_resamples=usecase.retrain.bootstrap_samples,
    )
    return MetricInterval(
        metric=e.metric,
        value=e.value,
        low=e.low,
        high=e.high,
        rows=rows,
        sampled_rows=e.rows if rows > budget else None,
    )


def _usable_outputs(pred: np.ndarray, proba: np.ndarray | None) -> np.ndarray:
    """Rows whose prediction is present (and finite, when a number) and probability finite."""
    values = np.asarray(pred)
    if np.issubdtype(values.dtype, np.number):
        usable = np.isfinite(values.astype(float))
    else:
        usable = ~pd.isna(pd.Series(values, dtype=object)).to_numpy()
    if proba is not None:
        usable &= np.isfinite(np.asarray(proba, dtype=float))
    return usable


def assess_performance(
    usecase: UseCase,
    model: Pipeline,
    reference_metric: float,
    estimator: PerformanceEstimator | None,
    new_rows: pd.DataFrame,
    current: pd.DataFrame | None,
    *,
    seed: int,
    current_predicted: Predictions | None = None,
    new_served: pd.DataFrame | None = None,
) -> PerformanceSummary:
    """The champion's realized metric on newly labeled rows, and label-free estimates.

    Args:
        usecase: The use case.
        model: The champion.
        reference_metric: The champion's decay reference: its expected metric one step
            after its training (``mlops_core.training.DecayReference``).
        estimator: Fitted on that holdout; None when the champion has none.
        new_rows: Rows whose labels arrived this cycle (features and target);
            rows whose target is missing are left out.
        current: The batch just scored (no labels yet), for an early estimate.
        seed: Seed of the bootstrap and the estimator's simulation.
        current_predicted: The model's output on ``current`` when it was
            already scored (the batch is then not scored again).
        new_served: What this model served for ``new_rows`` when their batches
            were scored (see :func:`predicted_or_served`); those rows are not
            scored again.

    Returns:
        Realized metric with interval and decay; beside it, the estimate on the
        same labeled rows under "P(y|x) unchanged" (for attribution), and the
        estimate on the current batch (an early warning).
    """
    metric = usecase.metric.primary
    r = usecase.retrain
    new_rows = labeled_rows(new_rows, usecase.data.target_column)
    on_labeled = None
    # The labeled rows are scored once, for both the realized metric and the estimate.
    predicted = (
        None if new_rows.empty else predicted_or_served(model, new_rows, usecase, new_served)
    )
    if estimator is not None and predicted is not None:
        on_labeled = _estimate(estimator, model, new_rows, usecase, seed, predicted)
    if predicted is None:
        summary = PerformanceSummary(metric=metric, reference=reference_metric)
    else:
        pred, proba = predicted
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
            estimated_sampled_rows=on_labeled.sampled_rows if on_labeled else None,
        )
    current_estimate = None
    if estimator is not None and current is not None and not current.empty:
        current_estimate = _estimate(
            estimator, model, current, usecase, seed + 1, current_predicted
        )
    return summary.model_copy(
        update={
            "estimate_method": estimator.method if estimator is not None else None,
            "current_estimate": current_estimate,
        }
    )


def challenger_evidence(
    usecase: UseCase,
    challenger: Pipeline,
    challenger_ranges: Mapping[str, tuple[float, float]],
    holdout: pd.DataFrame,
    champion: Pipeline | None,
    *,
    champion_usecase: UseCase | None = None,
    training_target: object,
    seed: int,
    segment_caps: Mapping[str, float] | None = None,
    champion_reference: float | None = None,
) -> PromotionInputs:
    """Champion and challenger scored on the same holdout the challenger did not train on.

    The live ``monitor`` flow and every replay build the promotion gate's
    evidence here, so a challenger is judged one way only.

    Args:
        usecase: The use case as the challenger sees it (its inputs).
        challenger: The newly trained model.
        challenger_ranges: Its numeric training ranges (for the input-range guardrail).
        holdout: The challenger's holdout rows, with the target. Rows without
            a target are left out (they can score no metric).
        champion: The model in production; None before the first one.
        champion_usecase: The use case as the champion sees it (its own inputs,
            see ``mlops_core.schema_change.usecase_for_inputs``); default
            ``usecase``, for a champion that reads the same inputs.
        training_target: The target of the challenger's training rows: the
            naive baseline (:func:`mlops_core.baseline.fit_naive_baseline`) is
            refit on it and scored on the same holdout rows.
        seed: Seed of the paired bootstrap.
        segment_caps: Per-segment caps from the challenger's training rows, for
            the ``segment_history_cap`` guardrail.
        champion_reference: The champion's primary metric on its own holdout
            when it was trained (the plausibility check's other yardstick).
    """
    holdout = labeled_rows(holdout, usecase.data.target_column)
    y = holdout[usecase.data.target_column].to_numpy()
    ch_pred, ch_proba = predict(challenger, holdout, usecase)
    champ_pred = champ_proba = None
    if champion is not None:
        champ_pred, champ_proba = predict(champion, holdout, champion_usecase or usecase)
    segment = usecase.data.segment_column
    guarded = apply_guardrails(
        ch_pred,
        holdout,
        usecase.guardrails,
        challenger_ranges,
        segment_caps=segment_caps,
        segments=holdout[segment].to_numpy() if segment else None,
    )
    return compare_on_holdout(
        usecase.metric.primary,
        y,
        champ_pred,
        ch_pred,
        policy=usecase.promotion,
        seed=seed,
        champion_proba=champ_proba,
        challenger_proba=ch_proba,
        segments=holdout[segment].astype(str).to_numpy() if segment else None,
        challenger_guardrail_rate=guarded.summary.violation_rate,
        baseline=fit_naive_baseline(usecase.metric.primary, training_target),
        champion_reference=champion_reference if champion is not None else None,
        target_association=target_association(
            {
                name: pd.to_numeric(holdout[name], errors="coerce").to_numpy(dtype=float)
                for name in numeric_features(usecase)
            },
            y,
        ),
    )
