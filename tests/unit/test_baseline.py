"""The naive baseline a challenger must beat, refit on its own training window."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_core.baseline import fit_naive_baseline
from mlops_core.config import PromotionPolicy
from mlops_core.promotion import compare_on_holdout, decide_promotion

pytestmark = pytest.mark.unit


def test_regression_baseline_is_the_median_for_mae_and_the_mean_for_rmse() -> None:
    y = np.array([1.0, 2.0, 3.0, 100.0, np.nan])
    mae = fit_naive_baseline("mae", y)
    rmse = fit_naive_baseline("rmse", y)
    assert mae is not None and rmse is not None
    assert (mae.kind, mae.value, mae.training_rows) == ("median", 2.5, 4)
    assert (rmse.kind, rmse.value) == ("mean", pytest.approx(26.5))
    pred, proba = mae.predict(3)
    assert pred.tolist() == [2.5, 2.5, 2.5] and proba is None


def test_classification_baseline_is_the_majority_class_with_the_class_prior() -> None:
    b = fit_naive_baseline("accuracy", np.array(["DOWN"] * 7 + ["UP"] * 3))
    assert b is not None
    pred, proba = b.predict(2)
    assert pred.tolist() == ["DOWN", "DOWN"]
    assert proba is not None and proba.tolist() == pytest.approx([0.3, 0.3])
    assert b.describe() == "majority class 'DOWN'"


def test_no_target_no_baseline() -> None:
    assert fit_naive_baseline("mae", np.array([np.nan, np.nan])) is None
    assert fit_naive_baseline("accuracy", np.array([], dtype=object)) is None


def _gate(metric: str, y_train, y_hold, challenger, proba=None):  # type: ignore[no-untyped-def]
    policy = PromotionPolicy(baseline="naive", floor=None)
    inputs = compare_on_holdout(
        metric,
        y_hold,
        None,
        challenger,
        policy=policy,
        seed=0,
        challenger_proba=proba,
        baseline=fit_naive_baseline(metric, y_train),
    )
    return decide_promotion(inputs, policy)


def test_a_challenger_no_better_than_the_median_is_rejected_with_the_numbers() -> None:
    rng = np.random.default_rng(0)
    y_train = rng.normal(100.0, 10.0, 500)
    y_hold = rng.normal(100.0, 10.0, 200)
    # Predicting the training median is exactly the baseline: not better.
    decision = _gate("mae", y_train, y_hold, np.full(200, np.median(y_train)))
    assert decision.action == "reject"
    failed = [r for r in decision.reasons if r.passed is False]
    assert [r.code for r in failed] == ["baseline_not_beaten"]
    numbers = failed[0].numbers
    assert numbers["baseline"] == pytest.approx(np.mean(np.abs(y_hold - np.median(y_train))))
    assert numbers["challenger"] == pytest.approx(numbers["baseline"])
    assert str(numbers["baseline_kind"]).startswith("median ")


def test_a_challenger_that_learned_something_passes_the_baseline() -> None:
    rng = np.random.default_rng(1)
    y_train = rng.normal(100.0, 10.0, 500)
    y_hold = rng.normal(100.0, 10.0, 200)
    decision = _gate("mae", y_train, y_hold, y_hold + rng.normal(0.0, 2.0, 200))
    assert decision.action == "promote"
    assert "baseline_beaten" in [r.code for r in decision.reasons]


def test_under_label_shift_the_baseline_is_the_window_majority_scored_on_new_rows() -> None:
    # Trained where positives were rare, judged where they are half: the majority
    # class scores 50% balanced accuracy, and a model must beat that.
    y_train = np.array([0] * 95 + [1] * 5)
    y_hold = np.array([0] * 50 + [1] * 50)
    lazy = _gate("balanced_accuracy", y_train, y_hold, np.zeros(100, dtype=int))
    assert lazy.action == "reject"
    assert lazy.inputs.baseline_metric == pytest.approx(0.5)
    good = _gate("balanced_accuracy", y_train, y_hold, np.r_[np.zeros(45), np.ones(55)].astype(int))
    assert good.action == "promote"


def test_a_missing_baseline_never_promotes() -> None:
    policy = PromotionPolicy(baseline="naive", floor=None)
    inputs = compare_on_holdout("mae", np.ones(10), None, np.ones(10), policy=policy, seed=0)
    decision = decide_promotion(inputs, policy)
    assert decision.action == "reject"
    assert decision.reasons[0].code == "baseline_unavailable"


def test_neither_floor_nor_baseline_never_promotes() -> None:
    policy = PromotionPolicy(baseline="none", floor=None)
    inputs = compare_on_holdout("mae", np.ones(10), None, np.ones(10), policy=policy, seed=0)
    assert decide_promotion(inputs, policy).reasons[0].code == "no_floor_configured"


def test_a_configured_floor_still_applies_beside_the_baseline() -> None:
    policy = PromotionPolicy(baseline="naive", floor=1.0)
    y_hold = np.arange(10.0)
    inputs = compare_on_holdout(
        "mae",
        y_hold,
        None,
        y_hold + 1.5,
        policy=policy,
        seed=0,
        baseline=fit_naive_baseline("mae", np.full(10, 100.0)),
    )
    codes = {r.code: r.passed for r in decide_promotion(inputs, policy).reasons}
    assert codes["baseline_beaten"] is True and codes["floor_not_met"] is False


# ------------------------------------------------------- the balance-aware metric
def test_balanced_accuracy_matches_scikit_learn_and_its_error_units_add_up() -> None:
    from sklearn.metrics import balanced_accuracy_score

    from mlops_core.backtest import error_units
    from mlops_core.metrics import compute_metric

    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.1).astype(int)
    pred = np.where(rng.random(400) < 0.8, y, 1 - y)
    value = compute_metric("balanced_accuracy", y, pred)
    assert value == pytest.approx(balanced_accuracy_score(y, pred))
    # A batch's error units are its rows times one minus its balanced accuracy.
    units = error_units("balanced_accuracy", y, pred)
    assert units.sum() == pytest.approx(400 * (1 - value))
    # Always the majority class: 89% accuracy, 50% balanced accuracy.
    assert compute_metric("balanced_accuracy", y, np.zeros(400, dtype=int)) == pytest.approx(0.5)
