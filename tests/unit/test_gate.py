"""The batch gate as a decision table."""

from __future__ import annotations

import pytest

from mlops_core.decisions import RuleResult
from mlops_core.gate import decide_gate

pytestmark = pytest.mark.unit


def _rule(
    rule: str,
    column: str | None,
    success: bool,
    severity: str = "error",
    count: int = 0,
    share: float = 0.0,
    examples: tuple[str, ...] = (),
) -> RuleResult:
    return RuleResult(
        rule=rule,
        column=column,
        severity=severity,
        success=success,
        message=f"{rule} on {column or 'table'}",
        unexpected_count=count,
        unexpected_share=share,
        examples=examples,
    )


OK_PRICE = _rule("range", "price", True)
OK_IDS = _rule("unique", "id", True)
BAD_PRICE = _rule("range", "price", False, count=12, share=0.012, examples=("-5.0", "1e9"))
BAD_STORE = _rule("category", "store", False, count=3, share=0.003, examples=("S99",))
BAD_COLUMNS = _rule("columns_match", None, False)
WARN_NULLS = _rule("null_share", "promo", False, severity="warn", count=40, share=0.04)


@pytest.mark.parametrize(
    ("rows", "results", "action", "codes"),
    [
        pytest.param(1000, [OK_PRICE, OK_IDS], "pass", ["batch_valid"], id="all-pass"),
        pytest.param(1000, [], "pass", ["batch_valid"], id="no-rules"),
        pytest.param(1000, [OK_PRICE, BAD_PRICE], "fail", ["rule_failed"], id="one-error"),
        pytest.param(
            1000,
            [BAD_PRICE, OK_IDS, BAD_STORE],
            "fail",
            ["rule_failed", "rule_failed"],
            id="two-errors",
        ),
        pytest.param(1000, [BAD_COLUMNS], "fail", ["rule_failed"], id="table-rule"),
        pytest.param(
            1000, [OK_PRICE, WARN_NULLS], "pass", ["batch_valid", "rule_warning"], id="warn-only"
        ),
        pytest.param(
            1000,
            [WARN_NULLS, BAD_PRICE],
            "fail",
            ["rule_failed", "rule_warning"],
            id="error-before-warning",
        ),
        pytest.param(0, [], "fail", ["empty_batch"], id="empty-no-rules"),
        pytest.param(0, [OK_PRICE, OK_IDS], "fail", ["empty_batch"], id="empty-rules-pass"),
        pytest.param(
            0,
            [BAD_COLUMNS, WARN_NULLS],
            "fail",
            ["rule_failed", "empty_batch", "rule_warning"],
            id="empty-and-error",
        ),
    ],
)
def test_gate_decision_table(
    rows: int, results: list[RuleResult], action: str, codes: list[str]
) -> None:
    decision = decide_gate("batch_007.csv", "ab" * 32, rows, results)
    assert decision.action == action
    assert [r.code for r in decision.reasons] == codes
    assert decision.results == tuple(results)
    assert decision.rows == rows
    failed = [r for r in decision.reasons if r.passed is False]
    if action == "pass":
        assert decision.reasons[0].passed is True
        assert all(r.code == "rule_warning" for r in failed)
    else:
        assert decision.reasons[0].passed is False
        assert len([r for r in failed if r.code == "rule_failed"]) == len(decision.failed_rules)


def test_failed_rule_reason_names_column_rule_and_numbers() -> None:
    decision = decide_gate("batch_007.csv", "0" * 64, 1000, [BAD_PRICE])
    reason = decision.reasons[0]
    assert "'price'" in reason.message and "'range'" in reason.message
    assert "12 unexpected values" in reason.message and "1.2%" in reason.message
    assert "-5.0" in reason.message
    assert reason.numbers["unexpected_count"] == 12
    assert reason.numbers["unexpected_share"] == 0.012
    assert reason.numbers["column"] == "price"


def test_pass_reason_counts_rules_and_warnings() -> None:
    decision = decide_gate("b.csv", "0" * 64, 250, [OK_PRICE, OK_IDS, WARN_NULLS])
    assert decision.reasons[0].numbers == {"rows": 250, "rules": 3, "warnings": 1}
    assert decision.warnings == (WARN_NULLS,)
    warning = decision.reasons[1]
    assert "'promo'" in warning.message and warning.numbers["unexpected_count"] == 40


def test_negative_rows_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        decide_gate("b.csv", "0" * 64, -1, [])
