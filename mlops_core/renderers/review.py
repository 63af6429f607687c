"""Sentences of the review of held predictions."""

from __future__ import annotations

from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, says


def shown_value(value: float | str | None) -> str:
    """A reviewed or proposed value as a reviewer typed or saw it."""
    if value is None:
        return "none"
    return f"{value:.6g}" if isinstance(value, float) else value


@says(C.LIMIT_NOT_CHECKED)
def _limit_not_checked(code: C, n: Numbers) -> str:
    return (
        f"Rule {n['rule']!r} was not checked on override values: it needs the champion's "
        "training maxima per segment."
    )


@says(C.REVIEWER_MISSING)
def _reviewer_missing(code: C, n: Numbers) -> str:
    return "The review names no reviewer: say who you are, it is recorded."


@says(C.NO_ROWS)
def _no_rows(code: C, n: Numbers, *, batch: str) -> str:
    return f"The review of batch {batch!r} decides no row."


def _row(n: Numbers, batch: str) -> str:
    return f"row {n['row']!r} of batch {batch!r}"


@says(C.ROW_LISTED_TWICE)
def _row_listed_twice(code: C, n: Numbers, *, batch: str) -> str:
    return f"{_row(n, batch)} is decided more than once in the review."


@says(C.ROW_NOT_HELD)
def _row_not_held(code: C, n: Numbers, *, batch: str) -> str:
    return f"{_row(n, batch)} is not in the review queue."


@says(C.ROW_AMBIGUOUS)
def _row_ambiguous(code: C, n: Numbers, *, batch: str) -> str:
    return (
        f"{_row(n, batch)} is in the queue {n['rows']} times: the id does not tell which row is "
        "meant."
    )


@says(C.ROW_NOT_PENDING)
def _row_not_pending(code: C, n: Numbers, *, batch: str, reviewed_by: str | None) -> str:
    by = f" by {reviewed_by}" if reviewed_by else ""
    return f"{_row(n, batch)} was already reviewed ({n['status']}{by})."


@says(C.LIMITS_NOT_CHECKABLE)
def _limits_not_checkable(code: C, n: Numbers, *, error: str) -> str:
    return f"The override values could not be checked against the guardrail limits: {error}."


@says(C.OVERRIDE_OUTSIDE_LIMITS)
def _override_outside_limits(code: C, n: Numbers, *, broken: list[str], allowed: bool) -> str:
    said = f"Override {shown_value(n['value'])} of row {n['row']!r} breaks {', '.join(broken)}"  # type: ignore[arg-type]
    if allowed:
        return f"{said}: released because the reviewer allowed values outside the limits."
    return (
        f"{said}. Correct the value, or allow values outside the limits explicitly (it is "
        "recorded)."
    )


@says(C.REVIEW_APPLIED)
def _review_applied(code: C, n: Numbers, *, reviewer: str, batch: str, comment: str) -> str:
    said = f' ("{comment}")' if comment else ""
    return (
        f"{reviewer} reviewed {n['rows']} held row(s) of batch {batch!r}{said}: "
        f"{n['approved']} approved as proposed, {n['overridden']} overridden, "
        f"{n['rejected']} rejected; {n['released']} released downstream."
    )


@says(C.OVERRIDE_UNSUPPORTED)
def _override_unsupported(code: C, n: Numbers, *, batch: str) -> str:
    return (
        f"{_row(n, batch)}: a classifier's predictions are labels; an override value cannot be "
        "checked against them. Approve or reject the row."
    )


@says(C.OVERRIDE_MISSING_VALUE)
def _override_missing_value(code: C, n: Numbers, *, batch: str) -> str:
    return f"{_row(n, batch)}: an override needs the value to release."


@says(C.OVERRIDE_NOT_FINITE)
def _override_not_finite(code: C, n: Numbers, *, batch: str) -> str:
    return f"{_row(n, batch)}: the override value {n['value']} is not a finite number."


@says(C.VALUE_WITHOUT_OVERRIDE)
def _value_without_override(code: C, n: Numbers, *, batch: str, action: str) -> str:
    return (
        f"{_row(n, batch)}: a value ({shown_value(n['value'])}) was given but the decision is "  # type: ignore[arg-type]
        f"{action}; choose override to release your value."
    )


@says(C.PROPOSED_NOT_USABLE)
def _proposed_not_usable(code: C, n: Numbers, *, batch: str, proposed: float | str | None) -> str:
    return (
        f"{_row(n, batch)}: the proposed value ({shown_value(proposed)}) cannot be released; "
        "override it with a value or reject the row."
    )
