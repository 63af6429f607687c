"""The real adapters of the commit protocol: MLflow, the batch's files, Prefect.

Each class implements one interface of ``tasks/commit_protocol.py`` for one use
case's ``Runtime``. Calls that take Prefect's task machinery (the decision
record's retries, the promotion slot, events, artifacts, the run logger) go
through ``tasks.steps`` and ``tasks.notify``, looked up at call time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from prefect import get_run_logger

from mlops_core.records import CycleRecord, EventPayload
from tasks import decision_store, model_registry, monitoring_history, steps, storage
from tasks.commit_protocol import CommitPorts, RecordedDecision
from tasks.model_card import publish_card_for_promotion
from tasks.notify import emit, publish_markdown
from tasks.runtime import Runtime
from tasks.tags import TAG_ABANDONED_REASON, TAG_BATCH, TAG_KIND, TAG_STATUS, Event


class MlflowDecisionStore:
    """Decision runs in the use case's decisions experiment (``tasks.decision_store``)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def recorded(self, batch_sha256: str, kind: str) -> RecordedDecision | None:
        """The finished decision run of ``kind`` recorded for the batch, if any."""
        runs = decision_store.find_decision_runs(
            self._rt.client,
            self._rt.decisions_experiment_id,
            filter_tags={TAG_BATCH: batch_sha256, TAG_KIND: kind},
            max_results=1,
        )
        return RecordedDecision(run_id=runs[0].run_id, tags=runs[0].tags) if runs else None

    def record(
        self,
        *,
        run_name: str,
        kind: str,
        action: str,
        reason_codes: list[str],
        record: CycleRecord,
        markdown: str,
        metrics: dict[str, float],
        tags: dict[str, str],
    ) -> str:
        """Record one decision as a finished run (the ``record decision`` task, with retries)."""
        return steps.record_decision(
            self._rt,
            run_name=run_name,
            kind=kind,
            action=action,
            reason_codes=reason_codes,
            record=record,
            markdown=markdown,
            metrics=metrics,
            tags=tags,
        )

    def read(self, run_id: str) -> tuple[CycleRecord, str]:
        """A decision run's ``decision.json`` and ``decision.md``."""
        client = self._rt.client
        record = decision_store.read_decision_record(client, run_id, CycleRecord)
        return record, decision_store.read_decision_markdown(client, run_id)

    def amend(
        self, run_id: str, record: CycleRecord, markdown: str, tags: Mapping[str, str]
    ) -> None:
        """Set tags on a decision run, then replace its record and report."""
        decision_store.amend_decision_record(self._rt.client, run_id, record, markdown, tags)

    def end_open_runs(self, batch_sha256: str) -> None:
        """End FAILED the runs of the batch's cycle a dead holder left open."""
        steps.fail_runs_left_running(self._rt, batch_sha256)


class MlflowRegistry:
    """The use case's registered model (``tasks.model_registry``)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._name = rt.usecase.registered_model_name

    def champion(self) -> str | None:
        """The version alias ``champion`` points at."""
        return model_registry.aliases_of(self._rt.client, self._name).get(
            model_registry.CHAMPION_ALIAS
        )

    def previous(self) -> str | None:
        """The version alias ``previous`` points at."""
        return model_registry.aliases_of(self._rt.client, self._name).get(
            model_registry.PREVIOUS_ALIAS
        )

    def status(self, version: str) -> str | None:
        """A version's status tag; None when the version does not exist."""
        mv = model_registry.lookup_version(self._rt.client, self._name, version=version)
        return None if mv is None else (mv.tags or {}).get(TAG_STATUS)

    def set_champion(
        self, version: str, *, expected_current: str | None, reason: str
    ) -> str | None:
        """Move ``champion`` inside the model's promotion slot (the ``promote`` task)."""
        return steps.promote(self._rt, version, expected_current, reason)

    def abandon(self, version: str, reason: str) -> None:
        """Tag the version with the reason, then status ``abandoned``."""
        model_registry.tag_version(
            self._rt.client,
            self._name,
            version,
            {TAG_ABANDONED_REASON: reason, TAG_STATUS: model_registry.STATUS_ABANDONED},
        )

    def abandon_candidates(self, batch_sha256: str) -> list[str]:
        """Abandon the batch's versions still ``candidate`` and holding no alias."""
        return model_registry.abandon_candidates(self._rt.client, self._name, batch_sha256)

    def publish_card(self, record: CycleRecord) -> None:
        """The promoted version's card: its registry description and ``model_card.md``."""
        assert record.promotion is not None
        publish_card_for_promotion(
            self._rt.client,
            self._rt.usecase,
            str(record.challenger_version),
            record.promotion,
            previous_version=record.champion_before,
            drift=record.drift,
        )


class BatchFolders:
    """A batch's staging folder, the output folders and the archive of a use case."""

    def __init__(self, paths: storage.UseCasePaths) -> None:
        self._paths = paths

    def discard_staged(self, sha256: str) -> None:
        """Remove the batch's staging folder."""
        storage.discard_staged(self._paths.stage_of(sha256))

    def publish_staged(self, sha256: str) -> None:
        """Move the staged predictions and review rows to their folders."""
        storage.publish_staged(
            self._paths.stage_of(sha256),
            {"predictions": self._paths.predictions, "review": self._paths.review},
        )

    def archive(self, landed: Path, sha256: str) -> None:
        """Move the batch file to the archive (verified by hash), if it is still there."""
        if landed.exists():
            storage.move_verified(landed, self._paths.archive, sha256)


class MlflowMonitoringHistory:
    """The use case's monitoring run (``tasks.monitoring_history``)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def log_cycle(self, record: CycleRecord, decision_run_ids: list[str]) -> str:
        """Log the cycle at ``step = period``; tag its decision runs with the run's id."""
        rt = self._rt
        return monitoring_history.log_cycle(
            rt.client, rt.usecase, record, decision_run_ids, rt.mlflow.artifact_root
        )

    def mark_missing(self, decision_run_id: str, reason: str) -> None:
        """Tag the decision run with why its point is missing."""
        monitoring_history.mark_missing(self._rt.client, decision_run_id, reason)


class PrefectNotices:
    """Prefect events, markdown artifacts and the run logger, for one use case."""

    def __init__(self, usecase: str) -> None:
        self._usecase = usecase

    def event(
        self, event: Event, payload: EventPayload, related_version: str | None = None
    ) -> None:
        """Emit a product event about the use case."""
        emit(event, self._usecase, payload, related_version=related_version)

    def markdown(self, kind: str, markdown: str, description: str) -> None:
        """Publish a markdown artifact of the use case."""
        publish_markdown(self._usecase, kind, markdown, description)

    def info(self, message: str, *args: object) -> None:
        """Log to the flow run's logger."""
        get_run_logger().info(message, *args)

    def warning(self, message: str, *args: object, exc_info: bool = False) -> None:
        """Log a warning to the flow run's logger."""
        get_run_logger().warning(message, *args, exc_info=exc_info)


def commit_ports(rt: Runtime) -> CommitPorts:
    """The real adapters of the commit protocol for one use case."""
    return CommitPorts(
        usecase=rt.usecase,
        decisions=MlflowDecisionStore(rt),
        registry=MlflowRegistry(rt),
        ledger=rt.coordination.ledger,
        files=BatchFolders(rt.paths),
        notices=PrefectNotices(rt.name),
        monitoring=MlflowMonitoringHistory(rt),
    )


__all__ = [
    "BatchFolders",
    "MlflowDecisionStore",
    "MlflowMonitoringHistory",
    "MlflowRegistry",
    "PrefectNotices",
    "commit_ports",
]
