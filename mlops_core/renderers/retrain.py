"""Sentences of the retrain decision: the batch, labels, cooldown, decay, drift,
model age, the retrain budget and the retrain's cost.
"""

from __future__ import annotations

import math

from mlops_core.decisions import PerformanceSummary
from mlops_core.formatting import change
from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.registry import Numbers, _n, periods_text, says

_CAUSE_TEXT = {
    "concept_drift": "concept drift (the link between inputs and target changed: realized "
    "performance is clearly worse than the label-free estimate)",
    "covariate_shift": "covariate shift (inputs moved into regions where the model is weaker; "
    "the label-free estimate explains the loss)",
    "unknown": "unattributed (the label-free estimate is missing or does not separate concept "
    "drift from covariate shift)",
}


def _performance_text(n: Numbers, metric: str) -> str:
    """Realized against reference, from the numbers ``retrain`` records for a performance."""
    return (
        f"realized {metric} {_n(n['realized'])} (interval {_n(n['realized_low'])} to "
        f"{_n(n['realized_high'])}, {n['labeled_rows']} rows) vs reference "
        f"{_n(n['reference'])}: decay {change(n['decay'])} (interval {change(n['decay_low'])} "
        f"to {change(n['decay_high'])})"  # type: ignore[arg-type]
    )


def unmeasured_why(perf: PerformanceSummary | None, metric: str) -> str:
    """Why a performance summary carries no realized metric, in words (a retrain number)."""
    if perf is None:
        return "no performance was assessed"
    if perf.new_labeled_rows == 0:
        return "none of them could be joined to a scored prediction with a target"
    if not math.isfinite(perf.reference):
        return "the champion has no reference metric to compare with"
    return f"{metric} is undefined on them (for example one class only)"


@says(C.BATCH_FAILED_GATE)
def _batch_failed_gate(code: C, n: Numbers) -> str:
    return (
        "The batch failed the validation gate: nothing is scored or trained and the champion stays."
    )


@says(C.BATCH_PASSED_GATE)
def _batch_passed_gate(code: C, n: Numbers) -> str:
    return "The batch passed the validation gate."


@says(C.LATE_BATCH)
def _late_batch(code: C, n: Numbers) -> str:
    return (
        "The batch arrived late: its period is before the latest one already decided. Its "
        "predictions were delivered and its rows join the labeled pool for the next retrain; "
        "no retrain is decided on it, since decisions only move forward in time."
    )


@says(C.NO_LABELED_DATA)
def _no_labeled_data(code: C, n: Numbers) -> str:
    return (
        "No labeled period is available yet, so there is nothing to train on; training waits "
        "for labels."
    )


@says(C.NO_CHAMPION)
def _no_champion(code: C, n: Numbers) -> str:
    # Shared by two decisions: the retrain decision records the training window,
    # the promotion gate records no numbers.
    if "last_period" not in n:
        return "There is no champion yet: the naive baseline, the floor and the leak check decide."
    first, last = n.get("first_period"), n["last_period"]
    window = (
        f"from the beginning up to {last} (expanding window)"
        if first is None
        else f"{first} to {last} (sliding window)"
    )
    return f"There is no champion yet: a first model is trained on periods {window}."


@says(C.HAS_CHAMPION)
def _has_champion(code: C, n: Numbers) -> str:
    return "A champion is in production."


@says(C.NOT_ENOUGH_LABELS)
def _not_enough_labels(code: C, n: Numbers) -> str:
    return (
        f"Only {n['new_labeled_rows']} newly labeled rows arrived (at least "
        f"{n['min_new_labels']} needed): too little evidence to judge the model or to retrain on."
    )


@says(C.ENOUGH_LABELS)
def _enough_labels(code: C, n: Numbers) -> str:
    return (
        f"{n['new_labeled_rows']} newly labeled rows arrived (at least {n['min_new_labels']} "
        "needed)."
    )


@says(C.CRITICAL_DECAY_OVERRIDES_COOLDOWN)
def _critical_overrides_cooldown(
    code: C, n: Numbers, *, decay_low: float | None, decay_high: float | None
) -> str:
    return (
        f"The last retrain was {periods_text(n['periods_since_retrain'])} ago (cooldown "
        f"{n['min_periods_between']}), but the decay {change(n['decay'])} (interval "  # type: ignore[arg-type]
        f"{change(decay_low)} to {change(decay_high)}) is over the critical "
        f"{n['critical_decay']:.0%}: the cooldown is overridden."
    )


@says(C.COOLDOWN)
def _cooldown(code: C, n: Numbers, *, critical_decay: float | None = None) -> str:
    if "periods_since_retrain" not in n:
        # The override let only a decay retrain through, and the decay fell short.
        return (
            "Inside the cooldown and the decay does not reach the retrain limit "
            f"{n['max_decay']:.0%}: retraining waits for the cooldown to end."
        )
    decay = n.get("decay")
    decay_txt = (
        ""
        if decay is None
        else f" The decay {change(decay)} is not over "  # type: ignore[arg-type]
        f"the critical {critical_decay:.0%} with significance."
    )
    return (
        f"The last retrain was {periods_text(n['periods_since_retrain'])} ago, inside the cooldown "
        f"of {n['min_periods_between']} periods.{decay_txt}"
    )


@says(C.OUTSIDE_COOLDOWN)
def _outside_cooldown(code: C, n: Numbers) -> str:
    if "periods_since_retrain" not in n:
        return "No retrain has happened yet: no cooldown."
    return (
        f"The last retrain was {periods_text(n['periods_since_retrain'])} ago (cooldown "
        f"{n['min_periods_between']})."
    )


@says(C.PERFORMANCE_UNAVAILABLE)
def _performance_unavailable(code: C, n: Numbers) -> str:
    return (
        "Realized performance is not available (no joined labels or the metric is undefined "
        "on them): the decay rule does not apply."
    )


@says(C.REALIZED_DECAY)
def _realized_decay(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"Significant decay: {_performance_text(n, metric)}, over the {n['max_decay']:.0%} "
        f"limit. Cause: {_CAUSE_TEXT[str(n['cause'])]}."
    )


@says(C.NO_SIGNIFICANT_DECAY)
def _no_significant_decay(code: C, n: Numbers, *, metric: str) -> str:
    return f"No significant decay over {n['max_decay']:.0%}: {_performance_text(n, metric)}."


@says(C.DRIFT_UNAVAILABLE)
def _drift_unavailable(code: C, n: Numbers) -> str:
    return "No drift summary for this batch: the drift rule does not apply."


@says(C.IMPORTANT_FEATURE_DRIFT)
def _important_feature_drift(code: C, n: Numbers) -> str:
    return (
        f"Drifted features carry {n['importance_weighted_share']:.0%} of the champion's "
        f"importance (limit {n['importance_drift_limit']:.0%}); most important drifted: "
        f"{n['top_drifted']}."
    )


@says(C.UNIMPORTANT_FEATURE_DRIFT)
def _unimportant_feature_drift(code: C, n: Numbers) -> str:
    return (
        f"{n['drifted_features']} drifted feature(s) ({n['top_drifted']}) carry only "
        f"{n['importance_weighted_share']:.0%} of the champion's importance (limit "
        f"{n['importance_drift_limit']:.0%}): reported, not acted on."
    )


@says(C.NO_FEATURE_DRIFT)
def _no_feature_drift(code: C, n: Numbers) -> str:
    return "No feature drifted."


@says(C.MODEL_AGE_UNKNOWN)
def _model_age_unknown(code: C, n: Numbers) -> str:
    return "The champion's training period is unknown: the age rule does not apply."


@says(C.MODEL_AGE)
def _model_age(code: C, n: Numbers) -> str:
    return (
        f"The champion was trained on data up to {n['age_periods']} periods ago, over the "
        f"{n['max_age_periods']}-period limit: it is refreshed."
    )


@says(C.MODEL_FRESH)
def _model_fresh(code: C, n: Numbers) -> str:
    return f"The champion is {n['age_periods']} periods old (limit {n['max_age_periods']})."


@says(C.DECAY_NOT_MEASURABLE)
def _decay_not_measurable(code: C, n: Numbers) -> str:
    return (
        f"Realized performance could not be measured on the {n['new_labeled_rows']} newly "
        f"labeled rows: {n['why']}. Without it no decay can be judged; the champion stays, and "
        "neither drift nor age gave a reason to retrain."
    )


@says(C.NO_DECAY)
def _no_decay(code: C, n: Numbers, *, metric: str) -> str:
    if "realized" in n:
        text = _performance_text(n, metric)
        parts = [text[0].upper() + text[1:]]
    else:
        parts = ["Realized performance is not available yet"]
    if "importance_weighted_share" in n:
        parts.append(
            f"{n['importance_weighted_share']:.0%} of the champion's importance sits in "
            f"drifted features (limit {n['importance_drift_limit']:.0%}), "
            f"{n['drift_share']:.0%} of features drifted"
        )
    return f"No decay: retraining postponed. {'; '.join(parts)}."


@says(C.CRITICAL_DECAY_OVERRIDES_BUDGET)
def _critical_overrides_budget(
    code: C, n: Numbers, *, decay_low: float | None, decay_high: float | None
) -> str:
    return (
        f"{n['retrains_in_window']} retrains were already taken in the last "
        f"{n['budget_window_periods']} periods (budget {n['max_retrains']}), but the decay "
        f"{change(n['decay'])} (interval {change(decay_low)} to {change(decay_high)}) is over "  # type: ignore[arg-type]
        f"the critical {n['critical_decay']:.0%}: the budget is overridden."
    )


@says(C.RETRAIN_BUDGET_EXHAUSTED)
def _budget_exhausted(code: C, n: Numbers, *, trigger: str) -> str:
    return (
        f"A retrain is warranted ({trigger}) but {n['retrains_in_window']} retrains were "
        f"already taken in the last {n['budget_window_periods']} periods (budget "
        f"{n['max_retrains']}): skipped."
    )


@says(C.RETRAIN_BUDGET_AVAILABLE)
def _budget_available(code: C, n: Numbers) -> str:
    return (
        f"{n['retrains_in_window']} of {n['max_retrains']} retrains used in the last "
        f"{n['budget_window_periods']} periods."
    )


def _saving_formula(n: Numbers, metric: str) -> str:
    return (
        f"excess {metric} {_n(n['excess_loss_per_row'])} per row x {_n(n['rows_per_period'])} "
        f"rows x {n['horizon_periods']} periods x {_n(n['error_cost_per_unit'])} per unit"
    )


@says(C.RETRAIN_NOT_WORTH_COST)
def _not_worth_cost(code: C, n: Numbers, *, metric: str, trigger: str) -> str:
    return (
        f"A retrain is warranted ({trigger}) but its expected saving "
        f"{_n(n['expected_saving'])} ({_saving_formula(n, metric)}) does not exceed its cost "
        f"{_n(n['retrain_cost'])}: skipped."
    )


@says(C.RETRAIN_WORTH_COST)
def _worth_cost(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"Expected saving {_n(n['expected_saving'])} ({_saving_formula(n, metric)}) exceeds the "
        f"retrain cost {_n(n['retrain_cost'])}."
    )


@says(C.RETRAIN_COST_FREE)
def _cost_free(code: C, n: Numbers) -> str:
    return "No retrain cost is configured: cost does not limit retraining."
