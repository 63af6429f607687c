"""Typed records at the storage and flow boundaries: what is written, read back and returned.

The records the product writes as JSON and reads back have one model here
each, one writer and one reader:

- :class:`CycleRecord`: a cycle's ``decision.json`` in its decision runs
  (``retrain`` and ``promotion`` kinds), written by ``tasks.decision_store.log_decision_run``
  (and ``tasks.decision_store.amend_decision_record`` for a superseded promotion),
  read by ``tasks.decision_store.read_decision_record``;
- :class:`RollbackRecord` and :class:`ReviewRecord`: the ``decision.json`` of a
  rollback and of a review, through the same functions;
- :class:`LedgerEntry`: one line of a use case's ``ledger.jsonl`` (the commit
  marker of a handled batch), written by ``tasks.storage.ledger_append`` and read
  by ``tasks.storage.ledger_entries``;
- :data:`LabelLedgerLine`: one line of ``labels_ledger.jsonl``, written by
  ``tasks.labels.admit_label_files`` and read by ``tasks.labels.label_ledger_lines``.

The flows return the result models at the end of this module, never dicts;
:class:`AlertRecord` is also the line the ``alert`` flow appends to ``alerts.jsonl``;
:class:`EventPayload` is the payload of every product event (and of that line).

Written strictly, read tolerantly: a model refuses unknown keys when the
product builds it (a misspelt field fails at once), while :meth:`StoredRecord.read`
loads what another version of the product wrote. Top-level keys a newer
version added are dropped (the decisions inside keep their own strict
models); keys not every version or writer wrote (``champion_before``,
``labels``, ``schema_change``, ``alerts`` and ``superseded_by`` in a cycle record;
``decision_run_id`` and ``at``, absent from the lines of a bootstrap's batches;
``file_stat`` in a label decision line) take the default that says "not
recorded"; a key every version wrote that is missing, or a value of the wrong
type, raises :class:`RecordError` naming the record and the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_serializer,
    model_serializer,
)

from mlops_core.alerting import AlertDecision
from mlops_core.decisions import (
    DriftSummary,
    GateDecision,
    GuardrailSummary,
    PerformanceSummary,
    PromotionDecision,
    RetrainDecision,
    TrainingWindow,
)
from mlops_core.label_gate import LabelGateDecision
from mlops_core.report import CycleOutcome
from mlops_core.review import ReviewDecision
from mlops_core.schema_change import SchemaDecision


class RecordError(ValueError):
    """A stored record does not have the shape of any version of the product."""


class Record(BaseModel):
    """Base of the boundary models: strict and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StoredRecord(Record):
    """A record read back from disk or MLflow: loads what other versions wrote (module doc)."""

    @classmethod
    def read(cls, data: object, where: str) -> Self:
        """Load a stored record, dropping keys this version does not know.

        Args:
            data: The parsed JSON of the record.
            where: What the record is (a file and line, a run), for the error message.

        Returns:
            The record.

        Raises:
            RecordError: ``data`` is not an object, misses a key every version
                wrote, or holds a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise RecordError(f"{where}: not a {cls.__name__} (a JSON object), got {data!r:.80}")
        known = {k: v for k, v in data.items() if k in cls.model_fields}
        try:
            return cls.model_validate(known)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise RecordError(f"{where}: not a {cls.__name__}: {problems}") from None


# ------------------------------------------------------------ decision records
class CycleRecord(StoredRecord):
    """A cycle's decisions as its decision runs record them (``decision.json``).

    The fields are in the order the file has always had them.
    """

    usecase: str = Field(description="Use-case name.")
    period: int = Field(description="The period the cycle judged (its batch's period).")
    batch: str = Field(description="Batch file name (``bootstrap`` for the first training).")
    summary: str = Field(description="The plain-language summary written at the time.")
    decay_cause: str = Field(description="The attribution of any decay (``unknown`` when none).")
    champion_version: str | None = Field(description="Champion after the cycle; None: none.")
    challenger_version: str | None = Field(description="Version trained this cycle, if any.")
    gate: GateDecision = Field(description="The batch gate's decision.")
    performance: PerformanceSummary | None = Field(
        description="Realized and estimated performance; None without a champion or a pass."
    )
    drift: DriftSummary | None = Field(description="Data drift; None when not measured.")
    guardrails: GuardrailSummary | None = Field(
        description="What the guardrails did to the batch's predictions; None when not scored."
    )
    retrain: RetrainDecision | None = Field(description="Whether and on what to retrain.")
    promotion: PromotionDecision | None = Field(
        description="The promotion gate's decision on the challenger; None without one."
    )
    champion_before: str | None = Field(
        None,
        description="The champion the promotion gate judged against (the alias move checks "
        "it); None when none, or in records of versions that did not write it.",
    )
    labels: tuple[LabelGateDecision, ...] = Field(
        (), description="The label gate's decisions on the label files of this cycle."
    )
    schema_change: SchemaDecision | None = Field(
        None, description="The champion's training contract compared with the current one."
    )
    alerts: tuple[AlertDecision, ...] = Field(
        (),
        description="The alert policy's decisions on this cycle's conditions: raised, muted "
        "(counted without an alert), resolved, digested; every condition has one.",
    )
    superseded_by: str | None = Field(
        None,
        description="Set when the decided promotion was not carried out because this "
        "version had become champion first; written only when set.",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_supersession(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The key is added only by the amendment that records a supersession,
        # as every earlier version wrote it.
        data = handler(self)
        if data.get("superseded_by") is None:
            data.pop("superseded_by", None)
        return data

    @classmethod
    def from_outcome(
        cls,
        outcome: CycleOutcome,
        *,
        usecase: str,
        summary: str,
        decay_cause: str,
        champion_before: str | None,
    ) -> CycleRecord:
        """The record of a cycle's outcome.

        Args:
            outcome: What the cycle decided.
            usecase: Use-case name.
            summary: The cycle's summary.
            decay_cause: The attribution of any decay.
            champion_before: The champion the promotion gate judged against.
        """
        return cls(
            usecase=usecase,
            period=outcome.period,
            batch=outcome.batch,
            summary=summary,
            decay_cause=decay_cause,
            champion_version=outcome.champion_version,
            challenger_version=outcome.challenger_version,
            gate=outcome.gate,
            performance=outcome.performance,
            drift=outcome.drift,
            guardrails=outcome.guardrails,
            retrain=outcome.retrain,
            promotion=outcome.promotion,
            champion_before=champion_before,
            labels=outcome.labels,
            schema_change=outcome.schema,
            alerts=outcome.alerts,
        )

    def outcome(self, *, superseded_by: str | None = None) -> CycleOutcome:
        """The typed decisions of the record.

        Args:
            superseded_by: The champion that got in the way of a decided
                promotion (the decision run's ``mlops.promotion_superseded_by`` tag).
        """
        return CycleOutcome(
            period=self.period,
            batch=self.batch,
            gate=self.gate,
            retrain=self.retrain,
            performance=self.performance,
            drift=self.drift,
            guardrails=self.guardrails,
            promotion=self.promotion,
            champion_version=self.champion_version,
            challenger_version=self.challenger_version,
            champion_before=self.champion_before,
            superseded_by=superseded_by,
            labels=self.labels,
            schema=self.schema_change,
            alerts=self.alerts,
        )


class RollbackRecord(StoredRecord):
    """A rollback of the champion (``decision.json`` of a rollback run)."""

    from_version: str = Field(description="The champion rolled back from.")
    to_version: str = Field(description="The version that became champion again.")
    reason: str = Field(description="Why, as the person asking gave it.")
    requested_by: str = Field(description="Who asked (default the OS user running the flow).")


class ReviewRecord(StoredRecord):
    """A reviewer's decisions on held rows of one batch (``decision.json`` of a review run)."""

    usecase: str = Field(description="Use-case name.")
    batch: str = Field(description="The batch whose held rows were reviewed (file stem).")
    review_id: str = Field(description="Content hash of the review: the same review is one.")
    sequence: int | None = Field(
        description="Number of the released-rows file of the batch; None when nothing is released."
    )
    released_file: str | None = Field(
        description="Name of the released-rows file in the predictions folder; None: none."
    )
    batch_sha256: str | None = Field(description="Content hash of the batch, when known.")
    decision: ReviewDecision = Field(description="The review decision, row by row.")


#: Every kind of ``decision.json`` a decision run holds.
DecisionRecord = CycleRecord | RollbackRecord | ReviewRecord


# ------------------------------------------------------------------ the ledger
class LedgerEntry(StoredRecord):
    """One line of a use case's ledger: the commit marker of a handled batch."""

    sha256: str = Field(description="Content hash of the batch: its identity, whatever its name.")
    batch: str = Field(description="Batch file name when it was committed.")
    period: int | None = Field(description="The batch's period; None when it could not be told.")
    gate: str | None = Field(description="The batch gate's action (pass, fail).")
    decision: str = Field(
        description="The cycle's retrain action; ``bootstrap`` for a batch the bootstrap used."
    )
    decision_run_id: str | None = Field(
        None,
        description="The cycle's decision run; absent for a batch the bootstrap committed.",
    )
    at: dt.datetime | None = Field(
        None, description="When it was committed (UTC); absent for a bootstrap's batches."
    )

    @field_serializer("at")
    def _iso(self, value: dt.datetime | None) -> str | None:
        # ISO 8601 with the offset spelled out, as the ledger has always had it.
        return None if value is None else value.isoformat()

    @model_serializer(mode="wrap")
    def _omit_unrecorded(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A bootstrap's batches have no run of their own: the keys are left out,
        # as every earlier version wrote them.
        data = handler(self)
        for key in ("decision_run_id", "at"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


# ------------------------------------------------------------ the label ledger
class FileStat(Record):
    """What identifies an unchanged file without reading it."""

    size: int = Field(ge=0, description="Size in bytes.")
    mtime_ns: int = Field(description="Modification time, nanoseconds since the epoch.")


class LabelDecisionLine(LabelGateDecision, StoredRecord):
    """A line of the label ledger that records the gate's decision on one label file.

    On disk it is the decision's fields with ``file_stat`` beside them.
    """

    file_stat: FileStat | None = Field(
        None,
        description="The file's size and time when it was hashed; None in lines of "
        "versions that did not write it (the file is then hashed once more).",
    )

    def decision(self) -> LabelGateDecision:
        """The gate's decision alone."""
        # The fields are validated already: the nested values pass through as they are.
        return LabelGateDecision.model_validate(
            {name: getattr(self, name) for name in LabelGateDecision.model_fields}
        )


class LabelSeenLine(StoredRecord):
    """A line of the label ledger that records a file whose content was gated before."""

    seen: str = Field(description="The file's name.")
    sha256: str = Field(description="Its content hash (gated under another name or time).")
    file_stat: FileStat = Field(description="The file's size and time when it was hashed.")


#: One line of the label ledger.
LabelLedgerLine = LabelDecisionLine | LabelSeenLine


# ---------------------------------------------------------------- flow results
class CycleResult(Record):
    """What a cycle did, as plain values for the CLI, the demo table and tests."""

    batch: str = Field(description="Batch file name (``bootstrap`` for the first training).")
    period: int | None = Field(description="The batch's period; None when not known.")
    status: Literal["done", "duplicate", "exists"] = Field(
        description="done: handled now; duplicate: the same content was handled before; "
        "exists: a bootstrap found a champion already and trained nothing."
    )
    validation: str = Field("-", description="The batch gate's action; '-' when not run.")
    drift_share: float | None = Field(None, description="Share of features that drifted.")
    importance_drift: float | None = Field(
        None, description="Importance-weighted share of drifted features."
    )
    realized: float | None = Field(None, description="Realized primary metric on new labels.")
    reference: float | None = Field(None, description="The champion's reference metric.")
    decision: str = Field("-", description="The retrain action ('-' when none was decided).")
    reason: str = Field("-", description="The deciding reason's code.")
    promotion: str | None = Field(
        None, description="The promotion action, ``superseded`` when not carried out; None: none."
    )
    champion_version: str | None = Field(None, description="The champion after the cycle.")
    guardrail_actions: dict[str, int] = Field(
        default_factory=dict, description="Rows per guardrail action taken."
    )
    held_rows: int = Field(0, description="Rows held for review.")
    summary: str = Field("", description="The cycle's plain-language summary.")
    decision_run_id: str | None = Field(None, description="The cycle's decision run.")


class BootstrapResult(CycleResult):
    """What the bootstrap did: its cycle's values and the history batches it handled.

    When a champion existed already (``status`` ``exists``) only
    ``champion_version`` and ``committed_batches`` say anything.
    """

    accepted_batches: int = Field(0, description="Landed batches the gate accepted.")
    quarantined_batches: int = Field(0, description="Landed batches the gate quarantined.")
    committed_batches: int = Field(
        0, description="History batches committed to the ledger by this run."
    )


class ScoreResult(Record):
    """What ``score_batch`` did with one batch."""

    batch: str = Field(description="Batch file name.")
    period: int | None = Field(description="The batch's period; None when not known.")
    validation: str = Field(description="The batch gate's action.")
    rows: int = Field(description="Rows in the batch.")
    guardrails: GuardrailSummary | None = Field(
        description="What the guardrails did; None when the batch was not scored."
    )


class MonitorLandedResult(Record):
    """What ``monitor_landed`` did with the batches waiting in landing."""

    handled: int = Field(description="Batches handled by this run.")
    waiting: int = Field(description="Batches left for the next run (past ``max_batches``).")
    cycles: tuple[CycleResult, ...] = Field(description="One result per batch handled, in order.")


class RollbackResult(Record):
    """What ``rollback`` did."""

    from_version: str = Field(description="The champion rolled back from.")
    to_version: str = Field(description="The champion now.")
    decision_run_id: str = Field(description="The rollback's decision run.")


class AppliedReview(Record):
    """One applied review, as the CLI and the review flow report it."""

    status: Literal["applied", "resumed", "already_applied"] = Field(
        description="applied now; resumed: recorded by an interrupted attempt and finished "
        "now; already_applied: nothing was done again."
    )
    batch: str = Field(description="The batch reviewed.")
    review_id: str = Field(description="Content hash of the review.")
    decision_run_id: str = Field(description="The review's decision run.")
    released_file: str | None = Field(description="File of the released rows; None: none.")
    approved: int = Field(description="Rows approved as proposed.")
    overridden: int = Field(description="Rows released with the reviewer's value.")
    rejected: int = Field(description="Rows rejected (never released).")
    released: int = Field(description="Rows released downstream.")
    reasons: tuple[str, ...] = Field(description="The review's reasons, as sentences.")


class ReviewFlowResult(Record):
    """What ``review_held_predictions`` did."""

    status: Literal["nothing_pending", "no_answer", "nothing_decided", "applied"] = Field(
        description="nothing_pending: no held row; no_answer: the form timed out; "
        "nothing_decided: the answer decided no row; applied: the reviews were applied."
    )
    pending_rows: int = Field(description="Held rows still pending afterwards.")
    reviews: tuple[AppliedReview, ...] = Field((), description="The reviews applied.")


class BacktestResult(Record):
    """What ``backtest`` found: the policies compared, and where the evidence is."""

    table: tuple[dict[str, float | int | str], ...] = Field(
        description="One row per policy: the keys of ``mlops_core.backtest.summary_table``."
    )
    plot: str = Field(description="Path of the metric-over-time plot kept beside the reports.")
    run_id: str = Field(description="The MLflow run holding the table, plot and per-period rows.")
    initial_periods: int = Field(description="Periods the first champion trained on.")
    periods: int = Field(description="Periods in the history.")
    markdown: str = Field(description="The table as markdown.")
    estimators: dict[str, dict[str, int]] = Field(
        description="Per policy, how many challengers each estimator class was."
    )
    searches: dict[str, tuple[tuple[str, str], ...]] = Field(
        description="Per ``+search`` policy, each retrain's period label and the sentence "
        "saying which candidate it chose and why."
    )


class EventPayload(Record):
    """The payload of a product event (``tasks.tags.Event``), as emitters build it.

    One model for every event: each event sets the fields it carries and no
    other, and the payload serializes to those keys only, under their event
    names (``from``, ``to``), in this order. It is what Prefect receives, what
    an automation hands to the ``alert`` flow (``{{ event.payload }}``) and
    what ``alerts.jsonl`` keeps.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )

    file: str | None = Field(None, description="The label file concerned.")
    batch: str | None = Field(None, description="The batch file concerned.")
    sha256: str | None = Field(None, description="Content hash of that batch or label file.")
    from_version: str | None = Field(
        None, alias="from", description="A rollback's former champion version."
    )
    to_version: str | None = Field(
        None, alias="to", description="A rollback's version, champion again."
    )
    period: int | None = Field(None, description="The period concerned.")
    version: str | None = Field(None, description="The model version concerned.")
    previous: str | None = Field(
        None, description="On a promotion, the champion it replaced; None when none."
    )
    metric: str | None = Field(None, description="The primary metric the promotion compared.")
    challenger: float | None = Field(None, description="The challenger's primary metric.")
    champion: float | None = Field(
        None, description="The replaced champion's primary metric; None when none."
    )
    trigger: str | None = Field(None, description="The reason code that started a retrain.")
    window: TrainingWindow | None = Field(None, description="The periods a retrain trained on.")
    holdout_metrics: dict[str, float] | None = Field(
        None, description="The retrained model's metrics on its holdout, by name."
    )
    rows: int | None = Field(None, description="Rows in the batch or label file.")
    violating_rows: int | None = Field(None, description="Rows any guardrail acted on.")
    held_rows: int | None = Field(None, description="Rows sent to the review queue.")
    breaker_tripped: bool | None = Field(None, description="Whether the circuit breaker tripped.")
    actions: dict[str, int] | None = Field(
        None, description="Guardrail actions: rows per ``rule:action``."
    )
    accepted_rows: int | None = Field(None, description="Label rows that went on.")
    columns: str | None = Field(
        None, description="Input columns outside the champion's training range, comma-separated."
    )
    failed_rules: tuple[str, ...] | None = Field(
        None, description="The data-contract rules a batch failed, as ``column:rule``."
    )
    reasons: tuple[str, ...] | None = Field(
        None, description="Reason codes of a rejected challenger's failed checks."
    )
    reason: str | None = Field(None, description="Why, in one sentence.")
    findings: str | None = Field(None, description="The findings, as sentences.")
    drift_share: float | None = Field(None, description="Share of features flagged as drifted.")
    importance_weighted_share: float | None = Field(
        None, description="Drifted share weighted by feature importance."
    )
    features: tuple[str, ...] | None = Field(None, description="The drifted features.")
    kind: str | None = Field(
        None, description="The alert policy's kind of condition (``guardrail_breach``, ...)."
    )
    causes: str | None = Field(
        None,
        description="The causes an alert is about (``rule:action`` or columns), comma-separated.",
    )
    muted_since_last_alert: int | None = Field(
        None, description="Conditions of these causes muted (counted) since their last alert."
    )
    alert_reasons: tuple[str, ...] | None = Field(
        None, description="The alert policy's reason codes for raising."
    )
    conditions: int | None = Field(
        None, description="Conditions a resolved or digest alert covers (rows for a resolve)."
    )

    @model_serializer(mode="wrap")
    def _only_what_the_event_carries(
        self, handler: SerializerFunctionWrapHandler
    ) -> dict[str, Any]:
        # The keys its emitter set (a None among them kept), as the event had them.
        data = handler(self)
        carried = set(self.model_fields_set) | {
            info.alias
            for name, info in type(self).model_fields.items()
            if name in self.model_fields_set and info.alias
        }
        return {k: v for k, v in data.items() if k in carried}


class AlertRecord(Record):
    """One alert: a line of ``alerts.jsonl`` under the data root and the ``alert`` flow's result."""

    event: str = Field(description="The product event, e.g. ``mlops.batch.quarantined``.")
    resource: str = Field(description="The event's resource id (``mlops.usecase.<name>``).")
    occurred: str = Field(description="When the event happened (ISO 8601).")
    message: str = Field(description="The plain-language line people read.")
    payload: EventPayload = Field(description="The event's payload.")
    webhook_status: int | None = Field(
        None, description="HTTP status of the webhook post; None when none is configured."
    )
