"""Review of held predictions: the decision table, the review id and the frames it writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops_core.config import UseCase, parse_usecase
from mlops_core.review import (
    ReviewRequest,
    RowDecision,
    decide_review,
    held_rows,
    override_limit_violations,
    pending_markdown,
    released_rows,
    review_markdown,
    reviewed_queue,
    violation_text,
)

pytestmark = pytest.mark.unit

AT = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
NAN = float("nan")


def make_usecase(task: str = "regression", rules: list[dict[str, Any]] | None = None) -> UseCase:
    regression_rules = [
        {"kind": "finite", "action": "quarantine"},
        {"kind": "range", "min": 0, "action": "clip"},
        {"kind": "cap_column", "name": "capacity", "column": "capacity", "action": "quarantine"},
        {
            "kind": "max_ratio_to_column",
            "column": "last_week",
            "ratio": 4,
            "floor": 5,
            "action": "flag",
        },
        {"kind": "input_out_of_range", "action": "flag"},
    ]
    default_rules = (
        regression_rules
        if task == "regression"
        else [{"kind": "finite", "action": "quarantine"}, {"kind": "input_out_of_range"}]
    )
    return parse_usecase(
        {
            "name": "shop",
            "data": {
                "landing": "landing",
                "labels": "labels",
                "id_column": "row_id",
                "time_column": "period",
                "target_column": "units",
                "segment_column": "store",
            },
            "contract": {
                "columns": [
                    {"name": "row_id", "type": "categorical", "feature": False},
                    {"name": "period", "type": "integer", "feature": False},
                    {"name": "store", "type": "categorical"},
                    {"name": "capacity", "type": "numeric", "min": 1},
                    {"name": "last_week", "type": "numeric", "min": 0},
                ]
            },
            "model": {
                "task": task,
                "estimator": "sklearn.linear_model.Ridge"
                if task == "regression"
                else "sklearn.linear_model.LogisticRegression",
            },
            "metric": {"primary": "mae" if task == "regression" else "accuracy"},
            "guardrails": {"rules": default_rules if rules is None else rules},
        },
        "test.yaml",
    )


USECASE = make_usecase()


def make_queue() -> pd.DataFrame:
    """Held rows of batch period_010 as the scoring step writes them (plus one reviewed row)."""
    return pd.DataFrame(
        {
            "row_id": ["a", "b", "c", "d", "dup", "dup"],
            "period": [10] * 6,
            "store": ["S1", "S1", "S2", "S2", "S3", "S3"],
            "capacity": [100.0, 100.0, 100.0, 100.0, 100.0, 100.0],
            "last_week": [50.0, 10.0, 30.0, 30.0, 30.0, 30.0],
            "raw_prediction": [130.0, 80.0, NAN, 20.0, 20.0, 21.0],
            "proposed_prediction": [130.0, 80.0, NAN, 20.0, 20.0, 21.0],
            "violations": [
                "capacity:quarantine",
                "max_ratio_to_column:flag",
                "finite:quarantine",
                "",
                "",
                "",
            ],
            "review_status": ["pending", "pending", "pending", "approved", "pending", "pending"],
            "model_version": ["3"] * 6,
            "reviewed_by": [None, None, None, "bob", None, None],
        }
    )


def request(*decisions: tuple[str, str, float | None], **extra: Any) -> ReviewRequest:
    base: dict[str, Any] = {
        "batch": "period_010",
        "decisions": tuple(RowDecision(row_id=r, action=a, value=v) for r, a, v in decisions),
        "reviewer": "alice",
        "comment": "checked with the store",
        "at": AT,
    }
    return ReviewRequest(**(base | extra))


# (id, decisions, request extras, expected action, reason codes that must be present,
#  {row: (status, final value)} when applied)
CASES = [
    (
        "approve",
        [("a", "approve", None)],
        {},
        "apply",
        ["review_applied"],
        {"a": ("approved", 130.0)},
    ),
    (
        "override-within-limits",
        [("a", "override", 90.0)],
        {},
        "apply",
        ["review_applied"],
        {"a": ("overridden", 90.0)},
    ),
    ("reject", [("a", "reject", None)], {}, "apply", ["review_applied"], {"a": ("rejected", None)}),
    (
        "mixed",
        [("a", "approve", None), ("b", "override", 35.0), ("c", "reject", None)],
        {},
        "apply",
        ["review_applied"],
        {"a": ("approved", 130.0), "b": ("overridden", 35.0), "c": ("rejected", None)},
    ),
    (
        "override-above-cap-refused",
        [("a", "override", 150.0)],
        {},
        "refuse",
        ["override_outside_limits"],
        {},
    ),
    (
        "override-above-cap-allowed-and-recorded",
        [("a", "override", 150.0)],
        {"allow_outside_limits": True},
        "apply",
        ["review_applied", "override_outside_limits"],
        {"a": ("overridden", 150.0)},
    ),
    (
        "override-negative-refused",
        [("a", "override", -1.0)],
        {},
        "refuse",
        ["override_outside_limits"],
        {},
    ),
    (
        "override-above-ratio-refused",
        [("b", "override", 45.0)],
        {},
        "refuse",
        ["override_outside_limits"],
        {},
    ),
    ("override-nan", [("a", "override", NAN)], {}, "refuse", ["override_not_finite"], {}),
    (
        "override-inf-even-when-allowed",
        [("a", "override", float("inf"))],
        {"allow_outside_limits": True},
        "refuse",
        ["override_not_finite"],
        {},
    ),
    ("override-no-value", [("a", "override", None)], {}, "refuse", ["override_missing_value"], {}),
    ("approve-with-value", [("a", "approve", 5.0)], {}, "refuse", ["value_without_override"], {}),
    ("approve-nan-proposal", [("c", "approve", None)], {}, "refuse", ["proposed_not_usable"], {}),
    (
        "override-nan-proposal",
        [("c", "override", 12.0)],
        {},
        "apply",
        ["review_applied"],
        {"c": ("overridden", 12.0)},
    ),
    ("already-reviewed", [("d", "approve", None)], {}, "refuse", ["row_not_pending"], {}),
    ("unknown-row", [("zz", "approve", None)], {}, "refuse", ["row_not_held"], {}),
    ("ambiguous-row", [("dup", "approve", None)], {}, "refuse", ["row_ambiguous"], {}),
    (
        "row-twice",
        [("a", "approve", None), ("a", "reject", None)],
        {},
        "refuse",
        ["row_listed_twice"],
        {},
    ),
    (
        "no-reviewer",
        [("a", "approve", None)],
        {"reviewer": "  "},
        "refuse",
        ["reviewer_missing"],
        {},
    ),
    ("no-rows", [], {}, "refuse", ["no_rows"], {}),
    (
        "every-problem-named",
        [("a", "override", 1e9), ("d", "approve", None), ("zz", "reject", None)],
        {"reviewer": ""},
        "refuse",
        ["reviewer_missing", "override_outside_limits", "row_not_pending", "row_not_held"],
        {},
    ),
]


@pytest.mark.parametrize(
    ("decisions", "extra", "action", "codes", "rows"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decision_table(decisions, extra, action, codes, rows) -> None:
    decision = decide_review(request(*decisions, **extra), make_queue(), USECASE)
    assert decision.action == action, decision.reasons
    found = [r.code for r in decision.reasons]
    assert set(codes) <= set(found), found
    if action == "refuse":
        assert decision.rows == ()
        assert all(r.passed is False for r in decision.reasons if r.code in codes), found
    else:
        assert {o.row_id: (o.status, o.final_prediction) for o in decision.rows} == rows
        assert {o.row_id for o in decision.released} == {
            r for r, (status, _) in rows.items() if status != "rejected"
        }


def test_an_allowed_override_outside_the_limits_names_the_rule_it_breaks() -> None:
    decision = decide_review(
        request(("a", "override", 150.0), allow_outside_limits=True), make_queue(), USECASE
    )
    (outcome,) = decision.rows
    assert outcome.outside_limits == ("capacity",)
    fact = next(r for r in decision.reasons if r.code == "override_outside_limits")
    assert fact.passed is None and "capacity" in fact.message and "allowed" in fact.message


def test_a_refusal_says_who_reviewed_a_row_already() -> None:
    decision = decide_review(request(("d", "reject", None)), make_queue(), USECASE)
    (reason,) = decision.reasons
    assert "approved by bob" in reason.message


def test_a_classifier_row_can_be_approved_or_rejected_but_not_overridden() -> None:
    usecase = make_usecase("classification")
    queue = make_queue().assign(
        raw_prediction=["UP", None, "DOWN", "UP", "UP", "UP"],
        proposed_prediction=["UP", None, "DOWN", "UP", "UP", "UP"],
    )
    approved = decide_review(request(("a", "approve", None)), queue, usecase)
    assert approved.action == "apply" and approved.rows[0].final_prediction == "UP"
    missing = decide_review(request(("b", "approve", None)), queue, usecase)
    assert [r.code for r in missing.reasons] == ["proposed_not_usable"]
    override = decide_review(request(("a", "override", 1.0)), queue, usecase)
    assert [r.code for r in override.reasons] == ["override_unsupported"]


def test_a_segment_history_cap_cannot_judge_an_override_and_says_so() -> None:
    usecase = make_usecase(
        rules=[
            {"kind": "range", "min": 0, "action": "clip"},
            {"kind": "segment_history_cap", "multiple": 2, "action": "clip"},
        ]
    )
    broken, facts = override_limit_violations([5.0, -2.0], make_queue().iloc[:2], usecase)
    assert broken == [(), ("range",)]
    assert [f.code for f in facts] == ["limit_not_checked"]
    decision = decide_review(request(("a", "override", 5.0)), make_queue(), usecase)
    assert decision.action == "apply"
    assert "limit_not_checked" in [r.code for r in decision.reasons]


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"at": AT + dt.timedelta(hours=3)}, True),
        (
            {
                "decisions": (
                    RowDecision(row_id="b", action="override", value=35.0),
                    RowDecision(row_id="a", action="approve"),
                )
            },
            True,
        ),
        ({"reviewer": " alice "}, True),
        ({"reviewer": "carol"}, False),
        ({"comment": "other"}, False),
        ({"allow_outside_limits": True}, False),
        (
            {
                "decisions": (
                    RowDecision(row_id="a", action="approve"),
                    RowDecision(row_id="b", action="override", value=36.0),
                )
            },
            False,
        ),
        ({"batch": "period_011"}, False),
    ],
    ids=[
        "time",
        "order",
        "whitespace",
        "reviewer",
        "comment",
        "allow",
        "value",
        "batch",
    ],
)
def test_review_id_is_the_content_not_the_time(change, same) -> None:
    base = request(("a", "approve", None), ("b", "override", 35.0))
    other = base.model_copy(update=change)
    assert (other.review_id == base.review_id) is same


def test_a_review_time_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        request(("a", "approve", None), at=dt.datetime(2026, 11, 2, 9, 30))


def test_held_rows_read_the_queue_typed() -> None:
    rows = held_rows(make_queue(), USECASE, "period_010")
    assert [r.row_id for r in rows] == ["a", "b", "c", "d", "dup", "dup"]
    assert rows[2].raw_prediction is None and rows[0].proposed_prediction == 130.0
    assert rows[0].violations == ("capacity:quarantine",)
    assert rows[3].status == "approved" and rows[3].reviewed_by == "bob"
    assert rows[0].segment == "S1" and rows[0].model_version == "3"


def test_held_rows_name_a_missing_column() -> None:
    with pytest.raises(ValueError, match="review_status"):
        held_rows(make_queue().drop(columns=["review_status"]), USECASE, "period_010")


@pytest.mark.parametrize(
    ("violations", "words", "breaker"),
    [
        ((), ["whole batch"], True),
        (("capacity:quarantine",), ["capacity (held for review)"], False),
        (
            ("capacity:quarantine", "range:clip"),
            ["capacity (held for review)", "range (clipped to the limit)"],
            False,
        ),
        (
            ("range:clip", "max_ratio_to_column:flag"),
            ["range (clipped to the limit)", "max_ratio_to_column (flagged)"],
            True,
        ),
    ],
    ids=["breaker-only", "quarantined", "quarantined-and-clipped", "clipped-flagged-breaker"],
)
def test_violation_text(violations, words, breaker) -> None:
    text = violation_text(violations)
    assert all(w in text for w in words), text
    assert ("circuit breaker" in text) is breaker, text


def _applied():
    decision = decide_review(
        request(("a", "approve", None), ("b", "override", 35.0), ("c", "reject", None)),
        make_queue(),
        USECASE,
    )
    assert decision.action == "apply"
    return decision


def test_released_rows_have_the_predictions_layout_and_who_released_them() -> None:
    decision = _applied()
    out = released_rows(
        decision, make_queue(), USECASE, batch_sha256="f" * 64, decision_run_id="run1"
    )
    assert list(out.columns[:3]) == ["row_id", "period", "store"]
    assert out["row_id"].tolist() == ["a", "b"]
    assert out["prediction"].tolist() == [130.0, 35.0]
    assert out["proposed_prediction"].tolist() == [130.0, 80.0]
    assert out["review_status"].tolist() == ["approved", "overridden"]
    assert out["flagged"].tolist() == [False, True]
    assert set(out["reviewed_by"]) == {"alice"} and set(out["batch_sha256"]) == {"f" * 64}
    assert set(out["review_decision_run_id"]) == {"run1"}
    assert set(out["review_id"]) == {decision.review_id}
    assert out["reviewed_at"].iloc[0] == pd.Timestamp(AT)
    assert out["model_version"].tolist() == ["3", "3"]


def test_reviewed_queue_marks_the_rows_and_is_idempotent() -> None:
    decision = _applied()
    once = reviewed_queue(
        decision, make_queue(), USECASE, decision_run_id="run1", released_in="x.parquet"
    )
    twice = reviewed_queue(decision, once, USECASE, decision_run_id="run1", released_in="x.parquet")
    pd.testing.assert_frame_equal(once, twice)
    by_id = once.set_index("row_id")
    assert by_id.loc["a", "review_status"] == "approved"
    assert by_id.loc["b", "final_prediction"] == 35.0
    assert by_id.loc["c", "review_status"] == "rejected"
    assert np.isnan(by_id.loc["c", "final_prediction"])
    assert by_id.loc["c", "released_in"] is None and by_id.loc["a", "released_in"] == "x.parquet"
    assert by_id.loc["d", "review_status"] == "approved"  # untouched
    assert once["review_status"].tolist().count("pending") == 2  # the two "dup" rows


def test_a_refused_review_writes_nothing() -> None:
    refused = decide_review(request(("zz", "approve", None)), make_queue(), USECASE)
    with pytest.raises(ValueError, match="refused"):
        released_rows(refused, make_queue(), USECASE, batch_sha256=None, decision_run_id="r")
    with pytest.raises(ValueError, match="refused"):
        reviewed_queue(refused, make_queue(), USECASE, decision_run_id="r", released_in=None)


def test_markdown_of_a_review_and_of_the_form() -> None:
    decision = _applied()
    text = review_markdown(decision, "shop")
    assert "alice" in text and "review_applied" in text and "| c | rejected |" in text
    rows = held_rows(make_queue(), USECASE, "period_010")
    form = pending_markdown("shop", rows[:2], pending_total=5, timeout_seconds=60)
    assert "| period_010 | a | S1 | 130 |" in form
    assert "3 more pending row(s)" in form and "60 s" in form
