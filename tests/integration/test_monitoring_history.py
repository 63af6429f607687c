"""The monitoring history and the experiment kind against a real MLflow (SQLite in a tmp folder)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops_core.config import DriftPolicy, RetrainPolicy, UseCase
from mlops_core.decisions import GateDecision, MetricInterval, PerformanceSummary, RetrainInputs
from mlops_core.records import CycleRecord
from mlops_core.report import CycleOutcome
from mlops_core.retrain import decide_retrain
from tasks import monitoring_history
from tasks.decision_store import log_decision_run
from tasks.mlflow_store import ensure_experiment, make_client, settings_for_data_root
from tasks.tags import (
    EXPERIMENT_KIND_MODEL_DEVELOPMENT,
    KIND_MONITORING,
    TAG_KIND,
    TAG_MLFLOW_EXPERIMENT_KIND,
    TAG_MONITORING_RUN,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def client(tmp_path: Path) -> MlflowClient:
    return make_client(settings_for_data_root(tmp_path / "root"))


def _record(usecase: UseCase, period: int, realized: float, *, gate: str = "pass") -> CycleRecord:
    """A cycle of ``period`` whose champion (reference MAE 7) realized ``realized``."""
    batch = f"period_{period:03d}.csv"
    perf = PerformanceSummary(
        metric="mae",
        reference=7.0,
        realized=MetricInterval(
            metric="mae", value=realized, low=realized - 0.4, high=realized + 0.4, rows=300
        ),
        decay=realized / 7.0 - 1.0,
        decay_low=(realized - 0.4) / 7.0 - 1.0,
        decay_high=(realized + 0.4) / 7.0 - 1.0,
        new_labeled_rows=300,
        estimated=realized + 0.2,
        estimated_low=realized - 0.5,
        estimated_high=realized + 0.9,
    )
    passed = gate == "pass"
    retrain = decide_retrain(
        RetrainInputs(
            period=period,
            gate_passed=passed,
            has_champion=True,
            champion_trained_period=period - 3,
            new_labeled_rows=300,
            last_labeled_period=period - 1,
            rows_per_period=300,
            performance=perf if passed else None,
            decay_cause="concept_drift",
        ),
        RetrainPolicy(max_decay=0.15),
        DriftPolicy(),
        "mae",
    )
    outcome = CycleOutcome(
        period=period,
        batch=batch,
        gate=GateDecision(
            action=gate,
            batch=batch,
            batch_sha256=f"{period:064d}",
            rows=300,
            reasons=(),
            results=(),
        ),
        retrain=retrain,
        performance=perf if passed else None,
        champion_version="1",
        champion_before="1",
    )
    return CycleRecord.from_outcome(
        outcome, usecase=usecase.name, summary="-", decay_cause="-", champion_before="1"
    )


def _decide_and_chart(client: MlflowClient, usecase: UseCase, record: CycleRecord) -> str:
    """Record the cycle's decision run, then log it to the monitoring history (the order of
    the commit protocol)."""
    decisions = ensure_experiment(client, usecase.decisions_experiment_name, None)
    assert record.retrain is not None
    run_id = log_decision_run(
        client,
        experiment_id=decisions,
        run_name=f"p{record.period}-{record.retrain.action}",
        kind="retrain",
        action=record.retrain.action,
        reason_codes=[r.code for r in record.retrain.reasons],
        record=record,
        markdown="-",
        metrics={},
        tags={},
    )
    monitoring_history.log_cycle(client, usecase, record, [run_id], None)
    return run_id


def test_experiments_the_product_creates_or_touches_are_model_development(
    client: MlflowClient,
) -> None:
    created = ensure_experiment(client, "made-here", None)
    older = client.create_experiment("made-before")  # as an earlier version left it
    chosen = client.create_experiment(
        "chosen-in-the-ui", tags={TAG_MLFLOW_EXPERIMENT_KIND: "genai_development"}
    )

    assert ensure_experiment(client, "made-before", None) == older
    assert ensure_experiment(client, "chosen-in-the-ui", None) == chosen

    def kind(experiment_id: str) -> str | None:
        return client.get_experiment(experiment_id).tags.get(TAG_MLFLOW_EXPERIMENT_KIND)

    assert kind(created) == kind(older) == EXPERIMENT_KIND_MODEL_DEVELOPMENT
    assert kind(chosen) == "genai_development"  # a person's choice stays


def test_one_point_per_period_over_cycles_and_reruns(
    client: MlflowClient, shop_usecase: Callable[..., UseCase]
) -> None:
    usecase = shop_usecase()
    periods = list(range(10, 16))
    realized = {p: 7.0 + 0.8 * (p - 10) for p in periods}  # decays period after period
    records = {p: _record(usecase, p, realized[p]) for p in periods}
    records[16] = _record(usecase, 16, 0.0, gate="fail")
    decision_runs = {p: _decide_and_chart(client, usecase, r) for p, r in records.items()}

    # A rerun of two periods (the same record and decision run) logs the same points.
    for p in (12, 16):
        monitoring_history.log_cycle(client, usecase, records[p], [decision_runs[p]], None)

    monitoring = client.get_experiment_by_name(usecase.monitoring_experiment_name)
    assert monitoring is not None
    assert monitoring.tags[TAG_MLFLOW_EXPERIMENT_KIND] == EXPERIMENT_KIND_MODEL_DEVELOPMENT
    decisions = client.get_experiment_by_name(usecase.decisions_experiment_name)
    assert decisions.tags[TAG_MLFLOW_EXPERIMENT_KIND] == EXPERIMENT_KIND_MODEL_DEVELOPMENT
    runs = client.search_runs([monitoring.experiment_id])
    assert len(runs) == 1
    run_id = runs[0].info.run_id
    assert runs[0].info.status == "FINISHED"

    def history(key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))

    assert history("realized") == [(p, realized[p]) for p in periods]  # no point for the fail
    assert [s for s, _ in history("realized_low")] == periods
    assert [s for s, _ in history("estimated_high")] == periods
    assert history("gate_passed") == [*((p, 1.0) for p in periods), (16, 0.0)]
    retrain = dict(history("retrain"))
    assert sorted(retrain) == [*periods, 16]
    for p, record in records.items():
        assert record.retrain is not None
        assert retrain[p] == (1.0 if record.retrain.action in ("train", "retrain") else 0.0)
    assert retrain[10] == 0.0 and retrain[15] == 1.0  # no decay first, then decay retrains
    # Every decision run links to the monitoring run.
    for p, decision_run in decision_runs.items():
        assert client.get_run(decision_run).data.tags[TAG_MONITORING_RUN] == run_id, p


def test_dated_periods_are_stamped_with_their_first_day(
    client: MlflowClient, shop_usecase: Callable[..., UseCase]
) -> None:
    base = shop_usecase()
    weekly = base.model_copy(update={"data": base.data.model_copy(update={"period": "week"})})
    record = _record(weekly, 2200, 7.5)
    _decide_and_chart(client, weekly, record)
    run_id = monitoring_history.ensure_monitoring_run(client, weekly, None)
    [point] = client.get_metric_history(run_id, "realized")
    # Week 2200 after the first Monday of 1970 (1970-01-05) starts on 2012-03-05.
    assert (point.step, point.timestamp) == (2200, 1_330_905_600_000)


def test_a_second_monitoring_run_made_in_a_race_is_not_used(
    client: MlflowClient, shop_usecase: Callable[..., UseCase]
) -> None:
    usecase = shop_usecase()
    first = monitoring_history.ensure_monitoring_run(client, usecase, None)
    experiment = ensure_experiment(client, usecase.monitoring_experiment_name, None)
    # What a second process that did not see the first run yet would have made.
    client.create_run(experiment, run_name="monitoring", tags={TAG_KIND: KIND_MONITORING})
    assert monitoring_history.find_monitoring_run(client, experiment) == first
    assert monitoring_history.ensure_monitoring_run(client, usecase, None) == first
