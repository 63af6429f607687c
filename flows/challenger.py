"""A challenger: trained on the decided window, taken through the promotion gate.

``challenge`` trains the challenger (one pipeline, a time-ordered search, or one
pipeline per segment fitted in ``fit segments`` tasks on the task runner),
registers it as a candidate, evaluates it and decides on it; when the policy
asks a person, the flow pauses for the approval form (``ApprovalInput``). A
promotion is only decided here: the commit protocol (``tasks/commit_protocol.py``)
records it before it moves the alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.input import RunInput
from pydantic import Field

from flows.forms import wait_for_answer
from flows.runners import make_task_runner, parse_runner
from mlops_core.decisions import (
    PromotionDecision,
    PromotionInputs,
    RetrainDecision,
)
from mlops_core.promotion import LEAK_REASONS, decide_promotion
from mlops_core.records import EventPayload
from mlops_core.segmented import SegmentJob, chunk_jobs
from tasks import model_registry, steps
from tasks.notify import emit
from tasks.runtime import Runtime
from tasks.search import runner_mapper
from tasks.tags import (
    TAG_STATUS,
    Event,
)


class ApprovalInput(RunInput):
    """The form a reviewer fills in the Prefect UI to approve a promotion."""

    approve: bool = Field(description="Tick to promote the challenger; leave unticked to reject.")
    reviewer: str = Field(description="Your name: recorded with the decision.")
    comment: str = Field("", description="Why (kept in the decision record).")


def ask_approval(rt: Runtime, decision: PromotionDecision, markdown: str) -> PromotionInputs:
    """Pause the flow for a human answer in the Prefect UI; no answer means reject.

    At the deadline a timer takes the run from Paused back to Running, which
    ends Prefect's wait without input; the answer is then "timeout" (a
    rejection) and the run goes on to record it and complete.

    Returns:
        The decision's inputs with the answer (approval, approver, comment) in them.
    """
    answer = wait_for_answer(
        ApprovalInput.with_initial_data(
            description=markdown, approve=False, reviewer="", comment=""
        ),
        rt.usecase.promotion.approval_timeout_seconds,
        "No approval answer in time: the promotion is rejected.",
    )
    if answer is None:
        return decision.inputs.model_copy(
            update={"approval": "timeout", "approver": None, "approval_comment": None}
        )
    return decision.inputs.model_copy(
        update={
            "approval": "approved" if answer.approve else "rejected",
            "approver": answer.reviewer or None,
            "approval_comment": answer.comment or None,
        }
    )


def map_search_trials(fn: Any, items: Sequence[Any]) -> list[Any]:
    """Run search trials as tasks on the runner ``MLOPS_TASK_RUNNER`` names (threads by default)."""
    with make_task_runner(parse_runner(None)) as runner:
        return runner_mapper(runner)(fn, items)


def map_segment_fits(template: Any, jobs: Sequence[SegmentJob]) -> list[Any]:
    """Fit the segments in ``fit segments`` tasks on the runner ``MLOPS_TASK_RUNNER`` names.

    Threads by default; ``dask`` or ``dask:N`` fits them in worker processes (a
    per-store model of 45 stores is 46 independent fits).
    """
    setting = parse_runner(None)
    with make_task_runner(setting) as runner:
        return fit_segments_on(runner, template, jobs, setting.workers or 2)


def fit_segments_on(
    runner: Any, template: Any, jobs: Sequence[SegmentJob], workers: int
) -> list[Any]:
    """Submit the fits to a started task runner; the pipelines in the jobs' order.

    The jobs are dealt into one chunk per worker, of about equal estimated cost
    (:func:`~mlops_core.segmented.chunk_jobs`): a task run on a Dask worker
    costs about 0.2 s of Prefect bookkeeping (starting the run, its states,
    fetching its result), more than a store's fit, so each worker pays it once.
    """
    chunks = chunk_jobs(jobs, workers)
    futures = [
        runner.submit(steps.fit_segments, parameters={"template": template, "jobs": chunk})
        for chunk in chunks
    ]
    fitted = {
        job.segment: model
        for chunk, future in zip(chunks, futures, strict=True)
        for job, model in zip(chunk, future.result(), strict=True)
    }
    return [fitted[job.segment] for job in jobs]


def approval_request(rt: Runtime, decision: PromotionDecision, version: str) -> str:
    """The decision record a reviewer sees on the approval form (markdown)."""
    i = decision.inputs
    champion = f"{i.champion_metric:.4g}" if i.champion_metric is not None else "none yet"
    lines = [
        f"## {rt.name}: promote version {version} to champion?",
        "",
        "Every automatic check of the promotion gate passed; the policy asks a person.",
        "",
        "| evidence | value |",
        "|---|---|",
        f"| {i.metric} of the challenger on the holdout | {i.challenger_metric:.4g} |",
        f"| {i.metric} of the champion on the same rows | {champion} |",
        f"| holdout rows | {i.holdout_rows} |",
    ]
    if i.p_value is not None:
        lines.append(f"| p-value of the gain (paired bootstrap) | {i.p_value:.3g} |")
    lines.append(f"| challenger rows flagged by guardrails | {i.challenger_guardrail_rate:.1%} |")
    lines += ["", "Checks:", *(f"- {r.message}" for r in decision.reasons), ""]
    lines.append(
        "Approve or reject, and say who you are. No answer within "
        f"{rt.usecase.promotion.approval_timeout_seconds} s means reject."
    )
    return "\n".join(lines)


def challenge(
    rt: Runtime,
    pool: pd.DataFrame,
    retrain: RetrainDecision,
    champion: steps.Champion | None,
    period: int,
    batch_sha256: str,
) -> tuple[PromotionDecision, str]:
    """Train a challenger on the decided window and take it through the promotion gate.

    Candidates an interrupted earlier run of the same batch registered but never
    decided on are abandoned first, so no version stays ambiguous. A rejected
    challenger is tagged here; a promotion is only decided: the commit protocol
    (``tasks.commit_protocol.finish``) records the decision first and then
    moves the alias, so a crash in between is finished by a rerun from the record.

    Returns:
        The promotion decision and the challenger's version.
    """
    assert retrain.window is not None
    logger = get_run_logger()
    orphans = model_registry.abandon_candidates(
        rt.client, rt.usecase.registered_model_name, batch_sha256
    )
    if orphans:
        logger.warning(
            "versions %s were left undecided by an interrupted run of this batch: abandoned",
            ", ".join(orphans),
        )
    search = chosen = None
    if rt.usecase.model.per_segment:
        result = steps.train_segmented_challenger(rt, pool, retrain.window, map_segment_fits)
    elif rt.usecase.model.candidates:
        incumbent = champion.info.profile.estimator if champion is not None else None
        search, chosen = steps.search_challenger(
            rt, pool, retrain.window, map_search_trials, incumbent
        )
        result = steps.train_challenger(rt, pool, retrain.window, chosen)
    else:
        result = steps.train_challenger(rt, pool, retrain.window)
    trained = steps.log_challenger(
        rt, result, period, retrain.reasons[0].code, batch_sha256, usecase=chosen, search=search
    )
    emit(
        Event.MODEL_RETRAINED,
        rt.name,
        EventPayload(
            period=period,
            version=trained.version,
            trigger=retrain.reasons[0].code,
            window=retrain.window,
            holdout_metrics=result.holdout_metrics,
        ),
        related_version=trained.version,
    )
    inputs = steps.evaluate(rt, result, champion, seed=period)
    decision = decide_promotion(inputs, rt.usecase.promotion)
    if decision.action == "await_approval":
        answered = ask_approval(rt, decision, approval_request(rt, decision, trained.version))
        decision = decide_promotion(answered, rt.usecase.promotion)
    if search is not None:
        # Why this model: the search's choice is part of the record (passed=None:
        # never read as a failed gate check).
        decision = decision.model_copy(update={"reasons": (*decision.reasons, *search.reasons)})
    if decision.action != "promote":
        model_registry.tag_version(
            rt.client,
            rt.usecase.registered_model_name,
            trained.version,
            {TAG_STATUS: "rejected"},
        )
        failed = [r for r in decision.reasons if r.passed is False]
        emit(
            Event.MODEL_REJECTED,
            rt.name,
            EventPayload(
                period=period, version=trained.version, reasons=tuple(r.code for r in failed)
            ),
            related_version=trained.version,
        )
        leaks = [r for r in failed if r.code in LEAK_REASONS]
        if leaks:
            # A leak is a data bug upstream, not a weak model: someone must look.
            emit(
                Event.MODEL_LEAK_SUSPECTED,
                rt.name,
                EventPayload(
                    period=period,
                    version=trained.version,
                    reasons=tuple(r.code for r in leaks),
                    reason=leaks[0].message,
                ),
                related_version=trained.version,
            )
    return decision, trained.version
