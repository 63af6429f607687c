"""The promotion gate: evidence on a shared holdout and the decision table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from mlops_core.config import PromotionPolicy
from mlops_core.decisions import PromotionInputs, SegmentComparison
from mlops_core.metrics import worsening
from mlops_core.promotion import compare_on_holdout, decide_promotion

pytestmark = pytest.mark.unit


def seg(name: str, worse: float) -> SegmentComparison:
    return SegmentComparison(
        segment=name, rows=100, champion=10.0, challenger=10.0 * (1 + worse), worsening=worse
    )


def make_inputs(**overrides: Any) -> PromotionInputs:
    """A challenger with MAE 9 against a champion with MAE 10: a 10% loss reduction."""
    base: dict[str, Any] = {
        "metric": "mae",
        "holdout_rows": 1000,
        "challenger_metric": 9.0,
        "champion_metric": 10.0,
        "loss_difference_mean": 1.0,
        "loss_difference_low": 0.6,
        "loss_difference_high": 1.4,
        "p_value": 0.001,
        "segments": (seg("north", -0.1), seg("south", 0.05)),
        "challenger_guardrail_rate": 0.01,
    }
    return PromotionInputs(**(base | overrides))


def make_policy(**overrides: Any) -> PromotionPolicy:
    # The decision table checks the floor alone; the naive baseline has its own tests.
    base: dict[str, Any] = {
        "baseline": "none",
        "floor": 12.0,
        "min_improvement": 0.02,
        "improvement_mode": "relative",
        "significance": 0.05,
        "max_segment_regression": 0.10,
        "max_guardrail_rate": 0.05,
        "max_plausible_gain": 0.60,
    }
    return PromotionPolicy(**(base | overrides))


NO_CHAMPION = {
    "champion_metric": None,
    "loss_difference_mean": None,
    "loss_difference_low": None,
    "loss_difference_high": None,
    "p_value": None,
    "segments": (),
}
ACC = {"metric": "accuracy", "champion_metric": 0.80, "challenger_metric": 0.82}

CASES = [
    ("all-checks-pass", {}, {}, "promote", None),
    # Floor, fail-safe and direction.
    ("no-floor-configured", {}, {"floor": None}, "reject", "no_floor_configured"),
    ("mae-above-floor", {}, {"floor": 8.5}, "reject", "floor_not_met"),
    ("mae-at-floor", {}, {"floor": 9.0}, "promote", None),
    ("accuracy-meets-floor", ACC, {"floor": 0.81, "min_improvement": 0.05}, "promote", None),
    (
        "accuracy-below-floor",
        ACC,
        {"floor": 0.83, "min_improvement": 0.05},
        "reject",
        "floor_not_met",
    ),
    (
        "undefined-challenger-metric",
        {"challenger_metric": float("nan")},
        {},
        "reject",
        "floor_not_met",
    ),
    # No champion: the floor (and the leak check) decide.
    (
        "no-champion-floor-met",
        NO_CHAMPION | {"challenger_guardrail_rate": 0.5},
        {},
        "promote",
        None,
    ),
    (
        "no-champion-floor-missed",
        NO_CHAMPION | {"challenger_metric": 13.0},
        {},
        "reject",
        "floor_not_met",
    ),
    ("no-champion-no-floor", NO_CHAMPION, {"floor": None}, "reject", "no_floor_configured"),
    # Minimum improvement, both modes and directions.
    ("relative-gain-too-small", {}, {"min_improvement": 0.15}, "reject", "improvement_too_small"),
    (
        "absolute-gain-enough",
        {},
        {"improvement_mode": "absolute", "min_improvement": 1.0},
        "promote",
        None,
    ),
    (
        "absolute-gain-too-small",
        {},
        {"improvement_mode": "absolute", "min_improvement": 1.5},
        "reject",
        "improvement_too_small",
    ),
    (
        "challenger-worse",
        {"challenger_metric": 10.5},
        {"min_improvement": 0.0},
        "reject",
        "improvement_too_small",
    ),
    (
        "accuracy-absolute-enough",
        ACC,
        {"floor": 0.5, "improvement_mode": "absolute", "min_improvement": 0.015},
        "promote",
        None,
    ),
    (
        "accuracy-absolute-too-small",
        ACC,
        {"floor": 0.5, "improvement_mode": "absolute", "min_improvement": 0.03},
        "reject",
        "improvement_too_small",
    ),
    # Accuracy 0.80 -> 0.82 removes 10% of the error.
    ("accuracy-relative-enough", ACC, {"floor": 0.5, "min_improvement": 0.09}, "promote", None),
    (
        "accuracy-relative-too-small",
        ACC,
        {"floor": 0.5, "min_improvement": 0.11},
        "reject",
        "improvement_too_small",
    ),
    (
        "accuracy-worse",
        ACC | {"challenger_metric": 0.79},
        {"floor": 0.5, "min_improvement": 0.0},
        "reject",
        "improvement_too_small",
    ),
    # Significance.
    ("gain-is-noise", {"p_value": 0.2}, {}, "reject", "gain_not_significant"),
    ("p-at-level", {"p_value": 0.05}, {}, "promote", None),
    ("gain-not-tested", {"p_value": None}, {}, "reject", "gain_not_significant"),
    # Segments.
    (
        "segment-regresses",
        {"segments": (seg("north", -0.2), seg("south", 0.2))},
        {},
        "reject",
        "segment_regression",
    ),
    ("segment-at-limit", {"segments": (seg("south", 0.10),)}, {}, "promote", None),
    ("no-segments-judged", {"segments": ()}, {}, "promote", None),
    # Guardrails.
    (
        "guardrail-rate-too-high",
        {"challenger_guardrail_rate": 0.08},
        {},
        "reject",
        "guardrail_rate_too_high",
    ),
    ("guardrail-rate-at-limit", {"challenger_guardrail_rate": 0.05}, {}, "promote", None),
    # Too good to be true: MAE 10 -> 3 removes 70% of the error.
    ("too-good-mae", {"challenger_metric": 3.0}, {}, "reject", "too_good_to_be_true"),
    ("just-plausible-mae", {"challenger_metric": 4.0}, {}, "promote", None),
    # Accuracy 0.80 -> 0.95 removes 75% of the error.
    (
        "too-good-accuracy",
        ACC | {"challenger_metric": 0.95},
        {"floor": 0.5},
        "reject",
        "too_good_to_be_true",
    ),
    # A feature following the target: rejected even when the gain looks modest,
    # and before any champion exists (the first model must not learn a leak).
    (
        "feature-follows-target",
        {"target_association": {"units_last_week": 0.999, "price": 0.4}},
        {},
        "reject",
        "target_leak_suspected",
    ),
    (
        "feature-at-the-limit",
        {"target_association": {"units_last_week": 0.99}},
        {},
        "reject",
        "target_leak_suspected",
    ),
    (
        "strong-lag-is-not-a-leak",
        {"target_association": {"units_last_week": 0.9}},
        {},
        "promote",
        None,
    ),
    (
        "leak-without-champion",
        NO_CHAMPION | {"target_association": {"units_last_week": 1.0}},
        {},
        "reject",
        "target_leak_suspected",
    ),
    (
        "leak-limit-configurable",
        {"target_association": {"units_last_week": 0.995}},
        {"max_target_association": 1.0},
        "promote",
        None,
    ),
    # Approval.
    ("approval-pending", {}, {"require_approval": True}, "await_approval", "approval_pending"),
    (
        "approval-granted",
        {"approval": "approved", "approver": "ana"},
        {"require_approval": True},
        "promote",
        None,
    ),
    (
        "approval-rejected",
        {"approval": "rejected", "approver": "ana"},
        {"require_approval": True},
        "reject",
        "approval_rejected",
    ),
    (
        "approval-timeout",
        {"approval": "timeout"},
        {"require_approval": True},
        "reject",
        "approval_timeout",
    ),
    (
        "approval-not-asked-when-checks-fail",
        {"p_value": 0.3},
        {"require_approval": True},
        "reject",
        "gain_not_significant",
    ),
    ("approval-ignored-when-not-required", {"approval": "rejected"}, {}, "promote", None),
    (
        "no-champion-needs-approval",
        NO_CHAMPION,
        {"require_approval": True},
        "await_approval",
        "approval_pending",
    ),
]


@pytest.mark.parametrize(
    ("inputs", "policy", "action", "first_code"),
    [pytest.param(c[1], c[2], c[3], c[4], id=c[0]) for c in CASES],
)
def test_promotion_decision_table(
    inputs: dict[str, Any], policy: dict[str, Any], action: str, first_code: str | None
) -> None:
    decision = decide_promotion(make_inputs(**inputs), make_policy(**policy))
    assert decision.action == action
    passed = [r.passed for r in decision.reasons]
    # Failed checks first, then pending/facts, then passed checks.
    order = {False: 0, None: 1, True: 2}
    assert [order[p] for p in passed] == sorted(order[p] for p in passed)
    if action == "promote":
        assert False not in passed
    if action == "reject":
        assert passed[0] is False
    if first_code is not None:
        assert decision.reasons[0].code == first_code
    assert decision.inputs == make_inputs(**inputs)


def _codes(decision: Any) -> set[str]:
    return {r.code for r in decision.reasons}


def test_with_a_champion_every_check_is_listed() -> None:
    decision = decide_promotion(make_inputs(), make_policy())
    assert _codes(decision) == {
        "floor_met",
        "improvement_met",
        "gain_significant",
        "segments_ok",
        "gain_plausible",
        "guardrail_rate_ok",
        "no_target_leak",
    }


def test_without_a_champion_only_the_floor_and_the_leak_check_count() -> None:
    decision = decide_promotion(make_inputs(**NO_CHAMPION), make_policy())
    assert _codes(decision) == {"floor_met", "no_target_leak", "no_champion"}


def test_a_leak_reason_names_the_feature_and_its_correlation() -> None:
    decision = decide_promotion(
        make_inputs(target_association={"units_last_week": 0.9987, "price": 0.31}),
        make_policy(),
    )
    reason = decision.reasons[0]
    assert reason.code == "target_leak_suspected" and reason.passed is False
    assert "units_last_week (0.999)" in reason.message and "price" not in reason.message
    assert reason.numbers["units_last_week"] == pytest.approx(0.9987)


def test_every_failing_check_is_reported() -> None:
    decision = decide_promotion(
        make_inputs(p_value=0.4, challenger_guardrail_rate=0.2, segments=(seg("east", 0.5),)),
        make_policy(min_improvement=0.5),
    )
    failed = {r.code for r in decision.reasons if r.passed is False}
    assert failed == {
        "improvement_too_small",
        "gain_not_significant",
        "segment_regression",
        "guardrail_rate_too_high",
    }


def test_approval_reason_names_the_approver() -> None:
    decision = decide_promotion(
        make_inputs(approval="approved", approver="ana", approval_comment="looks right"),
        make_policy(require_approval=True),
    )
    approved = next(r for r in decision.reasons if r.code == "approved")
    assert "ana" in approved.message and "looks right" in approved.message


def test_too_good_to_be_true_mentions_leakage() -> None:
    decision = decide_promotion(make_inputs(challenger_metric=2.0), make_policy())
    reason = decision.reasons[0]
    assert reason.code == "too_good_to_be_true"
    assert "leakage" in reason.message and "80.0%" in reason.message


# ------------------------------------------------------------------ holdout evidence
def _regression_holdout(n: int = 1500, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.uniform(50, 150, n)
    return {
        "y": y,
        "champion": y + rng.normal(0, 4.0, n),
        "challenger": y + rng.normal(0, 3.0, n),
        "same_quality": y + rng.normal(0, 4.0, n),
        "segment": np.where(np.arange(n) % 3 == 0, "A", np.where(np.arange(n) % 3 == 1, "B", "C")),
    }


def test_clear_gain_is_measured_and_significant() -> None:
    h = _regression_holdout()
    policy = make_policy(bootstrap_samples=500)
    inputs = compare_on_holdout(
        "mae", h["y"], h["champion"], h["challenger"], policy=policy, seed=0
    )
    assert inputs.holdout_rows == 1500
    assert inputs.champion_metric == pytest.approx(skm.mean_absolute_error(h["y"], h["champion"]))
    assert inputs.challenger_metric == pytest.approx(
        skm.mean_absolute_error(h["y"], h["challenger"])
    )
    assert inputs.loss_difference_mean == pytest.approx(
        inputs.champion_metric - inputs.challenger_metric
    )
    assert inputs.loss_difference_low is not None and inputs.loss_difference_low > 0
    assert inputs.p_value is not None and inputs.p_value < 0.01
    assert decide_promotion(inputs, make_policy(floor=5.0)).action == "promote"


def test_equal_models_are_not_promoted() -> None:
    h = _regression_holdout(seed=1)
    policy = make_policy(bootstrap_samples=500, floor=5.0, min_improvement=0.0)
    inputs = compare_on_holdout(
        "mae", h["y"], h["champion"], h["same_quality"], policy=policy, seed=0
    )
    assert inputs.p_value is not None and inputs.p_value > 0.05
    assert decide_promotion(inputs, policy).action == "reject"


def test_segments_are_compared_with_the_exact_metric() -> None:
    h = _regression_holdout()
    y, champ, chall, segment = h["y"], h["champion"], h["challenger"].copy(), h["segment"]
    chall[segment == "B"] = champ[segment == "B"] + 5.0  # challenger worse on B only
    segment = segment.copy()
    segment[:10] = "tiny"  # fewer rows than min_segment_rows: not judged
    policy = make_policy(bootstrap_samples=200, min_segment_rows=20)
    inputs = compare_on_holdout("mae", y, champ, chall, policy=policy, seed=0, segments=segment)
    by_name = {s.segment: s for s in inputs.segments}
    assert set(by_name) == {"A", "B", "C"}
    b = by_name["B"]
    mask = segment == "B"
    assert b.rows == int(mask.sum())
    assert b.champion == pytest.approx(skm.mean_absolute_error(y[mask], champ[mask]))
    assert b.challenger == pytest.approx(skm.mean_absolute_error(y[mask], chall[mask]))
    assert b.worsening == pytest.approx(worsening("mae", b.champion, b.challenger))
    assert b.worsening > 0.1 and by_name["A"].worsening < 0
    decision = decide_promotion(inputs, make_policy(floor=20.0, min_improvement=0.0))
    assert decision.action == "reject"
    assert "segment_regression" in {r.code for r in decision.reasons if r.passed is False}


def test_classification_with_probabilities() -> None:
    rng = np.random.default_rng(5)
    n = 1200
    y = (rng.random(n) < 0.4).astype(int)
    champ_p = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.25, n), 0.01, 0.99)
    chall_p = np.clip(0.2 + 0.6 * y + rng.normal(0, 0.2, n), 0.01, 0.99)
    policy = make_policy(bootstrap_samples=300, floor=0.7)
    inputs = compare_on_holdout(
        "log_loss",
        y,
        (champ_p > 0.5).astype(int),
        (chall_p > 0.5).astype(int),
        policy=policy,
        seed=1,
        champion_proba=champ_p,
        challenger_proba=chall_p,
    )
    assert inputs.champion_metric == pytest.approx(skm.log_loss(y, champ_p))
    assert inputs.challenger_metric == pytest.approx(skm.log_loss(y, chall_p))
    assert inputs.p_value == 0.0


def test_without_champion_only_the_challenger_is_measured() -> None:
    h = _regression_holdout()
    inputs = compare_on_holdout(
        "rmse",
        h["y"],
        None,
        h["challenger"],
        policy=make_policy(),
        seed=0,
        segments=h["segment"],
        challenger_guardrail_rate=0.02,
    )
    assert inputs.champion_metric is None and inputs.p_value is None
    assert inputs.segments == ()
    assert inputs.challenger_metric == pytest.approx(
        skm.root_mean_squared_error(h["y"], h["challenger"])
    )
    assert inputs.challenger_guardrail_rate == 0.02
    assert inputs.approval == "pending"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"y_true": []},
        {"challenger_pred": [1.0, 2.0]},
        {"champion_pred": [1.0]},
        {"segments": ["a"]},
    ],
)
def test_misaligned_holdout_is_rejected(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "y_true": [1.0, 2.0, 3.0],
        "champion_pred": [1.0, 2.0, 3.5],
        "challenger_pred": [1.0, 2.0, 3.1],
    } | kwargs
    with pytest.raises(ValueError):
        compare_on_holdout("mae", policy=make_policy(), seed=0, **args)
