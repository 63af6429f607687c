"""The review flow in Prefect's test harness, answered the way the Prefect UI answers.

A retail use case whose capacity guardrail holds forecasts for review is
bootstrapped; batches where a few items report a capacity of one unit are
scored by the ``score_batch`` flow, so their forecasts for those items are
held. The review flow runs in a thread and pauses; the test reads the form
from the API and resumes the run with an answer through the API
(``resume_flow_run(..., run_input=...)``), as the UI's form does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from flows.cycle import score_batch
from flows.demo import SHIPPED_USECASE
from flows.review import ReviewForm, requests_from_answer, review_held_predictions
from mlops_core.records import ReviewFlowResult
from mlops_core.review import ReviewRequest, RowDecision
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, review
from tasks.runtime import Runtime, open_runtime
from tasks.tags import TAG_REVIEW_BATCH, TAG_REVIEWER

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
FIRST_LIVE = SIM.config.initial_periods
REPO = Path(__file__).resolve().parents[2]
#: Items per batch whose capacity is set to one unit: their forecasts are held (with
#: any forecast above a real capacity).
TINY = 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> tuple[Path, Runtime]:
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    doc = yaml.safe_load(SHIPPED_USECASE.read_text(encoding="utf-8"))
    rules = doc["guardrails"]["rules"]
    for rule in rules:
        if rule["kind"] == "cap_column":
            rule["action"] = "quarantine"
    root = tmp_path_factory.mktemp("review-flow")
    usecase, paths = bootstrapped_variant(root, SIM, {"guardrails": {"rules": rules}})
    for offset in range(5):
        frame = SIM.batch(FIRST_LIVE + offset)
        frame.loc[frame.index[:TINY], "store_capacity"] = 1.0
        name = f"period_{FIRST_LIVE + offset:03d}.csv"
        frame.to_csv(paths.landing / name, index=False)
        out = score_batch(str(usecase), name, str(root))
        assert out.guardrails is not None and out.guardrails.held_rows >= TINY, out
    yield usecase, open_runtime(usecase, str(root))
    mp.undo()


def batch_of(offset: int) -> str:
    return f"period_{FIRST_LIVE + offset:03d}"


def start(
    usecase: Path, rt: Runtime, batch: str, timeout: int = 300
) -> tuple[threading.Thread, list]:
    """Run the review flow in a thread; its final state lands in the returned list."""
    states: list[Any] = []

    def run() -> None:
        states.append(
            review_held_predictions(
                str(usecase),
                data_root=str(rt.paths.root),
                batch=batch,
                timeout_seconds=timeout,
                return_state=True,
            )
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, states


def paused_run(batch: str, wait: float = 120) -> Any:
    """The review run of ``batch`` once it is paused for its form."""
    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["review_held_predictions"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                ),
            )
            for run in runs:
                if run.parameters.get("batch") == batch:
                    return run
            time.sleep(0.5)
    raise AssertionError(f"no paused review run for {batch} within {wait} s")


def finish(thread: threading.Thread, states: list) -> Any:
    thread.join(timeout=180)
    assert not thread.is_alive(), "the review flow did not finish"
    return states[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def review_runs(rt: Runtime, batch: str) -> list[decision_store.DecisionRunInfo]:
    runs = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.kind": "review"}
    )
    return [r for r in runs if r.tags.get(TAG_REVIEW_BATCH) == batch]


def test_the_form_shows_the_held_rows_and_its_answer_is_applied(setup) -> None:
    usecase, rt = setup
    batch = batch_of(0)
    ids = [row.row_id for row in review.pending_rows(rt, batch)]
    thread, states = start(usecase, rt, batch)
    run = paused_run(batch)
    keyset = run.state.state_details.run_input_keyset
    with get_client(sync_client=True) as client:
        description = client.read_flow_run_input(run.id, keyset["description"])
        answer = {
            "reviewer": "Maria (store S01)",
            "comment": "capacity figures were wrong in the export",
            "rows": [
                {"batch": batch, "row": ids[0], "decision": "approve", "value": None},
                {"batch": batch, "row": ids[1], "decision": "override", "value": 42.0},
                {"batch": batch, "row": ids[2], "decision": "reject", "value": None},
                {"batch": batch, "row": ids[3], "decision": "pending", "value": None},
            ],
            "approve_the_rest": False,
            "allow_outside_limits": True,
        }
        accepted = client.resume_flow_run(run.id, run_input=answer)
    assert accepted.status.value == "ACCEPT", accepted
    for row_id in ids:
        assert f"| {row_id} |" in description
    assert "store_capacity (held for review)" in description

    state = finish(thread, states)
    assert state.is_completed(), state
    out = state.result()
    assert out.status == "applied" and out.pending_rows == len(ids) - 3
    (result,) = out.reviews
    assert (result.approved, result.overridden, result.rejected) == (1, 1, 1)
    assert result.released_file is not None
    released = pd.read_parquet(result.released_file)
    assert released["row_id"].tolist() == ids[:2]
    assert released["prediction"].iloc[1] == 42.0
    assert set(released["reviewed_by"]) == {"Maria (store S01)"}
    # 42 units on a shelf for one: outside the capacity limit, allowed and recorded as such.
    assert released["outside_limits"].iloc[1].startswith("store_capacity")
    (record,) = review_runs(rt, batch)
    assert record.run_id == result.decision_run_id
    assert record.tags[TAG_REVIEWER] == "Maria (store S01)"
    assert [r.row_id for r in review.pending_rows(rt, batch)] == ids[3:]


def test_the_server_refuses_an_answer_the_form_does_not_allow(setup) -> None:
    usecase, rt = setup
    batch = batch_of(1)
    held = len(review.pending_rows(rt, batch))
    thread, states = start(usecase, rt, batch)
    run = paused_run(batch)
    with get_client(sync_client=True) as client:
        refused = client.resume_flow_run(
            run.id,
            run_input={
                "reviewer": "ops",
                "rows": [{"batch": batch, "row": "x", "decision": "maybe"}],
            },
        )
        assert refused.status.value == "REJECT", refused
        assert client.read_flow_run(run.id).state.type == StateType.PAUSED
        accepted = client.resume_flow_run(
            run.id,
            run_input={
                "reviewer": "ops",
                "approve_the_rest": True,
                "rows": [{"batch": batch, "row": r.row_id} for r in review.pending_rows(rt, batch)],
            },
        )
        assert accepted.status.value == "ACCEPT", accepted
    out = finish(thread, states).result()
    assert out.status == "applied" and out.reviews[0].approved == held
    assert review.pending_rows(rt, batch) == []


def test_an_answer_with_a_problem_fails_the_run_and_changes_nothing(setup) -> None:
    usecase, rt = setup
    batch = batch_of(2)
    ids = [row.row_id for row in review.pending_rows(rt, batch)]
    queue = digest(review.queue_path(rt.paths, batch))
    thread, states = start(usecase, rt, batch)
    run = paused_run(batch)
    with get_client(sync_client=True) as client:
        client.resume_flow_run(
            run.id,
            run_input={
                "reviewer": "ops",
                "rows": [
                    {"batch": batch, "row": ids[0], "decision": "approve"},
                    # Above the one-unit capacity, and outside values were not allowed.
                    {"batch": batch, "row": ids[1], "decision": "override", "value": 50.0},
                ],
            },
        )
    state = finish(thread, states)
    assert state.is_failed(), state
    with pytest.raises(ValueError, match="store_capacity"):
        state.result()
    assert digest(review.queue_path(rt.paths, batch)) == queue
    assert review_runs(rt, batch) == []
    assert review.released_files(rt.paths, batch) == []


def test_no_answer_by_the_deadline_leaves_the_rows_pending(setup) -> None:
    usecase, rt = setup
    batch = batch_of(3)
    held = len(review.pending_rows(rt, batch))
    queue = digest(review.queue_path(rt.paths, batch))
    state = finish(*start(usecase, rt, batch, timeout=3))
    assert state.is_completed(), state
    assert state.result() == ReviewFlowResult(status="no_answer", pending_rows=held)
    assert digest(review.queue_path(rt.paths, batch)) == queue
    with get_client(sync_client=True) as client:
        history = [s.type for s in client.read_flow_run_states(state.state_details.flow_run_id)]
    assert StateType.PAUSED in history


def test_a_batch_with_nothing_pending_asks_nothing(setup) -> None:
    usecase, rt = setup
    batch = batch_of(4)
    ids = [row.row_id for row in review.pending_rows(rt, batch)]
    review.apply_review(
        rt,
        ReviewRequest(
            batch=batch,
            decisions=tuple(RowDecision(row_id=i, action="reject") for i in ids),
            reviewer="ops",
            at=dt.datetime.now(dt.UTC),
        ),
    )
    out = review_held_predictions(str(usecase), data_root=str(rt.paths.root), batch=batch)
    assert out == ReviewFlowResult(status="nothing_pending", pending_rows=0, reviews=())


ROWS = [
    {"batch": "b1", "row": "r1", "decision": "approve"},
    {"batch": "b2", "row": "r2", "decision": "override", "value": 3.0},
    {"batch": "b1", "row": "r3", "decision": "pending"},
    {"batch": "b1", "row": "r4", "decision": "pending", "value": 7.0},
]


@pytest.mark.parametrize(
    ("approve_the_rest", "expected"),
    [
        (False, {"b1": [("r1", "approve", None)], "b2": [("r2", "override", 3.0)]}),
        (
            True,
            {
                "b1": [("r1", "approve", None), ("r3", "approve", None), ("r4", "approve", 7.0)],
                "b2": [("r2", "override", 3.0)],
            },
        ),
    ],
    ids=["pending-rows-wait", "the-rest-approved"],
)
def test_an_answer_becomes_one_review_per_batch(approve_the_rest, expected) -> None:
    answer = ReviewForm(
        reviewer=" ops ", comment=" ok ", rows=ROWS, approve_the_rest=approve_the_rest
    )
    at = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    requests = requests_from_answer(answer, at)
    assert {r.batch: [(d.row_id, d.action, d.value) for d in r.decisions] for r in requests} == (
        expected
    )
    assert {(r.reviewer, r.comment, r.at) for r in requests} == {("ops", "ok", at)}


def test_a_value_typed_into_a_row_left_pending_refuses_approve_the_rest(setup) -> None:
    _, rt = setup
    batch = batch_of(3)  # its rows stay pending: that test's form gets no answer
    row = review.pending_rows(rt, batch)[0].row_id
    answer = ReviewForm(
        reviewer="ops",
        rows=[{"batch": batch, "row": row, "decision": "pending", "value": 7.0}],
        approve_the_rest=True,
    )
    (request,) = requests_from_answer(answer, dt.datetime.now(dt.UTC))
    decision = review.check_review(rt, request)
    assert decision.action == "refuse"
    assert "value_without_override" in [r.code for r in decision.reasons]


def test_prefect_yaml_deploys_the_review_flow_with_described_parameters() -> None:
    doc = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = [
        d
        for d in doc["deployments"]
        if d["entrypoint"] == "flows/review.py:review_held_predictions"
    ]
    assert deployment["name"] == "review-retail-demand"
    assert (REPO / deployment["parameters"]["usecase_path"]).is_file()
    review_held_predictions.validate_parameters(deployment["parameters"])
    schema = review_held_predictions.parameters.model_dump()
    assert set(schema["required"]) <= set(deployment["parameters"])
    assert all(p.get("description") for p in schema["properties"].values()), schema
    form = ReviewForm.model_json_schema()
    assert {"reviewer", "rows", "approve_the_rest", "allow_outside_limits"} <= set(
        form["properties"]
    )
