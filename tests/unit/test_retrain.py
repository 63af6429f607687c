"""decide_retrain as a decision table: every rule, the cooldown override, budget, cost, windows."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_core.config import DriftPolicy, RetrainPolicy
from mlops_core.decisions import (
    DriftSummary,
    FeatureDrift,
    MetricInterval,
    PerformanceSummary,
    RetrainInputs,
)
from mlops_core.retrain import decide_retrain

pytestmark = pytest.mark.unit

PERIOD = 20
LAST_LABELED = 19
REFERENCE_MAE = 10.0


def perf_mae(decay: float, low: float, high: float) -> PerformanceSummary:
    """MAE performance whose decay and interval are the given relative worsening."""
    ref = REFERENCE_MAE
    return PerformanceSummary(
        metric="mae",
        reference=ref,
        realized=MetricInterval(
            metric="mae",
            value=ref * (1 + decay),
            low=ref * (1 + low),
            high=ref * (1 + high),
            rows=500,
        ),
        decay=decay,
        decay_low=low,
        decay_high=high,
        new_labeled_rows=500,
    )


def drift(share: float, drifted: dict[str, float] | None = None) -> DriftSummary:
    """Drift summary with ``drifted`` {feature: importance} flagged as drifted."""
    drifted = drifted or {}
    features = [
        FeatureDrift(
            feature=name,
            kind="numeric",
            method="wasserstein",
            score=0.3,
            threshold=0.1,
            drifted=True,
            importance=imp,
        )
        for name, imp in drifted.items()
    ] + [
        FeatureDrift(
            feature="steady",
            kind="numeric",
            method="wasserstein",
            score=0.01,
            threshold=0.1,
            drifted=False,
            importance=0.5,
        )
    ]
    return DriftSummary(
        features=tuple(features),
        drift_share=len(drifted) / len(features),
        importance_weighted_share=share,
    )


HEALTHY = perf_mae(0.01, -0.04, 0.06)
DECAY = perf_mae(0.20, 0.08, 0.32)  # over max_decay 0.10, significant
NOISY_DECAY = perf_mae(0.20, -0.02, 0.42)  # over max_decay but interval crosses 0
SMALL_DECAY = perf_mae(0.06, 0.02, 0.10)  # significant but under max_decay
CRITICAL = perf_mae(0.50, 0.35, 0.65)  # over critical_decay 0.30, significant
CRITICAL_NOISY = perf_mae(0.50, -0.01, 1.0)


def make_inputs(**overrides: Any) -> RetrainInputs:
    base: dict[str, Any] = {
        "period": PERIOD,
        "gate_passed": True,
        "has_champion": True,
        "champion_trained_period": 17,
        "last_retrain_period": None,
        "retrain_periods_in_budget_window": 0,
        "new_labeled_rows": 500,
        "last_labeled_period": LAST_LABELED,
        "rows_per_period": 1000.0,
        "performance": HEALTHY,
        "drift": drift(0.0),
        "decay_cause": "unknown",
    }
    return RetrainInputs(**(base | overrides))


def make_policy(**overrides: Any) -> RetrainPolicy:
    base: dict[str, Any] = {
        "min_new_labels": 100,
        "min_periods_between": 2,
        "max_decay": 0.10,
        "critical_decay": 0.30,
        "max_age_periods": 10,
        "sliding_periods": 6,
    }
    return RetrainPolicy(**(base | overrides))


DRIFT_POLICY = DriftPolicy(importance_drift_limit=0.3)
EXPANDING = ("expanding", None, LAST_LABELED)
SLIDING = ("sliding", LAST_LABELED - 6 + 1, LAST_LABELED)

CASES = [
    # Rule 1: gate.
    ("gate-failed", {"gate_passed": False}, {}, "block", "batch_failed_gate", None),
    (
        "gate-failed-beats-no-champion",
        {"gate_passed": False, "has_champion": False},
        {},
        "block",
        "batch_failed_gate",
        None,
    ),
    # Rule 2: no champion.
    (
        "no-champion",
        {"has_champion": False, "performance": None},
        {},
        "train",
        "no_champion",
        EXPANDING,
    ),
    (
        "no-champion-few-labels-still-trains",
        {"has_champion": False, "new_labeled_rows": 5},
        {},
        "train",
        "no_champion",
        EXPANDING,
    ),
    (
        "no-champion-sliding-policy",
        {"has_champion": False},
        {"window": "sliding"},
        "train",
        "no_champion",
        SLIDING,
    ),
    (
        "no-champion-no-labels",
        {"has_champion": False, "last_labeled_period": None},
        {},
        "skip",
        "no_labeled_data",
        None,
    ),
    # Rule 3: labels.
    (
        "few-labels",
        {"new_labeled_rows": 99, "performance": CRITICAL},
        {},
        "skip",
        "not_enough_labels",
        None,
    ),
    (
        "labels-at-minimum",
        {"new_labeled_rows": 100, "performance": DECAY},
        {},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    # Rule 4: cooldown.
    (
        "cooldown-blocks-decay",
        {"last_retrain_period": 19, "performance": DECAY},
        {},
        "skip",
        "cooldown",
        None,
    ),
    (
        "cooldown-blocks-drift",
        {"last_retrain_period": 19, "drift": drift(0.8, {"price": 0.8})},
        {},
        "skip",
        "cooldown",
        None,
    ),
    (
        "critical-decay-overrides-cooldown",
        {"last_retrain_period": 19, "performance": CRITICAL},
        {},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    (
        "critical-but-noisy-keeps-cooldown",
        {"last_retrain_period": 19, "performance": CRITICAL_NOISY},
        {},
        "skip",
        "cooldown",
        None,
    ),
    (
        "override-does-not-let-drift-through",
        {"last_retrain_period": 19, "performance": DECAY, "drift": drift(0.8, {"price": 0.8})},
        {"critical_decay": 0.05, "max_decay": 0.5},
        "skip",
        "cooldown",
        None,
    ),
    (
        "cooldown-ends-exactly",
        {"last_retrain_period": 18, "performance": DECAY},
        {},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    (
        "no-cooldown-configured",
        {"last_retrain_period": 20, "performance": DECAY},
        {"min_periods_between": 0},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    # Rule 5: realized decay.
    ("decay", {"performance": DECAY}, {}, "retrain", "realized_decay", EXPANDING),
    ("decay-not-significant", {"performance": NOISY_DECAY}, {}, "skip", "no_decay", None),
    ("decay-under-limit", {"performance": SMALL_DECAY}, {}, "skip", "no_decay", None),
    (
        "concept-drift-slides",
        {"performance": DECAY, "decay_cause": "concept_drift"},
        {},
        "retrain",
        "realized_decay",
        SLIDING,
    ),
    (
        "concept-drift-policy-keeps-expanding",
        {"performance": DECAY, "decay_cause": "concept_drift"},
        {"sliding_after_concept_drift": False},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    (
        "covariate-shift-expands",
        {"performance": DECAY, "decay_cause": "covariate_shift"},
        {},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    (
        "sliding-policy",
        {"performance": DECAY},
        {"window": "sliding"},
        "retrain",
        "realized_decay",
        SLIDING,
    ),
    ("no-performance", {"performance": None}, {}, "skip", "decay_not_measurable", None),
    # Rule 6: importance-weighted drift.
    (
        "important-drift",
        {"drift": drift(0.45, {"price": 0.3, "promo": 0.15})},
        {},
        "retrain",
        "important_feature_drift",
        EXPANDING,
    ),
    ("unimportant-drift", {"drift": drift(0.05, {"colour": 0.05})}, {}, "skip", "no_decay", None),
    ("drift-at-limit", {"drift": drift(0.3, {"price": 0.3})}, {}, "skip", "no_decay", None),
    ("no-drift-summary", {"drift": None}, {}, "skip", "no_decay", None),
    (
        "decay-beats-drift",
        {"performance": DECAY, "drift": drift(0.8, {"price": 0.8})},
        {},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    # Rule 7: age.
    ("old-model", {"champion_trained_period": 9}, {}, "retrain", "model_age", EXPANDING),
    ("age-at-limit", {"champion_trained_period": 10}, {}, "skip", "no_decay", None),
    ("age-unknown", {"champion_trained_period": None}, {}, "skip", "no_decay", None),
    # Budget.
    (
        "budget-exhausted",
        {"performance": DECAY, "retrain_periods_in_budget_window": 4},
        {"max_retrains": 4},
        "skip",
        "retrain_budget_exhausted",
        None,
    ),
    (
        "budget-left",
        {"performance": DECAY, "retrain_periods_in_budget_window": 3},
        {"max_retrains": 4},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    (
        "critical-decay-overrides-budget",
        {"performance": CRITICAL, "retrain_periods_in_budget_window": 4},
        {"max_retrains": 4},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    (
        "noisy-critical-decay-keeps-budget",
        {"performance": CRITICAL_NOISY, "retrain_periods_in_budget_window": 4},
        {"max_retrains": 4},
        "skip",
        "no_decay",
        None,
    ),
    (
        "budget-blocks-age",
        {"champion_trained_period": 1, "retrain_periods_in_budget_window": 1},
        {"max_retrains": 1},
        "skip",
        "retrain_budget_exhausted",
        None,
    ),
    # Cost: DECAY means MAE 12 vs 10, so 2 per row x 1000 rows x 4 periods x 1 = 8000.
    (
        "worth-cost",
        {"performance": DECAY},
        {"retrain_cost": 7999, "error_cost_per_unit": 1.0, "horizon_periods": 4},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    (
        "not-worth-cost",
        {"performance": DECAY},
        {"retrain_cost": 8000, "error_cost_per_unit": 1.0, "horizon_periods": 4},
        "skip",
        "retrain_not_worth_cost",
        None,
    ),
    (
        "zero-cost-never-blocks",
        {"performance": DECAY},
        {"retrain_cost": 0.0, "error_cost_per_unit": 0.0},
        "retrain",
        "realized_decay",
        EXPANDING,
    ),
    (
        "costly-refresh-without-loss",
        {"champion_trained_period": 1, "performance": perf_mae(-0.02, -0.06, 0.02)},
        {"retrain_cost": 1.0, "error_cost_per_unit": 100.0},
        "skip",
        "retrain_not_worth_cost",
        None,
    ),
    (
        "budget-checked-before-cost",
        {"performance": DECAY, "retrain_periods_in_budget_window": 2},
        {"max_retrains": 2, "retrain_cost": 1e9, "error_cost_per_unit": 1.0},
        "skip",
        "retrain_budget_exhausted",
        None,
    ),
]


@pytest.mark.parametrize(
    ("inputs", "policy", "action", "code", "window"),
    [pytest.param(c[1], c[2], c[3], c[4], c[5], id=c[0]) for c in CASES],
)
def test_retrain_decision_table(
    inputs: dict[str, Any],
    policy: dict[str, Any],
    action: str,
    code: str,
    window: tuple[str, int | None, int] | None,
) -> None:
    decision = decide_retrain(make_inputs(**inputs), make_policy(**policy), DRIFT_POLICY, "mae")
    assert decision.action == action
    assert decision.reasons[0].code == code
    # The deciding reason is one of the checked rules, and the last one checked.
    assert decision.reasons[0] in decision.checked
    assert decision.checked[-1] == decision.reasons[0] or decision.action == "retrain"
    if window is None:
        assert decision.window is None
    else:
        assert decision.window is not None
        got = (decision.window.kind, decision.window.first_period, decision.window.last_period)
        assert got == window
    assert decision.inputs == make_inputs(**inputs)


def _codes(decision: Any) -> list[tuple[str, bool | None]]:
    return [(r.code, r.passed) for r in decision.checked]


def test_every_checked_rule_is_recorded_in_order() -> None:
    decision = decide_retrain(
        make_inputs(champion_trained_period=5, last_retrain_period=10),
        make_policy(),
        DRIFT_POLICY,
        "mae",
    )
    assert _codes(decision) == [
        ("batch_passed_gate", True),
        ("has_champion", True),
        ("enough_labels", True),
        ("outside_cooldown", True),
        ("no_significant_decay", True),
        ("no_feature_drift", True),
        ("model_age", False),
        ("retrain_budget_available", True),
        ("retrain_cost_free", True),
    ]
    assert [r.code for r in decision.reasons] == [
        "model_age",
        "retrain_budget_available",
        "retrain_cost_free",
    ]


def test_missing_evidence_is_not_applicable_and_never_retrains() -> None:
    decision = decide_retrain(
        make_inputs(performance=None, drift=None, champion_trained_period=None),
        make_policy(),
        DRIFT_POLICY,
        "mae",
    )
    assert decision.action == "skip"
    assert ("performance_unavailable", None) in _codes(decision)
    assert ("drift_unavailable", None) in _codes(decision)
    assert ("model_age_unknown", None) in _codes(decision)
    assert decision.reasons[0].code == "decay_not_measurable"
    assert "could not be measured" in decision.reasons[0].message


def test_cooldown_override_is_recorded() -> None:
    decision = decide_retrain(
        make_inputs(last_retrain_period=19, performance=CRITICAL),
        make_policy(),
        DRIFT_POLICY,
        "mae",
    )
    codes = [c for c, _ in _codes(decision)]
    assert codes.index("critical_decay_overrides_cooldown") < codes.index("realized_decay")
    assert "critical_decay_overrides_cooldown" in [r.code for r in decision.reasons]


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        ("concept_drift", "concept drift"),
        ("covariate_shift", "covariate shift"),
        ("unknown", "unattributed"),
    ],
)
def test_decay_reason_names_cause_and_numbers(cause: str, words: str) -> None:
    decision = decide_retrain(
        make_inputs(performance=DECAY, decay_cause=cause), make_policy(), DRIFT_POLICY, "mae"
    )
    reason = decision.reasons[0]
    assert words in reason.message
    assert "12" in reason.message and "10" in reason.message and "+20.0%" in reason.message
    assert reason.numbers["realized"] == pytest.approx(12.0)
    assert reason.numbers["reference"] == REFERENCE_MAE
    assert reason.numbers["cause"] == cause


def test_important_drift_names_top_features() -> None:
    decision = decide_retrain(
        make_inputs(drift=drift(0.45, {"promo": 0.15, "price": 0.3})),
        make_policy(),
        DRIFT_POLICY,
        "mae",
    )
    message = decision.reasons[0].message
    assert message.index("price") < message.index("promo")  # most important first
    assert "45%" in message


def test_unimportant_drift_is_reported_not_acted_on() -> None:
    decision = decide_retrain(
        make_inputs(drift=drift(0.05, {"colour": 0.05})), make_policy(), DRIFT_POLICY, "mae"
    )
    assert decision.action == "skip"
    fact = next(r for r in decision.reasons if r.code == "unimportant_feature_drift")
    assert fact.passed is True and "colour" in fact.message


def test_no_decay_sentence_has_the_numbers() -> None:
    decision = decide_retrain(
        make_inputs(drift=drift(0.05, {"colour": 0.05})), make_policy(), DRIFT_POLICY, "mae"
    )
    reason = decision.reasons[0]
    assert reason.message.startswith("No decay: retraining postponed")
    assert "10.1" in reason.message and "reference 10" in reason.message
    assert "5%" in reason.message
    assert reason.numbers["importance_weighted_share"] == 0.05


def _accuracy_perf(reference: float, realized: float) -> PerformanceSummary:
    decay = ((1 - realized) - (1 - reference)) / (1 - reference)
    return PerformanceSummary(
        metric="accuracy",
        reference=reference,
        realized=MetricInterval(
            metric="accuracy",
            value=realized,
            low=realized - 0.01,
            high=realized + 0.01,
            rows=1000,
        ),
        decay=decay,
        decay_low=decay * 0.8,
        decay_high=decay * 1.2,
        new_labeled_rows=1000,
    )


@pytest.mark.parametrize(
    ("retrain_cost", "action", "code"),
    [
        # Accuracy 0.90 -> 0.80: 0.10 extra errors per row x 1000 rows x 4 periods x 1 = 400.
        (399.0, "retrain", "realized_decay"),
        (400.0, "skip", "retrain_not_worth_cost"),
    ],
)
def test_cost_uses_the_loss_scale_of_a_score(retrain_cost: float, action: str, code: str) -> None:
    decision = decide_retrain(
        make_inputs(performance=_accuracy_perf(0.90, 0.80)),
        make_policy(retrain_cost=retrain_cost, error_cost_per_unit=1.0, horizon_periods=4),
        DRIFT_POLICY,
        "accuracy",
    )
    assert decision.action == action
    assert decision.reasons[0].code == code
    cost = next(r for r in decision.checked if r.code.startswith("retrain_") and "cost" in r.code)
    assert cost.numbers["expected_saving"] == pytest.approx(0.10 * 1000 * 4 * 1.0)
    assert cost.numbers["retrain_cost"] == retrain_cost


def test_not_worth_cost_names_both_numbers_and_the_candidate() -> None:
    decision = decide_retrain(
        make_inputs(performance=DECAY),
        make_policy(retrain_cost=9000, error_cost_per_unit=1.0, horizon_periods=4),
        DRIFT_POLICY,
        "mae",
    )
    reason = decision.reasons[0]
    assert "8000" in reason.message and "9000" in reason.message
    assert decision.reasons[1].code == "realized_decay"


def test_performance_in_another_metric_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        decide_retrain(make_inputs(performance=DECAY), make_policy(), DRIFT_POLICY, "rmse")


def test_budget_override_by_critical_decay_is_recorded_with_its_numbers() -> None:
    decision = decide_retrain(
        make_inputs(performance=CRITICAL, retrain_periods_in_budget_window=4),
        make_policy(max_retrains=4, budget_window_periods=13),
        DRIFT_POLICY,
        "mae",
    )
    assert decision.action == "retrain"
    override = next(r for r in decision.reasons if r.code == "critical_decay_overrides_budget")
    assert override.passed is True
    assert override.numbers["retrains_in_window"] == 4
    assert override.numbers["max_retrains"] == 4
    assert override.numbers["decay"] == pytest.approx(0.50)
    assert "retrain_budget_exhausted" not in [r.code for r in decision.checked]


@pytest.mark.parametrize(
    ("performance", "why"),
    [
        (None, "no performance was assessed"),
        (
            PerformanceSummary(metric="mae", reference=REFERENCE_MAE, new_labeled_rows=0),
            "none of them could be joined",
        ),
        (
            PerformanceSummary(metric="mae", reference=float("nan"), new_labeled_rows=500),
            "the champion has no reference metric",
        ),
        (
            PerformanceSummary(metric="mae", reference=REFERENCE_MAE, new_labeled_rows=500),
            "mae is undefined on them",
        ),
    ],
    ids=["not-assessed", "no-rows", "no-reference", "undefined"],
)
def test_labels_without_measurable_performance_are_no_evidence_not_no_decay(
    performance: PerformanceSummary | None, why: str
) -> None:
    decision = decide_retrain(
        make_inputs(performance=performance), make_policy(), DRIFT_POLICY, "mae"
    )
    assert decision.action == "skip"
    first = decision.reasons[0]
    assert first.code == "decay_not_measurable" and first.passed is False
    assert str(first.numbers["why"]).startswith(why)
    assert first.numbers["new_labeled_rows"] == 500
    assert "no_decay" not in {r.code for r in decision.checked}
    # Drift or age still retrain without measured performance.
    aged = decide_retrain(
        make_inputs(performance=performance, champion_trained_period=PERIOD - 100),
        make_policy(),
        DRIFT_POLICY,
        "mae",
    )
    assert aged.action == "retrain" and aged.reasons[0].code == "model_age"
