"""Alerts: the product's events drive Prefect automations, defined here as code.

The flows emit ``mlops.*`` events (:mod:`tasks.notify`). :func:`apply_automations`
creates one Prefect automation per alerting event: when the event arrives, the
automation runs the ``alert`` deployment with the event's name, resource and
payload. The ``alert`` flow writes one plain-language log line (visible in the
Prefect UI), appends the alert to ``alerts.jsonl`` under the data root, and,
when ``MLOPS_ALERT_WEBHOOK_URL`` is set, posts it as JSON (Slack, Teams and most
chat tools accept such a webhook). ``mlops up`` applies the automations; so
can ``python -m flows.alerts`` against any Prefect server.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.request
from collections.abc import Mapping

from prefect import flow, get_run_logger, task
from pydantic import JsonValue

from mlops_core.records import AlertRecord, EventPayload
from tasks.storage import resolve_data_root
from tasks.tags import RESOURCE_USECASE, Event

#: Events that page a person, with the sentence that opens the alert.
ALERT_EVENTS: Mapping[Event, str] = {
    Event.BATCH_QUARANTINED: "A batch was quarantined: it failed the data contract.",
    Event.GUARDRAIL_BREACH: "Predictions broke business limits and were held or changed.",
    Event.GUARDRAIL_FINDING: "A batch's inputs lie outside the champion's training range "
    "(one finding for the batch; its predictions were sent on as the rules say).",
    Event.LABELS_QUARANTINED: "A label file was quarantined: it failed the label gate "
    "(its labels decide no retrain until a corrected file lands).",
    Event.MODEL_LEAK_SUSPECTED: "A challenger was rejected: the target seems to leak into "
    "its inputs (check the feature pipeline).",
    Event.MODEL_PROMOTED: "A new model version became champion.",
    Event.MODEL_ROLLED_BACK: "The champion was rolled back to the previous version.",
    Event.ALERT_RESOLVED: "A condition alerted on earlier has cleared.",
    Event.ALERT_DIGEST: "A digest of conditions collected since the last one.",
}
ALERT_DEPLOYMENT = "alert/alert"
AUTOMATION_PREFIX = "mlops alert: "


def alert_message(event: str, resource: str, payload: EventPayload) -> str:
    """One readable line: what happened, to which use case, with the event's key numbers."""
    opening = ALERT_EVENTS.get(event, f"Event {event}.")
    usecase = resource.removeprefix(RESOURCE_USECASE)
    details = ", ".join(
        f"{k}={v}"
        for k, v in payload.model_dump(mode="json").items()
        if isinstance(v, (str, int, float, bool))
    )
    return f"[{usecase}] {opening}" + (f" ({details})" if details else "")


@task(retries=3, retry_delay_seconds=[2, 10, 30])
def post_webhook(url: str, body: Mapping[str, JsonValue]) -> int:
    """POST the alert as JSON; retried on network errors (I/O only)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (configured URL)
        return int(response.status)


@flow(name="alert", flow_run_name="alert {event}")
def alert(
    event: str,
    resource: str = "",
    payload: EventPayload | None = None,
    occurred: str | None = None,
) -> AlertRecord:
    """Tell people about a product event: a log line, ``alerts.jsonl``, an optional webhook.

    Args:
        event: The product event, e.g. ``mlops.batch.quarantined``.
        resource: The event's resource id (``mlops.usecase.<name>``).
        payload: The event's payload (batch, version, numbers); the automation passes
            the event's JSON payload, which Prefect validates into the model.
        occurred: When the event happened (ISO 8601); default now.
    """
    payload = payload or EventPayload()
    message = alert_message(event, resource, payload)
    get_run_logger().warning(message)
    record = AlertRecord(
        event=event,
        resource=resource,
        occurred=occurred or dt.datetime.now(dt.UTC).isoformat(),
        message=message,
        payload=payload,
    )
    root = resolve_data_root()
    root.mkdir(parents=True, exist_ok=True)
    line = record.model_dump(mode="json", exclude={"webhook_status"})
    with (root / "alerts.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
    url = os.environ.get("MLOPS_ALERT_WEBHOOK_URL", "").strip()
    if url:
        status = post_webhook(url, {"text": message, **line})
        record = record.model_copy(update={"webhook_status": status})
    return record


def apply_automations(api_url: str | None = None) -> list[str]:
    """Create (or replace) one automation per alerting event, running the ``alert`` deployment.

    Args:
        api_url: The Prefect API; None uses the current Prefect settings.

    Returns:
        The names of the automations now defined.

    Raises:
        ValueError: The ``alert`` deployment is not applied on that server yet.
    """
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def apply() -> list[str]:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(ALERT_DEPLOYMENT)
            for existing in client.read_automations():
                if existing.name.startswith(AUTOMATION_PREFIX):
                    client.delete_automation(existing.id)
        names = []
        for event in ALERT_EVENTS:
            automation = Automation(
                name=f"{AUTOMATION_PREFIX}{event}",
                description=ALERT_EVENTS[event],
                trigger=EventTrigger(
                    expect={event.value},
                    match={"prefect.resource.id": f"{RESOURCE_USECASE}*"},
                    posture=Posture.Reactive,
                    threshold=1,
                    within=dt.timedelta(0),
                ),
                actions=[
                    RunDeployment(
                        source="selected",
                        deployment_id=deployment.id,
                        parameters={
                            "event": "{{ event.event }}",
                            "resource": "{{ event.resource.id }}",
                            "payload": "{{ event.payload }}",
                            # A timestamp has no JSON form: rendered as text.
                            "occurred": {
                                "__prefect_kind": "jinja",
                                "template": "{{ event.occurred }}",
                            },
                        },
                    )
                ],
            )
            automation.create()
            names.append(automation.name)
        return names

    if api_url is None:
        return apply()
    with temporary_settings({PREFECT_API_URL: api_url}):
        return apply()


if __name__ == "__main__":
    for name in apply_automations():
        print(name)
