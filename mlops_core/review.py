"""Review of held predictions (docs/design.md, section 4.6): a person decides what leaves.

A guardrail with action ``quarantine``, a prediction that is not finite, or a
tripped circuit breaker holds rows in the review queue instead of sending them
downstream. A domain expert then decides each held row: approve it as
proposed, override it with a value of their own, or reject it (it never leaves).

:func:`decide_review` validates a review against the queue and decides what is
released. Every problem refuses the whole review, each named in the reasons, so
nothing is half applied: a row must be in the queue once and still pending, an
override needs a finite number, an approval needs a usable proposed value.

Overrides are checked against the use case's limits on a value (``range``,
``cap_column``, ``max_ratio_to_column``; ``segment_history_cap`` cannot be judged
here, it needs the champion's training maxima). A value outside them is refused
unless the reviewer explicitly allows it (``allow_outside_limits``); then it is
released and recorded as outside, with the rules it breaks. Approving a row as
proposed needs no such acknowledgement: the reviewer sees why it was held, and
releasing a held value is what an approval means. The check on overrides guards
against the value nobody has seen before, a typo.

Pure: the caller passes the queue (a frame), the use case and the time.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from mlops_core.config import CapColumnRule, RangeRule, RatioColumnRule, UseCase
from mlops_core.decisions import Reason, Value
from mlops_core.guardrails import apply_guardrails, segment_keys
from mlops_core.reasons import ReasonCode
from mlops_core.sentences import reason, shown_value

ReviewAction = Literal["approve", "override", "reject"]
ReviewedStatus = Literal["approved", "overridden", "rejected"]

STATUS_PENDING = "pending"
STATUS_OF_ACTION: dict[str, ReviewedStatus] = {
    "approve": "approved",
    "override": "overridden",
    "reject": "rejected",
}

#: Columns the review writes into the queue file beside ``review_status``.
QUEUE_REVIEW_COLUMNS = (
    "final_prediction",
    "reviewed_by",
    "reviewed_at",
    "review_comment",
    "review_id",
    "review_decision_run_id",
    "released_in",
    "outside_limits",
)

#: A prediction: a number (regression) or a class label (classification).
Prediction = float | str

_ACTION_WORDS = {
    "clip": "clipped to the limit",
    "fallback": "replaced by the fallback value",
    "flag": "flagged",
    "quarantine": "held for review",
}


# ------------------------------------------------------------------ values
class HeldRow(Value):
    """One row of the review queue, as a reviewer sees it."""

    batch: str = Field(description="Batch the row came from (file name without suffix).")
    row_id: str = Field(description="The row's id (the use case's id column), as text.")
    status: str = Field(description="pending, approved, overridden or rejected.")
    raw_prediction: Prediction | None = Field(description="What the model predicted.")
    proposed_prediction: Prediction | None = Field(
        description="The value after clip and fallback rules: what an approval releases."
    )
    violations: tuple[str, ...] = Field(
        description="The 'rule:action' pairs that applied; empty when the row was held "
        "with its whole batch by the circuit breaker."
    )
    model_version: str | None = Field(None, description="Champion version that predicted.")
    segment: str | None = Field(None, description="The row's segment, when the use case has one.")
    reviewed_by: str | None = Field(None, description="Who reviewed it (None while pending).")

    @property
    def reasons(self) -> str:
        """Why the row was held, in plain language."""
        return violation_text(self.violations)


class RowDecision(Value):
    """What a reviewer decided for one held row."""

    row_id: str = Field(description="Id of the held row.")
    action: ReviewAction = Field(
        description="approve: release the proposed value; override: release ``value``; "
        "reject: never release it."
    )
    value: float | None = Field(None, description="The value to release; override only.")


class ReviewRequest(Value):
    """One reviewer's decisions on held rows of one batch."""

    batch: str = Field(description="Batch of the rows (file name without suffix).")
    decisions: tuple[RowDecision, ...] = Field(description="One decision per row.")
    reviewer: str = Field(description="Who decided; recorded with every row.")
    comment: str = Field("", description="Why, in the reviewer's words.")
    at: datetime = Field(description="When the reviewer decided (timezone-aware).")
    allow_outside_limits: bool = Field(
        False,
        description="Release override values that break a guardrail limit (recorded as such); "
        "without it such an override refuses the review.",
    )

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the review time must be timezone-aware")
        return value

    @property
    def review_id(self) -> str:
        """Content hash of the review (everything but its time).

        The same review given twice (a rerun after a crash, a double click) has
        the same id, so it is applied once.
        """
        canonical = {
            "batch": self.batch,
            "decisions": sorted(
                [d.row_id, d.action, None if d.value is None else repr(float(d.value))]
                for d in self.decisions
            ),
            "reviewer": self.reviewer.strip(),
            "comment": self.comment.strip(),
            "allow_outside_limits": self.allow_outside_limits,
        }
        text = json.dumps(canonical, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RowOutcome(Value):
    """What a review does to one held row."""

    row_id: str
    action: ReviewAction
    status: ReviewedStatus
    released: bool = Field(description="The row goes downstream (approved or overridden).")
    final_prediction: Prediction | None = Field(description="The value released; None if not.")
    proposed_prediction: Prediction | None
    raw_prediction: Prediction | None
    held_for: tuple[str, ...] = Field(description="Why it was held ('rule:action' pairs).")
    outside_limits: tuple[str, ...] = Field(
        (), description="Rules the override value breaks (released only when allowed)."
    )


class ReviewDecision(Value):
    """Whether a review is applied, and what it does row by row."""

    action: Literal["apply", "refuse"]
    review_id: str
    request: ReviewRequest
    rows: tuple[RowOutcome, ...] = Field(description="Per row; empty when refused.")
    reasons: tuple[Reason, ...] = Field(description="Problems first when refused; facts after.")

    @property
    def released(self) -> tuple[RowOutcome, ...]:
        """Rows that go downstream."""
        return tuple(r for r in self.rows if r.released)

    def count(self, status: ReviewedStatus) -> int:
        """Rows that end with ``status``."""
        return sum(1 for r in self.rows if r.status == status)

    @property
    def kind(self) -> str:
        """approve, override or reject when every row got that; mixed otherwise."""
        actions = {r.action for r in self.request.decisions}
        return actions.pop() if len(actions) == 1 else "mixed"


# ------------------------------------------------------------------ reading the queue
def _prediction(value: object) -> Prediction | None:
    """A queue cell as a prediction: numbers as float (None when missing), labels as text."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return None if math.isnan(number) else number
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return str(value)


def _text(value: object) -> str | None:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    text = str(value)
    return text or None


def split_violations(text: object) -> tuple[str, ...]:
    """The 'rule:action' pairs of a queue's ``violations`` cell (joined by '; ')."""
    if not isinstance(text, str):
        return ()
    return tuple(part.strip() for part in text.split(";") if part.strip())


def violation_text(violations: Sequence[str]) -> str:
    """Why a row was held, in plain language.

    Args:
        violations: 'rule:action' pairs, as guardrails label them.

    Returns:
        One sentence. A row no rule of its own held (no ``quarantine`` among its
        violations) was held with its whole batch by the circuit breaker.
    """
    if not violations:
        return (
            "held with its whole batch: too many predictions of the batch broke a guardrail "
            "(circuit breaker)"
        )
    parts = []
    for label in violations:
        rule, _, action = label.rpartition(":")
        parts.append(f"{rule or label} ({_ACTION_WORDS.get(action, action)})")
    text = "broke " + ", ".join(parts)
    if not any(label.endswith(":quarantine") for label in violations):
        # No rule of its own held it: the circuit breaker held the whole batch.
        text += "; held with its whole batch (circuit breaker)"
    return text


def held_rows(queue: pd.DataFrame, usecase: UseCase, batch: str) -> tuple[HeldRow, ...]:
    """The rows of a review queue file, typed.

    Args:
        queue: The queue file's frame (the batch's held rows plus review columns).
        usecase: The use case (its id and segment columns).
        batch: The batch the queue belongs to.

    Returns:
        One :class:`HeldRow` per queue row, in file order.

    Raises:
        ValueError: The queue lacks the id column or a review column.
    """
    id_column = usecase.data.id_column
    needed = [id_column, "raw_prediction", "proposed_prediction", "violations", "review_status"]
    missing = [c for c in needed if c not in queue.columns]
    if missing:
        raise ValueError(f"review queue of {batch!r} lacks column(s) {missing}")
    ids = segment_keys(queue[id_column].to_numpy())
    segment = usecase.data.segment_column
    segments = (
        segment_keys(queue[segment].to_numpy())
        if segment and segment in queue.columns
        else [None] * len(queue)
    )
    versions = queue["model_version"] if "model_version" in queue.columns else [None] * len(queue)
    reviewers = queue["reviewed_by"] if "reviewed_by" in queue.columns else [None] * len(queue)
    return tuple(
        HeldRow(
            batch=batch,
            row_id=str(row_id),
            status=str(status),
            raw_prediction=_prediction(raw),
            proposed_prediction=_prediction(proposed),
            violations=split_violations(violations),
            model_version=_text(version),
            segment=seg,
            reviewed_by=_text(reviewer),
        )
        for row_id, status, raw, proposed, violations, version, seg, reviewer in zip(
            ids,
            queue["review_status"],
            queue["raw_prediction"],
            queue["proposed_prediction"],
            queue["violations"],
            versions,
            segments,
            reviewers,
            strict=True,
        )
    )


# ------------------------------------------------------------------ limits of an override
_VALUE_RULES = (RangeRule, CapColumnRule, RatioColumnRule)


def override_limit_violations(
    values: Sequence[float], rows: pd.DataFrame, usecase: UseCase
) -> tuple[list[tuple[str, ...]], list[Reason]]:
    """The guardrail limits each override value breaks, judged on its own row.

    Every rule that limits a value (``range``, ``cap_column``,
    ``max_ratio_to_column``) is applied as a flag, so no rule changes what the
    next one sees and the circuit breaker stays out of it. Rules about inputs
    (``input_out_of_range``) say nothing about a value a person chose.

    Args:
        values: One override value per row of ``rows``.
        rows: The queue rows the values are for (with the columns rules read).
        usecase: The use case (its guardrail policy).

    Returns:
        Per value the labels of the rules it breaks, and facts about rules that
        could not be judged (``segment_history_cap``).

    Raises:
        ValueError: A rule names a column the rows lack.
    """
    policy = usecase.guardrails
    value_rules = tuple(
        rule.model_copy(update={"action": "flag"})
        for rule in policy.rules
        if isinstance(rule, _VALUE_RULES)
    )
    facts = [
        reason(ReasonCode.LIMIT_NOT_CHECKED, {"rule": rule.label}, passed=None)
        for rule in policy.rules
        if rule.kind == "segment_history_cap"
    ]
    if not value_rules or len(values) == 0:
        return [() for _ in values], facts
    checking = policy.model_copy(
        update={"rules": value_rules, "fallback": None, "max_violation_rate": 1.0}
    )
    result = apply_guardrails(
        np.asarray(values, dtype=float), rows.reset_index(drop=True), checking
    )
    broken = [
        tuple(label.rpartition(":")[0] for label in split_violations(text))
        for text in result.violations
    ]
    return broken, facts


# ------------------------------------------------------------------ the decision
def _usable(value: Prediction | None) -> bool:
    if value is None:
        return False
    return not isinstance(value, float) or math.isfinite(value)


def decide_review(request: ReviewRequest, queue: pd.DataFrame, usecase: UseCase) -> ReviewDecision:
    """Validate a review against the batch's queue and decide what it releases.

    Args:
        request: The reviewer's decisions on rows of one batch.
        queue: The batch's review queue file, as it is now.
        usecase: The use case (id column, task, guardrail limits).

    Returns:
        ``apply`` with an outcome per row, or ``refuse`` with every problem
        found (nothing of a refused review is applied).
    """
    problems: list[Reason] = []
    facts: list[Reason] = []
    if not request.reviewer.strip():
        problems.append(reason(ReasonCode.REVIEWER_MISSING, passed=False))
    if not request.decisions:
        problems.append(reason(ReasonCode.NO_ROWS, passed=False, batch=request.batch))
    rows = held_rows(queue, usecase, request.batch)
    by_id: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        by_id.setdefault(row.row_id, []).append(position)

    seen: set[str] = set()
    accepted: list[tuple[RowDecision, int]] = []
    for decision in request.decisions:
        row_id = decision.row_id
        batch = request.batch
        if row_id in seen:
            problems.append(
                reason(ReasonCode.ROW_LISTED_TWICE, {"row": row_id}, passed=False, batch=batch)
            )
            continue
        seen.add(row_id)
        positions = by_id.get(row_id, [])
        if not positions:
            problems.append(
                reason(ReasonCode.ROW_NOT_HELD, {"row": row_id}, passed=False, batch=batch)
            )
            continue
        if len(positions) > 1:
            problems.append(
                reason(
                    ReasonCode.ROW_AMBIGUOUS,
                    {"row": row_id, "rows": len(positions)},
                    passed=False,
                    batch=batch,
                )
            )
            continue
        held = rows[positions[0]]
        if held.status != STATUS_PENDING:
            problems.append(
                reason(
                    ReasonCode.ROW_NOT_PENDING,
                    {"row": row_id, "status": held.status},
                    passed=False,
                    batch=batch,
                    reviewed_by=held.reviewed_by,
                )
            )
            continue
        problem = _decision_problem(decision, held, usecase, batch)
        if problem is not None:
            problems.append(problem)
            continue
        accepted.append((decision, positions[0]))

    outside: dict[str, tuple[str, ...]] = {}
    overrides = [(d, p) for d, p in accepted if d.action == "override"]
    if overrides:
        try:
            broken, facts = override_limit_violations(
                [float(d.value) for d, _ in overrides if d.value is not None],
                queue.iloc[[p for _, p in overrides]],
                usecase,
            )
        except ValueError as exc:
            problems.append(reason(ReasonCode.LIMITS_NOT_CHECKABLE, passed=False, error=str(exc)))
            broken = []
        for (decision, _), rules in zip(overrides, broken, strict=False):
            if not rules:
                continue
            outside[decision.row_id] = rules
            allowed = request.allow_outside_limits
            (facts if allowed else problems).append(
                reason(
                    ReasonCode.OVERRIDE_OUTSIDE_LIMITS,
                    {"row": decision.row_id, "value": decision.value},
                    passed=None if allowed else False,
                    broken=list(rules),
                    allowed=allowed,
                )
            )

    review_id = request.review_id
    if problems:
        return ReviewDecision(
            action="refuse",
            review_id=review_id,
            request=request,
            rows=(),
            reasons=tuple(problems + facts),
        )

    outcomes = []
    for decision, position in accepted:
        held = rows[position]
        final: Prediction | None
        if decision.action == "approve":
            final = held.proposed_prediction
        elif decision.action == "override":
            final = decision.value
        else:
            final = None
        outcomes.append(
            RowOutcome(
                row_id=held.row_id,
                action=decision.action,
                status=STATUS_OF_ACTION[decision.action],
                released=decision.action != "reject",
                final_prediction=final,
                proposed_prediction=held.proposed_prediction,
                raw_prediction=held.raw_prediction,
                held_for=held.violations,
                outside_limits=outside.get(held.row_id, ()),
            )
        )
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in STATUS_OF_ACTION.values()}
    released = counts["approved"] + counts["overridden"]
    summary = reason(
        ReasonCode.REVIEW_APPLIED,
        {
            "rows": len(outcomes),
            "approved": counts["approved"],
            "overridden": counts["overridden"],
            "rejected": counts["rejected"],
            "released": released,
            "outside_limits": len(outside),
        },
        passed=True,
        reviewer=request.reviewer.strip(),
        batch=request.batch,
        comment=request.comment.strip(),
    )
    return ReviewDecision(
        action="apply",
        review_id=review_id,
        request=request,
        rows=tuple(outcomes),
        reasons=(summary, *facts),
    )


def _decision_problem(
    decision: RowDecision, held: HeldRow, usecase: UseCase, batch: str
) -> Reason | None:
    """What is wrong with one row's decision on its own, or None."""
    numbers: dict[str, float | int | str | None] = {"row": decision.row_id}
    if decision.action == "override":
        if usecase.model.task != "regression":
            return reason(ReasonCode.OVERRIDE_UNSUPPORTED, numbers, passed=False, batch=batch)
        if decision.value is None:
            return reason(ReasonCode.OVERRIDE_MISSING_VALUE, numbers, passed=False, batch=batch)
        if not math.isfinite(decision.value):
            return reason(
                ReasonCode.OVERRIDE_NOT_FINITE,
                {**numbers, "value": str(decision.value)},
                passed=False,
                batch=batch,
            )
        return None
    if decision.value is not None:
        return reason(
            ReasonCode.VALUE_WITHOUT_OVERRIDE,
            {**numbers, "value": decision.value},
            passed=False,
            batch=batch,
            action=decision.action,
        )
    if decision.action == "approve" and not _usable(held.proposed_prediction):
        return reason(
            ReasonCode.PROPOSED_NOT_USABLE,
            numbers,
            passed=False,
            batch=batch,
            proposed=held.proposed_prediction,
        )
    return None


# ------------------------------------------------------------------ frames after a review
def _final_column(values: Iterable[Prediction | None], task: str) -> pd.Series:
    listed = list(values)
    if task == "regression":
        return pd.Series([np.nan if v is None else float(v) for v in listed], dtype="float64")
    return pd.Series(listed, dtype="object")


def released_rows(
    decision: ReviewDecision,
    queue: pd.DataFrame,
    usecase: UseCase,
    *,
    batch_sha256: str | None,
    decision_run_id: str,
) -> pd.DataFrame:
    """The rows an applied review releases, in the layout of the predictions files.

    Columns: the id, time and segment columns, ``prediction`` (the final value),
    ``raw_prediction``, ``flagged``, ``violations``, ``model_version`` and
    ``batch_sha256`` as in the batch's predictions file, then who released the
    row and how: ``review_status``, ``proposed_prediction``, ``reviewed_by``,
    ``reviewed_at``, ``review_comment``, ``review_id``, ``review_decision_run_id``
    and ``outside_limits``.

    Args:
        decision: An applied review decision.
        queue: The batch's review queue (the released rows' data).
        usecase: The use case.
        batch_sha256: Content hash of the batch, when known.
        decision_run_id: The decision run recording the review.

    Returns:
        One row per released row, in the review's order; empty when none is released.

    Raises:
        ValueError: The decision was refused, or a released row is not in the queue.
    """
    if decision.action != "apply":
        raise ValueError("a refused review releases nothing")
    d = usecase.data
    keep = [c for c in (d.id_column, d.time_column, d.segment_column) if c and c in queue.columns]
    ids = pd.Series(segment_keys(queue[d.id_column].to_numpy()), index=queue.index)
    released = decision.released
    positions = []
    for outcome in released:
        match = ids.index[ids == outcome.row_id]
        if len(match) != 1:
            raise ValueError(f"row {outcome.row_id!r} is not once in the review queue")
        positions.append(match[0])
    out = queue.loc[positions, keep].reset_index(drop=True)
    request = decision.request
    out["prediction"] = _final_column((o.final_prediction for o in released), usecase.model.task)
    out["raw_prediction"] = _final_column((o.raw_prediction for o in released), usecase.model.task)
    out["flagged"] = [any(v.endswith(":flag") for v in o.held_for) for o in released]
    out["violations"] = ["; ".join(o.held_for) for o in released]
    out["model_version"] = (
        [_text(v) for v in queue.loc[positions, "model_version"]]
        if "model_version" in queue.columns
        else None
    )
    out["batch_sha256"] = batch_sha256
    out["review_status"] = [o.status for o in released]
    out["proposed_prediction"] = _final_column(
        (o.proposed_prediction for o in released), usecase.model.task
    )
    out["reviewed_by"] = request.reviewer.strip()
    out["reviewed_at"] = pd.Series([pd.Timestamp(request.at).tz_convert("UTC")] * len(out))
    out["review_comment"] = request.comment.strip()
    out["review_id"] = decision.review_id
    out["review_decision_run_id"] = decision_run_id
    out["outside_limits"] = ["; ".join(o.outside_limits) for o in released]
    return out


def reviewed_queue(
    decision: ReviewDecision,
    queue: pd.DataFrame,
    usecase: UseCase,
    *,
    decision_run_id: str,
    released_in: str | None,
) -> pd.DataFrame:
    """The queue with the review's rows marked approved, overridden or rejected.

    Applying the same decision twice gives the same frame (idempotent).

    Args:
        decision: An applied review decision.
        queue: The batch's review queue.
        usecase: The use case.
        decision_run_id: The decision run recording the review.
        released_in: File name the released rows went to (None when none was released).

    Returns:
        A copy of the queue with ``review_status`` and the columns of
        ``QUEUE_REVIEW_COLUMNS`` set on the reviewed rows.

    Raises:
        ValueError: The decision was refused, or a reviewed row is not in the queue.
    """
    if decision.action != "apply":
        raise ValueError("a refused review changes nothing")
    out = queue.copy()
    n = len(out)
    if "final_prediction" not in out.columns:
        out["final_prediction"] = _final_column([None] * n, usecase.model.task).to_numpy()
    if "reviewed_at" not in out.columns:
        out["reviewed_at"] = pd.Series([pd.NaT] * n, dtype="datetime64[ns, UTC]").to_numpy()
    for column in QUEUE_REVIEW_COLUMNS:
        if column not in out.columns:
            out[column] = pd.Series([None] * n, dtype="object").to_numpy()
    out["reviewed_at"] = pd.to_datetime(out["reviewed_at"], utc=True)
    ids = segment_keys(out[usecase.data.id_column].to_numpy())
    request = decision.request
    at = pd.Timestamp(request.at).tz_convert("UTC")
    for outcome in decision.rows:
        mask = ids == outcome.row_id
        if mask.sum() != 1:
            raise ValueError(f"row {outcome.row_id!r} is not once in the review queue")
        index = out.index[mask][0]
        out.loc[index, "review_status"] = outcome.status
        out.at[index, "final_prediction"] = (
            (np.nan if usecase.model.task == "regression" else None)
            if outcome.final_prediction is None
            else outcome.final_prediction
        )
        out.at[index, "reviewed_by"] = request.reviewer.strip()
        out.at[index, "reviewed_at"] = at
        out.at[index, "review_comment"] = request.comment.strip()
        out.at[index, "review_id"] = decision.review_id
        out.at[index, "review_decision_run_id"] = decision_run_id
        out.at[index, "released_in"] = released_in if outcome.released else None
        out.at[index, "outside_limits"] = "; ".join(outcome.outside_limits)
    return out


# ------------------------------------------------------------------ text
def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def review_markdown(decision: ReviewDecision, usecase_name: str) -> str:
    """The record of a review as markdown (decision run artifact, Prefect artifact)."""
    request = decision.request
    lines = [
        f"# {usecase_name}: review of held predictions of batch {request.batch}",
        "",
        f"- reviewer: {request.reviewer.strip() or '(none given)'}",
        f"- at: {request.at.isoformat()}",
        f"- review id: `{decision.review_id[:12]}`",
        f"- outcome: {'applied' if decision.action == 'apply' else 'refused'}",
    ]
    if request.comment.strip():
        lines.append(f"- comment: {request.comment.strip()}")
    lines += ["", "| check | outcome | explanation |", "|---|---|---|"]
    for r in decision.reasons:
        outcome = {True: "pass", False: "fail", None: "-"}[r.passed]
        lines.append(f"| `{r.code}` | {outcome} | {_cell(r.message)} |")
    if decision.rows:
        lines += [
            "",
            "| row | decision | final | proposed | raw | held because | outside limits |",
            "|---|---|---|---|---|---|---|",
        ]
        for o in decision.rows:
            lines.append(
                f"| {_cell(o.row_id)} | {o.status} | {shown_value(o.final_prediction)} | "
                f"{shown_value(o.proposed_prediction)} | {shown_value(o.raw_prediction)} | "
                f"{_cell(violation_text(o.held_for))} | {', '.join(o.outside_limits) or '-'} |"
            )
    return "\n".join(lines) + "\n"


def pending_markdown(
    usecase_name: str, shown: Sequence[HeldRow], pending_total: int, timeout_seconds: int
) -> str:
    """What a reviewer reads above the review form: the pending rows and how to answer.

    Args:
        usecase_name: The use case.
        shown: The pending rows on the form.
        pending_total: Pending rows in every queue (some may not be shown).
        timeout_seconds: How long the form waits for an answer.
    """
    lines = [
        f"## {usecase_name}: {pending_total} held prediction(s) wait for review",
        "",
        "Guardrails held these predictions back; nothing of them went downstream. For each "
        "row choose **approve** (release the proposed value), **override** (release the value "
        "you enter) or **reject** (never release it); **pending** leaves it for later.",
        "",
        "| batch | row | segment | proposed | raw | why it was held |",
        "|---|---|---|---|---|---|",
    ]
    for row in shown:
        lines.append(
            f"| {_cell(row.batch)} | {_cell(row.row_id)} | {_cell(row.segment or '-')} | "
            f"{shown_value(row.proposed_prediction)} | {shown_value(row.raw_prediction)} | "
            f"{_cell(row.reasons)} |"
        )
    if pending_total > len(shown):
        lines += [
            "",
            f"{pending_total - len(shown)} more pending row(s) are not on this form: run the "
            "review again after this one, or use `mlops review`.",
        ]
    lines += [
        "",
        "An override outside a guardrail limit is refused unless you tick "
        "*allow_outside_limits* (it is then recorded as such). Say who you are: your name is "
        f"recorded with every row. Without an answer within {timeout_seconds} s nothing "
        "changes and the rows stay pending.",
    ]
    return "\n".join(lines) + "\n"
