"""Sentences of the promotion gate: baseline, floor, improvement, significance,
segments, plausibility, target leaks, approval and supersession.
"""

from __future__ import annotations

from mlops_core.formatting import change
from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, _n, says


@says(C.BASELINE_UNAVAILABLE)
def _baseline_unavailable(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"The naive baseline's {metric} could not be computed on the holdout (baseline "
        f"{_n(n['baseline'])}, challenger {_n(n['challenger'])}): without it nothing is "
        "promoted (fail-safe)."
    )


@says(C.BASELINE_BEATEN, C.BASELINE_NOT_BEATEN)
def _baseline(code: C, n: Numbers, *, metric: str, holdout_rows: int) -> str:
    verb = "beats" if code == C.BASELINE_BEATEN else "does not beat"
    return (
        f"Challenger {metric} {_n(n['challenger'])} {verb} the naive baseline "
        f"({n['baseline_kind']}, refit on the challenger's training rows) at "
        f"{_n(n['baseline'])} on the same {holdout_rows} holdout rows."
    )


@says(C.NO_FLOOR_CONFIGURED)
def _no_floor(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"No floor is configured for {metric}: nothing is promoted until the use case sets "
        "promotion.floor (fail-safe)."
    )


@says(C.FLOOR_MET, C.FLOOR_NOT_MET)
def _floor(code: C, n: Numbers, *, metric: str, greater_is_better: bool) -> str:
    verb = "meets" if code == C.FLOOR_MET else "misses"
    side = "at least" if greater_is_better else "at most"
    return f"Challenger {metric} {_n(n['challenger'])} {verb} the floor ({side} {_n(n['floor'])})."


@says(C.IMPROVEMENT_MET, C.IMPROVEMENT_TOO_SMALL)
def _improvement(code: C, n: Numbers, *, metric: str) -> str:
    gain, need = float(n["gain"]), float(n["min_improvement"])  # type: ignore[arg-type]
    if n["mode"] == "absolute":
        shown, needed = f"{_n(gain)} {metric}", f"{_n(need)} {metric}"
    else:
        shown, needed = f"{gain:.1%} of the error", f"{need:.1%}"
    verb = "meets" if code == C.IMPROVEMENT_MET else "below"
    return (
        f"Challenger {metric} {_n(n['challenger'])} vs champion {_n(n['champion'])}: gain "
        f"{shown}, {verb} the required {needed} ({n['mode']})."
    )


@says(C.GAIN_SIGNIFICANT, C.GAIN_NOT_SIGNIFICANT)
def _significance(code: C, n: Numbers, *, holdout_rows: int) -> str:
    p = n["p_value"]
    if p is None:
        return "The gain was not tested with a paired bootstrap: it cannot be trusted."
    ok = code == C.GAIN_SIGNIFICANT
    return (
        f"Paired bootstrap on {holdout_rows} holdout rows: mean loss reduction "
        f"{_n(n['loss_difference_mean'])} per row (interval {_n(n['loss_difference_low'])} to "
        f"{_n(n['loss_difference_high'])}), p = {p:.3g} {'<=' if ok else '>'} "
        f"{n['significance']:g}: the gain is {'significant' if ok else 'possibly noise'}."
    )


@says(C.SEGMENT_REGRESSION)
def _segment_regression(
    code: C, n: Numbers, *, regressed: list[tuple[str, float, float, float]]
) -> str:
    """``regressed``: (segment, champion, challenger, worsening), worst first."""
    shown = ", ".join(
        f"{seg} ({_n(champ)} -> {_n(chall)}, {change(worse)})"
        for seg, champ, chall, worse in regressed[:5]
    )
    return (
        f"{n['regressed_segments']} of {n['segments']} segments get worse than the allowed "
        f"{n['max_segment_regression']:.0%}: {shown}."
    )


@says(C.SEGMENTS_OK)
def _segments_ok(code: C, n: Numbers) -> str:
    return (
        f"No segment of {n['segments']} gets worse than the allowed "
        f"{n['max_segment_regression']:.0%} (worst: {n['worst_segment']}, "
        f"{change(n['worst_worsening'])})."  # type: ignore[arg-type]
    )


@says(C.SEGMENTS_NOT_JUDGED)
def _segments_not_judged(code: C, n: Numbers) -> str:
    return "No segment had enough holdout rows to be compared."


@says(C.GAIN_PLAUSIBLE, C.TOO_GOOD_TO_BE_TRUE)
def _plausibility(code: C, n: Numbers, *, when: str) -> str:
    gain, limit = n["relative_gain"], n["max_plausible_gain"]
    if code == C.GAIN_PLAUSIBLE:
        return (
            f"The challenger removes {gain:.1%} of the champion's error {when} "
            f"(plausible up to {limit:.0%})."
        )
    return (
        f"The challenger removes {gain:.1%} of the champion's error {when}, over the plausible "
        f"{limit:.0%}: too good to be true, check for label leakage (a feature computed from "
        "the target) before promoting."
    )


def _associations(n: Numbers) -> list[tuple[str, float]]:
    """The per-feature associations a leak check records beside its limit, strongest first."""
    found = [
        (k, float(v))
        for k, v in n.items()
        if k != "max_target_association" and isinstance(v, int | float)
    ]
    return sorted(found, key=lambda kv: -kv[1])


@says(C.NO_TARGET_LEAK)
def _no_target_leak(code: C, n: Numbers) -> str:
    top = _associations(n)
    closest = f" (closest: {top[0][0]} at {top[0][1]:.3f})" if top else ""
    return (
        f"No input follows the target at {n['max_target_association']:g} correlation or "
        f"more{closest}."
    )


@says(C.TARGET_LEAK_SUSPECTED)
def _target_leak(code: C, n: Numbers) -> str:
    leaking = _associations(n)
    shown = ", ".join(f"{k} ({v:.3f})" for k, v in leaking)
    return (
        f"On the holdout, {shown} follow{'s' if len(leaking) == 1 else ''} the target almost "
        f"exactly (correlation at or over {n['max_target_association']:g}): too good to be "
        "true. The target is leaking into the inputs (a feature filled from the outcome it "
        "predicts); fix the data before any model trained on it is promoted."
    )


@says(C.GUARDRAIL_RATE_OK, C.GUARDRAIL_RATE_TOO_HIGH)
def _guardrail_rate(code: C, n: Numbers) -> str:
    return (
        f"{n['guardrail_rate']:.1%} of the challenger's holdout predictions break a guardrail "
        f"(allowed {n['max_guardrail_rate']:.1%})."
    )


def _approval_words(approver: str | None, comment: str | None) -> str:
    said = f' ("{comment}")' if comment else ""
    return f"{approver or 'an unnamed approver'}{said}"


@says(C.APPROVED)
def _approved(code: C, n: Numbers, *, comment: str | None) -> str:
    return f"Approved by {_approval_words(n.get('approver'), comment)}."  # type: ignore[arg-type]


@says(C.APPROVAL_REJECTED)
def _approval_rejected(code: C, n: Numbers, *, comment: str | None) -> str:
    return f"Rejected by {_approval_words(n.get('approver'), comment)}."  # type: ignore[arg-type]


@says(C.APPROVAL_TIMEOUT)
def _approval_timeout(code: C, n: Numbers) -> str:
    return "No one answered the approval request in time: a missing answer is a rejection."


@says(C.APPROVAL_PENDING)
def _approval_pending(code: C, n: Numbers) -> str:
    return "Every automatic check passed; the use case requires a human approval, which is pending."


@says(C.SUPERSEDED)
def _superseded(code: C, n: Numbers, *, action: str) -> str:
    return f"Decided '{action}', not carried out: version {n['champion']} became champion first."
