"""Backtest policies as settings of the one retrain rule, every:K cadence, cost accounting."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mlops_core.backtest import (
    AGE_OFF,
    PeriodOutcome,
    Policy,
    PolicyResult,
    error_unit_name,
    error_units,
    every_k_max_age,
    parse_policy,
    policy_settings,
    summary_table,
)
from mlops_core.config import DriftPolicy, RetrainPolicy
from mlops_core.cycle import DecisionHistory, PastDecision, build_retrain_inputs
from mlops_core.decisions import (
    DriftSummary,
    FeatureDrift,
    MetricInterval,
    PerformanceSummary,
    PromotionDecision,
    PromotionInputs,
    Reason,
    RetrainDecision,
    RetrainInputs,
)
from mlops_core.retrain import decide_retrain

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize(
    ("text", "name", "kind", "every"),
    [
        ("never", "never", "never", None),
        ("default", "default", "default", None),
        ("drift", "drift", "drift", None),
        ("performance", "performance", "performance", None),
        ("every:1", "every:1", "every", 1),
        ("every:4", "every:4", "every", 4),
        (" Every:04 ", "every:4", "every", 4),
        ("DRIFT", "drift", "drift", None),
    ],
)
def test_parse_policy_accepts_the_known_forms(text, name, kind, every):
    assert parse_policy(text) == Policy(name=name, kind=kind, every=every)


@pytest.mark.parametrize(
    ("text", "name", "kind", "every"),
    [
        ("default+search", "default+search", "default", None),
        (" Every:02+Search ", "every:2+search", "every", 2),
        ("performance+search", "performance+search", "performance", None),
    ],
)
def test_parse_policy_accepts_a_search_suffix(text, name, kind, every):
    assert parse_policy(text) == Policy(name=name, kind=kind, every=every, search=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("never+search", "nothing to search"),
        ("default+search+search", "given twice"),
        ("+search", "unknown policy"),
        ("sometimes+search", "unknown policy"),
    ],
)
def test_parse_policy_rejects_a_misplaced_search_suffix(text, message):
    with pytest.raises(ValueError, match=message):
        parse_policy(text)


def test_a_search_policy_decides_with_the_settings_of_its_base_policy():
    for name in ("default", "every:3", "drift", "performance"):
        assert policy_settings(
            parse_policy(name + "+search"), RETRAIN, DRIFT, label_delay=1
        ) == policy_settings(parse_policy(name), RETRAIN, DRIFT, label_delay=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sometimes", "unknown policy 'sometimes'"),
        ("every", "unknown policy"),
        ("every:", "unknown policy"),
        ("every:x", "unknown policy"),
        ("every:-2", "unknown policy"),
        ("every:1.5", "unknown policy"),
        ("every:0", "at least 1"),
        ("", "unknown policy"),
    ],
)
def test_parse_policy_rejects_anything_else_with_the_forms_it_knows(text, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_policy(text)
    if "unknown" in message:
        assert "every:K" in str(err.value)


# ---------------------------------------------------- settings -> decide_retrain
PERIOD = 100
LABEL_DELAY = 1
K = 4
RETRAIN = RetrainPolicy(
    min_new_labels=100,
    min_periods_between=2,
    max_decay=0.10,
    critical_decay=0.30,
    max_age_periods=10,
    max_retrains=4,
    budget_window_periods=13,
    retrain_cost=0.0,
)
DRIFT = DriftPolicy(importance_drift_limit=0.3)
REFERENCE = 10.0


def perf(decay: float, low: float, high: float) -> PerformanceSummary:
    """MAE summary with the given relative decay and interval."""
    return PerformanceSummary(
        metric="mae",
        reference=REFERENCE,
        realized=MetricInterval(
            metric="mae",
            value=REFERENCE * (1 + decay),
            low=REFERENCE * (1 + low),
            high=REFERENCE * (1 + high),
            rows=500,
        ),
        decay=decay,
        decay_low=low,
        decay_high=high,
        new_labeled_rows=500,
    )


def drift(share: float) -> DriftSummary:
    """A summary whose drifted feature carries ``share`` of the importance."""
    return DriftSummary(
        features=(
            FeatureDrift(
                feature="moved",
                kind="numeric",
                method="wasserstein",
                score=0.5,
                threshold=0.1,
                drifted=share > 0,
                importance=share,
            ),
            FeatureDrift(
                feature="steady",
                kind="numeric",
                method="wasserstein",
                score=0.01,
                threshold=0.1,
                drifted=False,
                importance=1 - share,
            ),
        ),
        drift_share=0.5 if share > 0 else 0.0,
        importance_weighted_share=share,
    )


HEALTHY = perf(0.01, -0.03, 0.05)
DECAY = perf(0.50, 0.30, 0.70)  # over max_decay, significant
HUGE_DECAY = perf(12.0, 11.0, 13.0)  # over the bound 10.0 that switches the rule off
YOUNG, MID, OLD = PERIOD - 2, PERIOD - 6, PERIOD - 20  # age 2 / 6 / 20 periods


def inputs(**overrides: Any) -> RetrainInputs:
    base: dict[str, Any] = {
        "period": PERIOD,
        "gate_passed": True,
        "has_champion": True,
        "champion_trained_period": YOUNG,
        "last_retrain_period": None,
        "retrain_periods_in_budget_window": 0,
        "new_labeled_rows": 500,
        "last_labeled_period": PERIOD - LABEL_DELAY,
        "rows_per_period": 1000.0,
        "performance": HEALTHY,
        "drift": drift(0.0),
        "decay_cause": "unknown",
    }
    return RetrainInputs(**(base | overrides))


POLICIES = ("default", "performance", "drift", f"every:{K}")

# Per scenario: what each policy decides, as "action/first reason code".
DECISION_TABLE = [
    (
        "decay-only",
        {"performance": DECAY},
        RETRAIN,
        ("retrain/realized_decay", "retrain/realized_decay", "skip/no_decay", "skip/no_decay"),
    ),
    (
        "drift-only",
        {"drift": drift(0.6)},
        RETRAIN,
        (
            "retrain/important_feature_drift",
            "skip/no_decay",
            "retrain/important_feature_drift",
            "skip/no_decay",
        ),
    ),
    (
        # Older than the use case's 10 periods and than every:4's limit.
        "old-only",
        {"champion_trained_period": OLD},
        RETRAIN,
        ("retrain/model_age", "skip/no_decay", "skip/no_decay", "retrain/model_age"),
    ),
    (
        # 6 periods: within the use case's 10, over every:4's 4 (= K + delay - 1).
        "every-k-due-only",
        {"champion_trained_period": MID},
        RETRAIN,
        ("skip/no_decay", "skip/no_decay", "skip/no_decay", "retrain/model_age"),
    ),
    (
        "quiet",
        {},
        RETRAIN,
        ("skip/no_decay", "skip/no_decay", "skip/no_decay", "skip/no_decay"),
    ),
    (
        # All three fire: each policy names its own rule.
        "all-at-once",
        {"performance": DECAY, "drift": drift(0.6), "champion_trained_period": OLD},
        RETRAIN,
        (
            "retrain/realized_decay",
            "retrain/realized_decay",
            "retrain/important_feature_drift",
            "retrain/model_age",
        ),
    ),
    (
        # The use case's cost makes decay retrains unaffordable; every:K pays nothing.
        "costly",
        {"performance": DECAY, "champion_trained_period": OLD},
        RETRAIN.model_copy(update={"retrain_cost": 1e9, "error_cost_per_unit": 1.0}),
        (
            "skip/retrain_not_worth_cost",
            "skip/retrain_not_worth_cost",
            "skip/no_decay",
            "retrain/model_age",
        ),
    ),
    (
        # The use case's budget is used up; every:K has none. (The decay stays
        # under critical_decay, which would override the budget.)
        "budget-used",
        {
            "performance": DECAY,
            "champion_trained_period": OLD,
            "retrain_periods_in_budget_window": 4,
        },
        RETRAIN.model_copy(update={"critical_decay": 0.9}),
        (
            "skip/retrain_budget_exhausted",
            "skip/retrain_budget_exhausted",
            "skip/no_decay",
            "retrain/model_age",
        ),
    ),
    (
        # 1 period after a retrain: inside every cooldown. A decay over the use
        # case's critical 30% overrides it; with decay off, nothing does.
        "just-retrained",
        {
            "performance": DECAY,
            "drift": drift(0.6),
            "champion_trained_period": OLD,
            "last_retrain_period": PERIOD - 1,
        },
        RETRAIN,
        ("retrain/realized_decay", "retrain/realized_decay", "skip/cooldown", "skip/cooldown"),
    ),
    (
        # min_new_labels holds for every policy, every:K included.
        "too-few-labels",
        {"performance": DECAY, "champion_trained_period": OLD, "new_labeled_rows": 10},
        RETRAIN,
        ("skip/not_enough_labels",) * 4,
    ),
    (
        # The documented residue: a decay over +1000% still fires where decay is "off".
        "decay-beyond-the-bound",
        {"performance": HUGE_DECAY},
        RETRAIN,
        ("retrain/realized_decay",) * 4,
    ),
]


@pytest.mark.parametrize(
    ("case", "overrides", "retrain", "expected"),
    DECISION_TABLE,
    ids=[c[0] for c in DECISION_TABLE],
)
def test_each_policy_fires_only_its_own_rule(case, overrides, retrain, expected):
    got = []
    for name in POLICIES:
        settings = policy_settings(parse_policy(name), retrain, DRIFT, label_delay=LABEL_DELAY)
        assert settings is not None
        decision = decide_retrain(inputs(**overrides), *settings, "mae")
        got.append(f"{decision.action}/{decision.reasons[0].code}")
    assert tuple(got) == expected


def test_never_takes_no_decision_and_default_is_the_use_case_itself():
    assert policy_settings(parse_policy("never"), RETRAIN, DRIFT, label_delay=1) is None
    assert policy_settings(parse_policy("default"), RETRAIN, DRIFT, label_delay=1) == (
        RETRAIN,
        DRIFT,
    )


@pytest.mark.parametrize("name", ["performance", "drift", "every:3"])
def test_switched_off_rules_sit_at_the_config_bounds_and_stay_valid(name):
    settings = policy_settings(parse_policy(name), RETRAIN, DRIFT, label_delay=2)
    assert settings is not None
    retrain, drift_policy = settings
    # Valid as if they came from a use-case file.
    assert RetrainPolicy.model_validate(retrain.model_dump()) == retrain
    assert DriftPolicy.model_validate(drift_policy.model_dump()) == drift_policy
    decay_off = retrain.max_decay == 10.0 and retrain.critical_decay == 10.0
    drift_off = drift_policy.importance_drift_limit == 1.0
    age_off = retrain.max_age_periods == AGE_OFF
    assert (decay_off, drift_off, age_off) == {
        "performance": (False, True, True),
        "drift": (True, False, True),
        "every:3": (True, True, False),
    }[name]
    # What a policy does not switch off stays the use case's.
    assert retrain.min_new_labels == RETRAIN.min_new_labels
    assert retrain.window == RETRAIN.window


# ------------------------------------------------------------------ every:K
@pytest.mark.parametrize(
    ("k", "delay", "expected"),
    [(1, 1, 1), (1, 2, 2), (2, 0, 1), (3, 1, 3), (4, 2, 5), (13, 0, 12)],
)
def test_every_k_max_age_is_k_plus_delay_minus_one(k, delay, expected):
    assert every_k_max_age(k, delay) == expected


def test_every_1_without_label_delay_cannot_be_expressed():
    with pytest.raises(ValueError, match="every:1 cannot be expressed with label_delay 0"):
        policy_settings(parse_policy("every:1"), RETRAIN, DRIFT, label_delay=0)


def _every_k_retrains(k: int, delay: int, *, promote: bool, periods: int = 40) -> list[int]:
    """Replay the decision loop with the every:K settings: periods where it retrains."""
    settings = policy_settings(parse_policy(f"every:{k}"), RETRAIN, DRIFT, label_delay=delay)
    assert settings is not None
    retrain, drift_policy = settings
    start = 10  # bootstrap trained on periods up to 10, labels known
    trained_through = start
    history = [PastDecision(start, "train", start)]
    retrains = []
    for period in range(start + 1, start + 1 + periods):
        labels_through = period - delay
        h = DecisionHistory.from_decisions(history)
        decision = decide_retrain(
            build_retrain_inputs(
                period=period,
                gate_passed=True,
                champion_trained_period=trained_through,
                has_champion=True,
                history=h,
                budget_window_periods=retrain.budget_window_periods,
                new_labeled_rows=500,
                last_labeled_period=labels_through,
                rows_per_period=500.0,
                performance=HEALTHY,
                drift=None,
                decay_cause="unknown",
            ),
            retrain,
            drift_policy,
            "mae",
        )
        history.insert(0, PastDecision(period, decision.action, labels_through))
        if decision.action == "retrain":
            retrains.append(period)
            assert decision.window is not None
            assert decision.window.last_period == labels_through
            if promote:
                trained_through = decision.window.last_period
    return retrains


@pytest.mark.parametrize(("k", "delay"), [(1, 1), (1, 3), (2, 0), (2, 1), (3, 2), (5, 1)])
@pytest.mark.parametrize("promote", [True, False], ids=["promoted", "rejected"])
def test_every_k_retrains_exactly_every_k_periods(k, delay, promote):
    retrains = _every_k_retrains(k, delay, promote=promote)
    assert len(retrains) >= 5
    # The bootstrap model had its labels at once: the first retrain is due when
    # its data is K + delay periods old; from then on every K periods, whether
    # the gate promoted the challengers or not.
    assert retrains[0] == 10 + k + delay
    assert set(np.diff(retrains)) == {k}


# ----------------------------------------------------------- cost accounting
@pytest.mark.parametrize(
    ("metric", "y_true", "y_pred", "expected", "unit"),
    [
        ("mae", [10, 20, 30], [12, 15, 30], [2, 5, 0], "absolute error"),
        ("rmse", [10, 20, 30], [12, 15, 30], [2, 5, 0], "absolute error"),
        ("mape", [10, 20, 0], [12, 15, 0], [0.2, 0.25, 0.0], "absolute percentage error"),
        ("accuracy", ["UP", "DOWN", "UP"], ["UP", "UP", "DOWN"], [0, 1, 1], "misclassification"),
        ("f1", [1, 0, 1, 1], [1, 0, 0, 1], [0, 0, 1, 0], "misclassification"),
        ("log_loss", [1, 0], [0, 0], [1, 0], "misclassification"),
    ],
)
def test_error_units_follow_the_primary_metric(metric, y_true, y_pred, expected, unit):
    np.testing.assert_allclose(error_units(metric, y_true, y_pred), expected)
    assert error_unit_name(metric) == unit


def _retrain_decision(period: int, action: str = "retrain") -> RetrainDecision:
    reason = Reason(code="realized_decay" if action == "retrain" else "no_decay", message="-")
    return RetrainDecision(
        action=action,
        reasons=(reason,),
        checked=(reason,),
        inputs=RetrainInputs(period=period, gate_passed=True, has_champion=True),
    )


def _promotion(action: str) -> PromotionDecision:
    return PromotionDecision(
        action=action,
        reasons=(),
        inputs=PromotionInputs(metric="mae", holdout_rows=50, challenger_metric=1.0),
    )


def test_cost_accounting_on_a_hand_made_replay():
    periods = (
        PeriodOutcome(
            period=5,
            rows=100,
            metric=2.0,
            error=200.0,
            champion="bootstrap",
            guardrail_rows=0,
            decision=_retrain_decision(5, "skip"),
        ),
        PeriodOutcome(
            period=6,
            rows=100,
            metric=4.0,
            error=400.0,
            champion="bootstrap",
            guardrail_rows=3,
            decision=_retrain_decision(6),
            promotion=_promotion("reject"),
        ),
        PeriodOutcome(
            period=7,
            rows=200,
            metric=3.0,
            error=600.0,
            champion="bootstrap",
            guardrail_rows=0,
            decision=_retrain_decision(7),
            promotion=_promotion("promote"),
        ),
        PeriodOutcome(
            period=8,
            rows=100,
            metric=1.0,
            error=100.0,
            champion="p7",
            guardrail_rows=1,
            decision=_retrain_decision(8, "skip"),
        ),
    )
    result = PolicyResult(
        policy="default", metric="mae", periods=periods, retrain_cost=50.0, error_cost_per_unit=0.5
    )
    assert result.retrain_periods == (6, 7)  # a rejected challenger still cost a retrain
    assert result.switch_periods == (7,)
    assert result.retrains == 2
    assert result.rows == 500
    assert result.total_error == 1300.0
    assert result.mean_error == pytest.approx(1300.0 / 500)  # pooled MAE, not the mean of MAEs
    assert result.mean_metric == pytest.approx((2 + 4 + 3 + 1) / 4)
    assert result.total_cost == pytest.approx(2 * 50.0 + 1300.0 * 0.5)
    assert result.guardrail_period_share == pytest.approx(2 / 4)
    assert result.triggers == {"realized_decay": 2}
    assert [d.inputs.period for d in result.decisions] == [5, 6, 7, 8]
    assert result.retrain_inputs == tuple(d.inputs for d in result.decisions)

    never = PolicyResult(
        policy="never",
        metric="mae",
        periods=tuple(
            PeriodOutcome(
                period=p.period,
                rows=p.rows,
                metric=5.0,
                error=p.rows * 5.0,
                champion="bootstrap",
                guardrail_rows=0,
            )
            for p in periods
        ),
        retrain_cost=50.0,
        error_cost_per_unit=0.5,
    )
    assert never.retrains == 0 and never.decisions == () and never.triggers == {}
    assert never.total_cost == pytest.approx(2500.0 * 0.5)

    rows = summary_table([result, never])
    assert [r["policy"] for r in rows] == ["default", "never"]
    assert rows[0] == {
        "policy": "default",
        "mean_error": result.mean_error,
        "total_error": 1300.0,
        "retrains": 2,
        "promotions": 1,
        "total_cost": result.total_cost,
        "guardrail_period_share": 0.5,
        "mean_metric": result.mean_metric,
        "error_unit": "absolute error",
    }
    assert rows[1]["total_cost"] == pytest.approx(1250.0)


def test_an_empty_replay_has_no_mean():
    empty = PolicyResult(
        policy="never", metric="accuracy", periods=(), retrain_cost=0.0, error_cost_per_unit=0.0
    )
    assert math.isnan(empty.mean_error)
    assert math.isnan(empty.mean_metric)
    assert math.isnan(empty.guardrail_period_share)
    assert empty.total_cost == 0.0
