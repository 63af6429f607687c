"""The retrain decision (docs/design.md, section 4.3): ordered rules, first match wins.

Every rule that was looked at is kept in ``checked`` with ``passed`` set to
True (the rule did not fire), False (it fired) or None (not applicable, e.g.
no labels yet). A missing threshold or baseline never leads to a retrain: a
rule that lacks its evidence is recorded as not applicable and does not fire.

The rules are small functions listed in order in :data:`RULES`. Each looks at
the cycle's evidence, records what it checked, and either decides (returns the
decision: the first rule that does wins) or passes to the next. Rules emit
reason codes and numbers only; their sentences come from
:mod:`mlops_core.sentences`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
from mlops_core.sentences import reason, unmeasured_why

Numbers = dict[str, float | int | str | None]


def _realized(perf: PerformanceSummary | None) -> PerformanceSummary | None:
    """The summary when it carries a realized metric and a decay, else None."""
    if perf is None or perf.realized is None or perf.decay is None:
        return None
    return perf


def _performance_numbers(perf: PerformanceSummary) -> Numbers:
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


@dataclass
class _Cycle:
    """What the rules share while deciding one cycle.

    Attributes:
        inputs, retrain, drift, metric: The evidence and the policies.
        perf: The performance summary when it carries a realized metric and a decay.
        checked: Every rule looked at so far, in order.
        notes: Facts that go with the decision (an override, unimportant drift).
        candidate: The rule (5-7) that makes this cycle a retrain candidate.
        cooldown_overridden: A critical decay overrode the cooldown (for decay only).
        budget_ok: The budget check that let the candidate through, if it did.
        cost_ok: The cost check that let the candidate through.
    """

    inputs: RetrainInputs
    retrain: RetrainPolicy
    drift: DriftPolicy
    metric: str
    perf: PerformanceSummary | None
    checked: list[Reason] = field(default_factory=list)
    notes: list[Reason] = field(default_factory=list)
    candidate: Reason | None = None
    cooldown_overridden: bool = False
    budget_ok: Reason | None = None
    cost_ok: Reason | None = None

    def check(self, r: Reason) -> Reason:
        """Record a rule that was looked at."""
        self.checked.append(r)
        return r

    def decide(
        self,
        action: RetrainAction,
        reasons: list[Reason],
        window: TrainingWindow | None = None,
    ) -> RetrainDecision:
        """The decision, with the deciding reason first and every checked rule."""
        return RetrainDecision(
            action=action,
            reasons=tuple(reasons),
            checked=tuple(self.checked),
            window=window,
            inputs=self.inputs,
        )

    def no_labels(self) -> RetrainDecision:
        """Skip: no labeled period to train on."""
        r = self.check(
            reason(
                ReasonCode.NO_LABELED_DATA,
                {"new_labeled_rows": self.inputs.new_labeled_rows},
                passed=False,
            )
        )
        return self.decide("skip", [r])


#: A rule: decides (first match wins) or returns None to pass to the next rule.
Rule = Callable[[_Cycle], RetrainDecision | None]


# -------------------------------------------------------------------- the rules
def _gate(c: _Cycle) -> RetrainDecision | None:
    """1. A batch that failed the gate blocks everything."""
    if not c.inputs.gate_passed:
        return c.decide("block", [c.check(reason(ReasonCode.BATCH_FAILED_GATE, passed=False))])
    c.check(reason(ReasonCode.BATCH_PASSED_GATE, passed=True))
    return None


def _late(c: _Cycle) -> RetrainDecision | None:
    """1b. A late batch is skipped: decisions only move forward in time."""
    if c.inputs.late_after is None:
        return None
    numbers = {"period": c.inputs.period, "latest_decided_period": c.inputs.late_after}
    return c.decide("skip", [c.check(reason(ReasonCode.LATE_BATCH, numbers, passed=False))])


def _champion(c: _Cycle) -> RetrainDecision | None:
    """2. Without a champion a first model is trained (when labels exist)."""
    if c.inputs.has_champion:
        c.check(reason(ReasonCode.HAS_CHAMPION, passed=True))
        return None
    window = _window(c.inputs, c.retrain)
    if window is None:
        return c.no_labels()
    numbers = {"last_period": window.last_period, "first_period": window.first_period}
    r = c.check(reason(ReasonCode.NO_CHAMPION, numbers, passed=False))
    return c.decide("train", [r], window)


def _labels(c: _Cycle) -> RetrainDecision | None:
    """3. Too few new labels: no evidence to judge the model or to retrain on."""
    numbers = {
        "new_labeled_rows": c.inputs.new_labeled_rows,
        "min_new_labels": c.retrain.min_new_labels,
    }
    if c.inputs.new_labeled_rows < c.retrain.min_new_labels:
        r = c.check(reason(ReasonCode.NOT_ENOUGH_LABELS, numbers, passed=False))
        return c.decide("skip", [r])
    c.check(reason(ReasonCode.ENOUGH_LABELS, numbers, passed=True))
    return None


def _cooldown(c: _Cycle) -> RetrainDecision | None:
    """4. Inside the cooldown: skip, unless a critical decay overrides it."""
    last = c.inputs.last_retrain_period
    if last is None:
        c.check(reason(ReasonCode.OUTSIDE_COOLDOWN, passed=True))
        return None
    since = c.inputs.period - last
    numbers: Numbers = {
        "periods_since_retrain": since,
        "min_periods_between": c.retrain.min_periods_between,
    }
    if since >= c.retrain.min_periods_between:
        c.check(reason(ReasonCode.OUTSIDE_COOLDOWN, numbers, passed=True))
        return None
    perf = c.perf
    if perf is not None and _critical(perf, c.retrain):
        c.cooldown_overridden = True
        override = reason(
            ReasonCode.CRITICAL_DECAY_OVERRIDES_COOLDOWN,
            {**numbers, "decay": perf.decay, "critical_decay": c.retrain.critical_decay},
            passed=True,
            decay_low=perf.decay_low,
            decay_high=perf.decay_high,
        )
        c.notes.append(c.check(override))
        return None
    r = reason(
        ReasonCode.COOLDOWN,
        {**numbers, "decay": None if perf is None else perf.decay},
        passed=False,
        critical_decay=c.retrain.critical_decay,
    )
    return c.decide("skip", [c.check(r)])


def _decay(c: _Cycle) -> RetrainDecision | None:
    """5. Significant realized decay over ``max_decay``: a retrain candidate."""
    perf = c.perf
    if perf is None:
        c.check(reason(ReasonCode.PERFORMANCE_UNAVAILABLE, passed=None))
        return None
    numbers = {**_performance_numbers(perf), "max_decay": c.retrain.max_decay}
    if _significant(perf, c.retrain.max_decay):
        numbers["cause"] = c.inputs.decay_cause
        c.candidate = c.check(
            reason(ReasonCode.REALIZED_DECAY, numbers, passed=False, metric=perf.metric)
        )
    else:
        c.check(reason(ReasonCode.NO_SIGNIFICANT_DECAY, numbers, passed=True, metric=perf.metric))
    return None


def _cooldown_holds(c: _Cycle) -> RetrainDecision | None:
    """4b. The cooldown override lets only a decay retrain through: drift or age
    do not justify breaking the cooldown."""
    if c.candidate is not None or not c.cooldown_overridden:
        return None
    r = reason(ReasonCode.COOLDOWN, {"max_decay": c.retrain.max_decay}, passed=False)
    return c.decide("skip", [c.check(r), *c.notes])


def _feature_drift(c: _Cycle) -> RetrainDecision | None:
    """6. Importance-weighted drift over ``importance_drift_limit``: a retrain candidate."""
    if c.candidate is not None:
        return None
    facts = c.inputs.drift
    if facts is None:
        c.check(reason(ReasonCode.DRIFT_UNAVAILABLE, passed=None))
        return None
    share = facts.importance_weighted_share
    top = facts.drifted_features[:3]
    numbers: Numbers = {
        "importance_weighted_share": share,
        "importance_drift_limit": c.drift.importance_drift_limit,
        "drift_share": facts.drift_share,
        "drifted_features": len(facts.drifted_features),
        "top_drifted": ", ".join(top) if top else "none",
    }
    if share > c.drift.importance_drift_limit:
        c.candidate = c.check(reason(ReasonCode.IMPORTANT_FEATURE_DRIFT, numbers, passed=False))
    elif facts.drifted_features:
        c.notes.append(c.check(reason(ReasonCode.UNIMPORTANT_FEATURE_DRIFT, numbers, passed=True)))
    else:
        c.check(reason(ReasonCode.NO_FEATURE_DRIFT, numbers, passed=True))
    return None


def _model_age(c: _Cycle) -> RetrainDecision | None:
    """7. A champion older than ``max_age_periods``: a retrain candidate."""
    if c.candidate is not None:
        return None
    trained = c.inputs.champion_trained_period
    if trained is None:
        c.check(reason(ReasonCode.MODEL_AGE_UNKNOWN, passed=None))
        return None
    age = c.inputs.period - trained
    numbers = {"age_periods": age, "max_age_periods": c.retrain.max_age_periods}
    if age > c.retrain.max_age_periods:
        c.candidate = c.check(reason(ReasonCode.MODEL_AGE, numbers, passed=False))
    else:
        c.check(reason(ReasonCode.MODEL_FRESH, numbers, passed=True))
    return None


def _nothing_fired(c: _Cycle) -> RetrainDecision | None:
    """8. No candidate: skip, saying whether the decay could be judged at all."""
    if c.candidate is not None:
        return None
    if c.perf is None:
        # Labels arrived (rule 3) but gave no measurable performance: that is no
        # evidence of decay, and the record must not say "no decay".
        numbers: Numbers = {
            "new_labeled_rows": c.inputs.new_labeled_rows,
            "why": unmeasured_why(c.inputs.performance, c.metric),
        }
        r = reason(ReasonCode.DECAY_NOT_MEASURABLE, numbers, passed=False)
        return c.decide("skip", [c.check(r), *c.notes])
    numbers = dict(_performance_numbers(c.perf))
    if c.inputs.drift is not None:
        numbers["importance_weighted_share"] = c.inputs.drift.importance_weighted_share
        numbers["importance_drift_limit"] = c.drift.importance_drift_limit
        numbers["drift_share"] = c.inputs.drift.drift_share
    r = reason(ReasonCode.NO_DECAY, numbers, passed=True, metric=c.perf.metric)
    return c.decide("skip", [c.check(r), *c.notes])


def _budget(c: _Cycle) -> RetrainDecision | None:
    """9. The budget (``max_retrains`` within the window); a critical decay overrides it."""
    assert c.candidate is not None
    used = c.inputs.retrain_periods_in_budget_window
    numbers: Numbers = {
        "retrains_in_window": used,
        "max_retrains": c.retrain.max_retrains,
        "budget_window_periods": c.retrain.budget_window_periods,
    }
    if used < c.retrain.max_retrains:
        c.budget_ok = c.check(reason(ReasonCode.RETRAIN_BUDGET_AVAILABLE, numbers, passed=True))
        return None
    perf = c.perf
    if perf is not None and _critical(perf, c.retrain):
        # A budget limits routine refreshes; it must never keep serving a champion
        # whose error is critically worse than at its training (as the cooldown).
        override = reason(
            ReasonCode.CRITICAL_DECAY_OVERRIDES_BUDGET,
            {**numbers, "decay": perf.decay, "critical_decay": c.retrain.critical_decay},
            passed=True,
            decay_low=perf.decay_low,
            decay_high=perf.decay_high,
        )
        c.notes.insert(0, c.check(override))
        return None
    r = reason(ReasonCode.RETRAIN_BUDGET_EXHAUSTED, numbers, passed=False, trigger=c.candidate.code)
    return c.decide("skip", [c.check(r), c.candidate, *c.notes])


def _cost(c: _Cycle) -> RetrainDecision | None:
    """10. With a ``retrain_cost``, the expected saving must exceed it.

    Saving: excess loss per row x ``rows_per_period`` x ``horizon_periods`` x
    ``error_cost_per_unit``.
    """
    assert c.candidate is not None
    policy = c.retrain
    if policy.retrain_cost <= 0:
        c.cost_ok = c.check(reason(ReasonCode.RETRAIN_COST_FREE, {"retrain_cost": 0.0}, True))
        return None
    excess = _excess_loss_per_row(c.inputs.performance, c.metric)
    saving = excess * c.inputs.rows_per_period * policy.horizon_periods * policy.error_cost_per_unit
    numbers: Numbers = {
        "expected_saving": saving,
        "retrain_cost": policy.retrain_cost,
        "excess_loss_per_row": excess,
        "rows_per_period": c.inputs.rows_per_period,
        "horizon_periods": policy.horizon_periods,
        "error_cost_per_unit": policy.error_cost_per_unit,
    }
    if saving <= policy.retrain_cost:  # not "saving > cost": a NaN saving is not a skip
        r = reason(
            ReasonCode.RETRAIN_NOT_WORTH_COST,
            numbers,
            passed=False,
            metric=c.metric,
            trigger=c.candidate.code,
        )
        return c.decide("skip", [c.check(r), c.candidate, *c.notes])
    c.cost_ok = c.check(
        reason(ReasonCode.RETRAIN_WORTH_COST, numbers, passed=True, metric=c.metric)
    )
    return None


def _retrain(c: _Cycle) -> RetrainDecision | None:
    """11. Retrain on the training window (skip when no labeled period exists)."""
    assert c.candidate is not None and c.cost_ok is not None
    window = _window(c.inputs, c.retrain)
    if window is None:
        return c.no_labels()
    budget = [c.budget_ok] if c.budget_ok is not None else []
    return c.decide("retrain", [c.candidate, *budget, c.cost_ok, *c.notes], window)


#: The retrain rules in order; the first that decides wins.
RULES: tuple[Rule, ...] = (
    _gate,
    _late,
    _champion,
    _labels,
    _cooldown,
    _decay,
    _cooldown_holds,
    _feature_drift,
    _model_age,
    _nothing_fired,
    _budget,
    _cost,
    _retrain,
)


def decide_retrain(
    inputs: RetrainInputs, retrain: RetrainPolicy, drift: DriftPolicy, metric: str
) -> RetrainDecision:
    """Decide whether to block, train, retrain or skip this cycle.

    Rules (:data:`RULES`), first match wins:

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
    cycle = _Cycle(inputs, retrain, drift, metric, perf=_realized(inputs.performance))
    for rule in RULES:
        decision = rule(cycle)
        if decision is not None:
            return decision
    raise AssertionError("the last rule always decides")  # pragma: no cover
