"""The review flow: a domain expert decides on held predictions in the Prefect UI.

``review_held_predictions`` lists the rows guardrails held back, shows them on
a form (the flow pauses with ``pause_flow_run(wait_for_input=...)``), and
applies the answer: one review per batch, each recorded as a decision run of
kind ``review`` in MLflow, the approved and overridden rows released beside
the batch's predictions. The same reviews can be applied without Prefect
through ``mlops review`` (:mod:`tasks.review` does the work for both).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field

from flows.forms import wait_for_answer
from mlops_core.records import ReviewFlowResult
from mlops_core.review import ReviewRequest, RowDecision, pending_markdown, review_markdown
from tasks import review
from tasks.notify import publish_markdown
from tasks.runtime import open_runtime


class HeldRowAnswer(BaseModel):
    """The reviewer's answer for one held row on the form."""

    model_config = ConfigDict(extra="forbid")

    batch: str = Field(description="Batch of the row, as listed above.")
    row: str = Field(description="Id of the held row, as listed above.")
    decision: Literal["pending", "approve", "override", "reject"] = Field(
        "pending",
        description="approve: release the proposed value; override: release your value; "
        "reject: never release it; pending: decide later.",
    )
    value: float | None = Field(None, description="The value to release (override only).")


class ReviewForm(RunInput):
    """The form a domain expert fills in the Prefect UI to review held predictions."""

    reviewer: str = Field(description="Your name: recorded with every row you decide.")
    comment: str = Field("", description="Why (kept in the review record).")
    rows: list[HeldRowAnswer] = Field(
        default_factory=list, description="One entry per held row shown above."
    )
    approve_the_rest: bool = Field(
        False, description="Tick to approve, as proposed, every row above you left pending."
    )
    allow_outside_limits: bool = Field(
        False,
        description="Tick to release override values that break a guardrail limit "
        "(recorded as such); otherwise such an override refuses the review.",
    )


def requests_from_answer(answer: ReviewForm, at: dt.datetime) -> list[ReviewRequest]:
    """One review request per batch the answer decides rows of, in the form's order.

    Rows left ``pending`` are not part of any review, unless ``approve_the_rest``
    is ticked: then they are approved as proposed (a value typed into such a row
    refuses the review, so a forgotten ``override`` never releases the proposed
    value instead).

    Args:
        answer: The submitted form.
        at: When the answer arrived.

    Returns:
        The requests; empty when the answer decides nothing.
    """
    decisions: dict[str, list[RowDecision]] = {}
    for row in answer.rows:
        action = row.decision
        if action == "pending":
            if not answer.approve_the_rest:
                continue
            action = "approve"
        decisions.setdefault(row.batch, []).append(
            RowDecision(row_id=row.row, action=action, value=row.value)
        )
    return [
        ReviewRequest(
            batch=batch,
            decisions=tuple(rows),
            reviewer=answer.reviewer.strip(),
            comment=answer.comment.strip(),
            at=at,
            allow_outside_limits=answer.allow_outside_limits,
        )
        for batch, rows in decisions.items()
    ]


finish_recorded = task(name="finish recorded reviews", cache_policy=NO_CACHE)(
    review.finish_recorded_reviews
)
list_pending = task(name="list held rows", cache_policy=NO_CACHE)(review.pending_rows)
check_review = task(name="check review", cache_policy=NO_CACHE)(review.check_review)
apply_review = task(name="apply review", cache_policy=NO_CACHE)(review.apply_review)


@flow(name="review_held_predictions", flow_run_name="review held predictions of {usecase_path}")
def review_held_predictions(
    usecase_path: str,
    data_root: str | None = None,
    batch: str | None = None,
    max_rows: int = 50,
    timeout_seconds: int = 3600,
) -> ReviewFlowResult:
    """Show the predictions guardrails held back on a form and apply the reviewer's answer.

    The run pauses with the pending rows and their reasons; the reviewer
    approves, overrides or rejects rows and submits. Each batch's review is
    recorded in MLflow's decisions experiment and its approved rows are
    released beside the batch's predictions. An answer with any problem (a row
    no longer pending, an override outside the limits not allowed, ...) changes
    nothing and fails the run with every problem named. Without an answer by
    the deadline nothing changes.

    Args:
        usecase_path: The use-case file, relative to the project folder or absolute.
        data_root: Data root (default ``$MLOPS_HOME``).
        batch: Only this batch's held rows (its file name without suffix); every
            batch when empty.
        max_rows: Most rows on one form; the others wait for the next review.
        timeout_seconds: How long the form waits for an answer.
    """
    rt = open_runtime(usecase_path, data_root)
    logger = get_run_logger()
    resumed = finish_recorded(rt, batch)
    if resumed:
        logger.warning("finished %d review(s) an interrupted run had recorded", len(resumed))
    pending = list_pending(rt, batch)
    if not pending:
        return ReviewFlowResult(status="nothing_pending", pending_rows=0)
    shown = pending[: max(1, max_rows)]
    form = ReviewForm.with_initial_data(
        description=pending_markdown(rt.name, shown, len(pending), timeout_seconds),
        reviewer="",
        comment="",
        rows=[HeldRowAnswer(batch=row.batch, row=row.row_id) for row in shown],
        approve_the_rest=False,
        allow_outside_limits=False,
    )
    answer = wait_for_answer(
        form, timeout_seconds, "No review answer in time: the held rows stay pending."
    )
    if answer is None:
        logger.info("no answer within %d s: %d row(s) stay pending", timeout_seconds, len(pending))
        return ReviewFlowResult(status="no_answer", pending_rows=len(pending))

    requests = requests_from_answer(answer, dt.datetime.now(dt.UTC))
    if not requests:
        return ReviewFlowResult(status="nothing_decided", pending_rows=len(pending))
    # Every batch's review is checked before any is applied: one answer, all or nothing.
    refused = [d for d in (check_review(rt, r) for r in requests) if d.action == "refuse"]
    if refused:
        publish_markdown(
            rt.name,
            "review",
            "\n".join(review_markdown(d, rt.name) for d in refused),
            "Review refused: nothing was changed",
        )
        problems = [r.message for d in refused for r in d.reasons if r.passed is False]
        raise ValueError("the review was refused, nothing was changed: " + " ".join(problems))
    results = [apply_review(rt, r) for r in requests]
    publish_markdown(
        rt.name,
        "review",
        "\n".join(review_markdown(r.decision, rt.name) for r in results),
        f"Review by {requests[0].reviewer}: "
        f"{sum(len(r.decision.released) for r in results)} row(s) released",
    )
    decided = sum(len(r.decision.rows) for r in results if r.status != "already_applied")
    return ReviewFlowResult(
        status="applied",
        pending_rows=len(pending) - decided,
        reviews=tuple(r.summary() for r in results),
    )
