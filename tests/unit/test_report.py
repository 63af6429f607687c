"""Plain-language text is generated from decision values and carries their numbers.

Decisions are made by the real ``decide_retrain`` and ``decide_promotion`` so the
reason codes and numbers are the ones the product records. Each sentence test
renders the same kind of decision twice with different values and checks that
the words follow the values: the numbers of each version are in its sentence,
and the two sentences differ.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mlops_core.config import DriftPolicy, PromotionPolicy, RetrainPolicy, parse_usecase
from mlops_core.decisions import (
    DriftSummary,
    FeatureDrift,
    GateDecision,
    GuardrailSummary,
    InputRangeFinding,
    MetricInterval,
    PerformanceSummary,
    PromotionDecision,
    PromotionInputs,
    RetrainDecision,
    RetrainInputs,
    RuleResult,
)
from mlops_core.promotion import decide_promotion
from mlops_core.report import (
    ChampionChange,
    CycleOutcome,
    attribution_sentence,
    champion_change_sentence,
    cycle_markdown,
    cycle_summary,
    drift_sentence,
    gate_sentence,
    guardrail_sentence,
    headline_sentence,
    promotion_why,
    retrain_why,
)
from mlops_core.retrain import decide_retrain
from mlops_core.sentences import Wording, default_wording, input_range_finding_sentence, wording_for

pytestmark = pytest.mark.unit

W = Wording(
    prediction="forecast",
    metric="forecast error",
    outcomes="actual units sold",
    period="week",
    segment="store",
)
REFERENCE = 7.0


# ----------------------------------------------------------------- builders
def gate(action: str = "pass", *, failed: int = 1, warnings: int = 0) -> GateDecision:
    results = []
    if action == "fail":
        results += [
            RuleResult(
                rule="column_present",
                column=f"col{i}",
                severity="error",
                success=False,
                message=f"column 'col{i}' is missing",
            )
            for i in range(failed)
        ]
    results += [
        RuleResult(
            rule="range",
            column="temperature",
            severity="warn",
            success=False,
            message=f"temperature has {3 + i} values above 50",
        )
        for i in range(warnings)
    ]
    return GateDecision(
        action=action,
        batch="period_017.csv",
        batch_sha256="a" * 64,
        rows=360,
        reasons=(),
        results=tuple(results),
    )


def perf(realized: float, *, rows: int = 360, est: tuple | None = None, cur=None):
    """MAE against the reference 7.0; the interval is +-0.4 around ``realized``."""
    low, high = realized - 0.4, realized + 0.4
    e = est or (None, None, None)
    return PerformanceSummary(
        metric="mae",
        reference=REFERENCE,
        realized=MetricInterval(metric="mae", value=realized, low=low, high=high, rows=rows),
        decay=realized / REFERENCE - 1,
        decay_low=low / REFERENCE - 1,
        decay_high=high / REFERENCE - 1,
        estimated=e[0],
        estimated_low=e[1],
        estimated_high=e[2],
        estimate_method="dle" if est else None,
        current_estimate=cur,
        new_labeled_rows=rows,
    )


def drift(drifted: dict[str, float], calm: dict[str, float] | None = None) -> DriftSummary:
    """``drifted`` and ``calm`` map feature -> importance."""
    calm = {"temperature": 0.2} if calm is None else calm
    feats = [
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
            feature=name,
            kind="numeric",
            method="wasserstein",
            score=0.02,
            threshold=0.1,
            drifted=False,
            importance=imp,
        )
        for name, imp in calm.items()
    ]
    return DriftSummary(
        features=tuple(feats),
        drift_share=len(drifted) / len(feats),
        importance_weighted_share=sum(drifted.values()),
    )


def retrain(**over: Any) -> RetrainDecision:
    """decide_retrain with the retail policy's spirit; ``policy`` overrides go in ``policy``."""
    policy = RetrainPolicy(
        min_new_labels=300,
        min_periods_between=2,
        max_decay=0.15,
        **({"critical_decay": 0.40} | over.pop("policy", {})),
        max_age_periods=26,
    )
    base: dict[str, Any] = {
        "period": 20,
        "gate_passed": True,
        "has_champion": True,
        "champion_trained_period": 15,
        "last_retrain_period": 10,
        "new_labeled_rows": 360,
        "last_labeled_period": 18,
        "rows_per_period": 360.0,
    }
    inputs = RetrainInputs(**(base | over))
    return decide_retrain(inputs, policy, DriftPolicy(importance_drift_limit=0.3), "mae")


def promotion(approval_policy: bool = False, **over: Any) -> PromotionDecision:
    policy = PromotionPolicy(
        floor=over.pop("floor", 20.0),
        baseline=over.pop("baseline_rule", "naive"),
        min_improvement=0.02,
        max_segment_regression=0.15,
        max_guardrail_rate=0.10,
        max_plausible_gain=0.60,
        require_approval=approval_policy,
    )
    base: dict[str, Any] = {
        "metric": "mae",
        "holdout_rows": 720,
        "challenger_metric": 6.2,
        "champion_metric": 7.1,
        "loss_difference_mean": 0.9,
        "loss_difference_low": 0.5,
        "loss_difference_high": 1.3,
        "p_value": 0.001,
        "challenger_guardrail_rate": 0.01,
        "baseline_metric": 15.0,
        "baseline": "median 40",
    }
    return decide_promotion(PromotionInputs(**(base | over)), policy)


def outcome(r: RetrainDecision, **over: Any) -> CycleOutcome:
    base: dict[str, Any] = {
        "period": 20,
        "batch": "period_020.csv",
        "gate": gate(),
        "retrain": r,
        "performance": r.inputs.performance,
        "drift": r.inputs.drift,
        "champion_version": "3",
        "champion_before": "3",
    }
    return CycleOutcome(**(base | over))


def differ_and_carry(first: str, second: str, *numbers: tuple[str, str]) -> None:
    """Both sentences say their own numbers and are not the same text."""
    assert first != second
    for in_first, in_second in numbers:
        assert in_first in first, (in_first, first)
        assert in_second in second, (in_second, second)
        assert in_first not in second, (in_first, second)


# ------------------------------------------------------------- wording
def test_wording_of_a_use_case_uses_its_task_metric_target_and_segment():
    doc = {
        "name": "shop",
        "data": {
            "landing": "l",
            "labels": "b",
            "id_column": "id",
            "time_column": "day",
            "target_column": "units_sold",
            "segment_column": "store",
            "period": "week",
        },
        "contract": {
            "columns": [
                {"name": "id", "type": "categorical", "feature": False},
                {"name": "day", "type": "categorical", "feature": False},
                {"name": "store", "type": "categorical"},
                {"name": "price", "type": "numeric"},
            ]
        },
        "model": {"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
        "metric": {"primary": "mae"},
    }
    w = wording_for(parse_usecase(doc, "shop.yaml"))
    assert (w.prediction, w.metric, w.outcomes, w.period, w.segment) == (
        "forecast",
        "forecast error",
        "actual units sold",
        "week",
        "store",
    )
    doc["model"] = {
        "task": "classification",
        "estimator": "sklearn.linear_model.LogisticRegression",
    }
    doc["metric"] = {"primary": "accuracy"}
    w = wording_for(parse_usecase(doc, "shop.yaml"))
    assert (w.prediction, w.metric) == ("prediction", "share of correct predictions")
    assert default_wording("rmse").metric.startswith("forecast error")


# --------------------------------------------------------------- the gate
@pytest.mark.parametrize(("failed", "more"), [(1, ""), (3, "(and 2 more problem(s))")])
def test_gate_fail_headline_names_the_batch_the_rule_and_keeps_the_model(failed, more):
    r = retrain(gate_passed=False)
    o = outcome(r, gate=gate("fail", failed=failed), performance=None, drift=None)
    text = cycle_summary(o, W)
    assert text.startswith("We set the data of week 20 (period_020.csv) aside unused")
    assert "column 'col0' is missing" in text and more in text
    assert "version 3 stays as it was" in text
    assert cycle_summary(replace(o, champion_version="4", champion_before="4"), W) != text
    # The detail sentence of the markdown record says the same.
    assert "column 'col0' is missing" in gate_sentence(o.gate)


@pytest.mark.parametrize("n", [1, 2])
def test_gate_warnings_are_counted_and_the_first_is_quoted(n):
    r = retrain(performance=perf(7.1), drift=drift({}))
    text = cycle_summary(outcome(r, gate=gate(warnings=n)), W)
    assert f"The data had {n} warning{'s' if n > 1 else ''}: temperature has 3 values" in text
    assert ("(and 1 more)" in text) is (n == 2)


# -------------------------------------------------------- retrain decisions
def test_skip_no_decay_reads_like_the_store_manager_example():
    r1 = retrain(performance=perf(7.2), drift=drift({"price": 0.12, "promotion": 0.05}))
    r2 = retrain(performance=perf(6.6), drift=drift({"price": 0.12}))
    assert r1.action == r2.action == "skip" and r1.reasons[0].code == "no_decay"
    first, second = cycle_summary(outcome(r1), W), cycle_summary(outcome(r2), W)
    assert first.startswith(
        "We kept the current model (version 3). 2 of 3 inputs changed (price, promotion), "
        "carrying 17% of what the model relies on, but the forecast error was 7.2 against 7 "
        "normally (2.9% worse, within normal variation), so there was no reason to retrain."
    )
    differ_and_carry(first, second, ("2 of 3", "1 of 2"), ("7.2 against", "6.6 against"))
    assert "5.7% better" in second


def test_skip_no_decay_without_importance_says_reliance_is_unknown():
    r = retrain(performance=perf(7.1), drift=drift({"price": 0.0}, calm={"temperature": 0.0}))
    text = cycle_summary(outcome(r), W)
    assert "1 of 2 inputs changed (price), how much the model relies on them is not known" in text


def test_skip_not_enough_labels_says_how_many_arrived():
    first = retrain_why(retrain(new_labeled_rows=120), W)
    second = retrain_why(retrain(new_labeled_rows=45), W)
    assert first == (
        "Only 120 forecasts got their actual units sold this week and at least 300 are needed "
        "to judge the model, so it is too early to retrain."
    )
    differ_and_carry(first, second, ("120", "45"))


def test_skip_when_no_label_arrived_this_period():
    assert retrain_why(retrain(new_labeled_rows=0), W) == (
        "No actual units sold arrived this week, so the model cannot be judged yet."
    )


def test_skip_before_any_label_says_there_is_nothing_to_learn_from():
    r = retrain(has_champion=False, last_labeled_period=None, new_labeled_rows=0)
    assert r.action == "skip" and r.reasons[0].code == "no_labeled_data"
    o = outcome(r, champion_version=None, champion_before=None)
    assert cycle_summary(o, W) == (
        "No model is in production yet, and none could be trained. No actual units sold have "
        "arrived yet, so there is nothing to learn from."
    )


@pytest.mark.parametrize(("since", "other"), [(1, 0)])
def test_skip_in_cooldown_says_when_it_retrained_and_how_long_it_waits(since, other):
    def why(last):
        return retrain_why(retrain(last_retrain_period=20 - last, performance=perf(7.5)), W)

    first, second = why(since), why(other)
    assert "retrained 1 week ago and a retrain waits at least 2 weeks" in first
    assert "the forecast error is 7.1% worse than normal, not enough to cut the wait short" in first
    differ_and_carry(first, second, ("1 week ago", "0 weeks ago"))


def test_critical_decay_inside_cooldown_retrains_and_says_so():
    r = retrain(last_retrain_period=19, performance=perf(11.0))
    assert r.action == "retrain" and r.reasons[0].code == "realized_decay"
    text = retrain_why(r, W)
    assert "the forecast error was 11 against 7 normally (57% worse" in text.lower()


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        ("concept_drift", "the link between the inputs and the actual units sold changed"),
        ("covariate_shift", "the inputs moved into cases the model handles less well"),
        ("unknown", "over the 15% limit)."),
    ],
)
def test_retrain_on_decay_names_the_numbers_and_the_cause(cause, words):
    first = retrain(performance=perf(9.8), decay_cause=cause)
    second = retrain(performance=perf(10.5), decay_cause=cause)
    assert first.action == "retrain" and first.reasons[0].code == "realized_decay"
    a, b = cycle_summary(outcome(first), W), cycle_summary(outcome(second), W)
    assert words in a
    assert "clearly beyond normal variation and over the 15% limit" in a
    differ_and_carry(a, b, ("9.8 against 7", "10.5 against 7"), ("40% worse", "50% worse"))


def test_retrain_on_important_drift_names_features_share_and_limit():
    first = retrain(performance=perf(7.1), drift=drift({"price": 0.45}))
    second = retrain(performance=perf(7.1), drift=drift({"price": 0.35, "promotion": 0.3}))
    assert first.reasons[0].code == "important_feature_drift"
    a, b = retrain_why(first, W), retrain_why(second, W)
    assert a == (
        "Inputs the model relies on changed (price): they carry 45% of what the model relies "
        "on, over the 30% limit."
    )
    differ_and_carry(a, b, ("(price)", "(price, promotion)"), ("45%", "65%"))


def test_retrain_for_age_says_how_old_the_model_is():
    a = retrain_why(retrain(performance=perf(7.1), champion_trained_period=-10), W)
    b = retrain_why(retrain(performance=perf(7.1), champion_trained_period=-20), W)
    assert a == (
        "The model learned from data up to 30 weeks old, more than the 26 weeks allowed, so it "
        "is refreshed."
    )
    differ_and_carry(a, b, ("30 weeks", "40 weeks"))


def test_retrain_worth_its_cost_says_the_saving_and_the_cost():
    def why(cost):
        r = retrain(
            performance=perf(10.5),
            policy={"retrain_cost": cost, "error_cost_per_unit": 0.5, "horizon_periods": 4},
        )
        assert r.action == "retrain"
        return retrain_why(r, W)

    a, b = why(150.0), why(200.0)
    # saving = (10.5 - 7) units x 360 rows x 4 weeks x 0.5 = 2,520
    assert "Retraining is expected to save about 2,520 over the next 4 weeks, more than its " in a
    differ_and_carry(a, b, ("cost of 150", "cost of 200"))


def test_skip_not_worth_its_cost_names_the_trigger_and_the_numbers():
    def why(realized):
        r = retrain(
            performance=perf(realized),
            policy={"retrain_cost": 5000.0, "error_cost_per_unit": 0.5, "horizon_periods": 4},
        )
        assert r.action == "skip" and r.reasons[0].code == "retrain_not_worth_cost"
        return retrain_why(r, W)

    a, b = why(10.5), why(11.0)
    assert a.startswith("The forecast error was 10.5 against 7 normally (50% worse")
    assert (
        "limit), so a retrain was warranted, but retraining would not pay off: it would save "
        "about 2,520 over the next 4" in a
    )
    assert "less than its cost of 5,000." in a
    differ_and_carry(a, b, ("2,520", "2,880"), ("10.5 against", "11 against"))


def test_skip_over_budget_names_the_trigger_and_the_budget():
    def why(used):
        r = retrain(
            performance=perf(10.5),
            retrain_periods_in_budget_window=used,
            # A decay over critical_decay would override the budget (tested below).
            policy={"max_retrains": used, "critical_decay": 0.6},
        )
        assert r.reasons[0].code == "retrain_budget_exhausted"
        return retrain_why(r, W)

    a, b = why(3), why(5)
    assert "but 3 retrains were already made in the last 13 weeks, and at most 3 are allowed" in a
    differ_and_carry(a, b, ("3 retrains", "5 retrains"))


def test_critical_decay_over_budget_retrains_and_says_why():
    r = retrain(
        performance=perf(11.0),
        retrain_periods_in_budget_window=3,
        policy={"max_retrains": 3},
    )
    assert r.action == "retrain" and r.reasons[0].code == "realized_decay"
    text = retrain_why(r, W)
    assert (
        "3 retrains were already made in the last 13 weeks, the whole budget, but the forecast "
        "error is 57% worse than normal" in text
    ), text


def test_first_model_training_names_the_window():
    r = retrain(has_champion=False, champion_trained_period=None, last_retrain_period=None)
    p = promotion(champion_metric=None, p_value=None, challenger_metric=7.4)
    o = outcome(r, promotion=p, challenger_version="1", champion_version="1", champion_before=None)
    assert cycle_summary(o, W) == (
        "We put a first model in production (version 1). There was no model in production yet; "
        "the new one learned from every week up to 18. Its forecast error on recent held-back "
        "data was 7.4, within the minimum quality of 20."
    )


# ------------------------------------------------------ promotion decisions
def _retrained(p: PromotionDecision, **over: Any) -> CycleOutcome:
    r = retrain(performance=perf(10.5), decay_cause="concept_drift")
    champion = "4" if p.action == "promote" else "3"
    return outcome(r, promotion=p, challenger_version="4", champion_version=champion, **over)


def test_promote_says_which_version_replaced_which_and_by_how_much():
    a = cycle_summary(_retrained(promotion()), W)
    b = cycle_summary(_retrained(promotion(challenger_metric=6.8)), W)
    assert a.startswith(
        "We replaced the model in production: version 4 now makes the forecasts instead of "
        "version 3."
    )
    assert (
        "Its forecast error on recent held-back data was 6.2 against 7.1 for version 3 (13% " in a
    )
    differ_and_carry(a, b, ("6.2 against", "6.8 against"), ("(13% better)", "(4.2% better)"))


def test_promotion_without_the_replaced_version_is_still_a_replacement():
    # A cycle that did not record the champion it judged against (older records).
    o = _retrained(promotion(), champion_before=None)
    assert headline_sentence(o, W) == (
        "We replaced the model in production: version 4 now makes the forecasts."
    )
    # Rejected, the champion after the cycle is the one it judged against.
    rejected = _retrained(promotion(p_value=0.3), champion_before=None)
    assert headline_sentence(rejected, W) == (
        "We trained a new candidate (version 4) but kept the current model (version 3)."
    )


@pytest.mark.parametrize(
    ("over", "code", "expected"),
    [
        (
            {"challenger_metric": 7.05},
            "improvement_too_small",
            "It did not improve enough: its forecast error on recent held-back data was 7.05 "
            "against 7.1 for version 3, short of the 2% improvement required.",
        ),
        (
            {"p_value": 0.31},
            "gain_not_significant",
            "Its advantage over version 3 is too small to tell from chance (p = 0.31, 0.05 or "
            "less needed).",
        ),
        (
            {"challenger_metric": 21.0, "champion_metric": 25.0},
            "floor_not_met",
            "Its forecast error on recent held-back data was 21, missing the minimum quality of "
            "20.",
        ),
        (
            {"challenger_metric": 6.2, "baseline_metric": 6.0},
            "baseline_not_beaten",
            "It is no better than a naive guess: its forecast error on recent held-back data was "
            "6.2 against 6 for always predicting the median 40 of the data it learned from.",
        ),
        (
            {"baseline_metric": None, "baseline": None},
            "baseline_unavailable",
            "It could not be compared with a naive guess (no target to learn one from, or the "
            "forecast error is undefined on the held-back data), so it is not put in production "
            "(a safety default).",
        ),
        (
            {"floor": None, "baseline_rule": "none"},
            "no_floor_configured",
            "The use case sets no minimum quality for a model in production, so none is put in "
            "production (a safety default).",
        ),
        (
            {"challenger_guardrail_rate": 0.14},
            "guardrail_rate_too_high",
            "14% of its forecasts on recent data broke business limits (at most 10% is allowed).",
        ),
        (
            {"challenger_metric": 2.0},
            "too_good_to_be_true",
            "It looks too good to be true: it removes 72% of the error of version 3 (at most 60% "
            "is plausible), which points to a data error such as an input filled from the actual "
            "units sold.",
        ),
        (
            {"target_association": {"units_last_week": 0.998, "price": 0.2}},
            "target_leak_suspected",
            "It looks too good to be true: units_last_week (1.00) follows the actual units sold "
            "almost exactly, which points to a data error (an input filled from what it should "
            "predict); the data must be checked before any new model goes live.",
        ),
    ],
)
def test_reject_says_the_failed_check_with_its_numbers(over, code, expected):
    p = promotion(**over)
    assert p.action == "reject" and p.reasons[0].code == code
    text = cycle_summary(_retrained(p), W)
    assert text.startswith(
        "We trained a new candidate (version 4) but kept the current model (version 3)."
    )
    assert expected in text, text


def test_reject_for_a_segment_names_the_worst_segment():
    from mlops_core.decisions import SegmentComparison

    def why(worse):
        seg = SegmentComparison(
            segment="S06", rows=60, champion=5.0, challenger=5.0 * (1 + worse), worsening=worse
        )
        p = promotion(segments=(seg,))
        assert p.reasons[0].code == "segment_regression"
        return promotion_why(p, W, "3")

    a, b = why(0.2), why(0.4)
    assert a == "It would be worse for 1 store, most for S06 (20% worse; at most 15% is allowed)."
    differ_and_carry(a, b, ("20% worse", "40% worse"))


@pytest.mark.parametrize(
    ("approval", "action", "words"),
    [
        (
            "pending",
            "await_approval",
            "We trained version 4; it passed every automatic check and waits for a person to "
            "approve it, while version 3 keeps making the forecasts.",
        ),
        ("approved", "promote", 'Ana approved it ("fine").'),
        ("rejected", "reject", 'Ana rejected it ("fine").'),
        ("timeout", "reject", "No one approved it in time, and no answer counts as a no."),
    ],
)
def test_human_approval_outcomes(approval, action, words):
    p = promotion(True, approval=approval, approver="Ana", approval_comment="fine")
    assert p.action == action
    assert words in cycle_summary(_retrained(p), W)


def test_superseded_promotion_names_the_version_that_got_in_first():
    o = _retrained(promotion(), superseded_by="5")
    a, b = cycle_summary(o, W), cycle_summary(replace(o, superseded_by="6"), W)
    assert a.startswith(
        "We trained version 4 and the checks approved it, but it was not put in production: "
        "version 5 became the model in production first, and the next week judges against it."
    )
    differ_and_carry(a, b, ("version 5", "version 6"))


# ----------------------------------------------------- guardrails, estimates
def test_guardrail_breaker_and_held_rows():
    tripped = GuardrailSummary(
        rows=360, violating_rows=144, violation_rate=0.4, held_rows=360, breaker_tripped=True
    )
    text = guardrail_sentence(tripped, W)
    assert text == (
        "40% of the forecasts broke business limits, so the whole batch of 360 was held for "
        "review instead of being sent."
    )
    held = GuardrailSummary(rows=360, violating_rows=12, violation_rate=12 / 360, held_rows=5)
    other = GuardrailSummary(rows=360, violating_rows=20, violation_rate=20 / 360, held_rows=9)
    differ_and_carry(
        guardrail_sentence(held, W),
        guardrail_sentence(other, W),
        ("12 of", "20 of"),
        ("5 h", "9 h"),
    )
    assert guardrail_sentence(GuardrailSummary(rows=360, violating_rows=0, violation_rate=0.0), W)
    r = retrain(performance=perf(7.1), drift=drift({}))
    calm = GuardrailSummary(rows=360, violating_rows=0, violation_rate=0.0)
    assert "business limits" not in cycle_summary(outcome(r, guardrails=calm), W)
    assert "held for review" in cycle_summary(outcome(r, guardrails=tripped), W)


def _finding(**over: Any) -> InputRangeFinding:
    base: dict[str, Any] = {
        "code": "inputs_outside_training_range",
        "rule": "input_out_of_range",
        "column": "temp",
        "rows_out": 346,
        "rows": 360,
        "share": 346 / 360,
        "train_min": 0.02,
        "train_max": 0.56,
        "batch_min": 0.6,
        "batch_max": 0.98,
    }
    return InputRangeFinding(**(base | over))


@pytest.mark.parametrize(
    ("finding", "sentence"),
    [
        (
            {},
            "temp is outside the training range for 96% of rows (train 0.02 to 0.56, "
            "batch 0.6 to 0.98): the model extrapolates.",
        ),
        (
            {
                "code": "calendar_not_seen",
                "column": "mnth",
                "calendar": "month",
                "rows_out": 360,
                "share": 1.0,
                "train_min": 1,
                "train_max": 3,
                "batch_min": 4,
                "batch_max": 4,
            },
            "mnth (month) is outside the training range for every row (train 1 to 3, "
            "batch 4): the model has not seen this season.",
        ),
        (
            {
                "code": "calendar_not_seen",
                "column": "hour",
                "calendar": "hour",
                "rows_out": 359,
                "share": 359 / 360,
                "train_min": 6,
                "train_max": 22,
                "batch_min": 0,
                "batch_max": 23,
            },
            "hour is outside the training range for all but 1 row (train 6 to 22, "
            "batch 0 to 23): the model has not seen this time of day.",
        ),
    ],
)
def test_input_range_finding_sentence(finding: dict[str, Any], sentence: str) -> None:
    assert input_range_finding_sentence(_finding(**finding)) == sentence


def test_batch_findings_are_told_in_the_summary_even_when_no_row_was_flagged():
    found = GuardrailSummary(rows=360, violating_rows=0, violation_rate=0.0, findings=(_finding(),))
    r = retrain(performance=perf(7.1), drift=drift({}))
    text = cycle_summary(outcome(r, guardrails=found), W)
    assert "All 360 forecasts were sent on, with a finding for the batch as a whole" in text
    assert "temp is outside the training range for 96% of rows" in text
    flagged = found.model_copy(update={"violating_rows": 3, "violation_rate": 3 / 360})
    assert guardrail_sentence(flagged, W) == (
        "3 of 360 forecasts were adjusted or flagged by business limits. "
        + input_range_finding_sentence(_finding())
    )
    # The breaker's share is the share it counted (flags left out), not every row acted on.
    tripped = GuardrailSummary(
        rows=360,
        violating_rows=300,
        violation_rate=300 / 360,
        breaker_rows=120,
        held_rows=360,
        breaker_tripped=True,
    )
    assert guardrail_sentence(tripped, W).startswith("33% of the forecasts broke business limits")


def test_early_estimate_warns_only_when_its_interval_is_worse_than_normal():
    def summary(low, high):
        cur = MetricInterval(metric="mae", value=(low + high) / 2, low=low, high=high, rows=360)
        r = retrain(performance=perf(7.1, cur=cur), drift=drift({}))
        return cycle_summary(outcome(r), W)

    warned, calm = summary(8.0, 9.0), summary(6.5, 7.5)
    assert (
        "Early warning: before the actual units sold arrive, the forecast error of the 360 "
        "forecasts just made is estimated at 8.5 (between 8 and 9), worse than the normal 7."
    ) in warned
    assert "Early warning" not in calm


def test_performance_and_drift_are_said_once_when_the_reason_did_not_say_them():
    r = retrain(performance=perf(7.1), drift=drift({"price": 0.1}), new_labeled_rows=100)
    text = cycle_summary(outcome(r), W)
    assert (
        "Measured on 360 forecasts whose actual units sold arrived, the forecast error was 7.1"
        in text
    )
    assert "1 of 2 inputs changed (price), carrying 10% of what the model relies on." in text
    r = retrain(performance=perf(7.1), drift=drift({"price": 0.1}))
    assert cycle_summary(outcome(r), W).count("7.1 against 7") == 1
    r = retrain(
        performance=perf(10.5),
        policy={"retrain_cost": 5000.0, "error_cost_per_unit": 0.5, "horizon_periods": 4},
    )
    assert cycle_summary(outcome(r), W).count("10.5 against 7") == 1


@pytest.mark.parametrize(
    ("cause", "words"),
    [("concept_drift", "relationship itself changed"), ("covariate_shift", "harder cases")],
)
def test_attribution_sentence_carries_estimate_and_realized(cause, words):
    text = attribution_sentence(perf(10.5, est=(7.4, 6.9, 7.9)), cause, W)
    assert words in text and "7.4" in text and "10.5" in text


def test_no_attribution_without_significant_decay():
    assert attribution_sentence(perf(7.2, est=(7.1, 6.6, 7.6)), "concept_drift", W) is None


def test_drift_sentence_with_and_without_joint_drift():
    d = drift({"price": 0.4})
    assert drift_sentence(d) == (
        "1 of 2 inputs changed (price), carrying 40% of what the model relies on."
    )
    joint = d.model_copy(update={"domain_auc": 0.81, "multivariate_drift": True})
    assert "classifier AUC 0.81" in drift_sentence(joint)
    assert drift_sentence(drift({})) == "None of the 1 inputs changed noticeably on its own."


# ------------------------------------------------------ champion timeline
def test_champion_change_sentences():
    p = promotion()
    r = retrain(performance=perf(10.5), decay_cause="concept_drift")
    text = champion_change_sentence(
        ChampionChange(
            version="4", previous="3", period=20, kind="promotion", retrain=r, promotion=p
        ),
        W,
    )
    assert text.startswith("Version 4 replaced version 3 in week 20. The forecast error was 10.5")
    assert "6.2 against 7.1 for version 3" in text
    back = ChampionChange(
        version="3",
        previous="4",
        period=None,
        kind="rollback",
        reason="bad week",
        requested_by="ana",
    )
    assert champion_change_sentence(back, W) == (
        'Version 3 came back when ana rolled back version 4: "bad week".'
    )
    first = ChampionChange(
        version="1",
        previous=None,
        period=7,
        kind="first",
        promotion=promotion(champion_metric=None, p_value=None, challenger_metric=7.4),
    )
    assert champion_change_sentence(first, W) == (
        "Version 1 became the first model in production in week 7. Its forecast error on recent "
        "held-back data was 7.4, within the minimum quality of 20."
    )


# ----------------------------------------------------- summary and record
def test_headline_without_wording_falls_back_to_the_metric_words():
    r = retrain(performance=perf(7.1), drift=drift({}))
    assert headline_sentence(outcome(r)) == "We kept the current model (version 3)."
    assert "forecast error" in cycle_summary(outcome(r))


def test_cycle_markdown_carries_the_summary_and_the_tables():
    r = retrain(performance=perf(7.3, est=(7.1, 6.5, 7.7)), drift=drift({"price": 0.2}))
    o = outcome(r)
    md = cycle_markdown(o, "retail_demand", W)
    assert cycle_summary(o, W) in md
    assert "| price | wasserstein |" in md and "estimated on the same rows" in md
    assert "## Retrain decision: `skip`" in md


def test_labels_without_measurable_performance_never_read_as_no_reason_to_retrain():
    r = retrain(performance=None, drift=drift({"price": 0.0}))
    assert r.reasons[0].code == "decay_not_measurable"
    text = cycle_summary(outcome(r), W)
    assert "360 newly labeled rows arrived, but the forecast error could not be measured" in text
    assert "(no performance was assessed)" in text
    assert "no reason to retrain" not in text


def test_label_gate_outcomes_are_said_in_the_summary_and_tabled_in_the_record():
    from mlops_core.label_gate import LabelFinding, LabelGateDecision
    from mlops_core.report import label_gate_sentence

    quarantined = LabelGateDecision(
        file="labels_9.csv",
        sha256="a" * 64,
        action="quarantine",
        reason="the file has no column 'units_sold'.",
        rows=700,
        accepted_rows=0,
    )
    trimmed = LabelGateDecision(
        file="labels_10.csv",
        sha256="b" * 64,
        action="accept",
        rows=720,
        accepted_rows=717,
        findings=(
            LabelFinding(rule="target_not_numeric", rows=1, message="1 row: 'abc'."),
            LabelFinding(rule="conflicting_duplicates", rows=2, message="2 rows: one id."),
            LabelFinding(rule="duplicate_ids", rows=4, message="kept once.", dropped=False),
        ),
        corrections=3,
    )
    clean = LabelGateDecision(
        file="labels_11.csv", sha256="c" * 64, action="accept", rows=10, accepted_rows=10
    )
    assert label_gate_sentence([clean], W) is None
    said = label_gate_sentence([quarantined, trimmed, clean], W)
    assert said is not None
    assert "The label file labels_9.csv was set aside unused (the file has no column " in said
    assert "3 rows of the 720 in the label file labels_10.csv were left out " in said
    assert "(target not numeric: 1, conflicting duplicates: 2)" in said
    assert "changed 3 earlier labels" in said

    o = replace(outcome(retrain(performance=perf(7.3))), labels=(quarantined, trimmed))
    assert said in cycle_summary(o, W)
    md = cycle_markdown(o, "retail_demand", W)
    assert "## Labels" in md
    assert "| labels_10.csv | accept | 720 | 717 | 3 | 3 |" in md
