"""Decision records: one MLflow run per decision in the use case's decisions experiment.

A decision run carries its kind, action and reason codes as tags, its numbers as
metrics, and its full record as ``decision.json`` (a model of
``mlops_core.records``) with the plain-language ``decision.md``. Only a FINISHED
run is a decision (docs/design.md, section 5.2).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from mlflow import MlflowClient

from mlops_core.records import CycleRecord, DecisionRecord, RecordError, StoredRecord
from tasks.mlflow_store import fail_run_quietly, log_batch, read_run_text
from tasks.tags import (
    TAG_ACTION,
    TAG_KIND,
    TAG_REASONS,
)

#: The model of a decision run's record (see :func:`read_decision_record`).
R = TypeVar("R", bound=StoredRecord)
DECISION_JSON_FILE = "decision.json"
DECISION_MD_FILE = "decision.md"


@dataclass(frozen=True)
class DecisionRunInfo:
    """One decision run, as found in the decisions experiment."""

    run_id: str
    start_time: int
    action: str
    kind: str
    reasons: tuple[str, ...]
    tags: dict[str, str]
    metrics: dict[str, float]


def log_decision_run(
    client: MlflowClient,
    *,
    experiment_id: str,
    run_name: str,
    kind: str,
    action: str,
    reason_codes: Sequence[str],
    record: DecisionRecord,
    markdown: str,
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
) -> str:
    """Record one decision as its own run, so the MLflow UI lists every decision.

    Args:
        client: MLflow client.
        experiment_id: The decisions experiment.
        run_name: Display name of the run.
        kind: Decision kind (gate, retrain, promotion, rollback, ...).
        action: The decision's action.
        reason_codes: Reason codes, deciding reason first.
        record: The full decision (stored as ``decision.json``; read back with
            :func:`read_decision_record`).
        markdown: The plain-language report (stored as ``decision.md``).
        metrics: Numbers worth charting across decisions.
        tags: Extra tags (e.g. ``mlops.batch_sha256``, ``mlops.period``).

    Returns:
        The run id.
    """
    # Serialise first: a record that cannot be written must not leave a half run.
    record_json = _record_json(record)
    run_tags = {
        **{str(k): str(v) for k, v in tags.items()},
        TAG_KIND: kind,
        TAG_ACTION: action,
        TAG_REASONS: ",".join(reason_codes),
    }
    run = client.create_run(experiment_id, run_name=run_name, tags=run_tags)
    run_id = run.info.run_id
    try:
        if metrics:
            log_batch(client, run_id, params={}, metrics=metrics)
        _log_record_files(client, run_id, record_json, markdown)
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        fail_run_quietly(client, run_id)
        raise
    return run_id


def amend_decision_record(
    client: MlflowClient,
    run_id: str,
    record: CycleRecord,
    markdown: str,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Set ``tags`` on a cycle decision run, then replace its ``decision.json`` and ``decision.md``.

    Only for what happened after the decision was recorded (a promotion that
    another version superseded): the decisions themselves stay as recorded.
    """
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, value)
    _log_record_files(client, run_id, _record_json(record), markdown)


def _record_json(record: DecisionRecord) -> str:
    """The text of ``decision.json``: the record's fields in their order, indented."""
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False)


def _log_record_files(client: MlflowClient, run_id: str, record_json: str, markdown: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mlops-decision-") as tmp:
        (Path(tmp) / DECISION_JSON_FILE).write_text(record_json, encoding="utf-8")
        (Path(tmp) / DECISION_MD_FILE).write_text(markdown, encoding="utf-8")
        client.log_artifacts(run_id, tmp)


def read_decision_record(client: MlflowClient, run_id: str, model: type[R]) -> R:
    """The ``decision.json`` record of a decision run, as the model of its kind.

    Args:
        client: MLflow client.
        run_id: The decision run.
        model: The record's model (:class:`~mlops_core.records.CycleRecord` for a
            cycle's retrain and promotion runs, ``RollbackRecord``, ``ReviewRecord``).

    Returns:
        The record; keys another version wrote that this one does not know are dropped.

    Raises:
        RecordError: The file is not JSON, or not a record of that kind.
    """
    text = read_run_text(client, run_id, DECISION_JSON_FILE)
    where = f"decision.json of run {run_id}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{where}: not JSON: {exc}") from None
    return model.read(data, where)


def read_decision_markdown(client: MlflowClient, run_id: str) -> str:
    """The ``decision.md`` report of a decision run."""
    return read_run_text(client, run_id, DECISION_MD_FILE)


def find_decision_runs(
    client: MlflowClient,
    experiment_id: str,
    *,
    filter_tags: Mapping[str, str] | None = None,
    like_tags: Mapping[str, str] | None = None,
    min_metrics: Mapping[str, float] | None = None,
    started_since: int | None = None,
    order: Literal["newest", "oldest", "highest"] = "newest",
    order_metric: str | None = None,
    max_results: int = 100,
) -> list[DecisionRunInfo]:
    """Finished decision runs that meet the given criteria, newest first unless ``order`` says.

    A decision run that did not finish (its record could not be written, or the
    process died while writing it) is not a decision: it never counts in the
    history later decisions are based on, nor as the decision of its batch.

    Args:
        client: MLflow client.
        experiment_id: The decisions experiment.
        filter_tags: Exact tag values every returned run must have.
        like_tags: SQL ``LIKE`` patterns (``%`` any text) every returned run's tags match.
        min_metrics: Lower bounds every returned run's metrics meet (a run
            without the metric is left out).
        started_since: Only runs started at or after this time (ms since the epoch).
        order: ``newest`` or ``oldest`` first by start time, or ``highest``
            ``order_metric`` first (newest first among equals).
        order_metric: The metric ``order="highest"`` sorts on.
        max_results: Most runs returned.

    Returns:
        The matching runs, in ``order``.
    """
    clauses = ["attributes.status = 'FINISHED'"]
    for op, tags in (("=", filter_tags), ("LIKE", like_tags)):
        for key, value in (tags or {}).items():
            if "`" in key or "'" in str(value):
                raise ValueError(f"tag filter {key}={value!r} contains a quote character")
            clauses.append(f"tags.`{key}` {op} '{value}'")
    for key, bound in (min_metrics or {}).items():
        if "`" in key:
            raise ValueError(f"metric filter {key!r} contains a backquote")
        clauses.append(f"metrics.`{key}` >= {float(bound)!r}")
    if started_since is not None:
        clauses.append(f"attributes.start_time >= {int(started_since)}")
    if order == "highest":
        if order_metric is None or "`" in order_metric:
            raise ValueError(f"order 'highest' needs a metric name, not {order_metric!r}")
        order_by = [f"metrics.`{order_metric}` DESC", "attributes.start_time DESC"]
    else:
        order_by = [f"attributes.start_time {'ASC' if order == 'oldest' else 'DESC'}"]
    runs = client.search_runs(
        [experiment_id],
        filter_string=" and ".join(clauses),
        max_results=max_results,
        order_by=order_by,
    )
    found = []
    for run in runs:
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        reasons = tags.get(TAG_REASONS, "")
        found.append(
            DecisionRunInfo(
                run_id=run.info.run_id,
                start_time=int(run.info.start_time),
                action=tags.get(TAG_ACTION, ""),
                kind=tags.get(TAG_KIND, ""),
                reasons=tuple(r for r in reasons.split(",") if r),
                tags=tags,
                metrics=dict(run.data.metrics),
            )
        )
    return found


__all__ = [
    "DECISION_JSON_FILE",
    "DECISION_MD_FILE",
    "DecisionRunInfo",
    "amend_decision_record",
    "find_decision_runs",
    "log_decision_run",
    "read_decision_markdown",
    "read_decision_record",
]
