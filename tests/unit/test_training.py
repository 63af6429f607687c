"""Training: permutation importance, the holdout split and what travels with a model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from usecase_variant import small_usecase

from mlops_core import training
from mlops_core.config import UseCase
from mlops_core.decisions import TrainingWindow
from mlops_core.estimation import estimate_performance
from mlops_core.features import model_input
from mlops_core.training import decay_reference_of, train_model

pytestmark = pytest.mark.unit

WINDOW = TrainingWindow(kind="expanding", first_period=None, last_period=9)


def _usecase(task: str, metric: str, estimator: str, params: dict[str, Any]) -> UseCase:
    return small_usecase(
        "training-demo",
        [
            {"name": "strong", "type": "numeric"},
            {"name": "weak", "type": "numeric"},
            {"name": "noise", "type": "numeric"},
            {"name": "colour", "type": "categorical"},
        ],
        model={"task": task, "estimator": estimator, "params": params},
        metric={"primary": metric},
        retrain={"holdout_periods": 2, "holdout_share": 0.5},
    )


def _frame(rows: int, *, classify: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "week": np.repeat(np.arange(10), rows // 10),
            "strong": rng.normal(0.0, 1.0, rows),
            "weak": rng.normal(0.0, 1.0, rows),
            "noise": rng.normal(0.0, 1.0, rows),
            "colour": rng.choice(["red", "blue"], rows),
        }
    )
    signal = 3.0 * frame["strong"] + 1.0 * frame["weak"] + (frame["colour"] == "red") * 0.5
    y = signal + rng.normal(0.0, 0.3, rows)
    frame["y"] = (y > 0).map({True: "UP", False: "DOWN"}) if classify else y
    return frame


REGRESSION = ("regression", "mae", "sklearn.linear_model.Ridge", {"alpha": 1.0})
CLASSIFICATION = (
    "classification",
    "roc_auc",
    "sklearn.linear_model.LogisticRegression",
    {"max_iter": 500},
)


@pytest.mark.parametrize("setup", [REGRESSION, CLASSIFICATION], ids=["mae", "roc_auc"])
def test_importance_ranks_the_features_the_target_depends_on(setup: tuple) -> None:
    usecase = _usecase(*setup)
    result = train_model(_frame(2000, classify=setup[0] == "classification"), usecase, WINDOW)
    importance = result.importance
    assert sum(importance.values()) == pytest.approx(1.0)
    assert importance["strong"] > importance["weak"] > importance["noise"]
    assert importance["strong"] > 0.6
    assert importance["noise"] < 0.02


def test_importance_agrees_with_scikit_learns_definition() -> None:
    usecase = _usecase(*REGRESSION)
    result = train_model(_frame(3000, classify=False), usecase, WINDOW)
    holdout = result.split.holdout
    theirs = permutation_importance(
        result.model,
        model_input(holdout, usecase),
        holdout["y"].to_numpy(),
        scoring="neg_mean_absolute_error",
        n_repeats=30,
        random_state=0,
    ).importances_mean
    theirs = np.clip(theirs, 0.0, None) / np.clip(theirs, 0.0, None).sum()
    ours = np.array([result.importance[c] for c in model_input(holdout, usecase).columns])
    # Different shuffles, same quantity: normalised shares within a few points.
    np.testing.assert_allclose(ours, theirs, atol=0.03)


def test_stacked_prediction_chunks_do_not_change_the_importance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    usecase = _usecase(*CLASSIFICATION)
    frame = _frame(1000, classify=True)
    whole = train_model(frame, usecase, WINDOW).importance
    # One shuffled copy per prediction call instead of all of them at once.
    monkeypatch.setattr(training, "_PERMUTATION_CHUNK_ROWS", 1)
    chunked = train_model(frame, usecase, WINDOW).importance
    assert chunked == pytest.approx(whole, rel=1e-12)


@pytest.mark.parametrize(
    "setup",
    [
        REGRESSION,
        CLASSIFICATION,
        ("regression", "mae", "sklearn.ensemble.HistGradientBoostingRegressor", {"max_iter": 30}),
    ],
    ids=["ridge", "logistic", "hist_gradient_boosting"],
)
def test_copies_encoded_block_by_block_predict_as_the_whole_pipeline(setup: tuple) -> None:
    usecase = _usecase(*setup)
    frame = _frame(800, classify=setup[0] == "classification")
    # Missing values, so that the imputers' blocks are exercised too.
    frame.loc[::7, "weak"] = np.nan
    frame.loc[::11, "colour"] = None
    model = train_model(frame, usecase, WINDOW).model
    x = model_input(frame.iloc[:300], usecase).reset_index(drop=True)
    rng = np.random.default_rng(1)
    chunk = [(column, rng.permutation(len(x))) for column in x.columns for _ in range(2)]

    predict = training._shuffled_copies_predictor(model, x, usecase)
    assert predict.__name__ == "predict_encoded"  # the pipeline's copies are not encoded whole
    pred, proba = predict(chunk)

    stacked = pd.concat(
        [x.assign(**{column: x[column].to_numpy()[order]}) for column, order in chunk],
        ignore_index=True,
    )
    whole_pred, whole_proba = training._predict_input(model, stacked, usecase)
    np.testing.assert_array_equal(pred, whole_pred)
    if whole_proba is None:
        assert proba is None
    else:
        np.testing.assert_array_equal(proba, whole_proba)


def _with_model(usecase: UseCase, **changes: Any) -> UseCase:
    """The use case with some ``model`` settings changed."""
    return usecase.model_copy(update={"model": usecase.model.model_copy(update=changes)})


def test_a_holdout_above_the_row_budget_is_sampled_for_the_importance() -> None:
    usecase = _usecase(*REGRESSION)
    frame = _frame(20_000, classify=False)
    whole = train_model(frame, usecase, WINDOW)
    holdout_rows = len(whole.split.holdout)
    assert holdout_rows > 1000 and whole.importance_rows == holdout_rows

    # A budget the holdout fits in changes nothing.
    fits = _with_model(usecase, importance_sample_rows=holdout_rows)
    at_budget = train_model(frame, fits, WINDOW)
    assert at_budget.importance == whole.importance
    assert at_budget.importance_rows == holdout_rows

    capped = train_model(frame, _with_model(usecase, importance_sample_rows=500), WINDOW)
    assert capped.importance_rows == 500
    assert capped.holdout_metrics == whole.holdout_metrics, "the same model, judged on all rows"
    assert sum(capped.importance.values()) == pytest.approx(1.0)
    assert capped.importance["strong"] > capped.importance["weak"] > capped.importance["noise"]
    # A sample of the same holdout: the same shares within a few points, and seeded.
    for name, share in whole.importance.items():
        assert capped.importance[name] == pytest.approx(share, abs=0.05), name
    again = train_model(frame, _with_model(usecase, importance_sample_rows=500), WINDOW)
    assert again.importance == capped.importance


def test_a_model_no_shuffle_can_hurt_spreads_the_weight_evenly() -> None:
    usecase = _usecase(*REGRESSION)
    frame = _frame(1000, classify=False).assign(y=5.0)
    importance = train_model(frame, usecase, WINDOW).importance
    assert importance == pytest.approx({name: 0.25 for name in importance})


@pytest.mark.parametrize("setup", [REGRESSION, CLASSIFICATION], ids=["mae", "roc_auc"])
def test_performance_from_the_scoring_output_equals_scoring_again(setup: tuple) -> None:
    from mlops_core.monitoring import assess_performance

    usecase = _usecase(*setup)
    result = train_model(_frame(3000, classify=setup[0] == "classification"), usecase, WINDOW)
    assert result.estimator is not None
    labeled = _frame(600, classify=setup[0] == "classification", seed=1)
    current = _frame(800, classify=setup[0] == "classification", seed=2).drop(columns="y")

    def assess(**kwargs: Any):
        return assess_performance(
            usecase, result.model, 0.5, result.estimator, labeled, current, seed=3, **kwargs
        )

    rescored = assess()
    reused = assess(current_predicted=training.predict(result.model, current, usecase))
    assert rescored.current_estimate is not None
    assert reused == rescored


def _served(pred: np.ndarray, proba: np.ndarray | None, found: np.ndarray, index: pd.Index):
    from mlops_core.monitoring import SERVED_FOUND, SERVED_PREDICTION, SERVED_PROBABILITY

    return pd.DataFrame(
        {
            SERVED_FOUND: found,
            SERVED_PREDICTION: pred,
            SERVED_PROBABILITY: np.full(len(pred), np.nan) if proba is None else proba,
        },
        index=index,
    )


@pytest.mark.parametrize("served_share", [1.0, 0.5, 0.0], ids=["all", "half", "none"])
@pytest.mark.parametrize("setup", [REGRESSION, CLASSIFICATION], ids=["mae", "roc_auc"])
def test_performance_from_served_outputs_equals_scoring_again(
    setup: tuple, served_share: float
) -> None:
    """The labeled rows' output as served (read back from the predictions files) gives
    the same summary as scoring them again; rows not served are scored."""
    from mlops_core.monitoring import assess_performance

    classify = setup[0] == "classification"
    usecase = _usecase(*setup)
    result = train_model(_frame(3000, classify=classify), usecase, WINDOW)
    # A shuffled index, as the labeled rows of a pool are a filtered slice of it.
    labeled = _frame(600, classify=classify, seed=1).sample(frac=1.0, random_state=4)
    pred, proba = training.predict(result.model, labeled, usecase)
    found = np.arange(len(labeled)) < served_share * len(labeled)

    def assess(served: pd.DataFrame | None):
        return assess_performance(
            usecase, result.model, 0.5, result.estimator, labeled, None, seed=3, new_served=served
        )

    rescored = assess(None)
    assert assess(_served(pred, proba, found, labeled.index)) == rescored
    # The served values are what is measured: where found, a changed one shows.
    if not classify and found.any():
        changed = assess(_served(pred + 1.0, proba, found, labeled.index))
        assert changed.realized is not None and rescored.realized is not None
        assert changed.realized.value != rescored.realized.value
    # Values of rows not found are never read.
    assert assess(_served(np.roll(pred, 1), proba, np.zeros(len(pred), bool), labeled.index)) == (
        rescored
    )


def test_integer_classes_stored_as_numbers_are_read_back_as_the_model_gives_them() -> None:
    from mlops_core.monitoring import predicted_or_served

    usecase = _usecase(*CLASSIFICATION)
    frame = _frame(3000, classify=True)
    frame["y"] = (frame["y"] == "UP").astype(int)
    result = train_model(frame, usecase, WINDOW)
    labeled = _frame(300, classify=True, seed=1).drop(columns="y")
    pred, proba = training.predict(result.model, labeled, usecase)
    assert pred.dtype.kind == "i"
    everywhere = np.ones(len(pred), dtype=bool)
    # The guardrails store integer classes as floats (1.0 for 1).
    served = _served(pred.astype(float), proba, everywhere, labeled.index)
    got, got_proba = predicted_or_served(result.model, labeled, usecase, served)
    assert got.dtype == pred.dtype and (got == pred).all()
    assert np.array_equal(got_proba, proba)
    # A stored value that is no class of the model's: the rows are scored again.
    odd = _served(np.where(np.arange(len(pred)) == 0, 7.0, pred), proba, everywhere, labeled.index)
    again, _ = predicted_or_served(result.model, labeled, usecase, odd)
    assert (again == pred).all()


def test_stored_text_classes_that_a_cast_would_change_are_scored_again() -> None:
    """Classes of fixed-width text (numpy's '<U4'): a stored 'DOWNWARD' cast to '<U4'
    would read 'DOWN'; compared back with what was stored, it is no class given."""
    from mlops_core.features import build_pipeline
    from mlops_core.monitoring import predicted_or_served

    usecase = _usecase(*CLASSIFICATION)
    frame = _frame(3000, classify=True)
    model = build_pipeline(usecase).fit(model_input(frame, usecase), frame["y"].to_numpy(str))
    assert model.classes_.dtype.kind == "U"
    labeled = _frame(300, classify=True, seed=1).drop(columns="y")
    pred, proba = training.predict(model, labeled, usecase)
    everywhere = np.ones(len(pred), dtype=bool)
    stored = pred.astype(object)
    got, _ = predicted_or_served(
        model, labeled, usecase, _served(stored, proba, everywhere, labeled.index)
    )
    assert (got == pred).all()
    # On a row the model calls UP: cut to four characters, DOWNWARD would read DOWN.
    stored[int(np.flatnonzero(pred == "UP")[0])] = "DOWNWARD"
    again, _ = predicted_or_served(
        model, labeled, usecase, _served(stored, proba, everywhere, labeled.index)
    )
    assert (again == pred).all()


@pytest.mark.parametrize("broken_rows", [0, 5, 800], ids=["none", "some", "all"])
def test_the_current_estimate_leaves_out_rows_without_a_usable_prediction(
    broken_rows: int,
) -> None:
    from mlops_core.monitoring import assess_performance

    usecase = _usecase(*REGRESSION)
    result = train_model(_frame(3000, classify=False), usecase, WINDOW)
    current = _frame(800, classify=False, seed=2).drop(columns="y")
    pred, proba = training.predict(result.model, current, usecase)
    pred = pred.astype(float)
    pred[:broken_rows] = np.where(np.arange(broken_rows) % 2, np.inf, np.nan)

    perf = assess_performance(
        usecase,
        result.model,
        0.5,
        result.estimator,
        _frame(600, classify=False, seed=1),
        current,
        seed=3,
        current_predicted=(pred, proba),
    )
    if broken_rows == len(current):
        assert perf.current_estimate is None
    else:
        assert perf.current_estimate is not None
        assert perf.current_estimate.rows == len(current) - broken_rows


@pytest.mark.parametrize("setup", [REGRESSION, CLASSIFICATION], ids=["dle", "cbpe"])
def test_estimates_above_the_row_budget_are_computed_on_a_seeded_sample(setup: tuple) -> None:
    from mlops_core.monitoring import assess_performance

    classify = setup[0] == "classification"
    usecase = _usecase(*setup)
    result = train_model(_frame(3000, classify=classify), usecase, WINDOW)
    labeled = _frame(4000, classify=classify, seed=1)
    current = _frame(6000, classify=classify, seed=2).drop(columns="y")

    def assess(budget: int):
        retrain = usecase.retrain.model_copy(update={"estimate_sample_rows": budget})
        return assess_performance(
            usecase.model_copy(update={"retrain": retrain}),
            result.model,
            0.5,
            result.estimator,
            labeled,
            current,
            seed=3,
        )

    whole = assess(10_000)
    assert whole.current_estimate is not None and whole.current_estimate.sampled_rows is None
    assert whole.estimated_sampled_rows is None

    sampled = assess(1_000)
    e = sampled.current_estimate
    assert e is not None and (e.rows, e.sampled_rows) == (6000, 1000)
    assert sampled.estimated_sampled_rows == 1000
    # The realized metric still uses every labeled row.
    assert sampled.realized == whole.realized
    # A sample's estimate lands near the whole's, with a wider interval.
    assert e.low <= whole.current_estimate.value <= e.high
    assert e.high - e.low > whole.current_estimate.high - whole.current_estimate.low
    assert whole.estimated_low <= sampled.estimated <= whole.estimated_high
    assert assess(1_000) == sampled  # seeded


def test_a_small_last_period_pulls_earlier_periods_into_the_holdout() -> None:
    from mlops_core.training import split_window

    uc = _usecase(*REGRESSION)
    frame = _frame(1000, classify=False)  # 100 rows a week, weeks 0-9
    last = frame[frame["week"] == 9].index[:10]
    frame = frame.drop(frame[frame["week"] == 9].index.difference(last))  # week 9: 10 rows
    plain = split_window(frame, uc, WINDOW)
    assert set(plain.holdout["week"]) == {8, 9}  # holdout_periods 2
    wide = uc.model_copy(
        update={"retrain": uc.retrain.model_copy(update={"min_holdout_rows": 200})}
    )
    split = split_window(frame, wide, WINDOW)
    # 110 rows in weeks 8-9 hold out about 55; weeks 5-9 (410 rows) about 205.
    assert set(split.holdout["week"]) == {5, 6, 7, 8, 9}
    assert len(split.holdout) >= 150 and split.unlabeled_rows == 0
    # The rest of those weeks still trains.
    assert (split.train["week"] >= 5).any()


def _trending(rows: int = 1000) -> pd.DataFrame:
    """A level that rises every week: a model is always a step behind the next week."""
    frame = _frame(rows, classify=False)
    frame["y"] = frame["y"] + 2.0 * frame["week"]
    return frame


def test_the_decay_reference_is_a_refit_on_the_earlier_weeks_scored_on_the_holdout() -> None:
    from sklearn.linear_model import Ridge

    uc = _usecase(*REGRESSION)
    frame = _trending()
    result = train_model(frame, uc, WINDOW)
    reference = result.decay_reference
    assert reference is not None
    assert reference.basis == "out_of_time" and reference.note == ""
    holdout, train = result.split.holdout, result.split.train
    assert set(holdout["week"]) == {8, 9}
    earlier = train[train["week"] < 8]
    assert reference.fit_rows == len(earlier) == 800
    # The same pipeline, refit by hand on the weeks before the holdout.
    manual = training.build_pipeline(uc).fit(model_input(earlier, uc), earlier["y"])
    expected = np.mean(np.abs(manual.predict(model_input(holdout, uc)) - holdout["y"]))
    assert reference.metrics["mae"] == pytest.approx(expected)
    assert isinstance(manual[-1], Ridge)
    # Out of time, the model has seen none of the holdout weeks' higher level: the
    # reference is above the holdout error, where half of those weeks trained.
    assert reference.metrics["mae"] > 1.1 * result.holdout_metrics["mae"]


@pytest.mark.parametrize("frame", ["trending", "one class early"])
def test_a_reference_left_for_later_is_the_one_measured_at_training(frame: str) -> None:
    """The backtester trains without the out-of-time refit and measures it once a
    model is champion: the same reference, on either basis."""
    if frame == "trending":
        uc, rows = _usecase(*REGRESSION), _trending()
    else:
        uc, rows = _usecase(*CLASSIFICATION), _frame(1000, classify=True)
        rows.loc[rows["week"] < 8, "y"] = "UP"
    eager = train_model(rows, uc, WINDOW)
    deferred = train_model(rows, uc, WINDOW, with_decay_reference=False)
    assert deferred.decay_reference is None
    assert decay_reference_of(eager) is eager.decay_reference
    assert decay_reference_of(deferred) == eager.decay_reference
    assert deferred.holdout_metrics == eager.holdout_metrics


def test_a_window_mostly_inside_the_holdout_keeps_the_holdout_as_the_reference() -> None:
    uc = _usecase(*REGRESSION)
    frame = _trending()
    # Weeks 8-9 only, both in the holdout: no training row comes before them.
    window = TrainingWindow(kind="sliding", first_period=8, last_period=9)
    result = train_model(frame, uc, window)
    reference = result.decay_reference
    assert reference.basis == "holdout" and reference.fit_rows == 0
    assert reference.metrics == result.holdout_metrics
    assert "training rows come before the holdout periods" in reference.note


def test_one_class_before_the_holdout_falls_back_to_the_holdout_with_the_reason() -> None:
    uc = _usecase(*CLASSIFICATION)
    frame = _frame(1000, classify=True)
    frame.loc[frame["week"] < 8, "y"] = "UP"
    result = train_model(frame, uc, WINDOW)
    reference = result.decay_reference
    assert reference.basis == "holdout"
    assert reference.note.startswith("the out-of-time fit failed")
    assert reference.metrics == result.holdout_metrics


def test_a_training_window_above_the_row_budget_is_fitted_on_a_sample() -> None:
    usecase = _usecase(*REGRESSION)
    frame = _frame(20_000, classify=False)
    whole = train_model(frame, usecase, WINDOW)
    train_rows = len(whole.split.train)
    assert whole.fit_rows == train_rows > 2_000

    capped = train_model(frame, _with_model(usecase, train_sample_rows=2_000), WINDOW)
    assert capped.fit_rows == 2_000
    # The same split: judged on every holdout row, profiled on every training row.
    assert capped.split.holdout.equals(whole.split.holdout)
    profile = capped.reference_profile
    assert profile.rows == train_rows and profile.features == whole.reference_profile.features
    assert capped.training_ranges == whole.training_ranges
    # A model of a tenth of the rows: close to the whole one, not the same.
    assert capped.holdout_metrics != whole.holdout_metrics
    assert capped.holdout_metrics["mae"] == pytest.approx(whole.holdout_metrics["mae"], rel=0.15)
    # The out-of-time model is fitted within the same budget.
    decay = decay_reference_of(capped)
    assert decay.basis == "out_of_time" and decay.fit_rows == 2_000
    assert decay_reference_of(whole).fit_rows > 2_000
    again = train_model(frame, _with_model(usecase, train_sample_rows=2_000), WINDOW)
    assert again.holdout_metrics == capped.holdout_metrics, "seeded"


def test_the_estimator_learns_from_at_most_its_row_budget_of_the_holdout() -> None:
    usecase = _usecase(*REGRESSION)
    frame = _frame(20_000, classify=False)
    whole = train_model(frame, usecase, WINDOW)
    holdout_rows = len(whole.split.holdout)
    assert whole.estimator is not None and whole.estimator_rows == holdout_rows > 1_000
    capped = train_model(frame, _with_model(usecase, estimator_sample_rows=1_000), WINDOW)
    assert capped.estimator is not None
    assert capped.estimator_rows == capped.estimator.reference_rows == 1_000
    # The same model, judged on every holdout row; an estimate from a tenth of it.
    assert capped.holdout_metrics == whole.holdout_metrics
    rows = model_input(whole.split.holdout, usecase)
    pred, _ = training.predict(whole.model, whole.split.holdout, usecase)
    ours = estimate_performance(capped.estimator, rows, pred, confidence=0.9, seed=0)
    theirs = estimate_performance(whole.estimator, rows, pred, confidence=0.9, seed=0)
    assert ours.value == pytest.approx(theirs.value, rel=0.1)
