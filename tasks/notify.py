"""Prefect events and artifacts: how a cycle tells automations and the UI what happened.

Event names are the product's public contract for automations; they are listed
in ``EVENTS`` and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

EventName = Literal[
    "mlops.batch.quarantined",
    "mlops.drift.detected",
    "mlops.model.retrained",
    "mlops.model.promoted",
    "mlops.model.rejected",
    "mlops.model.rolled_back",
    "mlops.guardrail.breach",
    "mlops.guardrail.finding",
    "mlops.labels.quarantined",
    "mlops.labels.findings",
]
EVENTS: tuple[str, ...] = EventName.__args__  # type: ignore[attr-defined]


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def emit(
    event: EventName, usecase: str, payload: Mapping[str, Any], related_version: str | None = None
) -> None:
    """Emit a product event about a use case.

    The resource id ``mlops.usecase.<name>`` lets one automation match every
    event of a use case; the model version, when there is one, is a related
    resource.
    """
    related = []
    if related_version is not None:
        related.append(
            {
                "prefect.resource.id": f"mlops.model.{usecase}.v{related_version}",
                "prefect.resource.role": "model-version",
            }
        )
    emit_event(
        event=event,
        resource={
            "prefect.resource.id": f"mlops.usecase.{usecase}",
            "prefect.resource.name": usecase,
        },
        related=related or None,
        payload=dict(payload),
    )


def publish_markdown(usecase: str, kind: str, markdown: str, description: str) -> None:
    """Markdown artifact keyed per use case and kind (the UI keeps its history)."""
    create_markdown_artifact(
        markdown=markdown, key=artifact_key(usecase, kind), description=description
    )


def publish_table(
    usecase: str, kind: str, rows: Sequence[Mapping[str, Any]], description: str
) -> None:
    """Table artifact keyed per use case and kind."""
    create_table_artifact(
        table=[dict(r) for r in rows], key=artifact_key(usecase, kind), description=description
    )
