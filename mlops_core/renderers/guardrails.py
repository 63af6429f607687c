"""Sentences of the guardrails: input-range findings, the rules' actions on
predictions and the circuit breaker.
"""

from __future__ import annotations

from mlops_core.decisions import InputRangeFinding
from mlops_core.formatting import count, number, percent
from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, says

#: What a model has not seen when a calendar column is outside its training range.
_CALENDAR_UNSEEN = {
    "month": "this season",
    "season": "this season",
    "quarter": "this season",
    "week": "this season",
    "hour": "this time of day",
    "weekday": "this day of the week",
    "day": "this day of the month",
    "year": "this year",
}
#: What a guardrail action did to the rows it acted on.
ACTION_WORD = {
    "clip": "clipped to the limit",
    "fallback": "replaced by the fallback value",
    "flag": "passed on with a flag",
    "quarantine": "held for review",
}


def _span(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "no values"
    return number(low) if low == high else f"{number(low)} to {number(high)}"


def input_range_finding_sentence(f: InputRangeFinding) -> str:
    """One input column outside the training range for a batch, in plain words.

    E.g. "mnth (month) is outside the training range for every row (train 1 to 3,
    batch 4): the model has not seen this season." or "temp is outside the
    training range for 96% of rows (train 0.02 to 0.56, batch 0.6 to 0.98): the
    model extrapolates."
    """
    name = f.column if f.calendar in (None, f.column) else f"{f.column} ({f.calendar})"
    if f.rows_out >= f.rows:
        where = "every row"
    elif round(f.share, 2) >= 1.0:
        where = f"all but {count(f.rows - f.rows_out, 'row')}"
    else:
        where = f"{percent(f.share)} of rows"
    ranges = f"train {_span(f.train_min, f.train_max)}, batch {_span(f.batch_min, f.batch_max)}"
    if f.calendar is not None:
        meaning = f"the model has not seen {_CALENDAR_UNSEEN.get(f.calendar, 'this time')}"
    else:
        meaning = "the model extrapolates"
    return f"{name} is outside the training range for {where} ({ranges}): {meaning}."


@says(C.INPUTS_OUTSIDE_TRAINING_RANGE, C.CALENDAR_NOT_SEEN)
def _range_finding(code: C, n: Numbers, *, finding: InputRangeFinding, action: str) -> str:
    if action in ("quarantine", "fallback"):
        then = f" Its rows were {ACTION_WORD[action]}, as rule {finding.rule!r} says."
    else:
        then = (
            " One finding for the batch: its rows are not flagged for it and it does not "
            "count towards the circuit breaker."
        )
    return input_range_finding_sentence(finding) + then


@says(C.INPUT_RANGE_UNAVAILABLE)
def _input_range_unavailable(code: C, n: Numbers, *, rule: str) -> str:
    return f"Rule {rule!r} was not applied: no training ranges are known for the champion."


@says(C.SEGMENT_CAPS_UNAVAILABLE)
def _segment_caps_unavailable(code: C, n: Numbers, *, rule: str, caps_known: bool) -> str:
    lacking = (
        "no segment labels were given for the batch"
        if caps_known
        else "no per-segment training maxima are known for the champion"
    )
    return f"Rule {rule!r} was not applied: {lacking}."


@says(C.GUARDRAIL_RULE)
def _guardrail_rule(
    code: C,
    n: Numbers,
    *,
    predictions: int,
    missing: list[str],
    found: list[str],
    uncapped: int,
) -> str:
    rows = int(n["rows"])  # type: ignore[arg-type]
    text = (
        f"Rule {n['rule']!r}: {rows} of {predictions} predictions "
        f"({rows / max(predictions, 1):.1%}) violated it and were {ACTION_WORD[str(n['action'])]}."
    )
    if missing:
        text += f" Training ranges of {', '.join(missing)} could not be checked: not in the batch."
    if found:
        text += (
            f" Out of range for the batch as a whole: {', '.join(found)} (one finding per column)."
        )
    if uncapped:
        text += f" {uncapped} rows could not be checked: their segment has no training history."
    return text


@says(C.NON_FINITE_HELD)
def _non_finite_held(code: C, n: Numbers) -> str:
    return (
        f"{n['rows']} predictions were not finite after the guardrails and were held for "
        "review (always, whatever the rules say)."
    )


@says(C.CIRCUIT_BREAKER)
def _circuit_breaker(code: C, n: Numbers, *, counts_flags: bool) -> str:
    what = "clipped, replaced, held or flagged" if counts_flags else "clipped, replaced or held"
    return (
        f"{n['breaker_rows']} of {n['rows']} predictions ({n['breaker_rate']:.1%}) broke a "
        f"guardrail ({what}), over the {n['max_violation_rate']:.1%} limit: the whole batch is "
        "held for review."
    )
