"""Candidate search through the real flows: nested trial runs and the choice in the record.

The demo use case gets two candidates (Ridge and the histogram gradient
boosting it ships with) and a small search. The bootstrap's retrain searches
them: every trial must be an MLflow run nested under the champion's training
run, with its params and fold scores, and the decision record must say which
estimator was chosen and why, with the numbers.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from mlops_core.records import CycleRecord
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, training_runs
from tasks.runtime import open_runtime

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=11))
BUDGET_S = 20.0
CANDIDATES = [
    {
        "estimator": "sklearn.linear_model.Ridge",
        "space": {"alpha": {"low": 0.01, "high": 100.0, "log": True}},
    },
    {
        "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
        "params": {"max_iter": 100, "early_stopping": False, "random_state": 0},
        "space": {"learning_rate": [0.05, 0.1, 0.2], "max_leaf_nodes": [15, 31]},
    },
]


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("search")
    started = time.perf_counter()
    usecase, _ = bootstrapped_variant(
        root,
        SIM,
        {
            "model": {
                "candidates": CANDIDATES,
                "search": {"budget_seconds": BUDGET_S, "trials": 6, "folds": 3, "seed": 3},
            }
        },
    )
    return {
        "root": root,
        "usecase": usecase,
        "rt": open_runtime(usecase, str(root)),
        "seconds": time.perf_counter() - started,
    }


def test_every_trial_is_a_run_nested_under_the_training_run(searched: dict[str, Any]) -> None:
    rt = searched["rt"]
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    assert info is not None
    parent = info.run_id
    trials = rt.client.search_runs(
        [rt.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    assert len(trials) >= 2, "both candidates were tried at least once"
    estimators = {t.data.params["estimator"] for t in trials}
    assert estimators == {c["estimator"] for c in CANDIDATES}
    for trial in trials:
        folds = rt.client.get_metric_history(trial.info.run_id, "fold_mae")
        assert sorted(m.step for m in folds) == [0, 1, 2]
        assert all(m.value > 0 for m in folds)
    chosen = rt.client.get_run(parent).data.tags["mlops.search.chosen"]
    assert chosen in estimators
    # The registered champion is the chosen estimator, and one trial says so.
    assert rt.client.get_run(parent).data.params["estimator"] == chosen
    flagged = [t for t in trials if t.data.tags["mlops.search.chosen"] == "true"]
    assert [t.data.params["estimator"] for t in flagged] == [chosen]


def test_the_choice_is_a_reason_in_the_decision_record(searched: dict[str, Any]) -> None:
    rt = searched["rt"]
    runs = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.kind": "retrain"}
    )
    promotion = decision_store.read_decision_record(
        rt.client, runs[0].run_id, CycleRecord
    ).promotion
    assert promotion is not None
    reasons = [r for r in promotion.reasons if r.passed is None]
    assert reasons, promotion.reasons
    message = " ".join(r.message for r in reasons)
    assert "folds" in message and "MAE" in message.upper()


def test_the_bootstrap_search_kept_to_its_budget(searched: dict[str, Any]) -> None:
    rt = searched["rt"]
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    metrics = rt.client.get_run(info.run_id).data.metrics
    assert metrics["search_budget_seconds"] == BUDGET_S
    assert 0 < metrics["search_elapsed_seconds"] <= BUDGET_S * 1.2
    assert metrics["search_trials_started"] >= 2
