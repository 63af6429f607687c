"""The review queue on disk and in MLflow: list held rows, apply a reviewer's decisions.

Files: ``review/<batch>.parquet`` holds a batch's held rows, written pending by
the scoring step. An applied review marks its rows there (approved, overridden
or rejected, with the final value and who decided) and writes the rows it
releases to ``predictions/<batch>.reviewed-<n>.parquet``, beside the batch's
predictions, in their layout plus who released each row and how.

Applying a review follows the cycle's protocol (record, then carry out), under
an exclusive lock on the batch's queue so two reviewers never release a row
twice:

1. reviews recorded but not carried out (a crash in between) are finished;
2. a review recorded before (same content hash) is not applied again;
3. the review is decided (:func:`mlops_core.review.decide_review`); a refusal
   changes nothing and raises :class:`ReviewRefusedError`;
4. it is recorded as a decision run of kind ``review`` in the decisions
   experiment (``decision.json``, ``decision.md``), tagged ``recorded``;
5. the released rows and the queue are written atomically, then the run is
   tagged ``applied``. Each write gives the same file when repeated, so a rerun
   after a crash anywhere finishes the same review once.

Plain functions, no Prefect: the CLI applies reviews without an orchestrator,
the review flow wraps them in tasks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from mlops_core.records import AppliedReview, ReviewRecord
from mlops_core.review import (
    STATUS_PENDING,
    HeldRow,
    ReviewDecision,
    ReviewRequest,
    decide_review,
    held_rows,
    released_rows,
    review_markdown,
    reviewed_queue,
)
from tasks import decision_store, storage
from tasks.runtime import Runtime
from tasks.tags import (
    TAG_BATCH,
    TAG_KIND,
    TAG_REVIEW_BATCH,
    TAG_REVIEW_ID,
    TAG_REVIEW_STATE,
    TAG_REVIEWER,
)

KIND = "review"
STATE_RECORDED = "recorded"
STATE_APPLIED = "applied"
#: Longest wait for another review of the same batch's queue.
REVIEW_LOCK_SECONDS = 600.0

_RELEASED = re.compile(r"^(?P<batch>.+)\.reviewed-(?P<n>\d+)\.parquet$")


class UnknownBatchError(LookupError):
    """No review queue exists for the batch named."""


class ReviewRefusedError(ValueError):
    """A review was refused; nothing was changed. ``decision`` holds every problem."""

    def __init__(self, decision: ReviewDecision) -> None:
        self.decision = decision
        self.problems = tuple(r.message for r in decision.reasons if r.passed is False)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class QueueState:
    """One batch's review queue: every held row with its status."""

    batch: str
    path: Path
    rows: tuple[HeldRow, ...]

    @property
    def pending(self) -> tuple[HeldRow, ...]:
        """Rows still waiting for a reviewer."""
        return tuple(r for r in self.rows if r.status == STATUS_PENDING)

    @property
    def counts(self) -> dict[str, int]:
        """Rows per status."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts


@dataclass(frozen=True)
class ReviewResult:
    """What applying a review did.

    Attributes:
        status: ``applied`` now; ``resumed``: recorded by an interrupted earlier
            attempt and finished now; ``already_applied``: the same review was
            applied before and nothing was done again.
        decision: The review decision as recorded.
        decision_run_id: The decision run of kind ``review``.
        released_file: The file holding the released rows (None when none was).
    """

    status: Literal["applied", "resumed", "already_applied"]
    decision: ReviewDecision
    decision_run_id: str
    released_file: Path | None

    def summary(self) -> AppliedReview:
        """The plain values the CLI prints and the review flow returns."""
        d = self.decision
        return AppliedReview(
            status=self.status,
            batch=d.request.batch,
            review_id=d.review_id,
            decision_run_id=self.decision_run_id,
            released_file=str(self.released_file) if self.released_file else None,
            approved=d.count("approved"),
            overridden=d.count("overridden"),
            rejected=d.count("rejected"),
            released=len(d.released),
            reasons=tuple(r.message for r in d.reasons),
        )


# ------------------------------------------------------------------ reading
def queue_path(paths: storage.UseCasePaths, batch: str) -> Path:
    """The review queue file of a batch, refusing names that leave the review folder.

    Raises:
        ValueError: The batch name is empty, hidden or escapes the folder.
    """
    if not batch or batch.startswith(".") or batch != batch.strip():
        raise ValueError(f"batch name {batch!r} is not a review queue name")
    return storage.landed_batch(paths.review, f"{batch}.parquet")


def queued_batches(paths: storage.UseCasePaths) -> list[str]:
    """Batches with a review queue file, sorted by name (batches are named by period)."""
    return sorted(
        p.name.removesuffix(".parquet")
        for p in paths.review.glob("*.parquet")
        if p.is_file() and not p.name.startswith(".")
    )


def read_queue(paths: storage.UseCasePaths, batch: str) -> pd.DataFrame:
    """The review queue of a batch.

    Raises:
        UnknownBatchError: The batch has no review queue; the message lists those that do.
    """
    path = queue_path(paths, batch)
    if not path.exists():
        known = ", ".join(queued_batches(paths)) or "none"
        raise UnknownBatchError(f"batch {batch!r} has no held predictions (queues: {known})")
    return pd.read_parquet(path)


def queue_state(rt: Runtime, batch: str) -> QueueState:
    """Every held row of a batch with its status."""
    queue = read_queue(rt.paths, batch)
    return QueueState(
        batch=batch, path=queue_path(rt.paths, batch), rows=held_rows(queue, rt.usecase, batch)
    )


def list_queues(rt: Runtime, batch: str | None = None) -> list[QueueState]:
    """The review queues of the use case (or of one batch), oldest batch first."""
    batches = [batch] if batch is not None else queued_batches(rt.paths)
    return [queue_state(rt, b) for b in batches]


def pending_rows(rt: Runtime, batch: str | None = None) -> list[HeldRow]:
    """Held rows waiting for a reviewer, oldest batch first, in file order."""
    return [row for state in list_queues(rt, batch) for row in state.pending]


def released_files(paths: storage.UseCasePaths, batch: str) -> list[Path]:
    """Files of rows released by reviews of a batch, in the order they were written."""
    return [path for _, path in _numbered_releases(paths, batch)]


def _numbered_releases(paths: storage.UseCasePaths, batch: str) -> list[tuple[int, Path]]:
    found = []
    for path in paths.predictions.glob(f"{_glob_escape(batch)}.reviewed-*.parquet"):
        match = _RELEASED.match(path.name)
        if match and match["batch"] == batch:
            found.append((int(match["n"]), path))
    return sorted(found)


def _glob_escape(text: str) -> str:
    """``text`` with glob metacharacters made literal."""
    return re.sub(r"([*?\[])", r"[\1]", text)


# ------------------------------------------------------------------ applying
def check_review(rt: Runtime, request: ReviewRequest) -> ReviewDecision:
    """Decide a review against the batch's queue as it is now, without applying it.

    Raises:
        UnknownBatchError: The batch has no review queue.
    """
    return decide_review(request, read_queue(rt.paths, request.batch), rt.usecase)


def apply_review(rt: Runtime, request: ReviewRequest) -> ReviewResult:
    """Record and carry out a review of held rows of one batch (see the module doc).

    Args:
        rt: The use case's runtime.
        request: The reviewer's decisions.

    Returns:
        What was done; applying the same review again returns ``already_applied``.

    Raises:
        UnknownBatchError: The batch has no review queue.
        ReviewRefusedError: The review was refused; nothing changed.
    """
    batch = request.batch
    read_queue(rt.paths, batch)  # fails early, naming the known queues
    with _locked(rt, batch):
        finished = _finish_recorded(rt, batch)
        earlier = decision_store.find_decision_runs(
            rt.client,
            rt.decisions_experiment_id,
            filter_tags={TAG_KIND: KIND, TAG_REVIEW_ID: request.review_id},
            max_results=1,
        )
        if earlier:
            run_id = earlier[0].run_id
            record = decision_store.read_decision_record(rt.client, run_id, ReviewRecord)
            return ReviewResult(
                status="resumed" if run_id in finished else "already_applied",
                decision=record.decision,
                decision_run_id=run_id,
                released_file=_released_path(rt, record),
            )

        decision = decide_review(request, read_queue(rt.paths, batch), rt.usecase)
        if decision.action != "apply":
            raise ReviewRefusedError(decision)
        sequence = _next_sequence(rt.paths, batch) if decision.released else None
        record = ReviewRecord(
            usecase=rt.name,
            batch=batch,
            review_id=decision.review_id,
            sequence=sequence,
            released_file=f"{batch}.reviewed-{sequence}.parquet" if sequence else None,
            batch_sha256=_batch_sha256(rt, batch),
            decision=decision,
        )
        run_id = _record(rt, decision, record)
        released = _carry_out(rt, run_id, record)
        return ReviewResult(
            status="applied", decision=decision, decision_run_id=run_id, released_file=released
        )


def finish_recorded_reviews(rt: Runtime, batch: str | None = None) -> list[str]:
    """Carry out reviews an interrupted run recorded but did not finish.

    Args:
        rt: The use case's runtime.
        batch: Only this batch's reviews; every batch with a queue when None.

    Returns:
        The decision run ids finished now.
    """
    batches = queued_batches(rt.paths)
    if batch is not None:
        batches = [b for b in batches if b == batch]
    finished: list[str] = []
    for name in batches:
        with _locked(rt, name):
            finished += _finish_recorded(rt, name)
    return finished


def _finish_recorded(rt: Runtime, batch: str) -> list[str]:
    """Carry out the batch's recorded reviews, oldest first; the caller holds the lock."""
    runs = decision_store.find_decision_runs(
        rt.client,
        rt.decisions_experiment_id,
        filter_tags={TAG_KIND: KIND, TAG_REVIEW_STATE: STATE_RECORDED},
        max_results=1000,
    )
    finished = []
    for run in reversed(runs):  # newest first from MLflow
        if run.tags.get(TAG_REVIEW_BATCH) != batch:
            continue
        record = decision_store.read_decision_record(rt.client, run.run_id, ReviewRecord)
        _carry_out(rt, run.run_id, record)
        finished.append(run.run_id)
    return finished


def _record(rt: Runtime, decision: ReviewDecision, record: ReviewRecord) -> str:
    """Write the review's decision run (state ``recorded``); returns its id."""
    request = decision.request
    sequence = record.sequence
    tags = {
        TAG_REVIEW_ID: decision.review_id,
        TAG_REVIEW_BATCH: request.batch,
        TAG_REVIEW_STATE: STATE_RECORDED,
        TAG_REVIEWER: request.reviewer.strip(),
    }
    if record.batch_sha256:
        tags[TAG_BATCH] = record.batch_sha256
    return decision_store.log_decision_run(
        rt.client,
        experiment_id=rt.decisions_experiment_id,
        run_name=f"review-{request.batch}" + (f"-{sequence}" if sequence else "-rejected"),
        kind=KIND,
        action=decision.kind,
        reason_codes=[r.code for r in decision.reasons],
        record=record,
        markdown=review_markdown(decision, rt.name),
        metrics={
            "approved_rows": float(decision.count("approved")),
            "overridden_rows": float(decision.count("overridden")),
            "rejected_rows": float(decision.count("rejected")),
            "released_rows": float(len(decision.released)),
            "outside_limits_rows": float(sum(1 for r in decision.rows if r.outside_limits)),
        },
        tags=tags,
    )


def _carry_out(rt: Runtime, run_id: str, record: ReviewRecord) -> Path | None:
    """Write the released rows and the marked queue, then tag the run applied (idempotent)."""
    decision = record.decision
    batch = record.batch
    queue = read_queue(rt.paths, batch)
    released = _released_path(rt, record)
    if released is not None:
        frame = released_rows(
            decision,
            queue,
            rt.usecase,
            batch_sha256=record.batch_sha256,
            decision_run_id=run_id,
        )
        storage.write_parquet(frame, released)
    marked = reviewed_queue(
        decision,
        queue,
        rt.usecase,
        decision_run_id=run_id,
        released_in=released.name if released is not None else None,
    )
    storage.write_parquet(marked, queue_path(rt.paths, batch))
    rt.client.set_tag(run_id, TAG_REVIEW_STATE, STATE_APPLIED)
    return released


def _released_path(rt: Runtime, record: ReviewRecord) -> Path | None:
    name = record.released_file
    return None if not name else storage.landed_batch(rt.paths.predictions, name)


def _next_sequence(paths: storage.UseCasePaths, batch: str) -> int:
    return max((n for n, _ in _numbered_releases(paths, batch)), default=0) + 1


def _batch_sha256(rt: Runtime, batch: str) -> str | None:
    """Content hash of the batch: from its predictions file, else from the ledger."""
    predictions = rt.paths.predictions / f"{batch}.parquet"
    if predictions.exists():
        try:
            column = pd.read_parquet(predictions, columns=["batch_sha256"])["batch_sha256"]
        except (KeyError, ValueError):
            column = pd.Series(dtype=object)
        column = column.dropna()
        if not column.empty:
            return str(column.iloc[0])
    found = None
    for entry in rt.coordination.ledger.entries():
        if Path(entry.batch).stem == batch and entry.sha256:
            found = entry.sha256
    return found


@contextmanager
def _locked(rt: Runtime, batch: str) -> Iterator[None]:
    """Exclusive lock on a batch's queue, across threads, processes and workers.

    The use case's lock ``review-<batch>`` (``Runtime.coordination``): a file
    lock on one machine, the stack's PostgreSQL across machines.
    """
    queue_path(rt.paths, batch)  # refuses a name that would put the lock elsewhere
    with rt.coordination.claims.claim(f"review-{batch}", timeout_seconds=REVIEW_LOCK_SECONDS):
        yield
