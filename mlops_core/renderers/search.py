"""Sentences of the hyper-parameter search: the candidate it chose and its budget."""

from __future__ import annotations

import math

from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, says


def _search_share(share: float) -> str:
    # Whole percents hide small gains ("0% lower"); below 10% one decimal shows them.
    if not math.isfinite(share) or round(abs(share) * 100, 6) >= 10:
        return f"{share:.0%}"
    return f"{share:.1%}"


@says(C.SEARCH_NO_TRIAL)
def _search_no_trial(code: C, n: Numbers, *, incumbent: str) -> str:
    return f"kept {incumbent}: no trial of the search could be scored"


@says(C.SEARCH_KEPT, C.SEARCH_SWITCHED)
def _search_choice(
    code: C,
    n: Numbers,
    *,
    label: str,
    chosen: str,
    incumbent: str,
    compared: str | None = None,
    switched: bool = False,
    greater_is_better: bool = False,
) -> str:
    kept = code == C.SEARCH_KEPT
    folds, score = int(n["folds"]), float(n["chosen_score"])  # type: ignore[arg-type]
    if "compared" not in n:
        return (
            f"{'kept' if kept else 'chose'} {chosen}: {label} {score:.4g} on the last {folds} "
            "fold(s) (no other estimator scored to compare with)"
        )
    span = "the last fold" if folds == 1 else f"the last {folds} folds"
    figures = f"on {span} ({score:.4g} vs {float(n['compared_score']):.4g}, fold-weighted)"  # type: ignore[arg-type]
    direction = "higher" if greater_is_better else "lower"
    share = _search_share(float(n["relative_gain"]))  # type: ignore[arg-type]
    if switched:
        return f"switched from {incumbent} to {chosen}: {share} {direction} {label} {figures}"
    return (
        f"{'kept' if kept else 'chose'} {chosen}: {share} {direction} {label} than {compared} "
        f"{figures}"
    )


@says(C.SEARCH_BUDGET)
def _search_budget(code: C, n: Numbers) -> str:
    started, total = int(n["trials_started"]), int(n["trials_sampled"])  # type: ignore[arg-type]
    return (
        f"search ran {started} of {total} trials in {n['elapsed_seconds']:.1f} s "
        f"(budget {n['budget_seconds']:.0f} s"
        + (f"; {total - started} not started once it was spent)" if started < total else ")")
    )
