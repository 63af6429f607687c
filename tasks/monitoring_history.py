"""The monitoring history of a use case: one MLflow run, one point per period.

A cycle's decision runs hold one value per metric, so MLflow can list the
decisions but not chart them over time. Each use case therefore has one
long-lived run, ``monitoring`` in the experiment ``<use case>-monitoring``,
that every cycle logs its figures to at ``step = period`` (the period index
the use case's periods are cut to): realized and estimated performance with
their intervals, drift shares and the domain classifier's AUC, guardrail
rates, and the decisions as 0/1 metrics. MLflow's chart view of that run shows
decay, retrains and promotions on one time axis. The metric timestamp is the
period's first day when the use case cuts dates, else the time the cycle's
decision was recorded, so the "wall time" axis reads in periods too.

The values come from the cycle's typed record (``CycleRecord``), the same one
its decision run stores, and are logged after the decision is recorded. A
rerun of the same period logs the same values at the same step and
timestamp, which MLflow keeps as one point. Everything here goes through an
explicit ``MlflowClient`` and explicit run ids (``tasks.mlflow_store``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mlflow import MlflowClient
from mlflow.entities import Metric

from mlops_core.config import UseCase
from mlops_core.periods import period_start
from mlops_core.records import CycleRecord
from tasks.commit_protocol import monitoring_metrics
from tasks.mlflow_store import ensure_experiment
from tasks.tags import (
    KIND_MONITORING,
    TAG_KIND,
    TAG_MLFLOW_NOTE,
    TAG_MONITORING_ERROR,
    TAG_MONITORING_RUN,
    TAG_USECASE,
)

#: Display name of the monitoring run.
MONITORING_RUN_NAME = "monitoring"
#: Longest reason kept in the ``mlops.monitoring_error`` tag.
_ERROR_TAG_LIMIT = 4000


def point_timestamp(record: CycleRecord, usecase: UseCase, recorded_ms: int) -> int:
    """The timestamp of a cycle's point: its period's first day, else when it was recorded.

    Both are fixed once the decision is recorded, so a rerun logs the same point.

    Args:
        record: The cycle's record.
        usecase: The use case (its period unit).
        recorded_ms: Start time of the cycle's decision run, in epoch milliseconds.
    """
    unit = usecase.data.period
    if unit is None:
        return int(recorded_ms)
    return int(period_start(record.period, unit).timestamp() * 1000)


def _note(usecase: UseCase) -> str:
    unit = usecase.data.period or "period index"
    return (
        f"Monitoring history of {usecase.name}: one point per cycle at step = period "
        f"({unit}). Realized {usecase.metric.primary} with realized_low/realized_high, "
        "the label-free estimate (estimated, estimated_low/high), drift_share, "
        "importance_weighted_drift, domain_auc, guardrail_violation_rate, and the "
        "decisions as 0/1 metrics (gate_passed, retrain, promoted) with champion_version. "
        f"Each cycle's decision run in {usecase.decisions_experiment_name} links here "
        f"with the tag {TAG_MONITORING_RUN}."
    )


def find_monitoring_run(client: MlflowClient, experiment_id: str) -> str | None:
    """The use case's monitoring run, if it exists (the oldest, should two have been made)."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_KIND}` = '{KIND_MONITORING}'",
        max_results=50,
    )
    if not runs:
        return None
    return min(runs, key=lambda r: (r.info.start_time, r.info.run_id)).info.run_id


def ensure_monitoring_run(client: MlflowClient, usecase: UseCase, artifact_root: str | None) -> str:
    """The id of the use case's monitoring run, creating its experiment and the run if needed.

    Two processes creating it at once both end up with the oldest run: the
    one that finds another run older than its own deletes its own before
    logging anything to it.

    Args:
        client: MLflow client.
        usecase: The use case.
        artifact_root: Artifact root for a new experiment (see ``ensure_experiment``).

    Returns:
        The run id.
    """
    experiment_id = ensure_experiment(client, usecase.monitoring_experiment_name, artifact_root)
    found = find_monitoring_run(client, experiment_id)
    if found is not None:
        return found
    run = client.create_run(
        experiment_id,
        run_name=MONITORING_RUN_NAME,
        tags={
            TAG_KIND: KIND_MONITORING,
            TAG_USECASE: usecase.name,
            TAG_MLFLOW_NOTE: _note(usecase),
        },
    )
    mine = run.info.run_id
    # A finished run: the history is complete up to its last point, not "running".
    client.set_terminated(mine, "FINISHED")
    oldest = find_monitoring_run(client, experiment_id)
    if oldest is not None and oldest != mine:
        client.delete_run(mine)
        return oldest
    return mine


def log_cycle(
    client: MlflowClient,
    usecase: UseCase,
    record: CycleRecord,
    decision_run_ids: Sequence[str],
    artifact_root: str | None,
) -> str:
    """Log one cycle to the monitoring run at ``step = period``; link its decision runs to it.

    Args:
        client: MLflow client.
        usecase: The use case.
        record: The cycle's record, as recorded (amended when its promotion was superseded).
        decision_run_ids: The cycle's decision runs, the ``retrain``-kind one first;
            each gets the tag ``mlops.monitoring_run_id``.
        artifact_root: Artifact root for a new monitoring experiment.

    Returns:
        The monitoring run's id.
    """
    run_id = ensure_monitoring_run(client, usecase, artifact_root)
    recorded_ms = client.get_run(decision_run_ids[0]).info.start_time
    timestamp = point_timestamp(record, usecase, recorded_ms)
    metrics = [
        Metric(key, value, timestamp, record.period)
        for key, value in monitoring_metrics(record).items()
        if not math.isnan(value)  # "not measured" is a gap in the chart, not a point
    ]
    client.log_batch(run_id, metrics=metrics)
    for decision_run in decision_run_ids:
        client.set_tag(decision_run, TAG_MONITORING_RUN, run_id)
    return run_id


def mark_missing(client: MlflowClient, decision_run_id: str, reason: str) -> None:
    """Tag a decision run whose point could not be logged (``mlops.monitoring_error``)."""
    client.set_tag(decision_run_id, TAG_MONITORING_ERROR, reason[:_ERROR_TAG_LIMIT])


__all__ = [
    "MONITORING_RUN_NAME",
    "ensure_monitoring_run",
    "find_monitoring_run",
    "log_cycle",
    "mark_missing",
    "point_timestamp",
]
