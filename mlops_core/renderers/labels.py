"""Sentences of the label gate."""

from __future__ import annotations

from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, says


@says(C.ID_MISSING)
def _id_missing(code: C, n: Numbers, *, id_column: str) -> str:
    return f"{n['rows']} rows have no {id_column!r}: left out."


@says(C.TARGET_NOT_NUMERIC)
def _target_not_numeric(code: C, n: Numbers, *, target_column: str, example: str) -> str:
    return (
        f"{n['rows']} rows have a {target_column!r} that is not a number (for example "
        f"{example!r}): left out."
    )


@says(C.TARGET_MISSING)
def _target_missing(code: C, n: Numbers, *, target_column: str) -> str:
    return (
        f"{n['rows']} rows have no {target_column!r} (the label is unknown): left out; they "
        "never count as evidence."
    )


@says(C.TARGET_OUT_OF_RANGE)
def _target_out_of_range(
    code: C, n: Numbers, *, target_column: str, bounds: str, example: float
) -> str:
    return (
        f"{n['rows']} rows have a {target_column!r} outside the target rules ({bounds}: "
        f"labels.target_min/target_max; for example {example:g}): left out."
    )


@says(C.TARGET_CLASS_MISSPELLED)
def _target_class_misspelled(code: C, n: Numbers, *, example: str, listed_as: str) -> str:
    return (
        f"{n['rows']} rows have a class that differs from a listed one only in case or spaces "
        f"(for example {example!r} for {listed_as!r}; labels.target_classes): left out."
    )


@says(C.TARGET_NEW_CLASS)
def _target_new_class(code: C, n: Numbers, *, classes: list[str]) -> str:
    found = ", ".join(repr(c) for c in classes)
    return (
        f"{n['rows']} rows have a class that labels.target_classes does not list ({found}): "
        "kept, a class the model never saw is real data; add it to labels.target_classes once "
        "it is confirmed."
    )


@says(C.CONFLICTING_DUPLICATES)
def _conflicting_duplicates(code: C, n: Numbers, *, ids: int) -> str:
    return (
        f"{ids} ids appear with different targets ({n['rows']} rows): every row of those ids "
        "is left out, since which target is right cannot be known."
    )


@says(C.DUPLICATE_IDS)
def _duplicate_ids(code: C, n: Numbers) -> str:
    return f"{n['rows']} rows repeat an id with the same target: each id is kept once."


@says(C.UNKNOWN_IDS)
def _unknown_ids(code: C, n: Numbers) -> str:
    return (
        f"{n['rows']} rows label ids that no accepted batch holds yet (never scored, or of a "
        "period not delivered yet): kept, they join their rows when a batch holding them is "
        "accepted."
    )


@says(C.CORRECTIONS)
def _corrections(code: C, n: Numbers, *, refused: bool) -> str:
    then = (
        "refused (labels.corrections: refuse), the earlier labels stay."
        if refused
        else "applied (labels.corrections: apply), the new labels replace them."
    )
    return f"{n['rows']} rows change the label an earlier file gave their id: {then}"
