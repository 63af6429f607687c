"""The retrain decision (DESIGN.md 4.3): ordered rules, first match wins.

Every rule that was looked at is kept in ``checked`` with ``passed`` set to
True (the rule did not fire), False (it fired) or None (not applicable, e.g.
no labels yet). A missing threshold or baseline never leads to a retrain: a
rule that lacks its evidence is recorded as not applicable and does not fire.
"""

from __future__ import annotations

import math

from mlops_core.config import DriftPolicy, RetrainPolicy
from mlops_core.decisions import (
    PerformanceSummary,
    Reason,
    RetrainAction,
    RetrainDecision,
    RetrainInputs,
    TrainingWindow,
)
from mlops_core.metrics import METRICS
from mlops_core.reasons import ReasonCode

_CAUSE_TEXT = {
    "concept_drift": "concept drift (the link between inputs and target changed: realized "
    "performance is clearly worse than the label-free estimate)",
    "covariate_shift": "covariate shift (inputs moved into regions where the model is weaker; "
    "the label-free estimate explains the loss)",
    "unknown": "unattributed (the label-free estimate is missing or does not separate concept "
    "drift from covariate shift)",
}


def _num(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.4g}"


def _pct(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.1%}"


def _periods(n: int) -> str:
    return f"{n} period" if n == 1 else f"{n} periods"


def _realized(perf: PerformanceSummary | None) -> PerformanceSummary | None:
    """The summary when it carries a realized metric and a decay, else None."""
    if perf is None or perf.realized is None or perf.decay is None:
        return None
    return perf


def _performance_text(perf: PerformanceSummary) -> str:
    r = perf.realized
    assert r is not None
    return (
        f"realized {perf.metric} {_num(r.value)} (interval {_num(r.low)} to {_num(r.high)}, "
        f"{r.rows} rows) vs reference {_num(perf.reference)}: decay {_pct(perf.decay)} "
        f"(interval {_pct(perf.decay_low)} to {_pct(perf.decay_high)})"
    )


def _performance_numbers(perf: PerformanceSummary) -> dict[str, float | int | str | None]:
    r = perf.realized
    assert r is not None
    return {
        "reference": perf.reference,
        "realized": r.value,
        "realized_low": r.low,
        "realized_high": r.high,
        "decay": perf.decay,
        "decay_low": perf.decay_low,
        "decay_high": perf.decay_high,
        "labeled_rows": r.rows,
    }


def _significant(perf: PerformanceSummary, limit: float) -> bool:
    # Significant means the whole decay interval lies above zero; without an
    # interval the decay is not significant (no evidence is not decay).
    return (
        perf.decay is not None
        and perf.decay_low is not None
        and perf.decay_low > 0.0
        and perf.decay > limit
    )


def _critical(perf: PerformanceSummary, policy: RetrainPolicy) -> bool:
    """A decay strong enough to override the cooldown or the budget.

    Over ``critical_decay``, and its whole interval over ``max_decay`` (not only
    over zero): overriding a limit on retraining takes evidence that the model
    is materially worse, not a noisy point estimate on a small batch.
    """
    return (
        _significant(perf, policy.critical_decay)
        and perf.decay_low is not None
        and perf.decay_low > policy.max_decay
    )


def _window(inputs: RetrainInputs, policy: RetrainPolicy) -> TrainingWindow | None:
    last = inputs.last_labeled_period
    if last is None:
        return None
    sliding = policy.window == "sliding" or (
        inputs.decay_cause == "concept_drift" and policy.sliding_after_concept_drift
    )
    if sliding:
        return TrainingWindow(
            kind="sliding", first_period=last - policy.sliding_periods + 1, last_period=last
        )
    return TrainingWindow(kind="expanding", first_period=None, last_period=last)


def _excess_loss_per_row(perf: PerformanceSummary | None, metric: str) -> float:
    """Realized minus reference on the metric's loss scale, never negative."""
    perf = _realized(perf)
    if perf is None:
        return 0.0
    assert perf.realized is not None
    diff = perf.realized.value - perf.reference
    if METRICS[metric].greater_is_better:
        diff = -diff
    return max(diff, 0.0)


def _no_labels(checked: list[Reason], inputs: RetrainInputs) -> RetrainDecision:
    reason = Reason(
        code=ReasonCode.NO_LABELED_DATA,
        message="No labeled period is available yet, so there is nothing to train on; "
        "training waits for labels.",
        numbers={"new_labeled_rows": inputs.new_labeled_rows},
        passed=False,
    )
    checked.append(reason)
    return _decide("skip", [reason], checked, inputs)


def _decide(
    action: RetrainAction,
    reasons: list[Reason],
    checked: list[Reason],
    inputs: RetrainInputs,
    window: TrainingWindow | None = None,
) -> RetrainDecision:
    return RetrainDecision(
        action=action,
        reasons=tuple(reasons),
        checked=tuple(checked),
        window=window,
        inputs=inputs,
    )


def decide_retrain(
    inputs: RetrainInputs, retrain: RetrainPolicy, drift: DriftPolicy, metric: str
) -> RetrainDecision:
    """Decide whether to block, train, retrain or skip this cycle.

    Rules, first match wins:

    1. the batch failed the gate: ``block``; a late batch (its period is before
       the latest period decided): ``skip``, since decisions only move forward;
    2. no champion: ``train`` (``skip`` when no labeled period exists yet);
    3. fewer new labeled rows than ``min_new_labels``: ``skip``;
    4. inside the cooldown: ``skip``, unless the decay is over ``critical_decay``
       with its whole interval over ``max_decay``, which overrides the cooldown
       for the decay rule only (and, later, an exhausted budget);
    5. significant realized decay over ``max_decay``: ``retrain``, naming the cause;
    6. importance-weighted drift over ``importance_drift_limit``: ``retrain``;
    7. champion older than ``max_age_periods``: ``retrain``;
    8. otherwise ``skip``: ``decay_not_measurable`` when the new labels gave no
       measurable performance (no evidence is not "no decay"), else ``no_decay``
       ("No decay: retraining postponed").

    A retrain candidate from rules 5-7 is then checked against the budget
    (``max_retrains`` within the window) and, when ``retrain_cost`` > 0, against
    its expected saving: excess loss per row x ``rows_per_period`` x
    ``horizon_periods`` x ``error_cost_per_unit``. A saving not above the cost
    turns the candidate into ``skip``.

    Args:
        inputs: The state the caller gathered for this cycle.
        retrain: Retrain policy of the use case.
        drift: Drift policy of the use case.
        metric: Primary metric name (direction and loss scale).

    Returns:
        The decision with the deciding reason first and every checked rule.

    Raises:
        ValueError: When the performance summary is for another metric.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if inputs.performance is not None and inputs.performance.metric != metric:
        raise ValueError(
            f"performance is measured in {inputs.performance.metric!r}, decision uses {metric!r}"
        )
    checked: list[Reason] = []

    # 1. Gate.
    if not inputs.gate_passed:
        reason = Reason(
            code=ReasonCode.BATCH_FAILED_GATE,
            message="The batch failed the validation gate: nothing is scored or trained and "
            "the champion stays.",
            passed=False,
        )
        checked.append(reason)
        return _decide("block", [reason], checked, inputs)
    checked.append(
        Reason(
            code=ReasonCode.BATCH_PASSED_GATE,
            message="The batch passed the validation gate.",
            passed=True,
        )
    )
    if inputs.late_after is not None:
        reason = Reason(
            code=ReasonCode.LATE_BATCH,
            message="The batch arrived late: its period is before the latest one already "
            "decided. Its predictions were delivered and its rows join the labeled pool for "
            "the next retrain; no retrain is decided on it, since decisions only move forward "
            "in time.",
            numbers={"period": inputs.period, "latest_decided_period": inputs.late_after},
            passed=False,
        )
        checked.append(reason)
        return _decide("skip", [reason], checked, inputs)

    # 2. Champion.
    if not inputs.has_champion:
        window = _window(inputs, retrain)
        if window is None:
            return _no_labels(checked, inputs)
        reason = Reason(
            code=ReasonCode.NO_CHAMPION,
            message=f"There is no champion yet: a first model is trained on periods "
            f"{_window_text(window)}.",
            numbers={"last_period": window.last_period, "first_period": window.first_period},
            passed=False,
        )
        checked.append(reason)
        return _decide("train", [reason], checked, inputs, window)
    checked.append(
        Reason(code=ReasonCode.HAS_CHAMPION, message="A champion is in production.", passed=True)
    )

    # 3. Labels.
    labels = {"new_labeled_rows": inputs.new_labeled_rows, "min_new_labels": retrain.min_new_labels}
    if inputs.new_labeled_rows < retrain.min_new_labels:
        reason = Reason(
            code=ReasonCode.NOT_ENOUGH_LABELS,
            message=f"Only {inputs.new_labeled_rows} newly labeled rows arrived (at least "
            f"{retrain.min_new_labels} needed): too little evidence to judge the model or to "
            "retrain on.",
            numbers=labels,
            passed=False,
        )
        checked.append(reason)
        return _decide("skip", [reason], checked, inputs)
    checked.append(
        Reason(
            code=ReasonCode.ENOUGH_LABELS,
            message=f"{inputs.new_labeled_rows} newly labeled rows arrived (at least "
            f"{retrain.min_new_labels} needed).",
            numbers=labels,
            passed=True,
        )
    )

    perf = _realized(inputs.performance)
    notes: list[Reason] = []

    # 4. Cooldown.
    in_cooldown = False
    if inputs.last_retrain_period is not None:
        since = inputs.period - inputs.last_retrain_period
        cool = {
            "periods_since_retrain": since,
            "min_periods_between": retrain.min_periods_between,
        }
        if since < retrain.min_periods_between:
            if perf is not None and _critical(perf, retrain):
                in_cooldown = True
                override = Reason(
                    code=ReasonCode.CRITICAL_DECAY_OVERRIDES_COOLDOWN,
                    message=f"The last retrain was {_periods(since)} ago (cooldown "
                    f"{retrain.min_periods_between}), but the decay {_pct(perf.decay)} (interval "
                    f"{_pct(perf.decay_low)} to {_pct(perf.decay_high)}) is over the critical "
                    f"{retrain.critical_decay:.0%}: the cooldown is overridden.",
                    numbers={**cool, "decay": perf.decay, "critical_decay": retrain.critical_decay},
                    passed=True,
                )
                checked.append(override)
                notes.append(override)
            else:
                decay_txt = (
                    ""
                    if perf is None
                    else f" The decay {_pct(perf.decay)} is not over "
                    f"the critical {retrain.critical_decay:.0%} with significance."
                )
                reason = Reason(
                    code=ReasonCode.COOLDOWN,
                    message=f"The last retrain was {_periods(since)} ago, inside the cooldown of "
                    f"{retrain.min_periods_between} periods.{decay_txt}",
                    numbers={**cool, "decay": None if perf is None else perf.decay},
                    passed=False,
                )
                checked.append(reason)
                return _decide("skip", [reason], checked, inputs)
        else:
            checked.append(
                Reason(
                    code=ReasonCode.OUTSIDE_COOLDOWN,
                    message=f"The last retrain was {_periods(since)} ago (cooldown "
                    f"{retrain.min_periods_between}).",
                    numbers=cool,
                    passed=True,
                )
            )
    else:
        checked.append(
            Reason(
                code=ReasonCode.OUTSIDE_COOLDOWN,
                message="No retrain has happened yet: no cooldown.",
                passed=True,
            )
        )

    # 5. Realized decay.
    candidate: Reason | None = None
    if perf is None:
        checked.append(
            Reason(
                code=ReasonCode.PERFORMANCE_UNAVAILABLE,
                message="Realized performance is not available (no joined labels or the metric "
                "is undefined on them): the decay rule does not apply.",
                passed=None,
            )
        )
    elif _significant(perf, retrain.max_decay):
        candidate = Reason(
            code=ReasonCode.REALIZED_DECAY,
            message=f"Significant decay: {_performance_text(perf)}, over the "
            f"{retrain.max_decay:.0%} limit. Cause: {_CAUSE_TEXT[inputs.decay_cause]}.",
            numbers={
                **_performance_numbers(perf),
                "max_decay": retrain.max_decay,
                "cause": inputs.decay_cause,
            },
            passed=False,
        )
        checked.append(candidate)
    else:
        checked.append(
            Reason(
                code=ReasonCode.NO_SIGNIFICANT_DECAY,
                message=f"No significant decay over {retrain.max_decay:.0%}: "
                f"{_performance_text(perf)}.",
                numbers={**_performance_numbers(perf), "max_decay": retrain.max_decay},
                passed=True,
            )
        )

    if candidate is None and in_cooldown:
        # The override only lets a decay retrain through; drift or age do not
        # justify breaking the cooldown.
        reason = Reason(
            code=ReasonCode.COOLDOWN,
            message="Inside the cooldown and the decay does not reach the retrain limit "
            f"{retrain.max_decay:.0%}: retraining waits for the cooldown to end.",
            numbers={"max_decay": retrain.max_decay},
            passed=False,
        )
        checked.append(reason)
        return _decide("skip", [reason, *notes], checked, inputs)

    # 6. Importance-weighted drift.
    drift_facts = inputs.drift
    if candidate is None:
        if drift_facts is None:
            checked.append(
                Reason(
                    code=ReasonCode.DRIFT_UNAVAILABLE,
                    message="No drift summary for this batch: the drift rule does not apply.",
                    passed=None,
                )
            )
        else:
            share = drift_facts.importance_weighted_share
            top = drift_facts.drifted_features[:3]
            names = ", ".join(top) if top else "none"
            dnums: dict[str, float | int | str | None] = {
                "importance_weighted_share": share,
                "importance_drift_limit": drift.importance_drift_limit,
                "drift_share": drift_facts.drift_share,
                "drifted_features": len(drift_facts.drifted_features),
                "top_drifted": names,
            }
            if share > drift.importance_drift_limit:
                candidate = Reason(
                    code=ReasonCode.IMPORTANT_FEATURE_DRIFT,
                    message=f"Drifted features carry {share:.0%} of the champion's importance "
                    f"(limit {drift.importance_drift_limit:.0%}); most important drifted: "
                    f"{names}.",
                    numbers=dnums,
                    passed=False,
                )
                checked.append(candidate)
            elif drift_facts.drifted_features:
                fact = Reason(
                    code=ReasonCode.UNIMPORTANT_FEATURE_DRIFT,
                    message=f"{len(drift_facts.drifted_features)} drifted feature(s) ({names}) "
                    f"carry only {share:.0%} of the champion's importance (limit "
                    f"{drift.importance_drift_limit:.0%}): reported, not acted on.",
                    numbers=dnums,
                    passed=True,
                )
                checked.append(fact)
                notes.append(fact)
            else:
                checked.append(
                    Reason(
                        code=ReasonCode.NO_FEATURE_DRIFT,
                        message="No feature drifted.",
                        numbers=dnums,
                        passed=True,
                    )
                )

    # 7. Model age.
    if candidate is None:
        if inputs.champion_trained_period is None:
            checked.append(
                Reason(
                    code=ReasonCode.MODEL_AGE_UNKNOWN,
                    message="The champion's training period is "
                    "unknown: the age rule does not apply.",
                    passed=None,
                )
            )
        else:
            age = inputs.period - inputs.champion_trained_period
            anums = {"age_periods": age, "max_age_periods": retrain.max_age_periods}
            if age > retrain.max_age_periods:
                candidate = Reason(
                    code=ReasonCode.MODEL_AGE,
                    message=f"The champion was trained on data up to {age} periods ago, over the "
                    f"{retrain.max_age_periods}-period limit: it is refreshed.",
                    numbers=anums,
                    passed=False,
                )
                checked.append(candidate)
            else:
                checked.append(
                    Reason(
                        code=ReasonCode.MODEL_FRESH,
                        message=f"The champion is {age} periods old "
                        f"(limit {retrain.max_age_periods}).",
                        numbers=anums,
                        passed=True,
                    )
                )

    # 8. Nothing fired.
    if candidate is None and perf is None:
        # Labels arrived (rule 3) but gave no measurable performance: that is no
        # evidence of decay, and the record must not say "no decay".
        why = _unmeasured_why(inputs.performance, metric)
        reason = Reason(
            code=ReasonCode.DECAY_NOT_MEASURABLE,
            message=f"Realized performance could not be measured on the "
            f"{inputs.new_labeled_rows} newly labeled rows: {why}. Without it no decay can be "
            "judged; the champion stays, and neither drift nor age gave a reason to retrain.",
            numbers={"new_labeled_rows": inputs.new_labeled_rows, "why": why},
            passed=False,
        )
        checked.append(reason)
        return _decide("skip", [reason, *notes], checked, inputs)
    if candidate is None:
        reason = Reason(
            code=ReasonCode.NO_DECAY,
            message=f"No decay: retraining postponed. {_no_decay_text(inputs, drift)}",
            numbers=_no_decay_numbers(inputs, drift),
            passed=True,
        )
        checked.append(reason)
        return _decide("skip", [reason, *notes], checked, inputs)

    return _afford(candidate, inputs, retrain, metric, checked, notes)


def _afford(
    candidate: Reason,
    inputs: RetrainInputs,
    retrain: RetrainPolicy,
    metric: str,
    checked: list[Reason],
    notes: list[Reason],
) -> RetrainDecision:
    """Apply the budget and the cost/benefit check to a retrain candidate.

    A significant decay over ``critical_decay`` overrides an exhausted budget
    (reason ``critical_decay_overrides_budget``), as it overrides the cooldown.
    """
    used = inputs.retrain_periods_in_budget_window
    budget_ok: Reason | None = None
    budget = {
        "retrains_in_window": used,
        "max_retrains": retrain.max_retrains,
        "budget_window_periods": retrain.budget_window_periods,
    }
    perf = _realized(inputs.performance)
    if used >= retrain.max_retrains and perf is not None and _critical(perf, retrain):
        # A budget limits routine refreshes; it must never keep serving a champion
        # whose error is critically worse than at its training (as the cooldown).
        override = Reason(
            code=ReasonCode.CRITICAL_DECAY_OVERRIDES_BUDGET,
            message=f"{used} retrains were already taken in the last "
            f"{retrain.budget_window_periods} periods (budget {retrain.max_retrains}), but the "
            f"decay {_pct(perf.decay)} (interval {_pct(perf.decay_low)} to "
            f"{_pct(perf.decay_high)}) is over the critical {retrain.critical_decay:.0%}: the "
            "budget is overridden.",
            numbers={
                **budget,
                "decay": perf.decay,
                "critical_decay": retrain.critical_decay,
            },
            passed=True,
        )
        checked.append(override)
        notes = [override, *notes]
    elif used >= retrain.max_retrains:
        reason = Reason(
            code=ReasonCode.RETRAIN_BUDGET_EXHAUSTED,
            message=f"A retrain is warranted ({candidate.code}) but {used} retrains were already "
            f"taken in the last {retrain.budget_window_periods} periods (budget "
            f"{retrain.max_retrains}): skipped.",
            numbers=budget,
            passed=False,
        )
        checked.append(reason)
        return _decide("skip", [reason, candidate, *notes], checked, inputs)
    else:
        budget_ok = Reason(
            code=ReasonCode.RETRAIN_BUDGET_AVAILABLE,
            message=f"{used} of {retrain.max_retrains} retrains used in the last "
            f"{retrain.budget_window_periods} periods.",
            numbers=budget,
            passed=True,
        )
        checked.append(budget_ok)

    if retrain.retrain_cost > 0:
        excess = _excess_loss_per_row(inputs.performance, metric)
        saving = (
            excess * inputs.rows_per_period * retrain.horizon_periods * retrain.error_cost_per_unit
        )
        cost = {
            "expected_saving": saving,
            "retrain_cost": retrain.retrain_cost,
            "excess_loss_per_row": excess,
            "rows_per_period": inputs.rows_per_period,
            "horizon_periods": retrain.horizon_periods,
            "error_cost_per_unit": retrain.error_cost_per_unit,
        }
        formula = (
            f"excess {metric} {_num(excess)} per row x {_num(inputs.rows_per_period)} rows x "
            f"{retrain.horizon_periods} periods x {_num(retrain.error_cost_per_unit)} per unit"
        )
        if saving <= retrain.retrain_cost:
            reason = Reason(
                code=ReasonCode.RETRAIN_NOT_WORTH_COST,
                message=f"A retrain is warranted ({candidate.code}) but its expected saving "
                f"{_num(saving)} ({formula}) does not exceed its cost "
                f"{_num(retrain.retrain_cost)}: skipped.",
                numbers=cost,
                passed=False,
            )
            checked.append(reason)
            return _decide("skip", [reason, candidate, *notes], checked, inputs)
        cost_ok = Reason(
            code=ReasonCode.RETRAIN_WORTH_COST,
            message=f"Expected saving {_num(saving)} ({formula}) exceeds the retrain cost "
            f"{_num(retrain.retrain_cost)}.",
            numbers=cost,
            passed=True,
        )
    else:
        cost_ok = Reason(
            code=ReasonCode.RETRAIN_COST_FREE,
            message="No retrain cost is configured: cost does not limit retraining.",
            numbers={"retrain_cost": 0.0},
            passed=True,
        )
    checked.append(cost_ok)

    window = _window(inputs, retrain)
    if window is None:
        return _no_labels(checked, inputs)
    budget_reasons = [budget_ok] if budget_ok is not None else []
    return _decide(
        "retrain", [candidate, *budget_reasons, cost_ok, *notes], checked, inputs, window
    )


def _window_text(window: TrainingWindow) -> str:
    if window.first_period is None:
        return f"from the beginning up to {window.last_period} (expanding window)"
    return f"{window.first_period} to {window.last_period} (sliding window)"


def _unmeasured_why(perf: PerformanceSummary | None, metric: str) -> str:
    """Why a performance summary carries no realized metric, in words."""
    if perf is None:
        return "no performance was assessed"
    if perf.new_labeled_rows == 0:
        return "none of them could be joined to a scored prediction with a target"
    if not math.isfinite(perf.reference):
        return "the champion has no reference metric to compare with"
    return f"{metric} is undefined on them (for example one class only)"


def _no_decay_text(inputs: RetrainInputs, drift: DriftPolicy) -> str:
    perf = _realized(inputs.performance)
    if perf is None:
        parts = ["Realized performance is not available yet"]
    else:
        parts = [_performance_text(perf)[0].upper() + _performance_text(perf)[1:]]
    if inputs.drift is not None:
        parts.append(
            f"{inputs.drift.importance_weighted_share:.0%} of the champion's importance sits in "
            f"drifted features (limit {drift.importance_drift_limit:.0%}), "
            f"{inputs.drift.drift_share:.0%} of features drifted"
        )
    return "; ".join(parts) + "."


def _no_decay_numbers(
    inputs: RetrainInputs, drift: DriftPolicy
) -> dict[str, float | int | str | None]:
    perf = _realized(inputs.performance)
    numbers: dict[str, float | int | str | None] = {}
    if perf is not None:
        numbers.update(_performance_numbers(perf))
    if inputs.drift is not None:
        numbers["importance_weighted_share"] = inputs.drift.importance_weighted_share
        numbers["importance_drift_limit"] = drift.importance_drift_limit
        numbers["drift_share"] = inputs.drift.drift_share
    return numbers
