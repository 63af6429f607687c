"""Sentences of a schema change: the champion's training contract against the
current one.
"""

from __future__ import annotations

from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, says


@says(C.INPUT_TYPE_CHANGED)
def _input_type_changed(
    code: C, n: Numbers, *, column: str, before: str, after: str, version: str
) -> str:
    return (
        f"'{column}' changed from {before} to {after} and version {version} reads it as "
        f"{before}: keep '{column}' as {before} and add the {after} column under a new name"
    )


@says(C.TYPE_CHANGED_SAME_ENCODING, C.TYPE_CHANGED)
def _type_changed(
    code: C, n: Numbers, *, column: str, before: str, after: str, version: str
) -> str:
    who = f"version {version}"
    note = (
        f" (both reach {who} as numbers)"
        if code == C.TYPE_CHANGED_SAME_ENCODING
        else f" ({who} does not read it)"
    )
    return f"'{column}' changed from {before} to {after}{note}"


@says(C.RANGE_WIDENED, C.RANGE_NARROWED)
def _range_changed(
    code: C, n: Numbers, *, column: str, before: str, after: str, version: str, reads: bool
) -> str:
    widened = code == C.RANGE_WIDENED
    note = (
        f" (version {version} keeps scoring it: values beyond those it was trained on are "
        "flagged by the input-range guardrail where the use case has one)"
        if reads and widened
        else ""
    )
    return (
        f"the range of '{column}' {'widened' if widened else 'narrowed'} from {before} to "
        f"{after}{note}"
    )


@says(C.CATEGORY_ADDED)
def _category_added(
    code: C, n: Numbers, *, column: str, added: tuple[str, ...] | None, version: str, reads: bool
) -> str:
    what = "any category" if added is None else ", ".join(added)
    note = (
        f" (version {version} never saw {'them' if added is None else 'it'} and scores such "
        "rows as an unknown category until the next retrain)"
        if reads
        else ""
    )
    return f"'{column}' now accepts {what}{note}"


@says(C.CATEGORY_REMOVED)
def _category_removed(
    code: C, n: Numbers, *, column: str, removed: tuple[str, ...] | None, now: str
) -> str:
    if removed is None:
        return f"'{column}' no longer accepts every category (only {now})"
    return f"'{column}' no longer accepts {', '.join(removed)}"


@says(C.INPUT_DROPPED)
def _input_dropped(code: C, n: Numbers, *, column: str, version: str) -> str:
    return (
        f"'{column}' was dropped from the contract but version {version} reads it: keep it in "
        "the contract with 'feature: false' until a champion trained without it is promoted"
    )


@says(C.COLUMN_DROPPED)
def _column_dropped(code: C, n: Numbers, *, column: str, version: str) -> str:
    return f"'{column}' was dropped from the contract (version {version} does not read it)"


@says(C.FEATURE_REMOVED_NEXT_RETRAIN)
def _feature_removed(code: C, n: Numbers, *, column: str, version: str) -> str:
    return (
        f"'{column}' is no longer a feature (version {version} keeps reading it: the next "
        "retrain trains without it)"
    )


@says(C.NEW_FEATURE_NEXT_RETRAIN)
def _new_feature(code: C, n: Numbers, *, column: str, version: str, added: bool) -> str:
    if added:
        return (
            f"'{column}' was added to the contract as a feature (version {version} does not "
            "read it: it takes effect at the next retrain whose training rows hold it, rows "
            "stored before it count as missing)"
        )
    return (
        f"'{column}' is now a feature (version {version} does not read it: it takes effect at "
        "the next retrain)"
    )


@says(C.COLUMN_ADDED)
def _column_added(
    code: C, n: Numbers, *, column: str, version: str = "?", added: bool = True
) -> str:
    return f"'{column}' was added to the contract (not a feature)"
