"""Sentences of the batch gate: a data-contract rule broken, an empty or a valid batch."""

from __future__ import annotations

from mlops_core.decisions import RuleResult
from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, says


def _where(result: RuleResult) -> str:
    return f"Column {result.column!r}" if result.column else "The batch"


def _found(result: RuleResult) -> str:
    parts = [result.message.rstrip(".")]
    if result.unexpected_count or result.unexpected_share:
        parts.append(
            f"{result.unexpected_count} unexpected values ({result.unexpected_share:.1%} of rows)"
        )
    if result.examples:
        parts.append("e.g. " + ", ".join(result.examples[:5]))
    return "; ".join(parts)


@says(C.RULE_FAILED, C.RULE_WARNING)
def _rule_broken(code: C, n: Numbers, *, result: RuleResult) -> str:
    verb = "failed" if code == C.RULE_FAILED else "broke warning"
    return f"{_where(result)} {verb} rule {result.rule!r}: {_found(result)}."


@says(C.EMPTY_BATCH)
def _empty_batch(code: C, n: Numbers, *, batch: str) -> str:
    return f"Batch {batch!r} has no rows; an empty batch is never scored or trained on."


@says(C.BATCH_VALID)
def _batch_valid(code: C, n: Numbers, *, batch: str) -> str:
    return (
        f"Batch {batch!r} is valid: {n['rows']} rows, {n['rules']} rules checked, "
        f"{n['warnings']} warnings."
    )
