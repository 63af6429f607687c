"""The batch gate: may a batch be scored and trained on (docs/design.md, section 4.1)."""

from __future__ import annotations

from collections.abc import Sequence

from mlops_core.decisions import GateDecision, Reason, RuleResult
from mlops_core.reasons import ReasonCode
from mlops_core.sentences import reason


def _rule_reason(result: RuleResult, code: ReasonCode) -> Reason:
    return reason(
        code,
        {
            "column": result.column,
            "rule": result.rule,
            "unexpected_count": result.unexpected_count,
            "unexpected_share": result.unexpected_share,
        },
        passed=False,
        result=result,
    )


def decide_gate(
    batch: str, batch_sha256: str, rows: int, results: Sequence[RuleResult]
) -> GateDecision:
    """Decide whether a batch passes the gate.

    A batch fails when any ``error``-severity rule failed or when it has no
    rows: an empty batch is never valid, even when no rule says so. Failed
    ``warn`` rules are listed but do not block.

    Args:
        batch: Batch file name.
        batch_sha256: Content hash of the batch.
        rows: Number of rows in the batch.
        results: Outcomes of the validation rules (mapped from GX by an adapter).

    Returns:
        The decision; its reasons list one ``rule_failed`` per failed error rule
        (and ``empty_batch``) first, then one ``rule_warning`` per failed warn
        rule, or a single ``batch_valid`` reason with the counts on a pass.

    Raises:
        ValueError: When ``rows`` is negative.
    """
    if rows < 0:
        raise ValueError(f"rows must not be negative, got {rows}")
    results = tuple(results)
    failures = [r for r in results if not r.success and r.severity == "error"]
    warnings = [r for r in results if not r.success and r.severity == "warn"]

    reasons: list[Reason] = [_rule_reason(r, ReasonCode.RULE_FAILED) for r in failures]
    if rows == 0:
        reasons.append(reason(ReasonCode.EMPTY_BATCH, {"rows": 0}, passed=False, batch=batch))
    failed = bool(reasons)
    reasons.extend(_rule_reason(r, ReasonCode.RULE_WARNING) for r in warnings)
    if not failed:
        reasons.insert(
            0,
            reason(
                ReasonCode.BATCH_VALID,
                {"rows": rows, "rules": len(results), "warnings": len(warnings)},
                passed=True,
                batch=batch,
            ),
        )
    return GateDecision(
        action="fail" if failed else "pass",
        batch=batch,
        batch_sha256=batch_sha256,
        rows=rows,
        reasons=tuple(reasons),
        results=results,
    )
