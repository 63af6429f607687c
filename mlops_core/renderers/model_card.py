"""Sentences of the model card's limits: what the evidence behind a model does
not cover.
"""

from __future__ import annotations

from mlops_core.decisions import Reason
from mlops_core.formatting import listed
from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, _n, says

#: Names listed at most in one sentence of the model card.
MAX_LISTED = 10


def _bounds(low: float | None, high: float | None) -> str:
    return f"{'-inf' if low is None else _n(low)} to {'+inf' if high is None else _n(high)}"


@says(C.METRIC_DIRECTION)
def _metric_direction(code: C, n: Numbers, *, description: str) -> str:
    direction = "higher is better" if n["greater_is_better"] == "True" else "lower is better"
    return (
        f"{n['metric']} is the {description}: {direction}. Every number here was measured on "
        "holdout rows the version did not train on."
    )


@says(C.LEAK_CHECK)
def _leak_check(code: C, n: Numbers, *, check: Reason | None) -> str:
    if check is None:
        return "Leak check: not recorded for this promotion."
    return f"Leak check: {check.message}"


@says(C.FIRST_CHAMPION)
def _first_champion(
    code: C, n: Numbers, *, metric: str, baseline: float | None, baseline_kind: str | None
) -> str:
    if baseline is None:
        return (
            "There was no champion to compare with: only the floor and the leak check "
            "decided, so nothing shows this version beats a simpler model."
        )
    return (
        "There was no champion to compare with: only the naive baseline "
        f"({baseline_kind}, {metric} {baseline:.4g} on the same holdout), the floor if set and "
        "the leak check decided; nothing shows it beats another trained model."
    )


@says(C.SECONDARY_NOT_COMPARED)
def _secondary_not_compared(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"The previous champion was measured on {metric} only: this version's {n['metrics']} "
        "cannot be compared with it."
    )


@says(C.FEW_ROWS_SEGMENTS)
def _few_rows_segments(
    code: C, n: Numbers, *, segment_column: str, few: list[tuple[int, str]]
) -> str:
    """``few``: (training rows, segment), fewest first."""
    return (
        f"{n['segments']} {segment_column} value(s) had fewer than {n['min_rows']} training "
        f"rows: {listed([f'{seg} ({rows})' for rows, seg in few], MAX_LISTED)}. Forecasts for "
        "them rest on little data."
    )


@says(C.SEGMENTS_NOT_COMPARED)
def _segments_not_compared(code: C, n: Numbers, *, segment_column: str, unjudged: list[str]) -> str:
    return (
        f"{n['segments']} {segment_column} value(s) were not compared with the previous "
        f"champion (fewer than {n['min_holdout_rows']} holdout rows each): "
        f"{listed(unjudged, MAX_LISTED)}."
    )


@says(C.SEGMENT_ROWS_UNKNOWN)
def _segment_rows_unknown(code: C, n: Numbers, *, segment_column: str) -> str:
    return (
        f"Training rows per {segment_column} are not known (it is not a model input, so the "
        "training profile does not count it)."
    )


@says(C.DRIFTED_AT_TRAINING)
def _drifted_at_training(code: C, n: Numbers, *, features: list[str]) -> str:
    return (
        f"When this version was trained, {listed(features, MAX_LISTED)} had drifted from the "
        f"previous champion's reference ({n['importance_weighted_share']:.0%} of its "
        "importance): the new values appear only in the latest periods of the training window."
    )


@says(C.EXTRAPOLATION)
def _extrapolation(
    code: C,
    n: Numbers,
    *,
    wider: list[tuple[str, float, float, float | None, float | None]],
    tolerance: float | None,
) -> str:
    """``wider``: (feature, trained low, trained high, accepted low, accepted high)."""
    shown = [
        f"{f} (trained {_bounds(lo, hi)}, accepted {_bounds(c_lo, c_hi)})"
        for f, lo, hi, c_lo, c_hi in wider
    ]
    guard = (
        "The input_out_of_range guardrail flags forecasts made outside the trained range"
        + (f" plus {tolerance:.0%} of it" if tolerance else "")
        + "; an input outside it on batch_share of a batch's rows or more, or a calendar "
        "field the model never saw, is one finding for the batch instead."
        if tolerance is not None
        else "No guardrail flags such inputs in this use case."
    )
    return (
        f"The contract accepts inputs the version never saw: {listed(shown, MAX_LISTED)}. "
        f"Beyond the trained range the model extrapolates. {guard}"
    )


@says(C.NO_LABEL_FREE_ESTIMATE)
def _no_label_free_estimate(code: C, n: Numbers, *, note: str) -> str:
    return (
        "No label-free performance estimate is available for this version "
        f"({note.removeprefix('none').lstrip(': ') or 'not fitted'}): decay shows only once "
        "labels arrive."
    )
