"""The candidate search block of a use-case file: strict, bounded, and errors name the key."""

from __future__ import annotations

from typing import Any

import pytest
from usecase_variant import small_usecase_mapping

from mlops_core.config import SearchConfig, SearchRange, UseCaseError, parse_usecase

pytestmark = pytest.mark.unit

SOURCE = "usecases/search.yaml"
RIDGE = "sklearn.linear_model.Ridge"
HGB = "sklearn.ensemble.HistGradientBoostingRegressor"


def raw(**model: Any) -> dict[str, Any]:
    return small_usecase_mapping(
        "search-demo",
        [{"name": "x", "type": "numeric"}],
        model={"task": "regression", "estimator": RIDGE, **model},
    )


CANDIDATES = [
    {"estimator": RIDGE, "space": {"alpha": {"low": 0.01, "high": 100, "log": True}}},
    {
        "estimator": HGB,
        "params": {"max_iter": 50},
        "space": {
            "learning_rate": [0.05, 0.1],
            "max_leaf_nodes": {"low": 8, "high": 64, "integer": True},
        },
    },
]


def test_single_estimator_form_means_no_search() -> None:
    uc = parse_usecase(raw(), SOURCE)
    assert uc.model.candidates == ()
    assert uc.model.search is None and uc.model.search_settings is None


def test_candidates_and_search_parse_into_frozen_typed_values() -> None:
    search = {"budget_seconds": 60, "trials": 6, "folds": 3, "recent_fold_weight": 2, "seed": 7}
    uc = parse_usecase(raw(candidates=CANDIDATES, search=search), SOURCE)
    ridge, hgb = uc.model.candidates
    assert ridge.space["alpha"] == SearchRange(low=0.01, high=100, log=True)
    assert hgb.space["learning_rate"] == (0.05, 0.1)
    assert hgb.space["max_leaf_nodes"] == SearchRange(low=8, high=64, integer=True)
    assert uc.model.search_settings == SearchConfig(
        budget_seconds=60, trials=6, folds=3, recent_fold_weight=2, seed=7
    )
    with pytest.raises(Exception, match="frozen"):
        uc.model.search.trials = 1  # type: ignore[union-attr]


def test_candidates_alone_get_the_default_search() -> None:
    uc = parse_usecase(raw(candidates=CANDIDATES), SOURCE)
    assert uc.model.search_settings == SearchConfig()


@pytest.mark.parametrize(
    ("model", "key", "message"),
    [
        ({"search": {"trials": 3}}, "model.search", "needs model.candidates"),
        (
            {"candidates": CANDIDATES, "search": {"budget_seconds": 0}},
            "model.search.budget_seconds",
            "greater than 0",
        ),
        (
            {"candidates": CANDIDATES, "search": {"trials": 1001}},
            "model.search.trials",
            "less than or equal",
        ),
        (
            {"candidates": CANDIDATES, "search": {"folds": 0}},
            "model.search.folds",
            "greater than or equal",
        ),
        (
            {"candidates": CANDIDATES, "search": {"recent_fold_weight": 0.5}},
            "model.search.recent_fold_weight",
            "greater than or equal",
        ),
        (
            {"candidates": CANDIDATES, "search": {"shuffle": True}},
            "model.search.shuffle",
            "unknown key",
        ),
        ({"candidates": [{"estimator": "Ridge"}]}, "model.candidates.0.estimator", "pattern"),
        (
            {"candidates": [{"estimator": RIDGE, "grid": {}}]},
            "model.candidates.0.grid",
            "unknown key",
        ),
        ({"candidates": [{"estimator": RIDGE}] * 11}, "model.candidates", "at most 10"),
        (
            {"candidates": [{"estimator": RIDGE, "space": {"alpha": []}}]},
            "model.candidates.0.space.alpha",
            "at least 1",
        ),
        (
            {"candidates": [{"estimator": RIDGE, "space": {"alpha": {"low": 2, "high": 1}}}]},
            "model.candidates.0.space.alpha",
            "below high",
        ),
        (
            {
                "candidates": [
                    {"estimator": RIDGE, "space": {"alpha": {"low": 0, "high": 1, "log": True}}}
                ]
            },
            "model.candidates.0.space.alpha",
            "log range",
        ),
    ],
)
def test_invalid_search_config_names_the_key(model: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(UseCaseError) as info:
        parse_usecase(raw(**model), SOURCE)
    assert info.value.source == SOURCE
    assert info.value.key.startswith(key), info.value
    assert message in info.value.message, info.value


def test_search_is_not_offered_with_per_segment_models() -> None:
    doc = raw(candidates=CANDIDATES, per_segment=True)
    with pytest.raises(UseCaseError) as info:
        parse_usecase(doc, SOURCE)
    assert info.value.key == "model.candidates"
