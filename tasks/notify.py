"""Prefect events and artifacts: how a cycle tells automations and the UI what happened.

Event names are the product's public contract for automations; they are listed
in ``tasks.tags.Event`` and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from mlops_core.records import EventPayload
from tasks.tags import RESOURCE_MODEL, RESOURCE_USECASE, Event

#: A cell of a table artifact.
TableCell = str | int | float | bool | None

#: Every event name, as Prefect receives it.
EVENTS: tuple[str, ...] = tuple(e.value for e in Event)


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def emit(
    event: Event, usecase: str, payload: EventPayload, related_version: str | None = None
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
                "prefect.resource.id": f"{RESOURCE_MODEL}{usecase}.v{related_version}",
                "prefect.resource.role": "model-version",
            }
        )
    emit_event(
        event=event.value,
        resource={
            "prefect.resource.id": f"{RESOURCE_USECASE}{usecase}",
            "prefect.resource.name": usecase,
        },
        related=related or None,
        payload=payload.model_dump(mode="json"),
    )


def publish_markdown(usecase: str, kind: str, markdown: str, description: str) -> None:
    """Markdown artifact keyed per use case and kind (the UI keeps its history)."""
    create_markdown_artifact(
        markdown=markdown, key=artifact_key(usecase, kind), description=description
    )


def publish_table(
    usecase: str, kind: str, rows: Sequence[Mapping[str, TableCell]], description: str
) -> None:
    """Table artifact keyed per use case and kind."""
    create_table_artifact(
        table=[dict(r) for r in rows], key=artifact_key(usecase, kind), description=description
    )
