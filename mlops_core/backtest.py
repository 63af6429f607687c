"""Backtest policies: how each replay policy becomes settings of the one retrain rule,
and what a replayed policy cost.

A backtest replays a time-ordered file period by period under several
policies. No policy has a rule of its own: every policy is a set of settings
for :func:`mlops_core.retrain.decide_retrain`, the function the live
``monitor`` flow calls, with the rules a policy does not use switched off by
putting their limits where they cannot be reached:

==============  =================================================================
policy          settings of ``decide_retrain``
==============  =================================================================
``default``     the use case's own retrain and drift policies, unchanged.
``performance`` realized decay only: importance drift off
                (``importance_drift_limit`` 1.0; the weighted share is at most 1.0
                and the rule needs more), age off (``max_age_periods`` huge);
                cooldown, budget and cost as the use case.
``drift``       importance-weighted drift only: realized decay off (``max_decay``
                and ``critical_decay`` at their bound, 10.0 = +1000%), age off;
                cooldown, budget and cost as the use case.
``every:K``     the age rule only, with ``max_age_periods = K + label_delay - 1``
                (:func:`every_k_max_age`) and a cooldown of K periods, so a retrain
                comes exactly every K periods whether the gate promotes or not;
                no budget, no cost check, decay and drift off.
``never``       no settings: no decision is taken, the bootstrap champion stays.
==============  =================================================================

Any policy but ``never`` may end in ``+search`` (``default+search``): the
decisions are the same, but each retrain searches the use case's
``model.candidates`` (:mod:`mlops_core.search`, trials one after the other)
on the decided window's training rows and trains the best candidate, where
the plain policy retrains the use case's single estimator. The bootstrap
champion is the single estimator for both, so the pair measures what
refreshing the model adds to refreshing the data.

Rules 1-3 of ``decide_retrain`` (gate, champion, ``min_new_labels``) hold for
every policy: a period whose newly labeled rows are fewer than
``min_new_labels`` is skipped by ``every:K`` too, so its cadence can only slip
later, never earlier. The one residue of a switched-off rule is a decay over
+1000% of the reference error (e.g. accuracy 0.99 -> 0.85): ``drift`` and
``every:K`` then retrain on decay, and the record names ``realized_decay``.

Cost accounting (:class:`PolicyResult`): a period's error is measured on the
champion's raw predictions, before guardrails, so policies compare on model
quality; guardrails are reported as the share of periods where any rule acted.
Error units (:func:`error_units`) follow the primary metric: absolute error for
``mae`` and ``rmse`` (the metric's own units; a squared error is not), absolute
percentage error for ``mape``, a class-weighted misclassification for
``balanced_accuracy`` (each class of a batch weighs the same in total), one
misclassification for every other classification metric.
``total_cost = retrains x retrain_cost + total error units x error_cost_per_unit``
with the use case's own costs, whatever the policy's decision settings say.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from mlops_core.config import DriftPolicy, RetrainPolicy
from mlops_core.decisions import PromotionDecision, Reason, RetrainDecision, RetrainInputs
from mlops_core.metrics import METRICS, class_balanced_weights

PolicyKind = Literal["never", "every", "drift", "performance", "default"]

#: Periods after which a switched-off age rule would fire: never, in practice.
AGE_OFF = 1_000_000
#: Retrains per budget window that a policy without a budget may take.
BUDGET_OFF = 1_000_000

_Settings = TypeVar("_Settings", RetrainPolicy, DriftPolicy)

_EVERY = re.compile(r"^every:(\d+)$")
#: Suffix of a policy whose retrains search the use case's candidates.
SEARCH_SUFFIX = "+search"
_PLAIN: dict[str, PolicyKind] = {
    "never": "never",
    "drift": "drift",
    "performance": "performance",
    "default": "default",
}
POLICY_FORMS = (
    "never",
    "every:K",
    "drift",
    "performance",
    "default",
    "<any but never>+search",
)


@dataclass(frozen=True)
class Policy:
    """A replay policy.

    Attributes:
        name: The canonical text form ("never", "every:4", "drift", "performance",
            "default"); it labels the policy in tables and plots.
        kind: The policy without its parameter.
        every: K of ``every:K``; None for the other kinds.
        search: Each retrain searches the use case's candidates (``+search``).
    """

    name: str
    kind: PolicyKind
    every: int | None = None
    search: bool = False


def parse_policy(text: str) -> Policy:
    """Parse a policy name such as ``"every:4"`` or ``"default+search"``.

    Surrounding blanks and letter case are ignored; the name is kept in its
    canonical form (``" Every:04 "`` -> ``"every:4"``). A ``+search`` suffix
    makes the policy's retrains search the use case's candidates.

    Raises:
        ValueError: When the text is no known policy, K is not a whole number >= 1,
            or ``+search`` follows ``never`` (which never retrains) or is repeated.
    """
    norm = text.strip().lower()
    if norm.endswith(SEARCH_SUFFIX):
        base = parse_policy(norm.removesuffix(SEARCH_SUFFIX))
        if base.search:
            raise ValueError(f"policy {text!r}: {SEARCH_SUFFIX} is given twice")
        if base.kind == "never":
            raise ValueError(f"policy {text!r}: never retrains, so it has nothing to search")
        return Policy(name=base.name + SEARCH_SUFFIX, kind=base.kind, every=base.every, search=True)
    if norm in _PLAIN:
        return Policy(name=norm, kind=_PLAIN[norm])
    match = _EVERY.match(norm)
    if match:
        k = int(match.group(1))
        if k < 1:
            raise ValueError(f"policy {text!r}: K in every:K must be at least 1")
        return Policy(name=f"every:{k}", kind="every", every=k)
    raise ValueError(
        f"unknown policy {text!r}: use one of {', '.join(POLICY_FORMS)} "
        "(K a whole number of periods, at least 1)"
    )


def every_k_max_age(k: int, label_delay: int) -> int:
    """``max_age_periods`` that makes the age rule fire exactly K periods after a retrain.

    A retrain at period ``r`` trains on the labels that have arrived, so the new
    champion's data ends at ``r - label_delay``. At period ``t`` its age is
    ``t - (r - label_delay)``, and the age rule fires when the age is over
    ``max_age_periods``. Firing first at ``t = r + K`` needs
    ``K + label_delay > max_age_periods >= K + label_delay - 1``, so
    ``max_age_periods = K + label_delay - 1``. Example: monthly labels one
    month late, ``every:3``: a retrain in April trains through March; in May
    and June the model is 2 and 3 months old (not over 3); in July it is 4 and
    is refreshed.

    Raises:
        ValueError: For ``K = 1`` with ``label_delay = 0``: the age would have to
            be over 0, below the smallest ``max_age_periods`` (1); such a model
            is at most refreshed every second period.
    """
    if k < 1:
        raise ValueError(f"K must be at least 1, got {k}")
    age = k + label_delay - 1
    if age < 1:
        raise ValueError(
            "every:1 cannot be expressed with label_delay 0: a model trained on the "
            "current period is 1 period old one period later, and max_age_periods is at "
            "least 1; use every:2"
        )
    return age


def policy_settings(
    policy: Policy, retrain: RetrainPolicy, drift: DriftPolicy, *, label_delay: int
) -> tuple[RetrainPolicy, DriftPolicy] | None:
    """The settings under which ``decide_retrain`` follows a policy.

    Args:
        policy: The policy.
        retrain: The use case's retrain policy.
        drift: The use case's drift policy.
        label_delay: Periods between a batch and its labels (``data.label_delay``).

    Returns:
        ``(retrain, drift)`` settings, or None for ``never`` (no decision is taken).

    Notes:
        ``every:K`` gets the cooldown ``min_periods_between = K`` on top of the
        age limit of :func:`every_k_max_age`: when the promotion gate rejects a
        challenger, the old champion stays over age, and without the cooldown
        the age rule would retrain every period until a challenger passes. With
        it the cadence is K whether challengers pass or not. The budget is
        unlimited and the cost is zero, so neither can delay a due retrain.
    """
    if policy.kind == "never":
        return None
    if policy.kind == "default":
        return retrain, drift
    decay_off = {
        "max_decay": _bound(RetrainPolicy, "max_decay"),
        "critical_decay": _bound(RetrainPolicy, "critical_decay"),
    }
    drift_off = _with(drift, importance_drift_limit=_bound(DriftPolicy, "importance_drift_limit"))
    if policy.kind == "performance":
        return _with(retrain, max_age_periods=AGE_OFF), drift_off
    if policy.kind == "drift":
        return _with(retrain, **decay_off, max_age_periods=AGE_OFF), drift
    assert policy.kind == "every" and policy.every is not None
    k = policy.every
    every = _with(
        retrain,
        **decay_off,
        max_age_periods=every_k_max_age(k, label_delay),
        min_periods_between=k,
        max_retrains=BUDGET_OFF,
        budget_window_periods=1,
        retrain_cost=0.0,
        error_cost_per_unit=0.0,
    )
    return every, drift_off


def _with(settings: _Settings, **changes: Any) -> _Settings:
    """A copy of ``settings`` with ``changes``, validated like a use-case file."""
    return type(settings).model_validate({**settings.model_dump(), **changes})


def _bound(model: type[Any], field: str) -> float:
    """The upper bound (``le``) of a config field: the value that switches its rule off."""
    for item in model.model_fields[field].metadata:
        le = getattr(item, "le", None)
        if le is not None:
            return float(le)
    raise LookupError(f"{model.__name__}.{field} has no upper bound")  # pragma: no cover


# ------------------------------------------------------------------ accounting
ERROR_UNIT_NAMES = {
    "mae": "absolute error",
    "rmse": "absolute error",
    "mape": "absolute percentage error",
}


def error_unit_name(metric: str) -> str:
    """What one error unit is for a primary metric (for tables and reports)."""
    if metric == "balanced_accuracy":
        return "class-balanced misclassification"
    if METRICS[metric].task == "classification":
        return "misclassification"
    return ERROR_UNIT_NAMES[metric]


def error_units(metric: str, y_true: object, y_pred: object) -> np.ndarray:
    """Error units per row: what ``error_cost_per_unit`` is paid for.

    Args:
        metric: Primary metric name; gives the task and the unit.
        y_true: True values.
        y_pred: Predictions (class labels for classifiers).

    Returns:
        Absolute error (``mae``, ``rmse``), absolute percentage error (``mape``,
        the denominator floored at 1e-9 as the metric does), 1.0 per
        misclassified row (classification), or for ``balanced_accuracy`` a
        misclassified row weighted ``n / (k * n_c)`` by the class counts of these
        rows (:func:`mlops_core.metrics.class_balanced_weights`): the units of a
        batch then sum to its rows times one minus its balanced accuracy, so a
        missed rare class costs as much in total as a missed common one.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if metric == "balanced_accuracy":
        return class_balanced_weights(yt) * (yt != yp).astype(float)
    if METRICS[metric].task == "classification":
        return (yt != yp).astype(float)
    err = np.abs(yt.astype(float) - yp.astype(float))
    if metric == "mape":
        return err / np.maximum(np.abs(yt.astype(float)), 1e-9)
    return err


@dataclass(frozen=True)
class PeriodOutcome:
    """One replayed cycle of one policy.

    Attributes:
        period: The period whose batch was scored in this cycle.
        rows: Rows of the batch with a target: the rows the error is measured on.
        metric: Primary metric of the serving champion's raw predictions on the
            batch, measured with the batch's labels (which the decision sees only
            ``label_delay`` periods later).
        error: Error units summed over the batch's labeled rows (see
            :func:`error_units`).
        champion: Which model served the batch: ``"bootstrap"`` or
            ``"p<period>"``, the cycle that trained it.
        guardrail_rows: Rows on which any guardrail rule acted (clip, fallback,
            flag, quarantine), circuit breaker included.
        decision: The retrain decision of the cycle, with its inputs; None for
            ``never``.
        promotion: The promotion decision when a challenger was trained.
        challenger_error: Why no challenger could be trained (the decided window
            left no training or holdout rows), else None.
        challenger_estimator: Import path of the challenger's estimator when one
            was trained.
        search_reasons: For a ``+search`` policy's retrain, the search's reasons
            (the choice first, then the budget); empty otherwise.
        unlabeled_rows: Rows of the batch without a target: scored (guardrails
            judge them) but measured by no error and counted here.
    """

    period: int
    rows: int
    metric: float
    error: float
    champion: str
    guardrail_rows: int
    decision: RetrainDecision | None = None
    promotion: PromotionDecision | None = None
    challenger_error: str | None = None
    challenger_estimator: str | None = None
    search_reasons: tuple[Reason, ...] = ()
    unlabeled_rows: int = 0

    @property
    def retrained(self) -> bool:
        """A challenger was decided on in this cycle (the retrain cost is paid)."""
        return self.decision is not None and self.decision.action in ("train", "retrain")

    @property
    def promoted(self) -> bool:
        """The challenger became champion at the end of this cycle."""
        return self.promotion is not None and self.promotion.action == "promote"

    @property
    def trigger(self) -> str | None:
        """Code of the reason that decided the cycle; None without a decision."""
        if self.decision is None or not self.decision.reasons:
            return None
        return self.decision.reasons[0].code


@dataclass(frozen=True)
class PolicyResult:
    """What one policy did over a replay, and what it cost.

    Attributes:
        policy: The policy's name.
        metric: Primary metric name.
        periods: One outcome per replayed cycle, in time order.
        retrain_cost: The use case's cost of one retrain.
        error_cost_per_unit: The use case's cost of one error unit.
    """

    policy: str
    metric: str
    periods: tuple[PeriodOutcome, ...]
    retrain_cost: float
    error_cost_per_unit: float

    @property
    def error_unit(self) -> str:
        """What one error unit is."""
        return error_unit_name(self.metric)

    @property
    def retrain_periods(self) -> tuple[int, ...]:
        """Periods whose cycle trained a challenger (the bootstrap is not counted)."""
        return tuple(p.period for p in self.periods if p.retrained)

    @property
    def switch_periods(self) -> tuple[int, ...]:
        """Periods at whose end a challenger replaced the champion."""
        return tuple(p.period for p in self.periods if p.promoted)

    @property
    def retrains(self) -> int:
        """Number of retrains (each costs ``retrain_cost``)."""
        return len(self.retrain_periods)

    @property
    def rows(self) -> int:
        """Labeled rows measured over the replay."""
        return sum(p.rows for p in self.periods)

    @property
    def unlabeled_rows(self) -> int:
        """Rows scored over the replay whose target was missing (no error measured)."""
        return sum(p.unlabeled_rows for p in self.periods)

    @property
    def total_error(self) -> float:
        """Error units over every replayed row."""
        return float(sum(p.error for p in self.periods))

    @property
    def mean_error(self) -> float:
        """Error units per row: the pooled MAE, MAPE or error rate."""
        return self.total_error / self.rows if self.rows else math.nan

    @property
    def mean_metric(self) -> float:
        """Mean over the periods of the per-period primary metric (the plotted line)."""
        values = [p.metric for p in self.periods if math.isfinite(p.metric)]
        return float(np.mean(values)) if values else math.nan

    @property
    def total_cost(self) -> float:
        """``retrains x retrain_cost + total_error x error_cost_per_unit``."""
        return self.retrains * self.retrain_cost + self.total_error * self.error_cost_per_unit

    @property
    def guardrail_period_share(self) -> float:
        """Share of periods where any guardrail rule acted on at least one row."""
        if not self.periods:
            return math.nan
        return sum(p.guardrail_rows > 0 for p in self.periods) / len(self.periods)

    @property
    def decisions(self) -> tuple[RetrainDecision, ...]:
        """Every retrain decision taken, in time order (none for ``never``)."""
        return tuple(p.decision for p in self.periods if p.decision is not None)

    @property
    def retrain_inputs(self) -> tuple[RetrainInputs, ...]:
        """The inputs each decision saw, in time order."""
        return tuple(d.inputs for d in self.decisions)

    @property
    def challenger_estimators(self) -> dict[str, int]:
        """How many challengers each estimator class was, e.g. ``{"Ridge": 2}``."""
        counts: dict[str, int] = {}
        for p in self.periods:
            if p.challenger_estimator is not None:
                name = p.challenger_estimator.rpartition(".")[2]
                counts[name] = counts.get(name, 0) + 1
        return counts

    @property
    def triggers(self) -> dict[str, int]:
        """How many retrains each rule started, e.g. ``{"realized_decay": 3}``."""
        counts: dict[str, int] = {}
        for p in self.periods:
            if p.retrained and p.trigger is not None:
                counts[p.trigger] = counts.get(p.trigger, 0) + 1
        return counts


def summary_table(results: Sequence[PolicyResult]) -> list[dict[str, float | int | str]]:
    """One row per policy, ready to print or log.

    Keys: ``policy``, ``mean_error`` (error units per row), ``total_error``,
    ``retrains``, ``promotions``, ``total_cost``, ``guardrail_period_share``,
    ``mean_metric`` (mean of the per-period primary metric) and ``error_unit``.
    """
    return [
        {
            "policy": r.policy,
            "mean_error": r.mean_error,
            "total_error": r.total_error,
            "retrains": r.retrains,
            "promotions": len(r.switch_periods),
            "total_cost": r.total_cost,
            "guardrail_period_share": r.guardrail_period_share,
            "mean_metric": r.mean_metric,
            "error_unit": r.error_unit,
        }
        for r in results
    ]
