"""Sentences of the alert policy: why a guardrail condition alerted, was muted,
collected for a digest or resolved (``mlops_core/alerting.py`` decides)."""

from __future__ import annotations

from mlops_core.formatting import count, listed, percent
from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, periods_text, says
from mlops_core.renderers.wording import float_of, int_of

#: What each kind of alert condition is about, in words.
ALERT_KIND_WORDS = {
    "guardrail_breach": "business limits",
    "guardrail_finding": "inputs outside the training range",
}


def alert_kind_words(kind: str) -> str:
    """The kind of an alert condition in words (its name when it has none)."""
    return ALERT_KIND_WORDS.get(kind, kind.replace("_", " "))


def _alert_fact(n: Numbers, kind: str, cause: str) -> str:
    rows, hit = int_of(n, "rows") or 0, int_of(n, "count") or 0
    share = f"{hit:,} of {count(rows, 'row')} ({percent(float_of(n, 'rate') or 0.0)})"
    if kind == "guardrail_breach":
        return f"Guardrail {cause} acted on {share}"
    if kind == "guardrail_finding":
        return f"Input {cause} was outside the training range for {share}"
    return f"{alert_kind_words(kind).capitalize()} ({cause}): {share}"


def _alert_threshold(n: Numbers) -> str:
    least = int_of(n, "min_count")
    rows = f" or {count(least, 'row')}" if least is not None else ""
    return f"{percent(float_of(n, 'min_rate') or 0.0)} of the rows{rows}"


def _muted_so_far(n: Numbers) -> str:
    muted = int_of(n, "muted") or 0
    return f"{count(muted, 'condition')} of this cause muted since its last alert"


@says(C.ALERT_UNCONFIGURED)
def _alert_unconfigured(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}; no alert rule is configured for "
        f"{alert_kind_words(kind)}, so it alerts (nothing is muted without a rule)."
    )


@says(C.ALERT_BREAKER)
def _alert_breaker(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)} and the circuit breaker held the whole batch: "
        "alerted whatever the rule."
    )


@says(C.ALERT_IMMEDIATE)
def _alert_immediate(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return f"{_alert_fact(n, kind, cause)}: alerted at once, as the rule says."


@says(C.ALERT_NEW_CAUSE)
def _alert_new_cause(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}: new (no open alert for it), so alerted although "
        f"below the threshold of {_alert_threshold(n)}."
    )


@says(C.ALERT_THRESHOLD_CROSSED)
def _alert_threshold_crossed(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    last = int_of(n, "last_raised")
    before = f" (last alert in period {last})" if last is not None else ""
    return (
        f"{_alert_fact(n, kind, cause)}: at or over the threshold of {_alert_threshold(n)}, "
        f"alerted{before}."
    )


@says(C.ALERT_BELOW_THRESHOLD)
def _alert_below_threshold(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}: below the threshold of {_alert_threshold(n)}, "
        f"counted without an alert ({_muted_so_far(n)})."
    )


@says(C.ALERT_THROTTLED)
def _alert_throttled(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}: already alerted in period {int_of(n, 'last_raised')}, "
        f"less than {periods_text(n['min_periods_between'])} ago, so counted without an alert "
        f"({_muted_so_far(n)})."
    )


@says(C.ALERT_DIGESTED)
def _alert_digested(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}: collected for the digest sent every "
        f"{periods_text(n['every'])}."
    )


@says(C.ALERT_DIGEST_DUE)
def _alert_digest_due(code: C, n: Numbers, *, kind: str, causes: tuple[str, ...]) -> str:
    return (
        f"Digest of {alert_kind_words(kind)}: {count(int_of(n, 'pending') or 0, 'condition')} "
        f"since period {int_of(n, 'since')} ({listed(list(causes), 8)})."
    )


@says(C.ALERT_RESOLVED)
def _alert_resolved(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    last = int_of(n, "last_raised")
    since = f" since its alert of period {last}" if last is not None else ""
    return (
        f"{alert_kind_words(kind).capitalize()} {cause}: absent from "
        f"{count(int_of(n, 'clear_cycles') or 0, 'measured cycle')} in a row{since}: resolved."
    )
