"""Looking up rule results in what the contract checks return (unit and integration tests)."""

from __future__ import annotations

from mlops_core.decisions import RuleResult


def failures(results: tuple[RuleResult, ...], rule: str, column: str | None = None) -> list:
    """The failed results of ``rule`` (on ``column`` when given)."""
    return [
        r
        for r in results
        if r.rule == rule and not r.success and (column is None or r.column == column)
    ]


def only_failure(results: tuple[RuleResult, ...], rule: str, column: str | None) -> RuleResult:
    """The one failed result of ``rule`` on ``column``; fails the test otherwise."""
    found = failures(results, rule, column)
    assert len(found) == 1, f"expected one failed {rule!r} on {column!r}, got {results}"
    return found[0]
