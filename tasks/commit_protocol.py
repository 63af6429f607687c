"""The commit protocol of a batch: record the decisions, carry them out, commit (design, section 5).

Written against small interfaces (``typing.Protocol``) of what it needs from
the outside: the decision store, the model registry, the ledger, the batch's
files and the notices (events, artifacts, log). The real adapters are in
``tasks/commit_adapters.py`` (MLflow, the ledger file, Prefect); in-memory
fakes built on the same interfaces run the protocol's cases as unit tests.
This module imports neither Prefect nor MLflow.

Invariants (docs/design.md, sections 5.1 to 5.3):

- **Records before carry-out.** A batch's decisions are recorded (the
  ``retrain``-kind decision run, then the ``promotion``-kind run) before any of
  them is carried out, so a crash never leaves an action without its record.
  Only a finished decision run counts as recorded.
- **The ledger line is the commit.** A batch is committed when its line is in
  the ledger, the last write of its handling, and at most once. A committed
  batch is never handled again: a rerun returns it as a duplicate.
- **A rerun finishes a recorded decision.** A batch with a recorded decision
  and no ledger line is not decided again: the rerun reads the record and
  carries out what it says (the same version promoted, nothing retrained).
  Every step of the carry-out is idempotent.
- **Superseded promotions.** The champion alias moves only by compare-and-set
  against the champion the gate judged. When it moved in between
  (``ChampionChangedError``), the recorded promotion is not forced: the
  challenger is abandoned with the reason, the record is amended with
  ``superseded_by`` and the batch is committed.
- **Staging is published before the commit.** Predictions and review rows wait
  in the batch's staging folder and reach their readers only after the
  decision record, just before the batch is archived and committed.
- **The monitoring history follows the record.** The cycle's point in the
  use case's monitoring run (``MonitoringHistory``) is logged after its
  decisions are recorded and carried out, before the commit, so a rerun after
  a kill logs it again (the same point). A failure there is logged as a
  warning and marked on the decision run; it never stops the commit.
- **Undecided runs are discarded.** A cycle that fails before its decision
  record leaves nothing behind: its staged outputs are removed, its candidate
  is abandoned and its open runs end FAILED; the rerun starts afresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlops_core.config import UseCase
from mlops_core.periods import period_label
from mlops_core.records import CycleRecord, CycleResult, EventPayload, LedgerEntry
from mlops_core.report import CycleOutcome, cycle_markdown, cycle_summary
from mlops_core.sentences import wording_for
from tasks.tags import (
    METRIC_PERIOD,
    PREFIX,
    TAG_BATCH,
    TAG_BATCH_NAME,
    TAG_CHALLENGER_VERSION,
    TAG_CHAMPION_VERSION,
    TAG_DECAY_CAUSE,
    TAG_LABELS_THROUGH,
    TAG_PERIOD,
    TAG_SUPERSEDED_BY,
    TAG_TRIGGER,
    Event,
)


# ----------------------------------------------------------------- interfaces
class ChampionChangedError(RuntimeError):
    """The champion is not the version the caller based its decision on."""

    def __init__(self, name: str, expected: str | None, actual: str | None) -> None:
        super().__init__(
            f"registered model {name!r}: champion is version {actual or 'none'}, "
            f"expected {expected or 'none'}; the promotion decision is stale"
        )
        self.name = name
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class RecordedDecision:
    """A finished decision run found for a batch.

    Attributes:
        run_id: The decision run.
        tags: Its tags (``mlops.*``), which name the batch and its period.
    """

    run_id: str
    tags: Mapping[str, str]


class DecisionStore(Protocol):
    """Where a batch's decisions are recorded (the decisions experiment)."""

    def recorded(self, batch_sha256: str, kind: str) -> RecordedDecision | None:
        """The finished decision run of ``kind`` recorded for the batch, if any."""
        ...

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
        """Record one decision as a finished run; returns the run id."""
        ...

    def read(self, run_id: str) -> tuple[CycleRecord, str]:
        """A decision run's record and its plain-language report."""
        ...

    def amend(
        self, run_id: str, record: CycleRecord, markdown: str, tags: Mapping[str, str]
    ) -> None:
        """Set ``tags`` on a decision run, then replace its record and report."""
        ...

    def end_open_runs(self, batch_sha256: str) -> None:
        """End FAILED the runs of the batch's cycle left open (only under the cycle lock)."""
        ...


class Registry(Protocol):
    """The registered model of the use case: aliases and version status."""

    def champion(self) -> str | None:
        """The version alias ``champion`` points at."""
        ...

    def previous(self) -> str | None:
        """The version alias ``previous`` points at."""
        ...

    def status(self, version: str) -> str | None:
        """A version's status tag (``candidate``, ``champion``, ``abandoned``, ...)."""
        ...

    def set_champion(
        self, version: str, *, expected_current: str | None, reason: str
    ) -> str | None:
        """Move ``champion`` to ``version`` if it still is ``expected_current``.

        ``previous`` moves first, to the old champion. Idempotent: a version
        that already is champion only gets its tags finished.

        Returns:
            The version that was champion before (None if there was none).

        Raises:
            ChampionChangedError: The champion is neither ``expected_current``
                nor ``version``.
        """
        ...

    def abandon(self, version: str, reason: str) -> None:
        """Give a version the status ``abandoned`` with the reason."""
        ...

    def abandon_candidates(self, batch_sha256: str) -> list[str]:
        """Abandon the batch's versions still ``candidate`` and holding no alias."""
        ...

    def publish_card(self, record: CycleRecord) -> None:
        """Publish the model card of the version ``record`` promoted."""
        ...


class Ledger(Protocol):
    """The use case's ledger: one line per committed batch."""

    def entry(self, sha256: str) -> LedgerEntry | None:
        """The batch's ledger line, None when it is not committed."""
        ...

    def append(self, entry: LedgerEntry) -> None:
        """Append (durably) the line that commits a batch."""
        ...


class BatchFiles(Protocol):
    """A batch's staged outputs and its file in landing."""

    def discard_staged(self, sha256: str) -> None:
        """Remove the batch's staged predictions and review rows."""
        ...

    def publish_staged(self, sha256: str) -> None:
        """Move the batch's staged outputs to their folders (idempotent)."""
        ...

    def archive(self, landed: Path, sha256: str) -> None:
        """Move the batch file to the archive, if it is still there."""
        ...


class MonitoringHistory(Protocol):
    """The use case's monitoring run: one point per period, charted by MLflow."""

    def log_cycle(self, record: CycleRecord, decision_run_ids: list[str]) -> str:
        """Log the cycle's figures at ``step = period``; link its decision runs to the run.

        Idempotent: the same record logs the same point. Returns the run's id.
        """
        ...

    def mark_missing(self, decision_run_id: str, reason: str) -> None:
        """Mark a decision run whose point could not be logged, with the reason."""
        ...


class Notices(Protocol):
    """What a cycle tells people: events, the markdown artifact, log lines."""

    def event(
        self, event: Event, payload: EventPayload, related_version: str | None = None
    ) -> None:
        """Emit a product event."""
        ...

    def markdown(self, kind: str, markdown: str, description: str) -> None:
        """Publish a markdown artifact of the use case."""
        ...

    def info(self, message: str, *args: object) -> None:
        """Log an informational line."""
        ...

    def warning(self, message: str, *args: object, exc_info: bool = False) -> None:
        """Log a warning."""
        ...


@dataclass(frozen=True)
class CommitPorts:
    """Everything the commit protocol touches, for one use case."""

    usecase: UseCase
    decisions: DecisionStore
    registry: Registry
    ledger: Ledger
    files: BatchFiles
    notices: Notices
    monitoring: MonitoringHistory


# ------------------------------------------------------------------- protocol
@dataclass(frozen=True)
class Superseded:
    """A recorded promotion that was not carried out: another version became champion first.

    Attributes:
        champion: The version that is champion instead.
        summary: The cycle's summary, rewritten to say what really happened.
    """

    champion: str | None
    summary: str


#: Tags every decision run of a cycle carries (see :func:`finish`).
BASE_TAGS = frozenset(
    {
        TAG_BATCH_NAME,
        TAG_BATCH,
        TAG_PERIOD,
        TAG_LABELS_THROUGH,
        TAG_CHAMPION_VERSION,
        TAG_TRIGGER,
    }
)


def recorded(ports: CommitPorts, sha: str, kind: str) -> RecordedDecision | None:
    """The finished decision run of ``kind`` recorded for a batch, if any (at most one)."""
    return ports.decisions.recorded(sha, kind)


def handle_claimed(
    ports: CommitPorts,
    batch: str,
    sha: str,
    landed: Path | None,
    run_cycle: Callable[[], CycleResult],
) -> CycleResult:
    """Handle a batch under the use case's cycle lock: duplicate, resume, or a new cycle.

    Args:
        ports: The outside world.
        batch: The batch's file name.
        sha: Its content hash.
        landed: The batch file when it is in landing (else None: quarantined or
            archived by an interrupted run).
        run_cycle: Decides the batch and calls :func:`finish`; run only when the
            batch is neither committed nor decided.

    Returns:
        What the cycle did, or the committed batch as a duplicate.
    """
    # Under the cycle lock, a run of this batch still open is an interrupted cycle's.
    ports.decisions.end_open_runs(sha)
    done = ports.ledger.entry(sha)
    if done is not None:
        # Same content already handled (any name): idempotent, nothing is redone.
        # The batch is gone when the process that handled it archived it.
        if landed is not None:
            ports.files.archive(landed, sha)
        return CycleResult(
            batch=batch,
            period=done.period,
            status="duplicate",
            decision=done.decision,
            reason="already_processed",
            decision_run_id=done.decision_run_id,
        )

    decided = recorded(ports, sha, "retrain")
    if decided is not None:
        # Decided by a run that died before committing: carry out what it decided.
        return resume(ports, landed, sha, decided)

    try:
        return run_cycle()
    except BaseException:
        abandon_undecided(ports, sha)
        raise


def abandon_undecided(ports: CommitPorts, sha: str) -> None:
    """After a failure, undo what a cycle left that no decision covers.

    Only when no decision was recorded (a recorded one names its challenger and
    its outputs, and the rerun carries it out): the challenger the cycle
    registered is marked abandoned and its staged predictions and review rows
    are removed, so nothing of the failed cycle reaches a reader. Runs the
    cycle left open end FAILED. Best effort: the original error is what
    matters, and a rerun redoes all of it anyway.
    """
    try:
        if recorded(ports, sha, "retrain") is None:
            ports.files.discard_staged(sha)
            ports.registry.abandon_candidates(sha)
        ports.decisions.end_open_runs(sha)
    except Exception:  # noqa: BLE001 - never mask the failure being raised
        ports.notices.warning("could not mark the undecided challenger", exc_info=True)


def finish(
    ports: CommitPorts,
    outcome: CycleOutcome,
    *,
    labels_through: int | None,
    decay_cause: str,
    trigger: str,
    landed: Path | None,
    champion_before: str | None = None,
) -> CycleResult:
    """Record the decisions, carry them out, commit the batch.

    ``landed`` is an accepted batch file still in landing; it moves to the
    archive just before the ledger entry, the last step. ``champion_before`` is
    the champion the promotion gate judged against (the alias move checks it).

    Returns:
        What the cycle did; ``decision_run_id`` is its decision run.
    """
    uc = ports.usecase
    words = wording_for(uc)
    markdown = cycle_markdown(outcome, uc.name, words)
    summary = cycle_summary(outcome, words)
    base_tags = {
        TAG_BATCH_NAME: outcome.batch,
        TAG_BATCH: outcome.gate.batch_sha256,
        TAG_PERIOD: str(outcome.period),
        TAG_LABELS_THROUGH: str(labels_through),
        TAG_CHAMPION_VERSION: str(outcome.champion_version),
        TAG_TRIGGER: trigger,
    }
    record = CycleRecord.from_outcome(
        outcome,
        usecase=uc.name,
        summary=summary,
        decay_cause=decay_cause,
        champion_before=champion_before,
    )
    assert outcome.retrain is not None
    r = outcome.retrain
    # The retrain-kind run is the record of the cycle's decisions: once it is
    # written, a rerun of the batch carries them out (complete) instead of
    # deciding again. The promotion run, the alias move, the archive and the
    # ledger entry (the commit marker) follow it.
    run_id = ports.decisions.record(
        run_name=f"p{outcome.period}-{r.action}",
        kind="retrain",
        action=r.action,
        reason_codes=[x.code for x in r.reasons],
        record=record,
        markdown=markdown,
        metrics=cycle_metrics(outcome),
        tags={**base_tags, TAG_DECAY_CAUSE: decay_cause},
    )
    superseded = complete(ports, run_id, record, markdown, base_tags, landed=landed)
    return result(outcome, summary, run_id, superseded)


def cycle_metrics(outcome: CycleOutcome) -> dict[str, float]:
    """The numbers of a cycle worth charting across decisions (its decision run's metrics)."""
    perf, drift, g = outcome.performance, outcome.drift, outcome.guardrails
    metrics: dict[str, float] = {
        METRIC_PERIOD: float(outcome.period),
        "rows": float(outcome.gate.rows),
    }
    if perf is not None and perf.realized is not None:
        metrics.update(
            {
                "realized": perf.realized.value,
                "reference": perf.reference,
                "realized_low": perf.realized.low,
                "realized_high": perf.realized.high,
                "decay": perf.decay or 0.0,
                "new_labeled_rows": perf.new_labeled_rows,
            }
        )
    if perf is not None and perf.estimated is not None:
        metrics.update(
            {
                "estimated": perf.estimated,
                "estimated_low": perf.estimated_low,
                "estimated_high": perf.estimated_high,
            }
        )
    if perf is not None and perf.current_estimate is not None:
        metrics.update({"estimated_current": perf.current_estimate.value})
    if drift is not None:
        metrics.update(
            {
                "drift_share": drift.drift_share,
                "importance_weighted_drift": drift.importance_weighted_share,
            }
        )
        if drift.prediction_drift is not None:
            metrics["prediction_drift"] = drift.prediction_drift
        if drift.domain_auc is not None:
            metrics["domain_auc"] = drift.domain_auc
    if g is not None:
        metrics.update(
            {
                "guardrail_violation_rate": g.violation_rate,
                "guardrail_held_rows": float(g.held_rows),
            }
        )
    if outcome.alerts:
        # Muted conditions are charted next to the raised ones: a muted breach still counts.
        metrics.update(
            {
                "alerts_raised": float(sum(d.action == "raise" for d in outcome.alerts)),
                "alerts_muted": float(sum(d.action == "mute" for d in outcome.alerts)),
            }
        )
    return metrics


def monitoring_metrics(record: CycleRecord) -> dict[str, float]:
    """The figures of one cycle as the monitoring run charts them.

    The decision run's numbers (``cycle_metrics``: realized and estimated
    performance with their intervals, drift shares, domain AUC, guardrail
    rate) and the decisions as numbers: ``gate_passed``, ``retrain`` and
    ``promoted`` (1 or 0; a promotion superseded before it was carried out is
    0), ``champion_version`` (the registry version serving after the cycle,
    when it is a number) and ``guardrail_held_share`` (held rows over rows).

    Args:
        record: The cycle's record (as its decision run stores it).

    Returns:
        Metric name to value.
    """
    metrics = cycle_metrics(record.outcome(superseded_by=record.superseded_by))
    retrain, promotion = record.retrain, record.promotion
    metrics["gate_passed"] = 1.0 if record.gate.action == "pass" else 0.0
    retrained = retrain is not None and retrain.action in ("train", "retrain")
    metrics["retrain"] = 1.0 if retrained else 0.0
    promoted = promotion is not None and promotion.action == "promote"
    metrics["promoted"] = 1.0 if promoted and record.superseded_by is None else 0.0
    champion = record.superseded_by if record.superseded_by is not None else record.champion_version
    if champion is not None and champion.isdigit():
        metrics["champion_version"] = float(champion)
    g = record.guardrails
    if g is not None and g.rows:
        metrics["guardrail_held_share"] = g.held_rows / g.rows
    return metrics


def complete(
    ports: CommitPorts,
    run_id: str,
    record: CycleRecord,
    markdown: str,
    base_tags: Mapping[str, str],
    *,
    landed: Path | None,
) -> Superseded | None:
    """Carry out a recorded cycle: promotion run, alias move, outputs, archive, ledger entry.

    Every step is idempotent, so a rerun after a crash anywhere here finishes
    the same decisions (the promotion run is written once, the alias moved
    once, the staged outputs published once, the batch archived once) and
    commits the batch.

    Returns:
        What happened instead when a recorded promotion was superseded (the
        champion had moved), else None.
    """
    superseded: Superseded | None = None
    uc = ports.usecase
    sha = base_tags[TAG_BATCH]
    period = record.period
    promotion = record.promotion
    decision_runs = [run_id]
    if promotion is not None:
        promotion_run = recorded(ports, sha, "promotion")
        if promotion_run is not None:
            decision_runs.append(promotion_run.run_id)
        else:
            promotion_run_id = ports.decisions.record(
                run_name=f"p{period}-{promotion.action}",
                kind="promotion",
                action=promotion.action,
                reason_codes=[r.code for r in promotion.reasons if r.passed is False]
                or [r.code for r in promotion.reasons],
                record=record,
                markdown=markdown,
                metrics={
                    "challenger_metric": promotion.inputs.challenger_metric,
                    "champion_metric": promotion.inputs.champion_metric or float("nan"),
                    "p_value": promotion.inputs.p_value
                    if promotion.inputs.p_value is not None
                    else float("nan"),
                },
                tags={
                    **base_tags,
                    TAG_CHALLENGER_VERSION: str(record.challenger_version),
                },
            )
            decision_runs.append(promotion_run_id)
        if promotion.action == "promote":
            try:
                _carry_out_promotion(ports, record)
            except ChampionChangedError as exc:
                # The champion moved (another batch's promotion, a rollback) between
                # the decision and its execution: the decision is stale, not to be
                # forced. The challenger is abandoned with the reason, the batch
                # committed; the next cycle judges against the new champion.
                superseded = supersede(ports, run_id, record, exc)
            else:
                # Published again by a rerun (it replaces the card), so a crash
                # here is finished like any other step.
                ports.registry.publish_card(record)
    action = record.retrain.action if record.retrain is not None else "-"
    when = period_label(period, uc.data.period)
    ports.notices.markdown("cycle", markdown, f"Cycle of {when}: {action}")
    _log_decision(ports, record, superseded, when)
    # The batch's predictions and review rows reach their readers only now,
    # with the decisions recorded: a cycle that failed before left them staged.
    ports.files.publish_staged(sha)
    if landed is not None:
        ports.files.archive(landed, sha)
    charted = (
        record
        if superseded is None
        else record.model_copy(
            update={"summary": superseded.summary, "superseded_by": superseded.champion}
        )
    )
    chart_cycle(ports, charted, decision_runs)
    if ports.ledger.entry(sha) is not None:
        return superseded  # committed already (a bootstrap's pseudo-batch is committed once)
    ports.ledger.append(
        LedgerEntry(
            sha256=sha,
            batch=record.batch,
            period=period,
            gate=record.gate.action,
            decision=action,
            decision_run_id=run_id,
            at=dt.datetime.now(dt.UTC),
        )
    )
    return superseded


def _log_decision(
    ports: CommitPorts, record: CycleRecord, superseded: Superseded | None, when: str
) -> None:
    """Say in the run's log what the cycle decided and why (summary, action, reason code)."""
    retrain = record.retrain
    action = retrain.action if retrain is not None else "-"
    code = str(retrain.reasons[0].code) if retrain is not None and retrain.reasons else "-"
    promotion = record.promotion
    promoted = ""
    if promotion is not None:
        promoted = "; promotion: superseded" if superseded else f"; promotion: {promotion.action}"
    summary = superseded.summary if superseded else record.summary
    ports.notices.info(
        "%s, %s: %s Decision: %s (reason code %s)%s.",
        ports.usecase.name,
        when,
        summary,
        action,
        code,
        promoted,
    )


def chart_cycle(ports: CommitPorts, record: CycleRecord, decision_runs: list[str]) -> None:
    """Log the cycle to the monitoring history; a failure warns and marks, never raises.

    The monitoring run explains decisions, it never makes one: the batch is
    committed whether or not its point could be logged. A decision run whose
    point is missing carries the reason (``MonitoringHistory.mark_missing``).
    """
    try:
        ports.monitoring.log_cycle(record, decision_runs)
    except Exception as exc:  # noqa: BLE001 - the commit must not depend on the chart
        reason = f"{type(exc).__name__}: {exc}"
        ports.notices.warning(
            "period %s is missing from the monitoring history: %s", record.period, reason
        )
        try:
            ports.monitoring.mark_missing(decision_runs[0], reason)
        except Exception:  # noqa: BLE001 - as above
            ports.notices.warning("could not mark the missing point", exc_info=True)


def _carry_out_promotion(ports: CommitPorts, record: CycleRecord) -> None:
    """Move ``champion`` to the promoted version (compare-and-set against the judged one).

    Idempotent: when a crash left the alias moved and its tags half written,
    the same call finishes them.
    """
    promotion = record.promotion
    assert promotion is not None
    version, before = str(record.challenger_version), record.champion_before
    inputs = promotion.inputs
    who = f"approved by {inputs.approver}" if inputs.approver else "the gate"
    evidence = "; ".join(r.message for r in promotion.reasons if r.passed)
    ports.registry.set_champion(
        version, expected_current=before, reason=f"promoted by {who}: {evidence}"[:4000]
    )
    ports.notices.event(
        Event.MODEL_PROMOTED,
        EventPayload(
            period=record.period,
            version=version,
            previous=before,
            metric=inputs.metric,
            challenger=inputs.challenger_metric,
            champion=inputs.champion_metric,
        ),
        related_version=version,
    )
    ports.notices.info("promoted version %s (was %s)", version, before)


def supersede(
    ports: CommitPorts, run_id: str, record: CycleRecord, exc: ChampionChangedError
) -> Superseded:
    """Record that a decided promotion was not carried out: the champion had moved.

    The challenger is tagged abandoned with the reason; the decision run gets
    the superseding version as a tag and its record and report rewritten from
    the same decisions with ``superseded_by`` set, so the record, the history
    and this process's output say what happened, not what was decided.
    """
    version = str(record.challenger_version)
    reason = (
        f"superseded: the promotion was decided against version {exc.expected or 'none'}, "
        f"but version {exc.actual or 'none'} became champion before it was carried out"
    )
    ports.registry.abandon(version, reason)
    outcome = record.outcome(superseded_by=exc.actual)
    words = wording_for(ports.usecase)
    summary = cycle_summary(outcome, words)
    ports.decisions.amend(
        run_id,
        record.model_copy(update={"summary": summary, "superseded_by": exc.actual}),
        cycle_markdown(outcome, ports.usecase.name, words),
        tags={TAG_SUPERSEDED_BY: str(exc.actual)},
    )
    ports.notices.warning("version %s not promoted: %s", version, reason)
    return Superseded(champion=exc.actual, summary=summary)


def resume(ports: CommitPorts, landed: Path | None, sha: str, run: RecordedDecision) -> CycleResult:
    """Finish a batch whose decisions an interrupted run recorded but did not carry out.

    Args:
        ports: The outside world.
        landed: The batch file when it is in landing (archived before the commit).
        sha: The batch's content hash.
        run: Its recorded ``retrain``-kind decision run.
    """
    record, markdown = ports.decisions.read(run.run_id)
    base_tags = {k: v for k, v in run.tags.items() if k.startswith(PREFIX) and k in BASE_TAGS}
    base_tags[TAG_BATCH] = sha
    ports.notices.warning(
        "batch %s was decided by an interrupted run (decision run %s): finishing it",
        record.batch,
        run.run_id,
    )
    superseded = complete(ports, run.run_id, record, markdown, base_tags, landed=landed)
    # The figures the interrupted run measured and recorded, not blanks.
    return result(record.outcome(), record.summary, run.run_id, superseded)


def result(
    outcome: CycleOutcome,
    summary: str,
    run_id: str,
    superseded: Superseded | None,
) -> CycleResult:
    """What a cycle did, from its decisions (decided now or read from its record)."""
    perf, drift, g = outcome.performance, outcome.drift, outcome.guardrails
    retrain = outcome.retrain
    return CycleResult(
        batch=outcome.batch,
        period=outcome.period,
        status="done",
        validation=outcome.gate.action,
        drift_share=drift.drift_share if drift else None,
        importance_drift=drift.importance_weighted_share if drift else None,
        realized=perf.realized.value if perf and perf.realized else None,
        reference=perf.reference if perf else None,
        decision=retrain.action if retrain else "-",
        reason=retrain.reasons[0].code if retrain and retrain.reasons else "-",
        promotion="superseded"
        if superseded
        else (outcome.promotion.action if outcome.promotion else None),
        champion_version=superseded.champion if superseded else outcome.champion_version,
        guardrail_actions=dict(g.actions) if g else {},
        held_rows=g.held_rows if g else 0,
        summary=superseded.summary if superseded else summary,
        decision_run_id=run_id,
    )


__all__ = [
    "BASE_TAGS",
    "BatchFiles",
    "ChampionChangedError",
    "CommitPorts",
    "DecisionStore",
    "Ledger",
    "MonitoringHistory",
    "Notices",
    "RecordedDecision",
    "Registry",
    "Superseded",
    "abandon_undecided",
    "chart_cycle",
    "complete",
    "cycle_metrics",
    "finish",
    "handle_claimed",
    "monitoring_metrics",
    "recorded",
    "resume",
    "result",
    "supersede",
]
