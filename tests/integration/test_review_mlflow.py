"""Reviews of held predictions against real files and a real MLflow in a temporary folder.

The queues are written by the product's own scoring step (``write_scored``)
from real guardrail results on simulator batches; the retail use case is
changed only so that forecasts above a store's capacity are held for review
instead of clipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.demo import SHIPPED_USECASE
from mlops_core.decisions import GateDecision
from mlops_core.guardrails import apply_guardrails
from mlops_core.records import LedgerEntry, ReviewRecord
from mlops_core.review import ReviewRequest, RowDecision
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, review, steps, storage
from tasks.runtime import Runtime, open_runtime
from tasks.tags import TAG_REVIEW_BATCH, TAG_REVIEW_ID, TAG_REVIEW_STATE, TAG_REVIEWER

# slow (left out of `make test-fast`): each test opens a fresh MLflow store.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path_factory.mktemp("review")
    doc = yaml.safe_load(SHIPPED_USECASE.read_text(encoding="utf-8"))
    capacity = next(r for r in doc["guardrails"]["rules"] if r["kind"] == "cap_column")
    capacity["action"] = "quarantine"
    usecase = root / "retail_demand.yaml"
    usecase.write_text(yaml.safe_dump(doc), encoding="utf-8")
    yield open_runtime(usecase, str(root))
    mp.undo()


def hold(rt: Runtime, period: int, over_capacity: int = 6, *, everything: bool = False) -> str:
    """Score a simulator batch with forecasts of last week's units, some above capacity.

    Returns the batch name; its held rows are in the review queue (pending).
    """
    frame = SIM.batch(period)
    pred = frame["units_last_week"].to_numpy(dtype=float)
    pred[:over_capacity] = frame["store_capacity"].to_numpy(dtype=float)[:over_capacity] * 2
    if everything:
        # Every forecast 4x last week's units plus 6, but never above capacity: most
        # break the ratio rule (flag), over the 30% limit, so the breaker holds all.
        last_week = frame["units_last_week"].to_numpy(dtype=float)
        pred = np.minimum(4 * last_week + 6, frame["store_capacity"].to_numpy(dtype=float))
    guarded = apply_guardrails(pred, frame, rt.usecase.guardrails)
    name = f"period_{period:03d}.csv"
    sha = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    gate = GateDecision(
        action="pass", batch=name, batch_sha256=sha, rows=len(frame), reasons=(), results=()
    )
    steps.write_scored.fn(rt, frame, gate, guarded, "1")
    return Path(name).stem


def ask(batch: str, *decisions: tuple[str, str, float | None], **extra) -> ReviewRequest:
    return ReviewRequest(
        batch=batch,
        decisions=tuple(RowDecision(row_id=r, action=a, value=v) for r, a, v in decisions),
        reviewer=extra.pop("reviewer", "alice"),
        comment=extra.pop("comment", "checked the shelves"),
        at=dt.datetime.now(dt.UTC),
        **extra,
    )


def pending_ids(rt: Runtime, batch: str) -> list[str]:
    return [row.row_id for row in review.pending_rows(rt, batch)]


def review_runs(rt: Runtime, batch: str) -> list[decision_store.DecisionRunInfo]:
    runs = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.kind": "review"}
    )
    return [r for r in runs if r.tags.get(TAG_REVIEW_BATCH) == batch]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pending_rows_list_every_held_row_with_why(rt: Runtime) -> None:
    batch = hold(rt, 8)
    rows = review.pending_rows(rt, batch)
    assert len(rows) == 6
    assert all(r.status == "pending" and r.model_version == "1" for r in rows)
    assert all("store_capacity (held for review)" in r.reasons for r in rows)
    assert batch in review.queued_batches(rt.paths)
    state = review.queue_state(rt, batch)
    assert state.counts == {"pending": 6}


def test_an_applied_review_releases_rows_beside_the_predictions(rt: Runtime) -> None:
    batch = hold(rt, 9)
    a, b, c, *rest = pending_ids(rt, batch)
    result = review.apply_review(
        rt, ask(batch, (a, "approve", None), (b, "override", 12.0), (c, "reject", None))
    )
    assert result.status == "applied"
    assert result.released_file == rt.paths.predictions / f"{batch}.reviewed-1.parquet"
    released = pd.read_parquet(result.released_file)
    assert released["row_id"].tolist() == [a, b]
    assert released["review_status"].tolist() == ["approved", "overridden"]
    assert released["prediction"].iloc[1] == 12.0
    assert released["prediction"].iloc[0] == released["proposed_prediction"].iloc[0]
    assert set(released["reviewed_by"]) == {"alice"}
    assert set(released["review_decision_run_id"]) == {result.decision_run_id}

    # Downstream reads the predictions folder: accepted rows plus the released ones,
    # each row once; the rejected and still pending rows never appear.
    accepted = pd.read_parquet(rt.paths.predictions / f"{batch}.parquet")
    downstream = storage.read_frames(rt.paths.predictions, f"{batch}*.parquet")
    assert len(downstream) == len(accepted) + 2
    assert downstream["row_id"].is_unique
    assert not set(downstream["row_id"]) & {c, *rest}
    assert set(accepted.columns) <= set(released.columns)

    queue = pd.read_parquet(review.queue_path(rt.paths, batch)).set_index("row_id")
    assert queue.loc[[a, b, c], "review_status"].tolist() == ["approved", "overridden", "rejected"]
    assert set(queue.loc[rest, "review_status"]) == {"pending"}
    assert queue.loc[b, "final_prediction"] == 12.0
    assert queue.loc[a, "released_in"] == result.released_file.name
    assert queue.loc[c, "released_in"] is None


def test_a_review_is_recorded_as_a_decision_run(rt: Runtime) -> None:
    batch = hold(rt, 10)
    a, b, *_ = pending_ids(rt, batch)
    result = review.apply_review(rt, ask(batch, (a, "approve", None), (b, "reject", None)))
    (run,) = review_runs(rt, batch)
    assert run.run_id == result.decision_run_id
    assert run.kind == "review" and run.action == "mixed"
    assert run.tags[TAG_REVIEW_STATE] == "applied"
    assert run.tags[TAG_REVIEWER] == "alice"
    assert run.tags[TAG_REVIEW_ID] == result.decision.review_id
    assert run.metrics["released_rows"] == 1 and run.metrics["rejected_rows"] == 1
    record = decision_store.read_decision_record(rt.client, run.run_id, ReviewRecord)
    assert record.batch == batch and record.released_file == f"{batch}.reviewed-1.parquet"
    assert record.decision.action == "apply"
    assert [r.row_id for r in record.decision.rows] == [a, b]
    assert (
        record.batch_sha256
        == pd.read_parquet(rt.paths.predictions / f"{batch}.parquet")["batch_sha256"].iloc[0]
    )
    markdown = decision_store.read_decision_markdown(rt.client, run.run_id)
    assert "checked the shelves" in markdown and f"| {b} | rejected |" in markdown


def test_the_same_review_twice_is_applied_once(rt: Runtime) -> None:
    batch = hold(rt, 11)
    a, *_ = pending_ids(rt, batch)
    first = review.apply_review(rt, ask(batch, (a, "override", 20.0)))
    files = {p.name: digest(p) for p in rt.paths.predictions.glob(f"{batch}*")}
    queue = digest(review.queue_path(rt.paths, batch))
    again = review.apply_review(rt, ask(batch, (a, "override", 20.0)))
    assert again.status == "already_applied"
    assert again.decision_run_id == first.decision_run_id
    assert again.released_file == first.released_file
    assert {p.name: digest(p) for p in rt.paths.predictions.glob(f"{batch}*")} == files
    assert digest(review.queue_path(rt.paths, batch)) == queue
    assert len(review_runs(rt, batch)) == 1


def test_a_refused_review_records_and_writes_nothing(rt: Runtime) -> None:
    batch = hold(rt, 12)
    a, b, *_ = pending_ids(rt, batch)
    queue = digest(review.queue_path(rt.paths, batch))
    with pytest.raises(review.ReviewRefusedError) as refused:
        review.apply_review(rt, ask(batch, (a, "approve", None), (b, "override", 1e6)))
    assert "store_capacity" in str(refused.value)
    assert [r.code for r in refused.value.decision.reasons] == ["override_outside_limits"]
    assert review_runs(rt, batch) == []
    assert review.released_files(rt.paths, batch) == []
    assert digest(review.queue_path(rt.paths, batch)) == queue


def test_an_override_outside_the_limits_is_released_when_allowed_and_recorded(rt) -> None:
    batch = hold(rt, 13)
    a, *_ = pending_ids(rt, batch)
    result = review.apply_review(
        rt, ask(batch, (a, "override", 1e6), allow_outside_limits=True, comment="new fridge")
    )
    released = pd.read_parquet(result.released_file)
    assert released["prediction"].tolist() == [1e6]
    assert released["outside_limits"].tolist() == ["store_capacity; max_ratio_to_column"]
    (run,) = review_runs(rt, batch)
    assert "override_outside_limits" in run.reasons
    assert run.metrics["outside_limits_rows"] == 1


def test_each_releasing_review_of_a_batch_gets_the_next_file(rt: Runtime) -> None:
    batch = hold(rt, 14)
    a, b, c, *_ = pending_ids(rt, batch)
    first = review.apply_review(rt, ask(batch, (a, "approve", None)))
    rejected = review.apply_review(rt, ask(batch, (b, "reject", None)))
    second = review.apply_review(rt, ask(batch, (c, "approve", None), reviewer="bob"))
    assert rejected.released_file is None
    assert [p.name for p in review.released_files(rt.paths, batch)] == [
        f"{batch}.reviewed-1.parquet",
        f"{batch}.reviewed-2.parquet",
    ]
    assert first.released_file != second.released_file
    assert pd.read_parquet(second.released_file)["reviewed_by"].tolist() == ["bob"]


class DiskFull(OSError):
    """The fault injected into the second write of a review."""


def _fail_first_released_write(monkeypatch: pytest.MonkeyPatch) -> None:
    real = storage.write_parquet
    calls = {"n": 0}

    def write(frame: pd.DataFrame, path: Path) -> Path:
        if ".reviewed-" in path.name and calls["n"] == 0:
            calls["n"] += 1
            raise DiskFull(28, "No space left on device")
        return real(frame, path)

    monkeypatch.setattr(storage, "write_parquet", write)


def test_a_crash_after_the_record_is_finished_by_the_rerun(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = hold(rt, 15)
    a, b, *_ = pending_ids(rt, batch)
    request = ask(batch, (a, "approve", None), (b, "override", 9.0))
    _fail_first_released_write(monkeypatch)
    with pytest.raises(DiskFull):
        review.apply_review(rt, request)
    (run,) = review_runs(rt, batch)
    assert run.tags[TAG_REVIEW_STATE] == "recorded"
    assert a in pending_ids(rt, batch), "nothing released yet"

    resumed = review.apply_review(rt, request)
    assert resumed.status == "resumed" and resumed.decision_run_id == run.run_id
    assert pd.read_parquet(resumed.released_file)["row_id"].tolist() == [a, b]
    assert [r.tags[TAG_REVIEW_STATE] for r in review_runs(rt, batch)] == ["applied"]
    assert a not in pending_ids(rt, batch) and b not in pending_ids(rt, batch)


def test_a_recorded_review_is_finished_before_another_one_is_decided(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = hold(rt, 16)
    a, b, *_ = pending_ids(rt, batch)
    _fail_first_released_write(monkeypatch)
    with pytest.raises(DiskFull):
        review.apply_review(rt, ask(batch, (a, "approve", None)))
    # Someone else reviews the same row before the first reviewer reruns: the
    # recorded review wins (it was decided first), the new one is refused for it.
    with pytest.raises(review.ReviewRefusedError, match="already reviewed .approved by alice"):
        review.apply_review(
            rt, ask(batch, (a, "reject", None), (b, "reject", None), reviewer="bob")
        )
    assert [p.name for p in review.released_files(rt.paths, batch)] == [
        f"{batch}.reviewed-1.parquet"
    ]
    assert b in pending_ids(rt, batch)


def test_two_reviewers_at_once_release_a_row_once(rt: Runtime) -> None:
    batch = hold(rt, 17)
    a, *_ = pending_ids(rt, batch)
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def reviewer(name: str, value: float) -> None:
        start.wait()
        try:
            outcomes.append(
                review.apply_review(rt, ask(batch, (a, "override", value), reviewer=name))
            )
        except review.ReviewRefusedError as exc:
            outcomes.append(exc)

    threads = [
        threading.Thread(target=reviewer, args=("alice", 10.0)),
        threading.Thread(target=reviewer, args=("bob", 11.0)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    applied = [o for o in outcomes if isinstance(o, review.ReviewResult)]
    refused = [o for o in outcomes if isinstance(o, review.ReviewRefusedError)]
    assert len(applied) == 1 and len(refused) == 1, outcomes
    downstream = storage.read_frames(rt.paths.predictions, f"{batch}.reviewed-*.parquet")
    assert downstream["row_id"].tolist() == [a]
    assert len(review_runs(rt, batch)) == 1


def test_a_whole_held_batch_takes_its_hash_from_the_ledger(rt: Runtime) -> None:
    batch = hold(rt, 18, everything=True)
    assert pd.read_parquet(rt.paths.predictions / f"{batch}.parquet").empty
    storage.ledger_append(
        rt.paths.ledger,
        LedgerEntry(sha256="e" * 64, batch=f"{batch}.csv", period=18, gate="pass", decision="skip"),
    )
    rows = review.pending_rows(rt, batch)
    assert len(rows) == 360
    assert all("circuit breaker" in row.reasons for row in rows)
    proposed = rows[0].proposed_prediction
    result = review.apply_review(rt, ask(batch, (rows[0].row_id, "approve", None)))
    released = pd.read_parquet(result.released_file)
    assert released["batch_sha256"].tolist() == ["e" * 64]
    assert released["prediction"].tolist() == [proposed]


def test_an_unknown_batch_names_the_queues_and_odd_names_are_refused(rt: Runtime) -> None:
    hold(rt, 19)
    with pytest.raises(review.UnknownBatchError, match="period_019"):
        review.apply_review(rt, ask("period_999", ("x", "approve", None)))
    for name in ("../labels/x", ".hidden", ""):
        with pytest.raises(ValueError):
            review.queue_path(rt.paths, name)
