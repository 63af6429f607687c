"""Performance estimated without labels, under the assumption that P(y|x) is unchanged.

Two methods, as NannyML describes them:

- Classifiers, confidence-based performance estimation (CBPE): the champion's
  positive-class probabilities are calibrated on the reference (rows whose
  labels are known), and on new rows the calibrated probability of each label
  gives the expected confusion matrix, hence the expected accuracy, F1, ROC AUC
  or log loss.
- Regressors, direct loss estimation (DLE): a "loss model" fitted on the
  reference predicts each row's loss (absolute error, squared error or relative
  error) from the features and the champion's prediction; the estimate is the
  mean predicted loss.

Both estimates come with the interval the *realized* metric would fall in if
P(y|x) had not changed: labels (or losses) are simulated from the same model
many times, allowing for what a finite reference leaves uncertain, and the
metric is computed on each simulation. A realized metric outside that interval,
on the bad side, says the relationship between inputs and target changed
(concept drift); an estimate that explains the loss says the inputs moved into
regions where the model was always weaker (covariate shift).

The reference must be rows the champion was not trained on (its holdout): on
training rows, probabilities look over-confident and errors look too small.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import OrdinalEncoder

from mlops_core.features import row_chunks
from mlops_core.metrics import TaskType, compute_metric, loss_to_metric, per_row_loss

EstimationMethod = Literal["cbpe", "dle"]
Calibration = Literal["isotonic", "sigmoid"]

STATE_VERSION = 1
MIN_REFERENCE_ROWS = 30
# A class seen fewer times than this on the reference says nothing about calibration.
MIN_CLASS_ROWS = 5
# Isotonic regression is a step function learned from the data: with fewer rows (or
# fewer rows of the rarer class) its steps are noise, and only the sigmoid is tried.
ISOTONIC_MIN_ROWS = 500
ISOTONIC_MIN_CLASS_ROWS = 50

ESTIMABLE_METRICS: dict[str, tuple[TaskType, EstimationMethod]] = {
    "accuracy": ("classification", "cbpe"),
    "balanced_accuracy": ("classification", "cbpe"),
    "f1": ("classification", "cbpe"),
    "roc_auc": ("classification", "cbpe"),
    "log_loss": ("classification", "cbpe"),
    "mae": ("regression", "dle"),
    "rmse": ("regression", "dle"),
    "mape": ("regression", "dle"),
}

# The loss model's input gets the champion's prediction under a name no feature uses.
_PREDICTION_COLUMN = "__champion_prediction__"
_CALIBRATION_FOLDS = 3
_LOSS_MODEL_FOLDS = 4
# Rare categories share one code, so a code means enough rows to learn from.
_MAX_CATEGORIES = 64
# Simulated metrics are computed in blocks of resamples of at most this many cells.
_BLOCK_CELLS = 1_000_000


@dataclass(frozen=True)
class PerformanceEstimate:
    """A metric estimated without labels, with the interval of the realized metric.

    Attributes:
        metric: Metric name.
        value: Expected metric under unchanged P(y|x).
        low: Lower end of the interval the realized metric falls in, at the
            requested confidence, if P(y|x) is unchanged.
        high: Upper end of that interval.
        rows: Rows the estimate covers.
        method: ``cbpe`` (classifiers) or ``dle`` (regressors).
    """

    metric: str
    value: float
    low: float
    high: float
    rows: int
    method: EstimationMethod


@dataclass(frozen=True)
class PerformanceEstimator:
    """What :func:`estimate_performance` needs, learned from the reference.

    Attributes:
        task: Model task.
        metric: Metric estimated.
        method: ``cbpe`` or ``dle``.
        reference_rows: Rows the estimator was fitted on.
        reference_metric: The champion's realized metric on those rows.
        feature_columns: Model-input columns, in order (DLE reads them).
        categorical_columns: The subset of ``feature_columns`` holding categories.
        classes: ``(negative, positive)`` labels (CBPE); the positive label is the
            larger one by sort order, as in :mod:`mlops_core.metrics`.
        calibration: How probabilities are calibrated (CBPE).
        probability_floor: Calibrated probabilities are kept in
            ``[floor, 1 - floor]`` (CBPE).
        recalibration_cov: 2x2 covariance of a logistic recalibration
            (intercept, slope on the calibrated log-odds) fitted on the reference:
            how uncertain the calibration is because the reference is finite (CBPE).
        calibrator: Fitted ``IsotonicRegression`` or ``LogisticRegression`` (CBPE).
        loss_encoder: Fitted ``ColumnTransformer`` making the loss model's input (DLE).
        loss_model: Fitted loss model, predicting ``loss / loss_scale`` (DLE).
        loss_scale: Mean reference loss, the loss model's unit (DLE).
        loss_ratios: Out-of-fold ``actual loss / predicted loss`` on the reference,
            scaled to a mean of 1 (DLE).
    """

    task: TaskType
    metric: str
    method: EstimationMethod
    reference_rows: int
    reference_metric: float
    feature_columns: tuple[str, ...] = ()
    categorical_columns: tuple[str, ...] = ()
    classes: tuple[Any, Any] | None = None
    calibration: Calibration | None = None
    probability_floor: float = 0.0
    recalibration_cov: tuple[tuple[float, float], tuple[float, float]] | None = None
    calibrator: Any = field(default=None, compare=False, repr=False)
    loss_encoder: Any = field(default=None, compare=False, repr=False)
    loss_model: Any = field(default=None, compare=False, repr=False)
    loss_scale: float = 1.0
    loss_ratios: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_state(self) -> tuple[dict[str, object], dict[str, object]]:
        """Split the estimator into fitted objects and JSON-able parameters.

        Returns:
            ``(objects, params)``: scikit-learn and numpy objects (to be stored
            with skops) and plain parameters (to be stored as JSON).
        """
        objects: dict[str, object] = {}
        if self.calibrator is not None:
            objects["calibrator"] = self.calibrator
        if self.loss_encoder is not None:
            objects["loss_encoder"] = self.loss_encoder
        if self.loss_model is not None:
            objects["loss_model"] = self.loss_model
        if self.loss_ratios is not None:
            objects["loss_ratios"] = np.asarray(self.loss_ratios, dtype=float)
        params: dict[str, object] = {
            "version": STATE_VERSION,
            "task": self.task,
            "metric": self.metric,
            "method": self.method,
            "reference_rows": int(self.reference_rows),
            "reference_metric": float(self.reference_metric),
            "feature_columns": list(self.feature_columns),
            "categorical_columns": list(self.categorical_columns),
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
            "calibration": self.calibration,
            "probability_floor": float(self.probability_floor),
            "recalibration_cov": (
                None
                if self.recalibration_cov is None
                else [[float(v) for v in row] for row in self.recalibration_cov]
            ),
            "loss_scale": float(self.loss_scale),
        }
        return objects, params

    @classmethod
    def from_state(
        cls, objects: dict[str, object], params: dict[str, object]
    ) -> PerformanceEstimator:
        """Rebuild an estimator from :meth:`to_state` output.

        Raises:
            ValueError: When the state is of another version or incomplete.
        """
        if params.get("version") != STATE_VERSION:
            raise ValueError(
                f"estimator state version {params.get('version')!r} is not {STATE_VERSION}"
            )
        metric = str(params["metric"])
        task, method = _method_for(metric)
        if params.get("task") != task or params.get("method") != method:
            raise ValueError(f"estimator state for {metric!r} names the wrong task or method")
        raw_classes = params.get("classes")
        classes = None if raw_classes is None else tuple(raw_classes)  # type: ignore[arg-type]
        estimator = cls(
            task=task,
            metric=metric,
            method=method,
            reference_rows=int(params["reference_rows"]),  # type: ignore[arg-type]
            reference_metric=float(params["reference_metric"]),  # type: ignore[arg-type]
            feature_columns=tuple(params.get("feature_columns") or ()),  # type: ignore[arg-type]
            categorical_columns=tuple(params.get("categorical_columns") or ()),  # type: ignore[arg-type]
            classes=classes,  # type: ignore[arg-type]
            calibration=params.get("calibration"),  # type: ignore[arg-type]
            probability_floor=float(params.get("probability_floor", 0.0)),  # type: ignore[arg-type]
            recalibration_cov=_covariance(params.get("recalibration_cov")),
            calibrator=objects.get("calibrator"),
            loss_encoder=objects.get("loss_encoder"),
            loss_model=objects.get("loss_model"),
            loss_scale=float(params.get("loss_scale", 1.0)),  # type: ignore[arg-type]
            loss_ratios=(
                None
                if objects.get("loss_ratios") is None
                else np.asarray(objects["loss_ratios"], dtype=float)
            ),
        )
        _check_complete(estimator)
        return estimator


# -------------------------------------------------------------------------- fitting
def fit_estimator(
    task: TaskType,
    metric: str,
    x_reference: pd.DataFrame,
    y_reference: object,
    pred_reference: object,
    proba_reference: object | None = None,
    *,
    seed: int,
) -> PerformanceEstimator:
    """Learn, from labeled reference rows, how to estimate a metric without labels.

    Classifiers (CBPE): the positive-class probabilities are calibrated against
    the labels, always. The calibrator is a sigmoid on the probabilities'
    log-odds (Platt scaling), or isotonic regression when the reference has at
    least ``ISOTONIC_MIN_ROWS`` rows and ``ISOTONIC_MIN_CLASS_ROWS`` rows of each
    class and isotonic regression has the lower out-of-fold Brier score (it fixes
    distortions a sigmoid cannot, but its steps are noise on few rows).

    Regressors (DLE): a histogram gradient-boosting model (Poisson loss, so its
    predictions are positive means) learns the per-row loss from the features and
    the champion's prediction. Cross-fitting gives each reference row a loss
    predicted by a model that did not see it; the ratios ``actual / predicted``
    of those rows are kept to simulate the spread of the realized metric. The
    stored loss model is then fitted on all reference rows.

    Args:
        task: ``classification`` or ``regression``.
        metric: Metric to estimate (accuracy, balanced_accuracy, f1, roc_auc, log_loss;
            mae, rmse, mape).
        x_reference: Model-input frame of the reference rows (float64 numeric
            columns, categorical columns as strings with NaN for missing).
        y_reference: True labels or values.
        pred_reference: The champion's predictions on those rows.
        proba_reference: The champion's positive-class probabilities (classifiers).
        seed: Seed of the folds.

    Returns:
        The fitted estimator.

    Raises:
        ValueError: Unknown metric or task mismatch, fewer than
            ``MIN_REFERENCE_ROWS`` rows, missing or non-finite inputs, a
            reference holding one class only (or fewer than ``MIN_CLASS_ROWS`` of
            one), more than two classes, or a reference without any loss.
    """
    metric_task, method = _method_for(metric)
    if metric_task != task:
        raise ValueError(f"metric {metric!r} is a {metric_task} metric, not a {task} one")
    y = np.asarray(y_reference)
    pred = np.asarray(pred_reference)
    rows = len(x_reference)
    if not (y.shape == pred.shape == (rows,)):
        raise ValueError(
            f"reference sizes differ: {rows} feature rows, {y.shape} labels, "
            f"{pred.shape} predictions"
        )
    if rows < MIN_REFERENCE_ROWS:
        raise ValueError(
            f"the reference has {rows} labeled rows; at least {MIN_REFERENCE_ROWS} are needed "
            "to estimate performance without labels"
        )
    if method == "cbpe":
        return _fit_cbpe(metric, x_reference, y, pred, proba_reference, seed=seed)
    return _fit_dle(metric, x_reference, y, pred, seed=seed)


def _fit_cbpe(
    metric: str,
    x: pd.DataFrame,
    y: np.ndarray,
    pred: np.ndarray,
    proba: object | None,
    *,
    seed: int,
) -> PerformanceEstimator:
    if proba is None:
        raise ValueError("confidence-based estimation needs the positive-class probabilities")
    raw = _probabilities(proba, len(y), "reference")
    labels = np.unique(y)
    if labels.size < 2:
        raise ValueError(
            f"the reference holds one class only ({labels.tolist()}); "
            "probabilities cannot be calibrated"
        )
    if labels.size > 2:
        raise ValueError(
            f"the reference holds {labels.size} classes; only binary classifiers are estimated"
        )
    negative, positive = labels[0], labels[1]
    target = (y == positive).astype(float)
    smallest = int(min(target.sum(), target.size - target.sum()))
    if smallest < MIN_CLASS_ROWS:
        raise ValueError(
            f"the reference has {smallest} rows of its rarer class; at least {MIN_CLASS_ROWS} "
            "are needed to calibrate probabilities"
        )
    unknown = ~np.isin(pred, labels)
    if unknown.any():
        raise ValueError(
            f"reference predictions hold labels not among the reference classes: "
            f"{np.unique(pred[unknown]).tolist()[:5]}"
        )
    floor = 0.5 / len(y)
    chosen = _choose_calibration(raw, target, smallest, floor, seed)
    calibrator = _fit_calibrator(chosen, raw, target)
    calibrated = _apply_calibrator(calibrator, raw, floor)
    return PerformanceEstimator(
        task="classification",
        metric=metric,
        method="cbpe",
        reference_rows=len(y),
        reference_metric=compute_metric(metric, y, pred, raw),
        feature_columns=tuple(str(c) for c in x.columns),
        categorical_columns=_categorical_columns(x),
        classes=(negative, positive),
        calibration=chosen,
        probability_floor=floor,
        recalibration_cov=_recalibration_cov(calibrated),
        calibrator=calibrator,
    )


def _choose_calibration(
    raw: np.ndarray, target: np.ndarray, smallest: int, floor: float, seed: int
) -> Calibration:
    """Sigmoid, or isotonic when it has the rows and beats the sigmoid out of fold.

    Probabilities are always calibrated. NannyML keeps raw probabilities when a
    calibrator does not lower the out-of-fold calibration error, but a slight
    over-confidence (a fitted logistic model's, say) barely moves the Brier score
    while it biases the expected accuracy in its own direction; the sigmoid
    contains the identity and has two parameters, so calibrating costs almost
    nothing when the raw probabilities are already right.
    """
    if len(raw) < ISOTONIC_MIN_ROWS or smallest < ISOTONIC_MIN_CLASS_ROWS:
        return "sigmoid"
    folds = StratifiedKFold(n_splits=_CALIBRATION_FOLDS, shuffle=True, random_state=seed)
    brier = {"sigmoid": 0.0, "isotonic": 0.0}
    for train_idx, test_idx in folds.split(raw, target):
        for kind in brier:
            fold_cal = _fit_calibrator(kind, raw[train_idx], target[train_idx])  # type: ignore[arg-type]
            calibrated = _apply_calibrator(fold_cal, raw[test_idx], floor)
            brier[kind] += float(np.sum((calibrated - target[test_idx]) ** 2))
    return "isotonic" if brier["isotonic"] < brier["sigmoid"] else "sigmoid"


def _fit_calibrator(kind: Calibration, raw: np.ndarray, target: np.ndarray) -> Any:
    if kind == "isotonic":
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, target)
    # Platt scaling on the log-odds; mild regularisation keeps a separable reference finite.
    return LogisticRegression(C=100.0).fit(_log_odds(raw)[:, None], target)


def _apply_calibrator(calibrator: Any, raw: np.ndarray, floor: float) -> np.ndarray:
    if isinstance(calibrator, IsotonicRegression):
        calibrated = calibrator.predict(raw)
    else:
        calibrated = calibrator.predict_proba(_log_odds(raw)[:, None])[:, 1]
    # No finite reference shows a probability of exactly 0 or 1.
    return np.clip(np.asarray(calibrated, dtype=float), floor, 1.0 - floor)


def _recalibration_cov(
    calibrated: np.ndarray,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Covariance of (intercept, slope) of a logistic fit on the calibrated log-odds.

    The inverse Fisher information of ``P(y=1) = sigmoid(a + b * logit(p))`` at
    ``a = 0, b = 1`` over the reference rows: for the sigmoid calibrator this is
    its own sampling uncertainty; for isotonic steps it is the uncertainty of
    their overall level and spread (the steps' own noise is not included).
    """
    z = _log_odds(calibrated)
    w = calibrated * (1.0 - calibrated)
    information = np.array([[w.sum(), w @ z], [w @ z, w @ (z * z)]])
    cov = np.linalg.pinv(information)
    return ((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1])))


def _covariance(value: object) -> tuple[tuple[float, float], tuple[float, float]] | None:
    if value is None:
        return None
    rows = [[float(v) for v in row] for row in value]  # type: ignore[union-attr]
    if len(rows) != 2 or any(len(row) != 2 for row in rows):
        raise ValueError("recalibration_cov must be a 2x2 matrix")
    return ((rows[0][0], rows[0][1]), (rows[1][0], rows[1][1]))


def _log_odds(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def _fit_dle(
    metric: str, x: pd.DataFrame, y: np.ndarray, pred: np.ndarray, *, seed: int
) -> PerformanceEstimator:
    y_num = _finite(y, "reference target values")
    pred_num = _finite(pred, "reference predictions")
    loss = per_row_loss(metric, y_num, pred_num)
    scale = float(loss.mean())
    if not np.isfinite(scale) or scale <= 0.0:
        raise ValueError("the champion has no loss on the reference; there is nothing to model")
    categorical = _categorical_columns(x)
    numeric = tuple(str(c) for c in x.columns if c not in categorical)
    encoder = _loss_encoder(numeric, categorical)
    features = encoder.fit_transform(_loss_input(x, pred_num, numeric + categorical))
    target = loss / scale

    out_of_fold = np.empty_like(target)
    folds = KFold(n_splits=_LOSS_MODEL_FOLDS, shuffle=True, random_state=seed)
    for train_idx, test_idx in folds.split(features):
        fold_model = _loss_model(len(train_idx), seed)
        fold_model.fit(features[train_idx], target[train_idx])
        out_of_fold[test_idx] = fold_model.predict(features[test_idx])
    loss_model = _loss_model(len(target), seed).fit(features, target)
    ratios = target / np.maximum(out_of_fold, 1e-9)
    # Noisy out-of-fold predictions make the mean ratio exceed 1 (Jensen), most on a
    # small reference; the level is the loss model's, so the ratios keep only the
    # spread and the simulations centre on the estimate.
    ratios = ratios / ratios.mean()
    return PerformanceEstimator(
        task="regression",
        metric=metric,
        method="dle",
        reference_rows=len(y),
        reference_metric=loss_to_metric(metric, scale),
        feature_columns=tuple(str(c) for c in x.columns),
        categorical_columns=categorical,
        loss_encoder=encoder,
        loss_model=loss_model,
        loss_scale=scale,
        loss_ratios=ratios,
    )


def _loss_encoder(numeric: tuple[str, ...], categorical: tuple[str, ...]) -> ColumnTransformer:
    transformers: list[tuple[str, Any, list[str]]] = [
        ("num", "passthrough", [*numeric, _PREDICTION_COLUMN])
    ]
    if categorical:
        transformers.append(
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=_MAX_CATEGORIES,
                ),
                list(categorical),
            )
        )
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def _loss_model(rows: int, seed: int) -> HistGradientBoostingRegressor:
    # Modest capacity: the loss is noisy (one draw per row) and the reference small.
    # Category codes are split on as ordered numbers: the native categorical support
    # stores a functools.partial in the fitted model, which skops will not trust.
    return HistGradientBoostingRegressor(
        loss="poisson",
        learning_rate=0.1,
        max_iter=80,
        max_leaf_nodes=8,
        min_samples_leaf=max(20, rows // 100),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


def _loss_input(x: pd.DataFrame, pred: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in columns if c not in x.columns]
    if missing:
        raise ValueError(f"the frame lacks the model-input columns {missing}")
    frame = x.loc[:, list(columns)].copy()
    frame[_PREDICTION_COLUMN] = pred
    return frame


def _categorical_columns(x: pd.DataFrame) -> tuple[str, ...]:
    return tuple(str(c) for c in x.columns if not pd.api.types.is_numeric_dtype(x[c].dtype))


# ------------------------------------------------------------------------ estimation
def estimate_performance(
    estimator: PerformanceEstimator,
    x: pd.DataFrame,
    pred: object,
    proba: object | None = None,
    *,
    confidence: float,
    seed: int,
    n_resamples: int = 400,
) -> PerformanceEstimate:
    """Estimate the champion's metric on unlabeled rows, assuming P(y|x) is unchanged.

    The interval is where the realized metric falls, at ``confidence``, if P(y|x)
    is what the reference showed. Each of the ``n_resamples`` simulations gives
    one metric; the interval is their central percentiles:

    - CBPE draws a recalibration (intercept and slope on the calibrated
      log-odds) from its sampling distribution on the reference, then every
      row's label from the recalibrated probability;
    - DLE multiplies every row's predicted loss by an out-of-fold ratio drawn
      from the reference, and the whole by a level factor with the standard
      error of the reference's mean ratio.

    Both keep the reference's own finiteness in the interval: with a few
    hundred reference rows, calibration noise is as large as a batch's sampling
    noise, and an interval without it would call noise concept drift.

    Args:
        estimator: Output of :func:`fit_estimator`.
        x: Model-input frame of the rows.
        pred: The champion's predictions on them.
        proba: The champion's positive-class probabilities (classifiers).
        confidence: Interval confidence, e.g. 0.95.
        seed: Seed of the simulations.
        n_resamples: Number of simulations.

    Returns:
        The estimate with its interval.

    Raises:
        ValueError: No rows, mismatched or non-finite inputs, labels the
            estimator does not know, or an invalid confidence.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if n_resamples < 10:
        raise ValueError(f"n_resamples must be at least 10, got {n_resamples}")
    predictions = np.asarray(pred)
    rows = len(x)
    if rows == 0:
        raise ValueError("no rows to estimate performance on")
    if predictions.shape != (rows,):
        raise ValueError(f"{rows} feature rows but predictions of shape {predictions.shape}")
    rng = np.random.default_rng(seed)
    if estimator.method == "cbpe":
        value, simulated = _estimate_cbpe(estimator, predictions, proba, n_resamples, rng)
    else:
        value, simulated = _estimate_dle(estimator, x, predictions, n_resamples, rng)
    tail = (1.0 - confidence) / 2.0
    finite = simulated[np.isfinite(simulated)]
    if finite.size == 0:
        low = high = value
    else:
        low, high = (float(v) for v in np.quantile(finite, [tail, 1.0 - tail]))
    return PerformanceEstimate(
        metric=estimator.metric,
        value=float(value),
        # The expectation can sit just outside the simulated percentiles for ratio
        # metrics on few rows; the interval always contains it.
        low=min(low, float(value)),
        high=max(high, float(value)),
        rows=rows,
        method=estimator.method,
    )


def _estimate_cbpe(
    estimator: PerformanceEstimator,
    pred: np.ndarray,
    proba: object | None,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[float, np.ndarray]:
    if proba is None:
        raise ValueError("confidence-based estimation needs the positive-class probabilities")
    assert estimator.classes is not None
    n = pred.size
    raw = _probabilities(proba, n, "current")
    unknown = ~np.isin(pred, np.asarray(list(estimator.classes)))
    if unknown.any():
        raise ValueError(
            f"predictions hold labels the estimator was not fitted on: "
            f"{np.unique(pred[unknown].astype(str)).tolist()[:5]}; known {list(estimator.classes)}"
        )
    p = _apply_calibrator(estimator.calibrator, raw, estimator.probability_floor)
    d = (pred == estimator.classes[1]).astype(float)
    metric = estimator.metric

    if metric == "accuracy":
        value = float(np.mean(d * p + (1 - d) * (1 - p)))
        weights, offset = 2 * d - 1, float(n - d.sum())  # correct = Y*d + (1-Y)*(1-d)
    elif metric == "log_loss":
        q = np.clip(raw, 1e-15, 1 - 1e-15)
        loss_pos, loss_neg = -np.log(q), -np.log(1 - q)
        value = float(np.mean(p * loss_pos + (1 - p) * loss_neg))
        weights, offset = loss_pos - loss_neg, float(loss_neg.sum())
    elif metric == "f1":
        tp, fp, fn = float(d @ p), float(d @ (1 - p)), float((1 - d) @ p)
        value = _f1(tp, fp, fn)
        weights, offset = d, 0.0
    elif metric == "balanced_accuracy":
        # Expected recall of each class, a ratio of expectations as for F1.
        tp, pos = float(d @ p), float(p.sum())
        tn, neg = float((1 - d) @ (1 - p)), float(n - p.sum())
        value = _balanced_accuracy(tp, pos, tn, neg)
        weights, offset = d, 0.0
    else:  # roc_auc
        from scipy.stats import rankdata

        value = _expected_auc(raw, p)
        weights, offset = rankdata(raw), 0.0

    simulated = np.empty(n_resamples)
    predicted_pos = float(d.sum())
    log_odds = _log_odds(p)
    floor = estimator.probability_floor
    # A square root of the covariance that tolerates a singular (or absent) one.
    eigenvalues, eigenvectors = np.linalg.eigh(
        np.asarray(estimator.recalibration_cov or ((0.0, 0.0), (0.0, 0.0)), dtype=float)
    )
    root = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    for start, stop in _blocks(n_resamples, n):
        # Each simulation first draws a calibration the reference could equally have
        # given (intercept and slope on the log-odds), then labels from it.
        coef = np.array([0.0, 1.0]) + rng.standard_normal((stop - start, 2)) @ root.T
        p_sim = 1.0 / (1.0 + np.exp(-(coef[:, :1] + coef[:, 1:] * log_odds)))
        p_sim = np.clip(p_sim, floor, 1.0 - floor)
        labels = (rng.random((stop - start, n)) < p_sim).astype(float)
        dot = labels @ weights
        if metric in ("accuracy", "log_loss"):
            simulated[start:stop] = (dot + offset) / n
        elif metric == "f1":
            tp = dot
            fp = predicted_pos - tp
            fn = labels.sum(axis=1) - tp
            denom = 2 * tp + fp + fn
            simulated[start:stop] = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 1.0)
        elif metric == "balanced_accuracy":
            tp, n_pos = dot, labels.sum(axis=1)
            n_neg = n - n_pos
            tn = n_neg - (predicted_pos - tp)
            with np.errstate(invalid="ignore", divide="ignore"):
                both = 0.5 * (tp / n_pos + tn / n_neg)
            one = np.where(n_pos > 0, tp / np.maximum(n_pos, 1), tn / np.maximum(n_neg, 1))
            simulated[start:stop] = np.where((n_pos > 0) & (n_neg > 0), both, one)
        else:
            n_pos = labels.sum(axis=1)
            pairs = n_pos * (n - n_pos)
            with np.errstate(invalid="ignore", divide="ignore"):
                auc = (dot - n_pos * (n_pos + 1) / 2) / pairs
            simulated[start:stop] = np.where(pairs > 0, auc, np.nan)
    return value, simulated


def _balanced_accuracy(tp: float, pos: float, tn: float, neg: float) -> float:
    """Mean recall of the classes present (expected counts; a class absent is left out)."""
    recalls = [hit / total for hit, total in ((tp, pos), (tn, neg)) if total > 0]
    return float(np.mean(recalls)) if recalls else float("nan")


def _f1(tp: float, fp: float, fn: float) -> float:
    denom = 2 * tp + fp + fn
    return 1.0 if denom == 0 else 2 * tp / denom


def _expected_auc(score: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC from expected pair counts, labels drawn independently from ``p``.

    E[concordant pairs] / E[positive-negative pairs], with ties counting one
    half; the ratio of expectations, as CBPE estimates every rate.
    """
    order = np.argsort(score, kind="stable")
    s, pp = score[order], p[order]
    neg = 1.0 - pp
    _, group, counts = np.unique(s, return_inverse=True, return_counts=True)
    group_neg = np.bincount(group, weights=neg, minlength=counts.size)
    below = np.concatenate(([0.0], np.cumsum(group_neg)[:-1]))[group]
    same = group_neg[group] - neg
    concordant = float(pp @ (below + 0.5 * same))
    pairs = float(pp.sum() * neg.sum() - pp @ neg)
    return float("nan") if pairs <= 0 else concordant / pairs


def _estimate_dle(
    estimator: PerformanceEstimator,
    x: pd.DataFrame,
    pred: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[float, np.ndarray]:
    assert estimator.loss_encoder is not None and estimator.loss_model is not None
    assert estimator.loss_ratios is not None
    pred_num = _finite(pred, "predictions")
    categorical = estimator.categorical_columns
    numeric = tuple(c for c in estimator.feature_columns if c not in categorical)
    columns = numeric + categorical
    # Loss-model units times the scale; Poisson predictions are positive means.
    # In row chunks: the encoded matrix of a million rows is not needed at once.
    expected = (
        np.concatenate(
            [
                estimator.loss_model.predict(
                    estimator.loss_encoder.transform(
                        _loss_input(x.iloc[rows], pred_num[rows], columns)
                    )
                )
                for rows in row_chunks(len(x))
            ]
        )
        * estimator.loss_scale
    )
    value = loss_to_metric(estimator.metric, float(expected.mean()))

    n = expected.size
    ratios = estimator.loss_ratios
    # The loss model's level is learned from finitely many reference losses: each
    # simulation scales it by a factor with the standard error of the mean ratio.
    level_se = float(np.std(ratios) / np.sqrt(ratios.size))
    mean_loss = np.empty(n_resamples)
    for start, stop in _blocks(n_resamples, n):
        drawn = ratios[rng.integers(0, ratios.size, size=(stop - start, n))]
        level = np.clip(1.0 + level_se * rng.standard_normal(stop - start), 0.05, None)
        mean_loss[start:stop] = level * (drawn @ expected) / n
    simulated = np.sqrt(mean_loss) if estimator.metric == "rmse" else mean_loss
    return value, simulated


def _blocks(n_resamples: int, rows: int) -> Iterator[tuple[int, int]]:
    step = max(1, _BLOCK_CELLS // max(rows, 1))
    for start in range(0, n_resamples, step):
        yield start, min(start + step, n_resamples)


# ------------------------------------------------------------------------- helpers
def _method_for(metric: str) -> tuple[TaskType, EstimationMethod]:
    if metric not in ESTIMABLE_METRICS:
        known = ", ".join(sorted(ESTIMABLE_METRICS))
        raise ValueError(f"metric {metric!r} cannot be estimated without labels (known: {known})")
    return ESTIMABLE_METRICS[metric]


def _probabilities(proba: object, rows: int, what: str) -> np.ndarray:
    p = np.asarray(proba, dtype=float)
    if p.shape != (rows,):
        raise ValueError(
            f"{what} probabilities must be one positive-class value per row "
            f"({rows}), got shape {p.shape}"
        )
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"{what} probabilities must be finite values in [0, 1]")
    return p


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers") from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{what} contain missing or infinite values")
    return out


def _plain(value: object) -> object:
    """A label as a JSON-able Python scalar (numpy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_complete(estimator: PerformanceEstimator) -> None:
    if estimator.method == "cbpe":
        if estimator.classes is None or len(estimator.classes) != 2:
            raise ValueError("a CBPE estimator needs its two classes")
        expected = IsotonicRegression if estimator.calibration == "isotonic" else LogisticRegression
        if not isinstance(estimator.calibrator, expected):
            raise ValueError(
                f"calibration {estimator.calibration!r} does not match the stored calibrator"
            )
    elif (
        estimator.loss_encoder is None
        or estimator.loss_model is None
        or (estimator.loss_ratios is None or estimator.loss_ratios.size == 0)
    ):
        raise ValueError("a DLE estimator needs its loss encoder, loss model and loss ratios")
