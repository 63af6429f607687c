"""What the two UIs show of real cycles: the flow run's log and artifacts, the monitoring run.

A few weeks of the simulator run through the real ``bootstrap`` and ``monitor``
flows (Prefect's test harness, MLflow on SQLite in a tmp folder). The Prefect
side is read back through its API (the flow run's logs, the artifacts by key),
the MLflow side through the tracking store (the monitoring run's metric history).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from flows.cycle import monitor
from mlops_core.records import CycleRecord
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, monitoring_history
from tasks.commit_adapters import MlflowMonitoringHistory
from tasks.notify import artifact_key
from tasks.runtime import open_runtime
from tasks.tags import TAG_MONITORING_RUN

pytestmark = [pytest.mark.flows, pytest.mark.timeout(900)]

SIM = RetailDemandSimulator(SimulatorConfig(seed=11, live_periods=3, events=()))
FIRST_LIVE = SIM.config.initial_periods


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ui") / "home"
    # Retrain as soon as the model is two periods old, so the weeks hold a retrain.
    usecase, paths = bootstrapped_variant(
        root, SIM, {"retrain": {"max_age_periods": 2}}, cycle_report=True
    )
    states = []
    for p in range(FIRST_LIVE, SIM.total_periods):
        name = f"period_{p:03d}.csv"
        SIM.batch(p).to_csv(paths.landing / name, index=False)
        for q in SIM.labels_arriving_at(p):
            if q >= FIRST_LIVE:
                SIM.labels(q).to_csv(paths.labels / f"labels_{q:03d}.csv", index=False)
        states.append(monitor(str(usecase), name, str(root), return_state=True))
    return {"root": root, "usecase": usecase, "states": states}


def _logs(flow_run_id: Any, wanted: str) -> list[str]:
    """The flow run's log messages, once one containing ``wanted`` arrived (up to 30 s)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + 30
    messages: list[str] = []
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            messages = [log.message for log in logs]
            if any(wanted in m for m in messages):
                break
            time.sleep(1)
    return messages


def test_each_monitor_run_logs_its_decision_and_reason_code(cycles: dict[str, Any]) -> None:
    for state in cycles["states"]:
        result = state.result()
        assert result.status == "done"
        decision = f"Decision: {result.decision} (reason code {result.reason})"
        messages = _logs(state.state_details.flow_run_id, decision)
        [line] = [m for m in messages if decision in m]
        # The plain-language summary, as the cycle's record and result say it.
        assert result.summary in line, line


def test_the_cycle_and_the_table_of_periods_are_artifacts_keyed_per_use_case(
    cycles: dict[str, Any],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    rt = open_runtime(cycles["usecase"], str(cycles["root"]))
    last = cycles["states"][-1]
    with get_client(sync_client=True) as client:
        mine = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[last.state_details.flow_run_id])
            )
        )
        tables = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key(rt.name, "periods")])
            )
        )
    keys = {a.key for a in mine}
    assert {artifact_key(rt.name, "cycle"), artifact_key(rt.name, "periods")} <= keys, keys
    # One table per cycle under the one key (bootstrap and each week): its history.
    assert len(tables) >= 1 + len(cycles["states"])
    latest = next(a for a in mine if a.key == artifact_key(rt.name, "periods"))
    assert latest.type == "table"
    rows = latest.data if isinstance(latest.data, list) else json.loads(latest.data)
    results = [s.result() for s in cycles["states"]]
    assert [r["decision"] for r in rows[-len(results) :]] == [r.decision for r in results]
    assert [r["reason"] for r in rows[-len(results) :]] == [r.reason for r in results]


def test_the_monitoring_run_has_one_point_per_cycle_also_after_a_rerun(
    cycles: dict[str, Any],
) -> None:
    rt = open_runtime(cycles["usecase"], str(cycles["root"]))
    results = [s.result() for s in cycles["states"]]
    # The same content landed again: a duplicate, which logs nothing new.
    last = results[-1]
    archived = rt.paths.archive / last.batch
    again = rt.paths.landing / f"again_{last.batch}"
    again.write_bytes(Path(archived).read_bytes())
    assert monitor(str(cycles["usecase"]), again.name, str(cycles["root"])).status == "duplicate"
    # The commit's tail run again from the record (what a rerun after a kill does).
    record = decision_store.read_decision_record(rt.client, last.decision_run_id, CycleRecord)
    MlflowMonitoringHistory(rt).log_cycle(record, [last.decision_run_id])

    run_id = monitoring_history.ensure_monitoring_run(rt.client, rt.usecase, None)
    for key in ("gate_passed", "retrain", "promoted", "drift_share", "domain_auc"):
        steps = [m.step for m in rt.client.get_metric_history(run_id, key)]
        assert sorted(steps)[-len(results) :] == [r.period for r in results], key
        assert len(steps) == len(set(steps)), key
    # The bootstrap's point comes first: its training is a retrain.
    retrains = sorted((m.step, m.value) for m in rt.client.get_metric_history(run_id, "retrain"))
    assert len(retrains) == 1 + len(results) and retrains[0][1] == 1.0
    realized = {m.step: m.value for m in rt.client.get_metric_history(run_id, "realized")}
    for r in results:
        tags = rt.client.get_run(r.decision_run_id).data.tags
        assert tags[TAG_MONITORING_RUN] == run_id
        assert realized.get(r.period) == r.realized


def test_the_cli_links_open_the_decisions_and_the_monitoring_run_in_the_model_view(
    cycles: dict[str, Any],
) -> None:
    from flows.cli import _monitoring_links

    rt = open_runtime(cycles["usecase"], str(cycles["root"]))
    run_id = monitoring_history.ensure_monitoring_run(rt.client, rt.usecase, None)
    lines = _monitoring_links(rt.mlflow.tracking_uri, cycles["usecase"]).splitlines()
    monitoring = rt.client.get_experiment_by_name(rt.usecase.monitoring_experiment_name)
    assert lines == [
        f"Decisions:  http://127.0.0.1:5000/#/experiments/{rt.decisions_experiment_id}/runs"
        "?workflowType=machine_learning",
        f"Monitoring: http://127.0.0.1:5000/#/experiments/{monitoring.experiment_id}/runs/"
        f"{run_id}/model-metrics?workflowType=machine_learning",
    ]
