"""Candidate search against real MLflow (SQLite in a temporary folder) and real Prefect tasks:
nested trial runs with params and fold scores, the reason on the training run, the budget."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from usecase_variant import small_usecase

from mlops_core.config import UseCase
from tasks.mlflow_store import ensure_experiment, make_client, settings_for_data_root
from tasks.search import PARENT_TAG, log_search, run_search, runner_mapper

# slow (left out of `make test-fast`): searches train many trials, one case in a Prefect harness.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

RIDGE = "sklearn.linear_model.Ridge"
HGB = "sklearn.ensemble.HistGradientBoostingRegressor"


def usecase(trials: int, budget: float) -> UseCase:
    return small_usecase(
        "search-mlflow",
        [
            {"name": "x", "type": "numeric"},
            {"name": "z", "type": "numeric"},
            {"name": "colour", "type": "categorical"},
        ],
        model={
            "task": "regression",
            "estimator": RIDGE,
            "candidates": [
                {
                    "estimator": RIDGE,
                    "space": {"alpha": {"low": 0.01, "high": 10, "log": True}},
                },
                {
                    "estimator": HGB,
                    "params": {"early_stopping": False},
                    "space": {
                        "max_iter": {"low": 10, "high": 40, "integer": True},
                        "learning_rate": [0.1, 0.2],
                    },
                },
            ],
            "search": {"budget_seconds": budget, "trials": trials, "folds": 3, "seed": 11},
        },
    )


def frame(periods: int = 8, rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """A threshold in x (a tree sees it, a line cannot) plus noise."""
    rng = np.random.default_rng(seed)
    n = periods * rows
    x = rng.uniform(-2, 2, n)
    z = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "week": np.repeat(np.arange(periods), rows),
            "x": x,
            "z": z,
            "colour": rng.choice(["red", "blue"], n),
            "y": 10 * (x > 0.5) + z + rng.normal(0, 0.3, n),
        }
    )


@pytest.fixture()
def client(tmp_path: Path) -> MlflowClient:
    return make_client(settings_for_data_root(tmp_path))


def test_trials_are_nested_runs_with_params_and_fold_scores(client: MlflowClient) -> None:
    uc = usecase(trials=4, budget=600)
    search = run_search(frame(), uc)
    experiment_id = ensure_experiment(client, uc.experiment_name, None)
    parent = client.create_run(experiment_id, run_name="train-p8").info.run_id

    run_ids = log_search(client, experiment_id, parent, search)

    assert len(run_ids) == 4
    for run_id, result in zip(run_ids, search.trials, strict=True):
        run = client.get_run(run_id)
        assert run.data.tags[PARENT_TAG] == parent
        assert run.info.status == "FINISHED"
        assert run.data.params["estimator"] == result.trial.estimator
        assert run.data.params["trial"] == str(result.trial.number)
        for name, value in result.trial.params.items():
            assert run.data.params[f"model.{name}"] == str(value)
        history = client.get_metric_history(run_id, "fold_mae")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [0, 1, 2]
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
            result.fold_scores
        )
        assert run.data.metrics["cv_mae"] == pytest.approx(result.score)
    chosen = [client.get_run(r).data.tags["mlops.search.chosen"] for r in run_ids]
    assert chosen.count("true") == 1
    assert search.chosen is not None
    assert chosen.index("true") == search.chosen.trial.number
    # The step in x: the boosted trees beat the line, and the parent says so.
    assert search.chosen.trial.estimator == HGB
    parent_run = client.get_run(parent)
    reason = parent_run.data.tags["mlops.search.reason"]
    assert reason == search.reasons[0].message
    assert reason.startswith("switched from Ridge to HistGradientBoostingRegressor: ")
    assert parent_run.data.tags["mlops.search.chosen"] == HGB
    assert parent_run.data.metrics["search_trials_started"] == 4
    nested = client.search_runs([experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent}'")
    assert {r.info.run_id for r in nested} == set(run_ids)


def test_a_real_search_stops_within_one_trial_of_its_budget(client: MlflowClient) -> None:
    # The rule, not a wall-clock figure: a trial starts only while the budget is
    # not spent, so the search overshoots by at most the last trial it started,
    # however loaded the machine is.
    budget = 4.0
    uc = usecase(trials=1000, budget=budget)
    data = frame(periods=10, rows=150)
    t0 = time.perf_counter()
    search = run_search(data, uc)
    wall = time.perf_counter() - t0

    assert search.skipped > 0, "the budget should stop a 1000-trial search"
    started = [t for t in search.trials if t.started]
    # A quarter of the budget is left for the scheduler of a loaded machine; a
    # search that ignored its budget would run all 1000 trials (minutes).
    slack = 0.25 * budget
    assert budget <= search.elapsed_seconds <= budget + started[-1].seconds + slack
    # The stated elapsed time is the search's own wall time, not a part of it.
    assert search.elapsed_seconds <= wall <= search.elapsed_seconds + slack
    assert [t.started for t in search.trials] == [True] * len(started) + [False] * search.skipped
    assert search.reasons[1].numbers["elapsed_seconds"] == search.elapsed_seconds

    experiment_id = ensure_experiment(client, uc.experiment_name, None)
    parent = client.create_run(experiment_id, run_name="train").info.run_id
    run_ids = log_search(client, experiment_id, parent, search)
    assert len(run_ids) == len(started)
    metrics = client.get_run(parent).data.metrics
    assert metrics["search_elapsed_seconds"] == pytest.approx(search.elapsed_seconds)
    assert metrics["search_budget_seconds"] == budget
    assert metrics["search_trials_started"] == len(started)
    assert metrics["search_trials_sampled"] == 1000


def test_trials_run_as_prefect_tasks_on_a_task_runner_with_the_same_results() -> None:
    from prefect import flow
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect.testing.utilities import prefect_test_harness

    uc = usecase(trials=6, budget=600)
    data = frame()

    @flow(name="search on a task runner")
    def searched_on_runner() -> object:
        with ThreadPoolTaskRunner(max_workers=2) as runner:
            return run_search(data, uc, map_trials=runner_mapper(runner))

    with prefect_test_harness(server_startup_timeout=120):
        parallel = searched_on_runner()
    sequential = run_search(data, uc)
    assert [(t.trial, t.fold_scores) for t in parallel.trials] == [
        (t.trial, t.fold_scores) for t in sequential.trials
    ]
    assert parallel.chosen is not None and sequential.chosen is not None
    assert parallel.chosen.trial == sequential.chosen.trial
