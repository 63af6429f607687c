"""The ``alert`` flow takes an event's payload as its automation hands it over.

The automation renders ``{{ event.payload }}`` as the event's JSON object; the
Prefect server checks it against the deployment's parameter schema, and the
flow validates it into :class:`mlops_core.records.EventPayload`. These tests go
through those steps with payloads built as the emitters build them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import ValidationError, validate

from flows.alerts import ALERT_EVENTS, alert
from mlops_core.decisions import TrainingWindow
from mlops_core.records import EventPayload
from tasks.tags import RESOURCE_USECASE, Event

pytestmark = pytest.mark.flows

#: One payload per shape the emitters build (flows/cycle.py, flows/challenger.py,
#: tasks/steps.py, tasks/commit_protocol.py), as Prefect carries it: JSON.
EMITTED = {
    Event.BATCH_QUARANTINED: EventPayload(
        batch="period_030.csv",
        sha256="ab" * 32,
        period=30,
        failed_rules=("price:not_null", "-:row_count"),
        reason="3 rows have no price.",
    ),
    Event.GUARDRAIL_BREACH: EventPayload(
        batch="period_031.csv",
        period=31,
        rows=120,
        violating_rows=7,
        held_rows=2,
        breaker_tripped=False,
        actions={"non_negative:clip": 5, "max_units:hold": 2},
    ),
    Event.MODEL_PROMOTED: EventPayload(
        period=32, version="4", previous=None, metric="mae", challenger=3.25, champion=None
    ),
    Event.MODEL_ROLLED_BACK: EventPayload(from_version="4", to_version="3", reason="bad week"),
    Event.MODEL_RETRAINED: EventPayload(
        period=33,
        version="5",
        trigger="drift",
        window=TrainingWindow(kind="sliding", first_period=10, last_period=32),
        holdout_metrics={"mae": 3.5, "rmse": 4.75},
    ),
    Event.DRIFT_DETECTED: EventPayload(
        period=34, drift_share=0.5, importance_weighted_share=0.25, features=("price", "promo")
    ),
}


def as_the_automation_passes_it(payload: EventPayload) -> dict:
    """The event's payload after Prefect's JSON and the automation's ``tojson``."""
    return json.loads(json.dumps(payload.model_dump(mode="json")))


@pytest.mark.parametrize("event", list(EMITTED), ids=lambda e: e.value)
def test_every_emitted_payload_passes_the_deployment_schema_and_reads_back_equal(event) -> None:
    sent = as_the_automation_passes_it(EMITTED[event])
    schema = parameter_schema(alert).model_dump_for_openapi()
    validate(
        {"event": event.value, "resource": f"{RESOURCE_USECASE}shop", "payload": sent},
        schema,
        raise_on_error=True,
    )
    received = EventPayload.model_validate(sent)
    assert received == EMITTED[event]
    assert received.model_dump(mode="json") == sent, "the keys the emitter set, no others"


def test_a_payload_key_no_event_carries_fails_the_deployment_schema() -> None:
    schema = parameter_schema(alert).model_dump_for_openapi()
    with pytest.raises(ValidationError):
        validate(
            {"event": Event.BATCH_QUARANTINED.value, "payload": {"batch": "b.csv", "bacth": 1}},
            schema,
            raise_on_error=True,
        )


def test_the_alert_flow_reads_the_json_payload_and_writes_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    monkeypatch.delenv("MLOPS_ALERT_WEBHOOK_URL", raising=False)
    event = Event.MODEL_ROLLED_BACK
    sent = as_the_automation_passes_it(EMITTED[event])

    record = alert(
        event=event.value,
        resource=f"{RESOURCE_USECASE}shop",
        payload=sent,
        occurred="2026-01-05T10:00:00+00:00",
    )

    assert record.payload == EMITTED[event]
    assert record.message == (f"[shop] {ALERT_EVENTS[event]} (from=4, to=3, reason=bad week)")
    (line,) = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "event": event.value,
        "resource": f"{RESOURCE_USECASE}shop",
        "occurred": "2026-01-05T10:00:00+00:00",
        "message": record.message,
        "payload": {"from": "4", "to": "3", "reason": "bad week"},
    }
