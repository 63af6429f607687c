"""The bounded decision searches read what the full history says, on a real MLflow store."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops_core.cycle import DecisionHistory, PastDecision
from tasks import decision_store, history
from tasks.tags import (
    METRIC_PERIOD,
    TAG_ACTION,
    TAG_BATCH,
    TAG_KIND,
    TAG_LABELS_THROUGH,
    TAG_PERIOD,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)


def _decide(client, experiment, at: int, period: int, action: str, labels_through: int | None):
    tags = {
        TAG_KIND: "retrain",
        TAG_ACTION: action,
        TAG_PERIOD: str(period),
        TAG_LABELS_THROUGH: str(labels_through),
        TAG_BATCH: f"sha-{at}",
    }
    run = client.create_run(experiment, start_time=T0 + at, tags=tags)
    client.log_metric(run.info.run_id, METRIC_PERIOD, float(period))
    client.set_terminated(run.info.run_id, "FINISHED")
    if action == "retrain":
        promo = client.create_run(
            experiment,
            start_time=T0 + at + 1,
            tags={TAG_KIND: "promotion", TAG_ACTION: "promote", TAG_BATCH: f"sha-{at}"},
        )
        client.set_terminated(promo.info.run_id, "FINISHED")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[MlflowClient, str]:
    """80 on-time weekly decisions, then 70 late ones (a backfill) and a few more on time."""
    folder: Path = tmp_path_factory.mktemp("decisions")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.create_experiment("x-decisions", artifact_location=str(folder / "art"))
    rng = random.Random(3)
    at, labels = 0, None
    for period in range(1, 81):
        at += 10
        labels = period - 2 if period > 2 else labels
        action = "train" if period == 1 else ("retrain" if rng.random() < 0.2 else "skip")
        _decide(client, experiment, at, period, action, labels)
    for period in range(5, 75):  # late batches: decided after period 80
        at += 10
        action = "retrain" if rng.random() < 0.1 else "skip"
        _decide(client, experiment, at, period, action, labels)
    for period in (81, 82):
        at += 10
        labels += 1
        _decide(client, experiment, at, period, "skip", labels)
    return client, experiment


def _full(client, experiment) -> DecisionHistory:
    """The summary of every retrain-kind decision, as read before the searches were bounded."""
    runs = decision_store.find_decision_runs(
        client, experiment, filter_tags={TAG_KIND: "retrain"}, max_results=5000
    )
    return DecisionHistory.from_decisions(
        PastDecision(
            period=int(r.tags[TAG_PERIOD]),
            action=r.action,
            labels_through=None
            if r.tags[TAG_LABELS_THROUGH] == "None"
            else int(r.tags[TAG_LABELS_THROUGH]),
        )
        for r in runs
    )


@pytest.mark.parametrize("window", [1, 4, 13, 52, 365])
def test_the_bounded_history_decides_as_the_full_one(store, window):
    client, experiment = store
    full = _full(client, experiment)
    bounded = history.read_decision_history(client, experiment, window)
    assert bounded.labels_through == full.labels_through == 80
    assert bounded.last_period == full.last_period == 82
    assert bounded.last_retrain_period == full.last_retrain_period
    for period in (82, 83, 90):
        assert bounded.retrains_since(period, window) == full.retrains_since(period, window)


def test_searches_filter_and_order_on_the_period_metric(store):
    client, experiment = store
    top = decision_store.find_decision_runs(
        client,
        experiment,
        filter_tags={TAG_KIND: "retrain"},
        order="highest",
        order_metric=METRIC_PERIOD,
        max_results=3,
    )
    assert [r.tags[TAG_PERIOD] for r in top] == ["82", "81", "80"]
    oldest = decision_store.find_decision_runs(
        client,
        experiment,
        filter_tags={TAG_KIND: "retrain"},
        min_metrics={METRIC_PERIOD: 70},
        order="oldest",
        max_results=1,
    )
    assert oldest[0].tags[TAG_PERIOD] == "70"
    since = decision_store.find_decision_runs(
        client, experiment, started_since=oldest[0].start_time, max_results=5000
    )
    assert min(r.start_time for r in since) == oldest[0].start_time


def test_a_window_of_periods_shows_the_same_cycles_as_the_full_search(store):
    client, experiment = store
    bounded = history.load_history(
        client, experiment, since_period=60, until_period=82, read_records=False
    )
    every = history.load_history(client, experiment, read_records=False)
    in_window = [p for p in every.points if p.period is not None and 60 <= p.period <= 82]
    assert len(bounded.points) == 23 + 15  # periods 60-82 on time, 60-74 late
    assert [(p.run_id, p.period, p.action, p.promotion) for p in bounded.points] == [
        (p.run_id, p.period, p.action, p.promotion) for p in in_window
    ]
