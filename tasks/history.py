"""What the product recorded, read back as typed values for the reports.

The decisions experiment in MLflow holds one run per decision: a cycle's
``retrain`` run (its ``decision.json`` record, tags and metrics), the
``promotion`` run of a cycle that judged a challenger, and ``rollback`` runs.
The review folder holds the rows guardrails held back. This module is the only
place the reports touch MLflow or those files: it maps them into frozen values
(``CycleOutcome`` and the decision types of ``mlops_core.decisions``), so the
renderers in ``tasks.html_report`` never index JSON or MLflow objects. It also
reads the summary of earlier decisions a cycle's retrain decision starts from
(:func:`read_decision_history`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow import MlflowClient

from mlops_core.config import UseCase
from mlops_core.cycle import DecisionHistory, PastDecision
from mlops_core.records import CycleRecord, RecordError, RollbackRecord
from mlops_core.report import ChampionChange, CycleOutcome
from tasks import decision_store
from tasks.tags import (
    METRIC_PERIOD,
    TAG_ACTION,
    TAG_BATCH,
    TAG_BATCH_NAME,
    TAG_CHALLENGER_VERSION,
    TAG_CHAMPION_VERSION,
    TAG_KIND,
    TAG_LABELS_THROUGH,
    TAG_PERIOD,
    TAG_PREVIOUS_VERSION,
    TAG_SUPERSEDED_BY,
)

#: Tag the cycle sets on its retrain run when a decided promotion was not

#: Most decision runs one history reads; older ones are left out (and said so).
MAX_HISTORY_RUNS = 5000


# ----------------------------------------------------------------- one cycle
@dataclass(frozen=True)
class RecordedCycle:
    """One cycle's decisions as recorded in its retrain-kind decision run.

    Attributes:
        run_id: The decision run.
        at: When the decision was recorded (UTC).
        usecase: Use-case name in the record.
        outcome: The typed decisions.
        decay_cause: The attribution the cycle recorded.
        labels_through: Latest period with labels when the cycle ran.
        recorded_summary: The summary written at the time.
    """

    run_id: str
    at: dt.datetime
    usecase: str
    outcome: CycleOutcome
    decay_cause: str
    labels_through: int | None
    recorded_summary: str


def read_cycle(client: MlflowClient, run_id: str) -> RecordedCycle:
    """Read the record of one cycle's decision run.

    Args:
        client: MLflow client.
        run_id: A retrain-kind decision run (``flows.cycle`` writes one per cycle).

    Returns:
        The recorded cycle.

    Raises:
        ValueError: The run is not a cycle's decision run, or its record is not
            a cycle record of any version (:class:`~mlops_core.records.RecordError`).
    """
    run = client.get_run(run_id)
    tags = run.data.tags
    if tags.get(TAG_KIND) != "retrain":
        raise ValueError(f"run {run_id} is not a cycle's decision run")
    record = decision_store.read_decision_record(client, run_id, CycleRecord)
    return RecordedCycle(
        run_id=run_id,
        at=_time(run.info.start_time),
        usecase=record.usecase,
        outcome=record.outcome(superseded_by=_text(tags.get(TAG_SUPERSEDED_BY))),
        decay_cause=record.decay_cause,
        labels_through=_int(tags.get(TAG_LABELS_THROUGH)),
        recorded_summary=record.summary,
    )


# ----------------------------------------------------------------- history
@dataclass(frozen=True)
class HistoryPoint:
    """One cycle in the history, from its decision run's tags and metrics.

    Metric values are None where the cycle did not measure them.
    """

    run_id: str
    at: dt.datetime
    period: int | None
    batch: str
    action: str
    reasons: tuple[str, ...]
    champion_version: str | None
    challenger_version: str | None
    promotion: str | None
    superseded_by: str | None
    labels_through: int | None
    realized: float | None
    realized_low: float | None
    realized_high: float | None
    reference: float | None
    estimated: float | None
    estimated_low: float | None
    estimated_high: float | None
    estimated_current: float | None
    drift_share: float | None
    importance_weighted_drift: float | None
    violation_rate: float | None
    held_rows: float | None
    cycle: RecordedCycle | None = None

    @property
    def promoted(self) -> bool:
        """A challenger of this cycle became champion."""
        return self.promotion == "promote" and self.superseded_by is None


@dataclass(frozen=True)
class RollbackPoint:
    """A rollback of the champion (``flows.cycle.rollback``)."""

    run_id: str
    at: dt.datetime
    from_version: str | None
    to_version: str | None
    reason: str | None
    requested_by: str | None


@dataclass(frozen=True)
class ChampionSpan:
    """A stretch of time one version was champion, and how it began.

    Attributes:
        change: The change that made ``change.version`` champion.
        start: When it became champion.
        end: When the next change replaced it; None while it is champion.
        first_period: First cycle period it served (the deciding cycle's period
            for a promotion; the next cycle's after a rollback).
        last_period: Last cycle period before it was replaced (None: still champion).
    """

    change: ChampionChange
    start: dt.datetime
    end: dt.datetime | None
    first_period: int | None
    last_period: int | None


@dataclass(frozen=True)
class History:
    """The decisions of a use case over time.

    Attributes:
        points: Cycles in the window, oldest first.
        rollbacks: Rollbacks in the window, oldest first.
        timeline: Every champion span that overlaps the window, oldest first
            (with records read; else empty).
        since_period: Lower bound on the period, if any.
        since_time: Lower bound on the decision time, if any.
        truncated: Older decisions than the ``MAX_HISTORY_RUNS`` newest were left out.
    """

    points: tuple[HistoryPoint, ...]
    rollbacks: tuple[RollbackPoint, ...]
    timeline: tuple[ChampionSpan, ...]
    since_period: int | None
    since_time: dt.datetime | None
    truncated: bool


def _in_window(
    period: int | None, at: dt.datetime, since_period: int | None, since_time: dt.datetime | None
) -> bool:
    if since_period is not None and (period is None or period < since_period):
        return False
    return since_time is None or at >= since_time


#: Newest decisions read for the labels already judged (see :func:`read_decision_history`).
LATEST_DECISIONS = 8


def read_decision_history(
    client: MlflowClient, decisions_experiment_id: str, budget_window_periods: int
) -> DecisionHistory:
    """What earlier retrain-kind decisions say about the next one (cooldown, budget, lateness).

    Three small searches instead of reading every decision, so a cycle does not
    slow down as the history grows: the newest decisions (the labels already
    judged; each decision carries the latest value forward), the one of the
    highest period (a batch before it is late) and the trainings of the highest
    periods, as many as the retrain budget's window has periods (the cooldown
    and the budget count them). The result is the summary of every decision.

    Args:
        client: MLflow client.
        decisions_experiment_id: The use case's decisions experiment.
        budget_window_periods: The retrain budget's window.

    Returns:
        The summary the next retrain decision reads.
    """

    def search(max_results: int, **criteria: Any) -> list[decision_store.DecisionRunInfo]:
        return decision_store.find_decision_runs(
            client,
            decisions_experiment_id,
            filter_tags={TAG_KIND: "retrain"},
            max_results=max_results,
            **criteria,
        )

    newest = search(LATEST_DECISIONS)
    highest = search(1, order="highest", order_metric=METRIC_PERIOD)
    trainings = search(
        budget_window_periods,
        like_tags={TAG_ACTION: "%train"},  # "train" (the first model) and "retrain"
        order="highest",
        order_metric=METRIC_PERIOD,
    )
    # Newest first, so the labels judged come from the newest decision that has them.
    runs = {run.run_id: run for run in (*newest, *highest, *trainings)}.values()
    return DecisionHistory.from_decisions(
        PastDecision(
            period=_int(run.tags.get(TAG_PERIOD)),
            action=run.action,
            labels_through=_int(run.tags.get(TAG_LABELS_THROUGH)),
        )
        for run in runs
    )


def load_history(
    client: MlflowClient,
    decisions_experiment_id: str,
    *,
    since_period: int | None = None,
    since_time: dt.datetime | None = None,
    until_period: int | None = None,
    read_records: bool = True,
    max_runs: int = MAX_HISTORY_RUNS,
) -> History:
    """The decision history of a use case, as typed points.

    One search of the decisions experiment gives every cycle's tags and
    metrics. With ``since_period`` and without ``read_records`` (the window of a
    cycle's report) only the runs started since the window's first cycle are
    read, so the cost does not grow with the history. With ``read_records`` the
    records of the cycles in the window and of every promotion and rollback are
    read as well (one artifact each): they give each point its typed decisions
    and the champion timeline its reasons.

    Args:
        client: MLflow client.
        decisions_experiment_id: The use case's decisions experiment.
        since_period: Keep cycles of this period or later.
        since_time: Keep decisions recorded at or after this time (timezone-aware).
        until_period: Keep cycles of this period or earlier.
        read_records: Read the decision records (typed outcomes, champion timeline).
        max_runs: Most decision runs read, newest first.

    Returns:
        The history, oldest first.
    """
    if since_period is not None and not read_records:
        runs = _runs_since_period(client, decisions_experiment_id, since_period, max_runs)
    else:
        runs = decision_store.find_decision_runs(
            client, decisions_experiment_id, max_results=max_runs
        )
    truncated = len(runs) >= max_runs
    runs = sorted(runs, key=lambda r: r.start_time)  # oldest first
    promotions = {r.tags.get(TAG_BATCH): r for r in runs if r.kind == "promotion" and r.action}
    points: list[HistoryPoint] = []
    for run in runs:
        if run.kind != "retrain":
            continue
        period = _int(run.tags.get(TAG_PERIOD))
        at = _time(run.start_time)
        if until_period is not None and period is not None and period > until_period:
            continue
        if not _in_window(period, at, since_period, since_time):
            continue
        promotion_run = promotions.get(run.tags.get(TAG_BATCH))
        m = run.metrics
        points.append(
            HistoryPoint(
                run_id=run.run_id,
                at=at,
                period=period,
                batch=run.tags.get(TAG_BATCH_NAME, ""),
                action=run.action,
                reasons=run.reasons,
                champion_version=_text(run.tags.get(TAG_CHAMPION_VERSION)),
                challenger_version=_text(
                    promotion_run.tags.get(TAG_CHALLENGER_VERSION) if promotion_run else None
                ),
                promotion=promotion_run.action if promotion_run else None,
                superseded_by=_text(run.tags.get(TAG_SUPERSEDED_BY)),
                labels_through=_int(run.tags.get(TAG_LABELS_THROUGH)),
                realized=_metric(m, "realized"),
                realized_low=_metric(m, "realized_low"),
                realized_high=_metric(m, "realized_high"),
                reference=_metric(m, "reference"),
                estimated=_metric(m, "estimated"),
                estimated_low=_metric(m, "estimated_low"),
                estimated_high=_metric(m, "estimated_high"),
                estimated_current=_metric(m, "estimated_current"),
                drift_share=_metric(m, "drift_share"),
                importance_weighted_drift=_metric(m, "importance_weighted_drift"),
                violation_rate=_metric(m, "guardrail_violation_rate"),
                held_rows=_metric(m, "guardrail_held_rows"),
                cycle=_read_cycle_or_none(client, run.run_id) if read_records else None,
            )
        )
    rollbacks = [_rollback(client, r, read_records) for r in runs if r.kind == "rollback"]
    timeline = _timeline(client, runs, rollbacks) if read_records else []
    window_rollbacks = tuple(r for r in rollbacks if _in_window(None, r.at, None, since_time))
    start = points[0].at if points else since_time
    return History(
        points=tuple(points),
        rollbacks=window_rollbacks,
        timeline=tuple(s for s in timeline if start is None or s.end is None or s.end >= start),
        since_period=since_period,
        since_time=since_time,
        truncated=truncated,
    )


def _runs_since_period(
    client: MlflowClient, decisions_experiment_id: str, since_period: int, max_runs: int
) -> list[decision_store.DecisionRunInfo]:
    """Decision runs started since the first cycle of ``since_period`` or later, newest first.

    A window of periods without the champion timeline needs nothing older, and
    reading only these keeps the cost of a cycle's report from growing with
    the history. Late cycles of earlier periods among them are left out by the
    caller, as in the full search.
    """
    first = decision_store.find_decision_runs(
        client,
        decisions_experiment_id,
        filter_tags={TAG_KIND: "retrain"},
        min_metrics={METRIC_PERIOD: since_period},
        order="oldest",
        max_results=1,
    )
    if not first:
        return []
    return decision_store.find_decision_runs(
        client, decisions_experiment_id, started_since=first[0].start_time, max_results=max_runs
    )


def _read_cycle_or_none(client: MlflowClient, run_id: str) -> RecordedCycle | None:
    # A record written by an older version of the product may not fit today's
    # types: that cycle keeps its tags and metrics, without typed decisions.
    try:
        return read_cycle(client, run_id)
    except ValueError:
        return None


def _rollback(
    client: MlflowClient, run: decision_store.DecisionRunInfo, read: bool
) -> RollbackPoint:
    # Without a readable record, the run's tags still name the two versions.
    record = None
    if read:
        try:
            record = decision_store.read_decision_record(client, run.run_id, RollbackRecord)
        except RecordError:
            record = None
    if record is None:
        return RollbackPoint(
            run_id=run.run_id,
            at=_time(run.start_time),
            from_version=_text(run.tags.get(TAG_PREVIOUS_VERSION)),
            to_version=_text(run.tags.get(TAG_CHAMPION_VERSION)),
            reason=None,
            requested_by=None,
        )
    return RollbackPoint(
        run_id=run.run_id,
        at=_time(run.start_time),
        from_version=_text(record.from_version),
        to_version=_text(record.to_version),
        reason=_text(record.reason),
        requested_by=_text(record.requested_by),
    )


def _timeline(
    client: MlflowClient,
    runs: Sequence[decision_store.DecisionRunInfo],
    rollbacks: Sequence[RollbackPoint],
) -> list[ChampionSpan]:
    """Every change of champion, oldest first: promotions carried out and rollbacks."""
    superseded = {
        r.tags.get(TAG_BATCH) for r in runs if r.kind == "retrain" and r.tags.get(TAG_SUPERSEDED_BY)
    }
    cycle_periods = sorted(
        (r.start_time, _int(r.tags.get(TAG_PERIOD))) for r in runs if r.kind == "retrain"
    )
    changes: list[tuple[dt.datetime, ChampionChange]] = []
    for run in runs:
        if run.kind != "promotion" or run.action != "promote":
            continue
        if run.tags.get(TAG_BATCH) in superseded:
            continue
        try:
            outcome = decision_store.read_decision_record(client, run.run_id, CycleRecord).outcome()
        except RecordError:
            outcome = None
        version = _text(run.tags.get(TAG_CHALLENGER_VERSION))
        if version is None:
            continue
        previous = outcome.champion_before if outcome else None
        changes.append(
            (
                _time(run.start_time),
                ChampionChange(
                    version=version,
                    previous=previous,
                    period=_int(run.tags.get(TAG_PERIOD)),
                    kind="first" if previous is None else "promotion",
                    retrain=outcome.retrain if outcome else None,
                    promotion=outcome.promotion if outcome else None,
                ),
            )
        )
    for rb in rollbacks:
        if rb.to_version is None:
            continue
        changes.append(
            (
                rb.at,
                ChampionChange(
                    version=rb.to_version,
                    previous=rb.from_version,
                    period=None,
                    kind="rollback",
                    reason=rb.reason,
                    requested_by=rb.requested_by,
                ),
            )
        )
    changes.sort(key=lambda c: c[0])
    spans = []
    for i, (start, change) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else None
        served = [
            p
            for t, p in cycle_periods
            if p is not None and _time(t) >= start and (end is None or _time(t) < end)
        ]
        before = [p for t, p in cycle_periods if p is not None and _time(t) < start]
        if change.period is not None:
            first = change.period
        elif served:
            first = min(served)
        else:  # a rollback after the last cycle serves from the next period on
            first = max(before) + 1 if before else None
        last = (max(served) if served else first) if end is not None else None
        spans.append(
            ChampionSpan(change=change, start=start, end=end, first_period=first, last_period=last)
        )
    return spans


# ------------------------------------------------------------- review queue
@dataclass(frozen=True)
class HeldRow:
    """One prediction a guardrail held back for review."""

    row_id: str
    segment: str | None
    raw_prediction: float | None
    proposed_prediction: float | None
    violations: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class ReviewQueue:
    """The held rows of one batch, capped for display.

    Attributes:
        batch: Batch file name.
        total: Rows held for the batch.
        rows: The first ``limit`` held rows.
        by_rule: Held rows per ``rule:action`` (a row can break several rules).
        by_status: Held rows per review status.
    """

    batch: str
    total: int
    rows: tuple[HeldRow, ...]
    by_rule: dict[str, int]
    by_status: dict[str, int]


def load_review_queue(
    review_folder: Path, batch: str, usecase: UseCase, *, limit: int = 50
) -> ReviewQueue:
    """The rows of one batch in the review queue (``tasks.steps.write_scored`` writes them).

    Args:
        review_folder: The use case's review folder.
        batch: Batch file name.
        usecase: Gives the id and segment columns.
        limit: Most rows kept for display.

    Returns:
        The queue of the batch; empty when nothing was held.
    """
    path = review_folder / f"{Path(batch).stem}.parquet"
    if not path.exists():
        return ReviewQueue(batch=batch, total=0, rows=(), by_rule={}, by_status={})
    frame = pd.read_parquet(path)
    data = usecase.data
    violations = [_split(v) for v in frame.get("violations", pd.Series([""] * len(frame)))]
    status = frame.get("review_status", pd.Series(["pending"] * len(frame))).astype(str)
    by_rule: dict[str, int] = {}
    for tags in violations:
        for tag in tags:
            by_rule[tag] = by_rule.get(tag, 0) + 1
    rows = []
    for i in range(min(limit, len(frame))):
        row = frame.iloc[i]
        rows.append(
            HeldRow(
                row_id=str(row[data.id_column]) if data.id_column in frame else str(i),
                segment=str(row[data.segment_column])
                if data.segment_column and data.segment_column in frame
                else None,
                raw_prediction=_float(row.get("raw_prediction")),
                proposed_prediction=_float(row.get("proposed_prediction")),
                violations=violations[i],
                status=str(status.iloc[i]),
            )
        )
    return ReviewQueue(
        batch=batch,
        total=len(frame),
        rows=tuple(rows),
        by_rule=dict(sorted(by_rule.items())),
        by_status=status.value_counts().sort_index().to_dict(),
    )


# ------------------------------------------------------------------ helpers
def _split(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(";") if t.strip())
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    return tuple(str(t) for t in value)


def _text(value: Any) -> str | None:
    return None if value in (None, "", "None") else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "", "None") else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _metric(metrics: Mapping[str, float], key: str) -> float | None:
    return _float(metrics.get(key))


def _time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
