"""Every reason code has a sentence, and renders with its numbers and words."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_core.decisions import InputRangeFinding, Reason, RuleResult
from mlops_core.formatting import change, count, listed, number, percent
from mlops_core.reasons import ReasonCode as C
from mlops_core.sentences import has_sentence, reason, sentence

pytestmark = pytest.mark.unit

PERF = {
    "reference": 10.0,
    "realized": 12.5,
    "realized_low": 11.0,
    "realized_high": 14.0,
    "decay": 0.25,
    "decay_low": 0.1,
    "decay_high": 0.4,
    "labeled_rows": 500,
}
DRIFT = {
    "importance_weighted_share": 0.45,
    "importance_drift_limit": 0.3,
    "drift_share": 0.2,
    "drifted_features": 2,
    "top_drifted": "price, promo",
}
BUDGET = {"retrains_in_window": 4, "max_retrains": 4, "budget_window_periods": 13}
COST = {
    "expected_saving": 120.0,
    "retrain_cost": 100.0,
    "excess_loss_per_row": 2.5,
    "rows_per_period": 12.0,
    "horizon_periods": 4,
    "error_cost_per_unit": 1.0,
}
RULE = RuleResult(
    rule="range",
    column="price",
    severity="error",
    success=False,
    message="values outside [0, 100]",
    unexpected_count=12,
    unexpected_share=0.012,
    examples=("-5.0",),
)
FINDING = InputRangeFinding(
    code=C.CALENDAR_NOT_SEEN,
    rule="input_out_of_range",
    column="mnth",
    calendar="month",
    rows_out=10,
    rows=10,
    share=1.0,
    train_min=1.0,
    train_max=3.0,
    batch_min=4.0,
    batch_max=4.0,
)
LEAK = Reason(code=C.NO_TARGET_LEAK, message="No input follows the target.", passed=True)
ROW = {"row": "r1"}
COLUMN = {"column": "price", "version": "3"}

#: Representative numbers and words of every code: (numbers, words).
EXAMPLES: dict[C, tuple[dict[str, Any], dict[str, Any]]] = {
    C.BATCH_VALID: ({"rows": 100, "rules": 9, "warnings": 1}, {"batch": "b.csv"}),
    C.RULE_FAILED: ({"unexpected_count": 12}, {"result": RULE}),
    C.RULE_WARNING: ({"unexpected_count": 12}, {"result": RULE}),
    C.EMPTY_BATCH: ({"rows": 0}, {"batch": "b.csv"}),
    C.BATCH_FAILED_GATE: ({}, {}),
    C.BATCH_PASSED_GATE: ({}, {}),
    C.LATE_BATCH: ({"period": 3, "latest_decided_period": 5}, {}),
    C.NO_LABELED_DATA: ({"new_labeled_rows": 0}, {}),
    C.NO_CHAMPION: ({"last_period": 9, "first_period": None}, {}),
    C.HAS_CHAMPION: ({}, {}),
    C.NOT_ENOUGH_LABELS: ({"new_labeled_rows": 12, "min_new_labels": 100}, {}),
    C.ENOUGH_LABELS: ({"new_labeled_rows": 120, "min_new_labels": 100}, {}),
    C.CRITICAL_DECAY_OVERRIDES_COOLDOWN: (
        {
            "periods_since_retrain": 1,
            "min_periods_between": 2,
            "decay": 0.5,
            "critical_decay": 0.3,
        },
        {"decay_low": 0.35, "decay_high": 0.6},
    ),
    C.COOLDOWN: (
        {"periods_since_retrain": 1, "min_periods_between": 2, "decay": 0.05},
        {"critical_decay": 0.3},
    ),
    C.OUTSIDE_COOLDOWN: ({"periods_since_retrain": 3, "min_periods_between": 2}, {}),
    C.PERFORMANCE_UNAVAILABLE: ({}, {}),
    C.REALIZED_DECAY: ({**PERF, "max_decay": 0.1, "cause": "concept_drift"}, {"metric": "mae"}),
    C.NO_SIGNIFICANT_DECAY: ({**PERF, "max_decay": 0.1}, {"metric": "mae"}),
    C.DRIFT_UNAVAILABLE: ({}, {}),
    C.IMPORTANT_FEATURE_DRIFT: (DRIFT, {}),
    C.UNIMPORTANT_FEATURE_DRIFT: (DRIFT, {}),
    C.NO_FEATURE_DRIFT: (DRIFT, {}),
    C.MODEL_AGE_UNKNOWN: ({}, {}),
    C.MODEL_AGE: ({"age_periods": 60, "max_age_periods": 52}, {}),
    C.MODEL_FRESH: ({"age_periods": 6, "max_age_periods": 52}, {}),
    C.DECAY_NOT_MEASURABLE: ({"new_labeled_rows": 120, "why": "no target"}, {}),
    C.NO_DECAY: ({**PERF, **DRIFT}, {"metric": "mae"}),
    C.CRITICAL_DECAY_OVERRIDES_BUDGET: (
        {**BUDGET, "decay": 0.5, "critical_decay": 0.3},
        {"decay_low": 0.35, "decay_high": 0.6},
    ),
    C.RETRAIN_BUDGET_EXHAUSTED: (BUDGET, {"trigger": C.MODEL_AGE}),
    C.RETRAIN_BUDGET_AVAILABLE: ({**BUDGET, "retrains_in_window": 1}, {}),
    C.RETRAIN_NOT_WORTH_COST: (
        {**COST, "expected_saving": 50.0},
        {"metric": "mae", "trigger": C.MODEL_AGE},
    ),
    C.RETRAIN_WORTH_COST: (COST, {"metric": "mae"}),
    C.RETRAIN_COST_FREE: ({"retrain_cost": 0.0}, {}),
    C.BASELINE_UNAVAILABLE: (
        {"challenger": 7.0, "baseline": None, "baseline_kind": None},
        {"metric": "mae"},
    ),
    C.BASELINE_BEATEN: (
        {"challenger": 7.0, "baseline": 9.0, "baseline_kind": "median 142"},
        {"metric": "mae", "holdout_rows": 400},
    ),
    C.BASELINE_NOT_BEATEN: (
        {"challenger": 9.5, "baseline": 9.0, "baseline_kind": "median 142"},
        {"metric": "mae", "holdout_rows": 400},
    ),
    C.NO_FLOOR_CONFIGURED: ({"challenger": 7.0}, {"metric": "mae"}),
    C.FLOOR_MET: ({"challenger": 7.0, "floor": 8.0}, {"metric": "mae", "greater_is_better": False}),
    C.FLOOR_NOT_MET: (
        {"challenger": 0.6, "floor": 0.7},
        {"metric": "accuracy", "greater_is_better": True},
    ),
    C.IMPROVEMENT_MET: (
        {
            "champion": 10.0,
            "challenger": 8.0,
            "gain": 0.2,
            "min_improvement": 0.02,
            "mode": "relative",
        },
        {"metric": "mae"},
    ),
    C.IMPROVEMENT_TOO_SMALL: (
        {
            "champion": 10.0,
            "challenger": 9.9,
            "gain": 0.1,
            "min_improvement": 0.5,
            "mode": "absolute",
        },
        {"metric": "mae"},
    ),
    C.GAIN_SIGNIFICANT: (
        {
            "p_value": 0.001,
            "significance": 0.05,
            "loss_difference_mean": 1.2,
            "loss_difference_low": 0.4,
            "loss_difference_high": 2.0,
        },
        {"holdout_rows": 400},
    ),
    C.GAIN_NOT_SIGNIFICANT: ({"p_value": None, "significance": 0.05}, {"holdout_rows": 400}),
    C.SEGMENT_REGRESSION: (
        {
            "segments": 5,
            "worst_segment": "S02",
            "worst_worsening": 0.3,
            "max_segment_regression": 0.1,
            "regressed_segments": 1,
        },
        {"regressed": [("S02", 10.0, 13.0, 0.3)]},
    ),
    C.SEGMENTS_OK: (
        {
            "segments": 5,
            "worst_segment": "S02",
            "worst_worsening": 0.03,
            "max_segment_regression": 0.1,
        },
        {},
    ),
    C.SEGMENTS_NOT_JUDGED: ({"min_segment_rows": 30}, {}),
    C.GAIN_PLAUSIBLE: (
        {"relative_gain": 0.2, "max_plausible_gain": 0.5, "champion_error_judged": 10.0},
        {"when": "now"},
    ),
    C.TOO_GOOD_TO_BE_TRUE: (
        {"relative_gain": 0.8, "max_plausible_gain": 0.5, "champion_error_judged": 10.0},
        {"when": "at its training"},
    ),
    C.NO_TARGET_LEAK: ({"max_target_association": 0.99, "price": 0.4}, {}),
    C.TARGET_LEAK_SUSPECTED: ({"max_target_association": 0.99, "units_last_week": 0.999}, {}),
    C.GUARDRAIL_RATE_OK: ({"guardrail_rate": 0.01, "max_guardrail_rate": 0.05}, {}),
    C.GUARDRAIL_RATE_TOO_HIGH: ({"guardrail_rate": 0.2, "max_guardrail_rate": 0.05}, {}),
    C.APPROVED: ({"approver": "ana"}, {"comment": "looks right"}),
    C.APPROVAL_REJECTED: ({"approver": None}, {"comment": None}),
    C.APPROVAL_TIMEOUT: ({}, {}),
    C.APPROVAL_PENDING: ({}, {}),
    C.SUPERSEDED: ({"champion": "4"}, {"action": "promote"}),
    C.INPUTS_OUTSIDE_TRAINING_RANGE: ({"rows_out": 10}, {"finding": FINDING, "action": "flag"}),
    C.CALENDAR_NOT_SEEN: ({"rows_out": 10}, {"finding": FINDING, "action": "quarantine"}),
    C.INPUT_RANGE_UNAVAILABLE: ({}, {"rule": "input_out_of_range"}),
    C.SEGMENT_CAPS_UNAVAILABLE: ({}, {"rule": "segment_history_cap", "caps_known": False}),
    C.GUARDRAIL_RULE: (
        {"rule": "cap", "action": "clip", "rows": 3},
        {"predictions": 240, "missing": ["temp"], "found": ["mnth"], "uncapped": 1},
    ),
    C.NON_FINITE_HELD: ({"rule": "finite", "action": "quarantine", "rows": 2}, {}),
    C.CIRCUIT_BREAKER: (
        {
            "breaker_rows": 50,
            "violating_rows": 60,
            "rows": 100,
            "breaker_rate": 0.5,
            "max_violation_rate": 0.2,
        },
        {"counts_flags": False},
    ),
    C.LIMIT_NOT_CHECKED: ({"rule": "segment_history_cap"}, {}),
    C.REVIEWER_MISSING: ({}, {}),
    C.NO_ROWS: ({}, {"batch": "b.csv"}),
    C.ROW_LISTED_TWICE: (ROW, {"batch": "b.csv"}),
    C.ROW_NOT_HELD: (ROW, {"batch": "b.csv"}),
    C.ROW_AMBIGUOUS: ({**ROW, "rows": 2}, {"batch": "b.csv"}),
    C.ROW_NOT_PENDING: ({**ROW, "status": "approved"}, {"batch": "b.csv", "reviewed_by": "ana"}),
    C.LIMITS_NOT_CHECKABLE: ({}, {"error": "column 'cap' is missing"}),
    C.OVERRIDE_OUTSIDE_LIMITS: ({**ROW, "value": 1e6}, {"broken": ["cap"], "allowed": False}),
    C.REVIEW_APPLIED: (
        {"rows": 3, "approved": 1, "overridden": 1, "rejected": 1, "released": 2},
        {"reviewer": "ana", "batch": "b.csv", "comment": "checked"},
    ),
    C.OVERRIDE_UNSUPPORTED: (ROW, {"batch": "b.csv"}),
    C.OVERRIDE_MISSING_VALUE: (ROW, {"batch": "b.csv"}),
    C.OVERRIDE_NOT_FINITE: ({**ROW, "value": "nan"}, {"batch": "b.csv"}),
    C.VALUE_WITHOUT_OVERRIDE: ({**ROW, "value": 4.0}, {"batch": "b.csv", "action": "approve"}),
    C.PROPOSED_NOT_USABLE: (ROW, {"batch": "b.csv", "proposed": None}),
    C.INPUT_TYPE_CHANGED: ({}, {**COLUMN, "before": "numeric", "after": "categorical"}),
    C.TYPE_CHANGED_SAME_ENCODING: ({}, {**COLUMN, "before": "integer", "after": "numeric"}),
    C.TYPE_CHANGED: ({}, {**COLUMN, "before": "integer", "after": "categorical"}),
    C.RANGE_WIDENED: ({}, {**COLUMN, "before": "0 to 10", "after": "0 to 20", "reads": True}),
    C.RANGE_NARROWED: ({}, {**COLUMN, "before": "0 to 20", "after": "0 to 10", "reads": True}),
    C.CATEGORY_ADDED: ({}, {**COLUMN, "added": ("C",), "reads": True}),
    C.CATEGORY_REMOVED: ({}, {"column": "price", "removed": None, "now": "A, B"}),
    C.INPUT_DROPPED: ({}, COLUMN),
    C.COLUMN_DROPPED: ({}, COLUMN),
    C.FEATURE_REMOVED_NEXT_RETRAIN: ({}, COLUMN),
    C.NEW_FEATURE_NEXT_RETRAIN: ({}, {**COLUMN, "added": True}),
    C.COLUMN_ADDED: ({}, {"column": "note"}),
    C.ID_MISSING: ({"rows": 3}, {"id_column": "id"}),
    C.TARGET_MISSING: ({"rows": 3}, {"target_column": "units"}),
    C.TARGET_NOT_NUMERIC: ({"rows": 3}, {"target_column": "units", "example": "abc"}),
    C.TARGET_OUT_OF_RANGE: (
        {"rows": 3},
        {"target_column": "units", "bounds": "at least 0", "example": -4.0},
    ),
    C.TARGET_CLASS_MISSPELLED: ({"rows": 3}, {"example": "up ", "listed_as": "UP"}),
    C.TARGET_NEW_CLASS: ({"rows": 3}, {"classes": ["FLAT"]}),
    C.CONFLICTING_DUPLICATES: ({"rows": 4}, {"ids": 2}),
    C.DUPLICATE_IDS: ({"rows": 4}, {}),
    C.UNKNOWN_IDS: ({"rows": 4}, {}),
    C.CORRECTIONS: ({"rows": 4}, {"refused": False}),
    C.SEARCH_NO_TRIAL: ({"trials": 4, "scored": 0}, {"incumbent": "Ridge"}),
    C.SEARCH_KEPT: (
        {
            "chosen_score": 41.2,
            "folds": 3,
            "compared": "hgb",
            "compared_score": 50.3,
            "relative_gain": 0.18,
            "incumbent": "ridge",
        },
        {"label": "MAE", "chosen": "Ridge", "incumbent": "Ridge", "compared": "HGB"},
    ),
    C.SEARCH_SWITCHED: (
        {"chosen_score": 41.2, "folds": 1},
        {"label": "MAE", "chosen": "HGB", "incumbent": "Ridge"},
    ),
    C.SEARCH_BUDGET: (
        {"elapsed_seconds": 12.3, "budget_seconds": 10.0, "trials_started": 3, "trials_sampled": 8},
        {},
    ),
    C.METRIC_DIRECTION: (
        {"metric": "mae", "greater_is_better": "False"},
        {"description": "mean absolute error"},
    ),
    C.LEAK_CHECK: ({}, {"check": LEAK}),
    C.FIRST_CHAMPION: ({}, {"metric": "mae", "baseline": 9.0, "baseline_kind": "median 142"}),
    C.SECONDARY_NOT_COMPARED: ({"metrics": "rmse"}, {"metric": "mae"}),
    C.FEW_ROWS_SEGMENTS: (
        {"segments": 1, "min_rows": 50},
        {"segment_column": "store", "few": [(12, "S09")]},
    ),
    C.SEGMENTS_NOT_COMPARED: (
        {"segments": 1, "min_holdout_rows": 30},
        {"segment_column": "store", "unjudged": ["S09"]},
    ),
    C.SEGMENT_ROWS_UNKNOWN: ({}, {"segment_column": "store"}),
    C.DRIFTED_AT_TRAINING: (
        {"features": 1, "importance_weighted_share": 0.2},
        {"features": ["price"]},
    ),
    C.EXTRAPOLATION: (
        {"features": 1},
        {"wider": [("temp", 0.0, 30.0, None, 50.0)], "tolerance": 0.1},
    ),
    C.NO_LABEL_FREE_ESTIMATE: ({}, {"note": "none: too few rows"}),
    C.ALERT_UNCONFIGURED: ({"count": 3, "rows": 90, "rate": 3 / 90}, {"kind": "x_y", "cause": "c"}),
    C.ALERT_BREAKER: (
        {
            "count": 12,
            "rows": 900,
            "rate": 12 / 900,
            "min_rate": 0.05,
            "min_count": None,
            "min_periods_between": 4,
        },
        {"kind": "guardrail_breach", "cause": "finite:fallback"},
    ),
    C.ALERT_IMMEDIATE: (
        {
            "count": 12,
            "rows": 900,
            "rate": 12 / 900,
            "min_rate": 0.05,
            "min_count": None,
            "min_periods_between": 4,
        },
        {"kind": "guardrail_finding", "cause": "temp"},
    ),
    C.ALERT_NEW_CAUSE: (
        {
            "count": 12,
            "rows": 900,
            "rate": 12 / 900,
            "min_rate": 0.05,
            "min_count": None,
            "min_periods_between": 4,
            "last_raised": None,
        },
        {"kind": "guardrail_breach", "cause": "range:clip"},
    ),
    C.ALERT_THRESHOLD_CROSSED: (
        {
            "count": 12,
            "rows": 900,
            "rate": 12 / 900,
            "min_rate": 0.05,
            "min_count": None,
            "min_periods_between": 4,
            "last_raised": 3,
        },
        {"kind": "guardrail_breach", "cause": "range:clip"},
    ),
    C.ALERT_BELOW_THRESHOLD: (
        {
            "count": 12,
            "rows": 900,
            "rate": 12 / 900,
            "min_rate": 0.05,
            "min_count": None,
            "min_periods_between": 4,
            "muted": 2,
        },
        {"kind": "guardrail_breach", "cause": "range:clip"},
    ),
    C.ALERT_THROTTLED: (
        {
            "count": 12,
            "rows": 900,
            "rate": 12 / 900,
            "min_rate": 0.05,
            "min_count": None,
            "min_periods_between": 4,
            "last_raised": 3,
            "muted": 1,
        },
        {"kind": "guardrail_breach", "cause": "range:clip"},
    ),
    C.ALERT_DIGESTED: (
        {
            "count": 12,
            "rows": 900,
            "rate": 12 / 900,
            "min_rate": 0.05,
            "min_count": None,
            "min_periods_between": 4,
            "every": 4,
        },
        {"kind": "guardrail_finding", "cause": "temp"},
    ),
    C.ALERT_DIGEST_DUE: (
        {"pending": 3, "since": 5, "every": 4},
        {"kind": "guardrail_finding", "causes": ("temp", "hum")},
    ),
    C.ALERT_RESOLVED: (
        {"clear_cycles": 2, "last_raised": 7},
        {"kind": "guardrail_breach", "cause": "range:clip"},
    ),
}


@pytest.mark.parametrize("code", list(C), ids=str)
def test_every_reason_code_has_a_sentence(code: C) -> None:
    assert has_sentence(code), f"mlops_core/renderers/ has no sentence for {code}"
    assert code in EXAMPLES, f"add representative numbers for {code} to EXAMPLES"
    numbers, words = EXAMPLES[code]
    said = sentence(code, numbers, **words)
    assert said.strip() and "{" not in said and "None" not in said, said


def test_a_reason_carries_its_rendered_sentence() -> None:
    r = reason(C.MODEL_AGE, {"age_periods": 60, "max_age_periods": 52}, passed=False)
    assert r.code == "model_age" and r.passed is False
    assert r.message == sentence(C.MODEL_AGE, r.numbers)
    assert "60 periods ago" in r.message and "52-period limit" in r.message


def test_the_shared_no_champion_code_reads_for_each_decision() -> None:
    retrain = sentence(C.NO_CHAMPION, {"last_period": 9, "first_period": 4})
    promotion = sentence(C.NO_CHAMPION, {})
    assert "periods 4 to 9 (sliding window)" in retrain
    assert "leak check decide" in promotion


def test_a_large_error_reads_the_same_in_the_record_and_the_summary() -> None:
    # One formatter: 51234.5 is "51,234" (whole, grouped), never "5.123e+04".
    n = {**PERF, "realized": 51234.5, "reference": 40000.0, "max_decay": 0.1, "cause": "unknown"}
    said = sentence(C.REALIZED_DECAY, n, metric="mae")
    assert "realized mae 51,234" in said and "reference 40,000" in said and "e+" not in said
    assert number(51234.5) == "51,234"


def test_number_formats() -> None:
    assert [number(x) for x in (0.12345, 7.3, 142.0, 51234.6, None, float("nan"))] == [
        "0.123",
        "7.3",
        "142",
        "51,235",
        "n/a",
        "n/a",
    ]
    assert number(0.123456, 4) == "0.1235" and number(12345.6, 4) == "12,346"
    assert [percent(x) for x in (0.25, 0.043, 0.005, 0.08)] == ["25%", "4.3%", "0.5%", "8%"]
    assert change(0.2) == "+20.0%" and change(-0.125) == "-12.5%" and change(None) == "n/a"
    assert count(1, "period") == "1 period" and count(1250, "row") == "1,250 rows"
    assert listed(["a", "b", "c"], 2) == "a, b and 1 more"
