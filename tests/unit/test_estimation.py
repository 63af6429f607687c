"""Label-free performance estimation on constructed data where the truth is known.

Classification data: a logistic relationship P(y=1|x) = sigmoid(x @ W + B). The
champion is a logistic regression fitted on separate rows, so its probabilities
are close to right; covariate shift moves x toward the decision boundary without
touching P(y|x); concept drift changes the relationship.

Regression data: y = 2 x1 + 1.5 x2 (+1 in the south store) with noise whose
spread grows with x1 (and is larger in the west store). The champion predicts
the true mean; covariate shift moves x1 into the noisy region.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlops_core.estimation import (
    PerformanceEstimate,
    PerformanceEstimator,
    estimate_performance,
    fit_estimator,
)
from mlops_core.metrics import compute_metric

pytestmark = pytest.mark.unit

WEIGHTS = np.array([1.5, -1.0, 0.5])
BIAS = -0.2
CONCEPT_WEIGHTS = np.array([-1.5, -1.0, 0.5])  # the first feature's effect reversed


# ------------------------------------------------------------------ classification
def _class_frame(
    rows: int,
    seed: int,
    *,
    spread: float = 1.0,
    weights: np.ndarray = WEIGHTS,
    labels: tuple[object, object] = (0, 1),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and labels; ``spread`` < 1 pulls the first feature toward the boundary."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    x[:, 0] *= spread
    p = 1.0 / (1.0 + np.exp(-(x @ weights + BIAS)))
    y = np.where(rng.random(rows) < p, labels[1], labels[0])
    store = rng.choice(np.array(["north", "south"], dtype=object), size=rows)
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "store": store})
    return frame, y


@pytest.fixture(scope="module")
def champion() -> LogisticRegression:
    x, y = _class_frame(5000, seed=7)
    return LogisticRegression().fit(x[["a", "b", "c"]].to_numpy(), y)


def _outputs(model: LogisticRegression, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    features = x[["a", "b", "c"]].to_numpy()
    return model.predict(features), model.predict_proba(features)[:, 1]


@pytest.fixture(scope="module")
def class_estimators(champion: LogisticRegression) -> dict[str, PerformanceEstimator]:
    x, y = _class_frame(5000, seed=11)
    pred, proba = _outputs(champion, x)
    return {
        metric: fit_estimator("classification", metric, x, y, pred, proba, seed=0)
        for metric in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss")
    }


@pytest.mark.parametrize(
    ("metric", "tolerance"),
    [
        ("accuracy", 0.02),
        ("balanced_accuracy", 0.03),
        ("f1", 0.03),
        ("roc_auc", 0.03),
        ("log_loss", 0.03),
    ],
)
@pytest.mark.parametrize("seed", [101, 102, 103])
def test_classifier_estimate_matches_realized_on_stable_data(
    champion: LogisticRegression,
    class_estimators: dict[str, PerformanceEstimator],
    metric: str,
    tolerance: float,
    seed: int,
) -> None:
    x, y = _class_frame(20_000, seed=seed)
    pred, proba = _outputs(champion, x)
    estimate = estimate_performance(
        class_estimators[metric], x, pred, proba, confidence=0.95, seed=seed
    )
    realized = compute_metric(metric, y, pred, proba)
    assert estimate.rows == 20_000 and estimate.method == "cbpe"
    assert abs(estimate.value - realized) <= tolerance
    assert estimate.low <= estimate.value <= estimate.high


@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "f1", "roc_auc"])
def test_covariate_shift_lowers_the_estimate_with_realized_and_stays_covered(
    champion: LogisticRegression,
    class_estimators: dict[str, PerformanceEstimator],
    metric: str,
) -> None:
    estimator = class_estimators[metric]
    x, y = _class_frame(20_000, seed=201, spread=0.3)
    pred, proba = _outputs(champion, x)
    shifted = estimate_performance(estimator, x, pred, proba, confidence=0.95, seed=1)
    realized = compute_metric(metric, y, pred, proba)
    # The rows moved toward the boundary: both the estimate and the truth drop clearly.
    assert realized < estimator.reference_metric - 0.04
    assert shifted.value < estimator.reference_metric - 0.04
    assert abs(shifted.value - realized) <= 0.02

    # Small batches: the realized metric lands inside the 95% interval about 95% of the time.
    batches = 50
    covered = 0
    for batch in range(batches):
        xb, yb = _class_frame(300, seed=1000 + batch, spread=0.3)
        pb, qb = _outputs(champion, xb)
        est = estimate_performance(estimator, xb, pb, qb, confidence=0.95, seed=batch)
        covered += est.low <= compute_metric(metric, yb, pb, qb) <= est.high
    assert covered / batches >= 0.88


@pytest.mark.parametrize("metric", ["accuracy", "f1", "roc_auc"])
def test_concept_drift_puts_realized_below_the_interval(
    champion: LogisticRegression,
    class_estimators: dict[str, PerformanceEstimator],
    metric: str,
) -> None:
    x, y = _class_frame(2000, seed=301, weights=CONCEPT_WEIGHTS)
    pred, proba = _outputs(champion, x)
    estimate = estimate_performance(
        class_estimators[metric], x, pred, proba, confidence=0.95, seed=3
    )
    assert compute_metric(metric, y, pred, proba) < estimate.low


def test_log_loss_concept_drift_puts_realized_above_the_interval(
    champion: LogisticRegression, class_estimators: dict[str, PerformanceEstimator]
) -> None:
    x, y = _class_frame(2000, seed=302, weights=CONCEPT_WEIGHTS)
    pred, proba = _outputs(champion, x)
    estimate = estimate_performance(
        class_estimators["log_loss"], x, pred, proba, confidence=0.95, seed=3
    )
    assert compute_metric("log_loss", y, pred, proba) > estimate.high


def test_string_labels_use_the_larger_label_as_positive() -> None:
    labels = ("DOWN", "UP")
    x_ref, y_ref = _class_frame(3000, seed=21, labels=labels)
    model = LogisticRegression().fit(x_ref[["a", "b", "c"]].to_numpy(), y_ref)
    assert list(model.classes_) == list(labels)  # so proba[:, 1] is P("UP")
    pred_ref, proba_ref = _outputs(model, x_ref)
    estimator = fit_estimator("classification", "f1", x_ref, y_ref, pred_ref, proba_ref, seed=0)
    assert estimator.classes == labels

    x, y = _class_frame(20_000, seed=22, labels=labels)
    pred, proba = _outputs(model, x)
    estimate = estimate_performance(estimator, x, pred, proba, confidence=0.9, seed=0)
    assert abs(estimate.value - compute_metric("f1", y, pred, proba)) <= 0.03

    with pytest.raises(ValueError, match="labels the estimator was not fitted on"):
        estimate_performance(
            estimator, x, np.where(pred == "UP", 1, 0), proba, confidence=0.9, seed=0
        )


def _scores(x: pd.DataFrame, distortion: str) -> np.ndarray:
    """The champion's scores: the true probabilities, distorted."""
    logit = x[["a", "b", "c"]].to_numpy() @ WEIGHTS + BIAS
    if distortion == "none":
        return 1.0 / (1.0 + np.exp(-logit))
    if distortion == "overconfident":
        return 1.0 / (1.0 + np.exp(-2.5 * logit))
    # Three score levels whose log-odds no sigmoid maps onto the groups' true rates.
    return np.select([logit < -1.0, logit < 1.0], [0.4, 0.45], 0.6)


@pytest.mark.parametrize(
    ("rows", "distortion", "expected", "tolerance"),
    [
        (5000, "none", "sigmoid", 0.02),
        (5000, "overconfident", "sigmoid", 0.02),  # a temperature is what a sigmoid fixes
        (5000, "steps", "isotonic", 0.02),  # a sigmoid cannot fix this; isotonic can
        # Too few rows for isotonic steps; 200 reference rows carry about 0.03 of
        # sampling noise in accuracy themselves.
        (200, "steps", "sigmoid", 0.05),
        (200, "overconfident", "sigmoid", 0.04),
    ],
)
def test_calibration_choice(rows: int, distortion: str, expected: str, tolerance: float) -> None:
    x, y = _class_frame(rows, seed=31)
    proba = _scores(x, distortion)
    pred = (proba > 0.5).astype(int)
    estimator = fit_estimator("classification", "accuracy", x, y, pred, proba, seed=0)
    assert estimator.calibration == expected

    x_new, y_new = _class_frame(20_000, seed=32)
    proba_new = _scores(x_new, distortion)
    pred_new = (proba_new > 0.5).astype(int)
    estimate = estimate_performance(estimator, x_new, pred_new, proba_new, confidence=0.95, seed=0)
    realized = compute_metric("accuracy", y_new, pred_new)
    assert abs(estimate.value - realized) <= tolerance
    if distortion != "none":
        # Taken at face value, the distorted scores claim a clearly wrong accuracy.
        face_value = float(np.mean(np.where(pred_new == 1, proba_new, 1.0 - proba_new)))
        assert abs(face_value - realized) > 0.04


# ---------------------------------------------------------------------- regression
def _reg_frame(
    rows: int, seed: int, *, low: float = 0.0, high: float = 1.0, concept: bool = False
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, targets and the champion's predictions (the true conditional mean)."""
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(low, high, rows)
    x2 = rng.normal(size=rows)
    store = rng.choice(np.array(["north", "south", "west"], dtype=object), size=rows)
    store = np.where(rng.random(rows) < 0.05, np.nan, store).astype(object)
    mean = 10.0 + 2.0 * x1 + 1.5 * x2 + np.where(store == "south", 1.0, 0.0)
    spread = 0.1 + 1.0 * x1 + np.where(store == "west", 0.5, 0.0)
    y = mean + rng.normal(size=rows) * spread
    if concept:
        y = y + 1.5 * x2  # the effect of x2 doubles; the champion does not know it
    return pd.DataFrame({"x1": x1, "x2": x2, "store": store}), y, mean


@pytest.fixture(scope="module")
def reg_estimators() -> dict[str, PerformanceEstimator]:
    x, y, pred = _reg_frame(5000, seed=41)
    return {
        metric: fit_estimator("regression", metric, x, y, pred, seed=0)
        for metric in ("mae", "rmse", "mape")
    }


@pytest.mark.parametrize("metric", ["mae", "rmse", "mape"])
@pytest.mark.parametrize("seed", [401, 402])
def test_regressor_estimate_matches_realized_on_stable_data(
    reg_estimators: dict[str, PerformanceEstimator], metric: str, seed: int
) -> None:
    x, y, pred = _reg_frame(10_000, seed=seed)
    estimate = estimate_performance(reg_estimators[metric], x, pred, confidence=0.95, seed=seed)
    realized = compute_metric(metric, y, pred)
    assert estimate.method == "dle" and estimate.rows == 10_000
    assert abs(estimate.value / realized - 1.0) <= 0.05
    assert estimate.low <= realized <= estimate.high


@pytest.mark.parametrize("metric", ["mae", "rmse", "mape"])
def test_covariate_shift_into_the_noisy_region_raises_the_estimate(
    reg_estimators: dict[str, PerformanceEstimator], metric: str
) -> None:
    estimator = reg_estimators[metric]
    x, y, pred = _reg_frame(5000, seed=501, low=0.6, high=1.0)
    estimate = estimate_performance(estimator, x, pred, confidence=0.95, seed=5)
    realized = compute_metric(metric, y, pred)
    assert realized > estimator.reference_metric * 1.2
    assert estimate.value > estimator.reference_metric * 1.2
    assert abs(estimate.value / realized - 1.0) <= 0.05
    assert estimate.low <= realized <= estimate.high


@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_regression_interval_covers_small_shifted_batches(
    reg_estimators: dict[str, PerformanceEstimator], metric: str
) -> None:
    batches = 50
    covered = 0
    for batch in range(batches):
        x, y, pred = _reg_frame(300, seed=2000 + batch, low=0.5, high=1.0)
        est = estimate_performance(reg_estimators[metric], x, pred, confidence=0.95, seed=batch)
        covered += est.low <= compute_metric(metric, y, pred) <= est.high
    assert covered / batches >= 0.88


@pytest.mark.parametrize("metric", ["mae", "rmse", "mape"])
def test_regression_concept_drift_puts_realized_above_the_interval(
    reg_estimators: dict[str, PerformanceEstimator], metric: str
) -> None:
    x, y, pred = _reg_frame(2000, seed=601, concept=True)
    estimate = estimate_performance(reg_estimators[metric], x, pred, confidence=0.95, seed=6)
    assert compute_metric(metric, y, pred) > estimate.high


def test_unseen_categories_are_estimated_as_missing_ones(
    reg_estimators: dict[str, PerformanceEstimator],
) -> None:
    x, _, pred = _reg_frame(500, seed=701)
    unseen = x.assign(store=np.full(500, "east", dtype=object))
    missing = x.assign(store=np.full(500, np.nan, dtype=object))
    estimator = reg_estimators["mae"]
    with_unseen = estimate_performance(estimator, unseen, pred, confidence=0.95, seed=0)
    with_missing = estimate_performance(estimator, missing, pred, confidence=0.95, seed=0)
    assert np.isfinite(with_unseen.value) and with_unseen.value > 0
    assert with_unseen == with_missing


@pytest.mark.parametrize("method", ["cbpe", "dle"])
def test_a_small_reference_widens_the_interval(method: str) -> None:
    # The realized metric's spread on the batch is the same; what a 200-row
    # reference leaves unknown about P(y|x) must widen the interval.
    widths = []
    for rows in (200, 5000):
        if method == "cbpe":
            x_ref, y_ref = _class_frame(rows, seed=91)
            p_ref = _scores(x_ref, "none")
            estimator = fit_estimator(
                "classification", "accuracy", x_ref, y_ref, (p_ref > 0.5).astype(int), p_ref, seed=0
            )
            x, _ = _class_frame(3000, seed=92)
            p = _scores(x, "none")
            estimate = estimate_performance(
                estimator, x, (p > 0.5).astype(int), p, confidence=0.95, seed=0
            )
        else:
            x_ref, y_ref, pred_ref = _reg_frame(rows, seed=93)
            estimator = fit_estimator("regression", "mae", x_ref, y_ref, pred_ref, seed=0)
            x, _, pred = _reg_frame(3000, seed=94)
            estimate = estimate_performance(estimator, x, pred, confidence=0.95, seed=0)
        widths.append(estimate.high - estimate.low)
    assert widths[0] > 1.15 * widths[1]


# ---------------------------------------------------------------------- fail safe
def _valid_class_reference(
    rows: int = 200,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    x, y = _class_frame(rows, seed=51)
    proba = 1.0 / (1.0 + np.exp(-(x[["a", "b", "c"]].to_numpy() @ WEIGHTS + BIAS)))
    return x, y, (proba > 0.5).astype(int), proba


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("too_few_rows", "at least 30"),
        ("single_class", "one class only"),
        ("rare_class", "rarer class"),
        ("three_classes", "only binary"),
        ("no_proba", "positive-class probabilities"),
        ("bad_proba", r"in \[0, 1\]"),
        ("wrong_task", "classification metric"),
        ("unknown_metric", "cannot be estimated"),
        ("exact_regressor", "no loss"),
        ("missing_target", "missing or infinite"),
    ],
)
def test_fit_estimator_refuses(case: str, message: str) -> None:
    x, y, pred, proba = _valid_class_reference()
    task, metric = "classification", "accuracy"
    if case == "too_few_rows":
        x, y, pred, proba = x.iloc[:29], y[:29], pred[:29], proba[:29]
    elif case == "single_class":
        y = np.ones_like(y)
    elif case == "rare_class":
        y = np.ones_like(y)
        y[:4] = 0
    elif case == "three_classes":
        y = np.arange(len(y)) % 3
    elif case == "no_proba":
        proba = None
    elif case == "bad_proba":
        proba = proba.copy()
        proba[0] = np.nan
    elif case == "wrong_task":
        task = "regression"
    elif case == "unknown_metric":
        metric = "brier_score"
    elif case in ("exact_regressor", "missing_target"):
        x, y, pred = _reg_frame(200, seed=52)
        task, metric, proba = "regression", "mae", None
        if case == "exact_regressor":
            y = pred.copy()
        else:
            y = y.copy()
            y[3] = np.nan
    with pytest.raises(ValueError, match=message):
        fit_estimator(task, metric, x, y, pred, proba, seed=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["cbpe", "dle"])
def test_estimate_refuses_empty_batches(
    class_estimators: dict[str, PerformanceEstimator],
    reg_estimators: dict[str, PerformanceEstimator],
    method: str,
) -> None:
    estimator = class_estimators["accuracy"] if method == "cbpe" else reg_estimators["mae"]
    columns = list(estimator.feature_columns)
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    with pytest.raises(ValueError, match="no rows"):
        estimate_performance(estimator, empty, np.array([]), np.array([]), confidence=0.95, seed=0)


# ---------------------------------------------------------------------- round trip
def _round_trip(estimator: PerformanceEstimator) -> PerformanceEstimator:
    objects, params = estimator.to_state()
    # params must survive JSON; objects stay as objects (the store writes them with skops).
    return PerformanceEstimator.from_state(dict(objects), json.loads(json.dumps(params)))


@pytest.mark.parametrize(
    ("distortion", "calibration"), [("steps", "isotonic"), ("none", "sigmoid")]
)
def test_classifier_state_round_trip_gives_identical_estimates(
    distortion: str, calibration: str
) -> None:
    x, y = _class_frame(5000, seed=31, labels=("DOWN", "UP"))
    proba = _scores(x, distortion)
    pred = np.where(proba > 0.5, "UP", "DOWN")
    estimator = fit_estimator("classification", "roc_auc", x, y, pred, proba, seed=0)
    assert estimator.calibration == calibration
    restored = _round_trip(estimator)
    assert restored == estimator  # the plain fields
    batch = x.iloc[:700]
    args = (batch, pred[:700], proba[:700])
    first = estimate_performance(estimator, *args, confidence=0.9, seed=4)
    assert estimate_performance(restored, *args, confidence=0.9, seed=4) == first
    assert isinstance(first, PerformanceEstimate)


def test_regressor_state_round_trip_gives_identical_estimates(
    reg_estimators: dict[str, PerformanceEstimator],
) -> None:
    estimator = reg_estimators["rmse"]
    restored = _round_trip(estimator)
    assert restored == estimator
    x, _, pred = _reg_frame(1000, seed=71)
    first = estimate_performance(estimator, x, pred, confidence=0.9, seed=2)
    assert estimate_performance(restored, x, pred, confidence=0.9, seed=2) == first


def test_state_of_another_version_is_refused(
    reg_estimators: dict[str, PerformanceEstimator],
) -> None:
    objects, params = reg_estimators["mae"].to_state()
    with pytest.raises(ValueError, match="version"):
        PerformanceEstimator.from_state(objects, {**params, "version": 999})
    incomplete = {k: v for k, v in objects.items() if k != "loss_model"}
    with pytest.raises(ValueError, match="loss model"):
        PerformanceEstimator.from_state(incomplete, params)


def test_same_seed_same_interval_and_value_inside(
    class_estimators: dict[str, PerformanceEstimator],
) -> None:
    estimator = class_estimators["accuracy"]
    x, _ = _class_frame(50, seed=81)
    proba = np.full(50, 0.7)
    pred = np.ones(50, dtype=int)
    first = estimate_performance(estimator, x, pred, proba, confidence=0.8, seed=9)
    again = estimate_performance(estimator, x, pred, proba, confidence=0.8, seed=9)
    wider = estimate_performance(estimator, x, pred, proba, confidence=0.99, seed=9)
    assert first == again
    assert wider.low <= first.low <= first.value <= first.high <= wider.high
