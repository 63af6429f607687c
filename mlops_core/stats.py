"""Bootstrap statistics behind the decisions: metric intervals, paired gains, decay.

Everything here is a pure function of arrays and a seed. Resampling is done in
chunks of index matrices so a mean-of-loss metric never loops in Python per
resample and memory stays bounded on large batches.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np
from scipy.stats import rankdata

from mlops_core.decisions import DecayCause, MetricInterval, PerformanceSummary
from mlops_core.metrics import METRICS, compute_metric, per_row_loss, worsening

# Metrics whose value is a function of the mean of per_row_loss; the others
# (F1, ROC AUC) are recomputed on each resample.
# Balanced accuracy counts too: its row weights come from the class counts of
# all rows, held fixed over the resamples (a resample's own counts differ by a
# few rows, which moves the interval by a fraction of its width).
_MEAN_OF_LOSS = frozenset({"mae", "rmse", "mape", "accuracy", "balanced_accuracy", "log_loss"})

# Largest index matrix (resamples x rows) materialised at once: 4M int64 = 32 MB.
_MAX_CELLS_PER_CHUNK = 4_000_000


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_resamples(n_resamples: int) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")


def _index_chunks(rng: np.random.Generator, rows: int, n_resamples: int) -> Iterator[np.ndarray]:
    """Yield bootstrap index matrices of shape (chunk, rows) until n_resamples are drawn."""
    per_chunk = max(1, _MAX_CELLS_PER_CHUNK // max(rows, 1))
    drawn = 0
    while drawn < n_resamples:
        size = min(per_chunk, n_resamples - drawn)
        yield rng.integers(0, rows, size=(size, rows))
        drawn += size


def _resampled_means(values: np.ndarray, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """Means of ``values`` over ``n_resamples`` bootstrap resamples of its rows."""
    return np.concatenate(
        [values[idx].mean(axis=1) for idx in _index_chunks(rng, values.size, n_resamples)]
    )


def _loss_to_metric_array(metric: str, mean_loss: np.ndarray) -> np.ndarray:
    """Vectorised :func:`mlops_core.metrics.loss_to_metric`."""
    if metric == "rmse":
        return np.sqrt(mean_loss)
    if metric in ("accuracy", "balanced_accuracy", "f1", "roc_auc"):
        return 1.0 - mean_loss
    return mean_loss


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def bootstrap_metric_interval(
    metric: str,
    y_true: object,
    y_pred: object,
    proba: object | None = None,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> MetricInterval:
    """Percentile bootstrap interval of a metric, resampling rows.

    Mean-of-loss metrics (MAE, RMSE, MAPE, accuracy, log loss) resample the
    per-row losses with index matrices, without a Python loop per resample.
    F1 and ROC AUC are recomputed with :func:`compute_metric` on each resample;
    resamples where the metric is undefined (one class only) are dropped.

    Args:
        metric: Metric name from :data:`mlops_core.metrics.METRICS`.
        y_true: True values.
        y_pred: Predictions (labels for classifiers).
        proba: Positive-class probabilities (ROC AUC, log loss).
        n_resamples: Number of bootstrap resamples.
        confidence: Two-sided confidence level, e.g. 0.95.
        seed: Seed of the resampling; the same seed gives the same interval.

    Returns:
        The metric on all rows with the interval ends. When the metric is
        undefined on every resample the ends equal the point value.

    Raises:
        ValueError: On an unknown metric, empty or misaligned input, or a bad
            confidence level.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    _check_confidence(confidence)
    _check_resamples(n_resamples)
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    rows = int(yt.shape[0]) if yt.ndim else 0
    if rows == 0:
        raise ValueError("cannot bootstrap a metric on zero rows")
    if yp.shape[0] != rows or (proba is not None and np.asarray(proba).shape[0] != rows):
        raise ValueError("y_true, y_pred and proba must have the same number of rows")

    value = compute_metric(metric, yt, yp, proba)
    rng = np.random.default_rng(seed)
    if metric in _MEAN_OF_LOSS:
        loss = per_row_loss(metric, yt, yp, proba)
        samples = _loss_to_metric_array(metric, _resampled_means(loss, rng, n_resamples))
    else:
        pr = None if proba is None else np.asarray(proba)
        parts: list[float] = []
        for idx in _index_chunks(rng, rows, n_resamples):
            for row_idx in idx:
                parts.append(
                    compute_metric(
                        metric, yt[row_idx], yp[row_idx], None if pr is None else pr[row_idx]
                    )
                )
        samples = np.asarray(parts, dtype=float)
    low, high = _percentile_interval(samples, confidence)
    if math.isnan(low):
        low = high = value
    return MetricInterval(metric=metric, value=value, low=low, high=high, rows=rows)


def paired_bootstrap_gain(
    champion_loss: np.ndarray,
    challenger_loss: np.ndarray,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float, float, float]:
    """Paired bootstrap of the per-row loss reduction of a challenger.

    Both models are scored on the same rows, so the rows are resampled once and
    the per-row difference ``champion_loss - challenger_loss`` (positive means
    the challenger is better) is averaged on each resample.

    Args:
        champion_loss: Per-row loss of the champion.
        challenger_loss: Per-row loss of the challenger on the same rows.
        n_resamples: Number of bootstrap resamples.
        confidence: Two-sided level of the percentile interval.
        seed: Seed of the resampling.

    Returns:
        ``(mean_gain, low, high, p_value)`` where ``p_value`` is the share of
        resampled mean gains that are <= 0 (the gain being noise or a loss).

    Raises:
        ValueError: On empty or misaligned inputs or a bad confidence level.
    """
    _check_confidence(confidence)
    _check_resamples(n_resamples)
    champ = np.asarray(champion_loss, dtype=float).ravel()
    chall = np.asarray(challenger_loss, dtype=float).ravel()
    if champ.size == 0 or champ.size != chall.size:
        raise ValueError(
            f"need the same non-zero number of rows, got {champ.size} and {chall.size}"
        )
    gain = champ - chall
    if not np.all(np.isfinite(gain)):
        raise ValueError("per-row losses must be finite")
    means = _resampled_means(gain, np.random.default_rng(seed), n_resamples)
    low, high = _percentile_interval(means, confidence)
    p_value = float(np.mean(means <= 0.0))
    return float(gain.mean()), low, high, p_value


def performance_summary(
    metric: str,
    reference: float,
    y_true: object,
    y_pred: object,
    proba: object | None = None,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
    estimated: float | None = None,
    estimated_low: float | None = None,
    estimated_high: float | None = None,
    estimated_sampled_rows: int | None = None,
) -> PerformanceSummary:
    """Realized performance of the champion on newly labeled rows, against its reference.

    The decay is :func:`mlops_core.metrics.worsening` of the realized metric
    against the reference; its interval maps both ends of the realized metric's
    bootstrap interval through the same function (for a score such as accuracy
    the low end of the metric is the high end of the decay).

    Args:
        metric: Primary metric name.
        reference: The champion's decay reference (its expected metric one step
            after its training).
        y_true: True values of the newly labeled rows.
        y_pred: The champion's predictions for those rows.
        proba: Positive-class probabilities where the metric needs them.
        n_resamples: Bootstrap resamples.
        confidence: Interval confidence level.
        seed: Bootstrap seed.
        estimated: Label-free estimate of the metric, if any.
        estimated_low: Lower end of the estimate's interval.
        estimated_high: Upper end of the estimate's interval.
        estimated_sampled_rows: Rows of the sample the estimate was computed on, when
            it was computed on a sample of the rows.

    Returns:
        The summary. With no rows, a metric undefined on these rows (ROC AUC
        on one class) or a non-finite reference (no baseline), ``realized`` and
        the decay are None: no evidence, so no decay rule can fire.
    """
    yt = np.asarray(y_true)
    rows = int(yt.shape[0]) if yt.ndim else 0
    realized: MetricInterval | None = None
    decay = decay_low = decay_high = None
    if rows > 0:
        interval = bootstrap_metric_interval(
            metric, yt, y_pred, proba, n_resamples=n_resamples, confidence=confidence, seed=seed
        )
        if math.isfinite(interval.value) and math.isfinite(reference):
            realized = interval
            decay = worsening(metric, reference, interval.value)
            ends = (
                worsening(metric, reference, interval.low),
                worsening(metric, reference, interval.high),
            )
            decay_low, decay_high = min(ends), max(ends)
    return PerformanceSummary(
        metric=metric,
        reference=reference,
        realized=realized,
        decay=decay,
        decay_low=decay_low,
        decay_high=decay_high,
        estimated=estimated,
        estimated_low=estimated_low,
        estimated_high=estimated_high,
        estimated_sampled_rows=estimated_sampled_rows,
        new_labeled_rows=rows,
    )


def attribute_decay(perf: PerformanceSummary, metric: str) -> DecayCause:
    """Say whether a loss of performance is concept drift or covariate shift.

    The label-free estimate predicts the metric assuming P(y|x) did not change.
    Comparing it with the realized metric, in the "badness" direction of the
    metric (higher loss, or lower score, is worse):

    - ``unknown`` when there is no estimate or no realized metric, or when
      neither rule below applies (e.g. no worsening at all).
    - ``concept_drift`` when the realized metric is worse than the estimate
      beyond both intervals: the best end of the realized interval is still worse
      than the worst end of the estimate's interval. The inputs alone do not
      explain the loss, so the relationship between inputs and target changed.
    - ``covariate_shift`` when the estimate itself is worse than the reference
      and the realized interval overlaps the estimate's interval: the inputs
      moved into regions where the model was always weaker.

    An estimate without an interval is treated as an interval of one point.

    Args:
        perf: Realized performance summary carrying the estimate.
        metric: Primary metric name (gives the direction).

    Returns:
        The cause.
    """
    if perf.estimated is None or perf.realized is None:
        return "unknown"
    if not (math.isfinite(perf.estimated) and math.isfinite(perf.realized.value)):
        return "unknown"
    sign = -1.0 if METRICS[metric].greater_is_better else 1.0
    est_low = perf.estimated if perf.estimated_low is None else perf.estimated_low
    est_high = perf.estimated if perf.estimated_high is None else perf.estimated_high
    # Badness: larger is worse whatever the metric's direction.
    est_bad = sorted((sign * est_low, sign * est_high))
    real_bad = sorted((sign * perf.realized.low, sign * perf.realized.high))
    if real_bad[0] > est_bad[1]:
        return "concept_drift"
    overlaps = real_bad[0] <= est_bad[1] and est_bad[0] <= real_bad[1]
    if overlaps and worsening(metric, perf.reference, perf.estimated) > 0.0:
        return "covariate_shift"
    return "unknown"


def target_association(
    columns: Mapping[str, np.ndarray], target: np.ndarray, *, min_rows: int = 30
) -> dict[str, float]:
    """How closely each numeric column follows the target: max(|Pearson|, |Spearman|).

    A legitimate feature, even a strong lag, leaves noise between itself and
    the target; a column at 0.99 or more is (a transform of) the target leaking
    into the inputs. Spearman catches monotone transforms (a log, a rescale),
    Pearson the linear ones on data with ties. Rows with a missing or infinite
    value on either side are dropped; a column with no variation left, or with
    fewer than ``min_rows`` usable rows, is left out (nothing can be said).

    Args:
        columns: Numeric feature name to its values on the holdout rows.
        target: The target on the same rows (numbers, or two classes).
        min_rows: Fewest usable rows for a correlation to count.

    Returns:
        Feature name to association in [0, 1].
    """
    y = np.asarray(target)
    if y.dtype.kind not in "biuf":
        classes = np.unique(y.astype(str))
        if classes.size != 2:
            return {}
        y = (y.astype(str) == classes[1]).astype(float)
    y = y.astype(float)
    out: dict[str, float] = {}
    for name, raw in columns.items():
        x = np.asarray(raw, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < min_rows:
            continue
        xs, ys = x[ok], y[ok]
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:
            continue
        pair = (
            abs(float(np.corrcoef(xs, ys)[0, 1])),
            abs(float(np.corrcoef(rankdata(xs), rankdata(ys))[0, 1])),
        )
        finite = [v for v in pair if math.isfinite(v)]
        if finite:
            out[name] = min(1.0, max(finite))
    return out
