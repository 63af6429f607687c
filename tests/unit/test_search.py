"""Candidate search: time-ordered folds, seeded trials, weighted scores, the reason, the budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from usecase_variant import small_usecase

from mlops_core.config import CandidateConfig, SearchRange, UseCase
from mlops_core.features import build_pipeline, model_input
from mlops_core.metrics import compute_metric
from mlops_core.search import (
    Trial,
    TrialResult,
    best_trial,
    budget_allows,
    choice_reason,
    fold_rows,
    fold_weights,
    run_trial,
    sample_trials,
    search_candidates,
    time_folds,
    usecase_with_estimator,
    weighted_score,
)

pytestmark = pytest.mark.unit

RIDGE = "sklearn.linear_model.Ridge"
TREE = "sklearn.tree.DecisionTreeRegressor"
HGB = "sklearn.ensemble.HistGradientBoostingRegressor"
PERIODS = 8
FEATURES = [
    {"name": "x", "type": "numeric"},
    {"name": "z", "type": "numeric"},
    {"name": "colour", "type": "categorical"},
]


def usecase(trials: int = 6, budget: float = 600.0, seed: int = 0, folds: int = 3) -> UseCase:
    return small_usecase(
        "search-demo",
        FEATURES,
        model={
            "task": "regression",
            "estimator": RIDGE,
            "candidates": [
                {
                    "estimator": RIDGE,
                    "space": {"alpha": {"low": 0.01, "high": 10, "log": True}},
                },
                {
                    "estimator": TREE,
                    "params": {"min_samples_leaf": 5},
                    "space": {
                        "max_depth": {"low": 2, "high": 8, "integer": True},
                        "splitter": ["best", "random"],
                    },
                },
            ],
            "search": {
                "budget_seconds": budget,
                "trials": trials,
                "folds": folds,
                "recent_fold_weight": 2.0,
                "seed": seed,
            },
        },
    )


def frame(rows_per_period: int = 40, seed: int = 0) -> pd.DataFrame:
    """A step in x the tree finds and a line cannot, plus noise; rows shuffled in time."""
    rng = np.random.default_rng(seed)
    n = rows_per_period * PERIODS
    x = rng.uniform(-2, 2, n)
    z = rng.normal(0, 1, n)
    out = pd.DataFrame(
        {
            "id": np.arange(n),
            "week": np.repeat(np.arange(PERIODS), rows_per_period),
            "x": x,
            "z": z,
            "colour": rng.choice(["red", "blue"], n),
            "y": 10 * (x > 0.5) + z + rng.normal(0, 0.3, n),
        }
    )
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# ------------------------------------------------------------------------ folds
@pytest.mark.parametrize(("periods", "folds"), [(8, 3), (10, 1), (5, 4), (3, 5), (24, 5), (2, 2)])
def test_folds_never_train_on_the_future(periods: int, folds: int) -> None:
    rng = np.random.default_rng(periods)
    values = rng.permutation(np.repeat(np.arange(100, 100 + periods), 3))
    cut = time_folds(values, folds)
    assert len(cut) == min(folds, periods - 1)
    last_valid_end = None
    for k, fold in enumerate(cut):
        train, valid = fold_rows(values, fold)
        assert fold.index == k and len(train) > 0 and len(valid) > 0
        assert values[train].max() < values[valid].min()
        # Expanding window: every row before the block trains, none after it.
        assert set(train) == set(np.flatnonzero(values < values[valid].min()))
        assert not set(train) & set(valid)
        if last_valid_end is not None:
            assert values[valid].min() > last_valid_end
        last_valid_end = values[valid].max()
    # The newest fold validates on the last period.
    assert cut[-1].valid_periods[-1] == 100 + periods - 1


def test_folds_need_two_periods() -> None:
    with pytest.raises(ValueError, match="at least 2 periods"):
        time_folds([5, 5, 5], 3)


@pytest.mark.parametrize(("folds", "weight"), [(1, 5.0), (3, 1.0), (3, 4.0), (5, 2.0)])
def test_fold_weights_give_the_newest_fold_its_weight(folds: int, weight: float) -> None:
    w = fold_weights(folds, weight)
    assert sum(w) == pytest.approx(1.0)
    assert list(w) == sorted(w)
    if folds > 1:
        assert w[-1] / w[0] == pytest.approx(weight)


def test_weighted_score_is_the_weighted_mean() -> None:
    assert weighted_score([1.0, 2.0, 4.0], (0.25, 0.25, 0.5)) == pytest.approx(2.75)
    assert np.isnan(weighted_score([1.0, float("nan")], (0.5, 0.5)))


# ----------------------------------------------------------------------- trials
def test_same_seed_same_trials_other_seed_other_trials() -> None:
    cands = usecase().model.candidates
    first, again = sample_trials(cands, 12, seed=3), sample_trials(cands, 12, seed=3)
    assert first == again
    assert [t.params for t in sample_trials(cands, 12, seed=4)] != [t.params for t in first]
    # Trial i does not depend on how many trials are drawn.
    assert sample_trials(cands, 5, seed=3) == first[:5]


def test_trials_go_round_robin_start_from_fixed_params_and_stay_in_their_space() -> None:
    cands = usecase().model.candidates
    trials = sample_trials(cands, 20, seed=1)
    assert [t.estimator for t in trials[:4]] == [RIDGE, TREE, RIDGE, TREE]
    assert trials[0].params == {} and trials[1].params == {"min_samples_leaf": 5}
    for t in trials[2:]:
        if t.estimator == RIDGE:
            assert 0.01 <= t.params["alpha"] <= 10
        else:
            assert isinstance(t.params["max_depth"], int) and 2 <= t.params["max_depth"] <= 8
            assert t.params["splitter"] in ("best", "random")
            assert t.params["min_samples_leaf"] == 5


def test_log_range_samples_spread_over_orders_of_magnitude() -> None:
    cand = CandidateConfig(
        estimator=RIDGE, space={"alpha": SearchRange(low=1e-4, high=1e4, log=True)}
    )
    alphas = np.array([t.params["alpha"] for t in sample_trials([cand], 400, seed=0)[1:]])
    assert (alphas < 1e-2).mean() == pytest.approx(0.25, abs=0.08)
    assert (alphas > 1e2).mean() == pytest.approx(0.25, abs=0.08)


def test_a_trial_fits_each_fold_on_earlier_periods_only() -> None:
    uc, data = usecase(), frame()
    folds = time_folds(data["week"].unique(), 3)
    weights = fold_weights(3, 2.0)
    trial = Trial(number=0, estimator=RIDGE, params={"alpha": 1.0}, sampled={})
    result = run_trial(trial, data, uc, folds, weights, clock=lambda: 0.0)
    expected = []
    for fold in folds:
        start = min(fold.valid_periods)
        past, block = data[data.week < start], data[data.week.isin(fold.valid_periods)]
        model = build_pipeline(usecase_with_estimator(uc, RIDGE, {"alpha": 1.0}))
        model.fit(model_input(past, uc), past["y"])
        expected.append(compute_metric("mae", block["y"], model.predict(model_input(block, uc))))
    assert result.fold_scores == pytest.approx(expected)
    assert result.score == pytest.approx(float(np.dot(expected, weights)))
    assert result.scored and result.error is None


def test_a_trial_with_invalid_params_is_recorded_and_never_chosen() -> None:
    uc, data = usecase(), frame()
    folds = time_folds(data["week"].unique(), 2)
    bad = Trial(number=0, estimator=RIDGE, params={"alpha": -1.0}, sampled={})
    result = run_trial(bad, data, uc, folds, fold_weights(2, 1.0), clock=lambda: 0.0)
    assert not result.scored and "alpha" in (result.error or "")
    good = TrialResult(Trial(1, TREE, {}, {}), (1.0, 1.0), 1.0, 0.1)
    assert best_trial([result, good], greater_is_better=False) is good


# ----------------------------------------------------------------------- choice
def _result(number: int, estimator: str, score: float) -> TrialResult:
    return TrialResult(Trial(number, estimator, {}, {}), (score,) * 3, score, 0.5)


@pytest.mark.parametrize(
    ("ridge", "hgb", "code", "sentence", "gain"),
    [
        (
            50.0,
            41.0,
            "search_switched",
            "switched from Ridge to HistGradientBoostingRegressor: 18% lower MAE on the "
            "last 3 folds (41 vs 50, fold-weighted)",
            0.18,
        ),
        (
            40.0,
            50.0,
            "search_kept",
            "kept Ridge: 20% lower MAE than HistGradientBoostingRegressor on the last 3 folds "
            "(40 vs 50, fold-weighted)",
            0.20,
        ),
    ],
)
def test_the_reason_sentence_carries_the_numbers(
    ridge: float, hgb: float, code: str, sentence: str, gain: float
) -> None:
    results = [_result(0, RIDGE, ridge + 5), _result(1, HGB, hgb), _result(2, RIDGE, ridge)]
    reason = choice_reason(results, RIDGE, "mae", 3)
    assert reason.code == code
    assert reason.message == sentence
    assert reason.numbers["relative_gain"] == pytest.approx(gain)
    assert reason.numbers["chosen_score"] == min(ridge, hgb)


def test_a_greater_is_better_metric_picks_the_highest_and_says_higher() -> None:
    results = [_result(0, RIDGE, 0.80), _result(1, HGB, 0.88)]
    assert best_trial(results, greater_is_better=True) is results[1]
    reason = choice_reason(results, RIDGE, "accuracy", 2)
    assert reason.message.startswith(
        "switched from Ridge to HistGradientBoostingRegressor: 10% higher accuracy"
    )


def test_a_new_estimator_is_chosen_when_the_incumbent_was_not_searched() -> None:
    reason = choice_reason([_result(0, HGB, 3.0), _result(1, TREE, 4.0)], RIDGE, "mae", 3)
    assert reason.message.startswith(
        "chose HistGradientBoostingRegressor: 25% lower MAE than DecisionTreeRegressor"
    )


# ----------------------------------------------------------------------- search
def test_search_is_reproducible_by_seed_and_picks_the_structure() -> None:
    data = frame()
    first = search_candidates(data, usecase(seed=5), clock=lambda: 0.0)
    again = search_candidates(data, usecase(seed=5), clock=lambda: 0.0)
    assert [(t.trial, t.fold_scores) for t in first.trials] == [
        (t.trial, t.fold_scores) for t in again.trials
    ]
    assert first.chosen == again.chosen
    # The step in x is what a tree sees and a line cannot.
    assert first.chosen is not None and first.chosen.trial.estimator == TREE
    assert first.reasons[0].code == "search_switched"
    assert first.reasons[0].message.startswith("switched from Ridge to DecisionTreeRegressor: ")
    chosen_case = first.usecase_for_choice(usecase(seed=5))
    assert chosen_case.model.estimator == TREE
    assert chosen_case.model.params == first.chosen.trial.params


class SteppedClock:
    """Simulated seconds: a trial lasts ``trial_seconds``, whatever the machine does."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def advancing_mapper(
    clock: SteppedClock, trial_seconds: float
) -> Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]:
    def mapper(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        out = []
        for item in items:
            result = fn(item)
            if result.started:
                clock.now += trial_seconds
            out.append(result)
        return out

    return mapper


@pytest.mark.parametrize(
    ("budget", "trial_seconds", "started"),
    [(5.0, 2.0, 3), (4.0, 2.0, 2), (100.0, 2.0, 8), (0.5, 2.0, 1)],
)
def test_no_trial_starts_once_the_budget_is_spent(
    budget: float, trial_seconds: float, started: int
) -> None:
    clock = SteppedClock()
    result = search_candidates(
        frame(),
        usecase(trials=8, budget=budget),
        clock=clock,
        map_trials=advancing_mapper(clock, trial_seconds),
    )
    assert [t.started for t in result.trials] == [True] * started + [False] * (8 - started)
    assert result.started == started and result.skipped == 8 - started
    # The trial running when the budget ran out finished: elapsed may pass the budget by one trial.
    assert result.elapsed_seconds == started * trial_seconds
    budget_reason = result.reasons[1]
    assert budget_reason.numbers["elapsed_seconds"] == started * trial_seconds
    assert budget_reason.numbers["budget_seconds"] == budget
    assert budget_reason.numbers["trials_started"] == started
    assert all(not t.fold_scores and np.isnan(t.score) for t in result.trials[started:])


@pytest.mark.parametrize(("elapsed", "allowed"), [(0.0, True), (59.9, True), (60.0, False)])
def test_budget_rule(elapsed: float, allowed: bool) -> None:
    assert budget_allows(elapsed, 60.0) is allowed


def test_search_without_candidates_is_an_error() -> None:
    uc = usecase()
    plain = uc.model_copy(update={"model": uc.model.model_copy(update={"candidates": ()})})
    with pytest.raises(ValueError, match="nothing to search"):
        search_candidates(frame(), plain, clock=lambda: 0.0)


def test_a_small_gain_on_one_fold_keeps_a_decimal() -> None:
    reason = choice_reason([_result(0, RIDGE, 10.0), _result(1, HGB, 9.95)], RIDGE, "mae", 1)
    assert reason.message == (
        "switched from Ridge to HistGradientBoostingRegressor: 0.5% lower MAE on the last fold "
        "(9.95 vs 10, fold-weighted)"
    )
