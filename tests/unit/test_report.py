"""Plain-language text is generated from decision values and carries their numbers."""

from __future__ import annotations

import pytest

from mlops_core.decisions import (
    DriftSummary,
    FeatureDrift,
    GateDecision,
    GuardrailSummary,
    MetricInterval,
    PerformanceSummary,
    PromotionDecision,
    PromotionInputs,
    Reason,
    RetrainDecision,
    RetrainInputs,
    RuleResult,
)
from mlops_core.report import (
    CycleOutcome,
    attribution_sentence,
    cycle_markdown,
    cycle_summary,
    gate_sentence,
    guardrail_sentence,
    promotion_sentence,
    retrain_sentence,
)

pytestmark = pytest.mark.unit


def _gate(action: str = "pass") -> GateDecision:
    results = ()
    if action == "fail":
        results = (
            RuleResult(
                rule="column_present",
                column="price",
                severity="error",
                success=False,
                message="column 'price' is missing",
            ),
        )
    return GateDecision(
        action=action,
        batch="period_017.csv",
        batch_sha256="a" * 64,
        rows=360,
        reasons=(),
        results=results,
    )


def _perf(
    realized: float, low: float, high: float, decay_low: float, est=None
) -> PerformanceSummary:
    e = est or (None, None, None)
    return PerformanceSummary(
        metric="mae",
        reference=7.0,
        realized=MetricInterval(metric="mae", value=realized, low=low, high=high, rows=360),
        decay=realized / 7.0 - 1,
        decay_low=decay_low,
        decay_high=high / 7.0 - 1,
        estimated=e[0],
        estimated_low=e[1],
        estimated_high=e[2],
        estimate_method="dle",
        new_labeled_rows=360,
    )


def _retrain(action: str, code: str, message: str, cause: str = "unknown") -> RetrainDecision:
    reason = Reason(code=code, message=message)
    return RetrainDecision(
        action=action,
        reasons=(reason,),
        checked=(reason,),
        inputs=RetrainInputs(
            period=20, gate_passed=action != "block", has_champion=True, decay_cause=cause
        ),
    )


@pytest.mark.parametrize(
    ("action", "starts"),
    [
        ("block", "Nothing was retrained"),
        ("skip", "We kept the current model"),
        ("train", "A first model was trained"),
        ("retrain", "A new candidate model was trained"),
    ],
)
def test_retrain_sentence_per_action(action, starts):
    text = retrain_sentence(_retrain(action, "x", "because of 12.5 things"))
    assert text.startswith(starts) and "12.5" in text


def test_gate_sentences_name_rows_or_the_failed_rule():
    assert "360 rows" in gate_sentence(_gate("pass"))
    text = gate_sentence(_gate("fail"))
    assert "period_017.csv" in text and "column 'price' is missing" in text
    assert "stays in place" in text


@pytest.mark.parametrize(
    ("action", "words"),
    [
        ("promote", "now makes the forecasts"),
        ("reject", "was not put in production"),
        ("await_approval", "waits for approval"),
    ],
)
def test_promotion_sentence_per_action(action, words):
    reasons = (Reason(code="min_improvement", message="gain 0.4 is below 0.5", passed=False),)
    d = PromotionDecision(
        action=action,
        reasons=reasons,
        inputs=PromotionInputs(metric="mae", holdout_rows=300, challenger_metric=7.0),
    )
    text = promotion_sentence(d, "4")
    assert words in text and "version 4" in text
    if action == "reject":
        assert "gain 0.4 is below 0.5" in text


@pytest.mark.parametrize(
    ("cause", "words"),
    [("concept_drift", "relationship itself changed"), ("covariate_shift", "harder cases")],
)
def test_attribution_sentence_carries_estimate_and_realized(cause, words):
    perf = _perf(10.5, 9.9, 11.2, 0.3, est=(7.4, 6.9, 7.9))
    text = attribution_sentence(perf, cause)
    assert words in text and "7.4" in text and "10.5" in text


def test_no_attribution_without_significant_decay():
    assert (
        attribution_sentence(_perf(7.2, 6.5, 7.9, -0.07, est=(7.1, 6.6, 7.6)), "concept_drift")
        is None
    )


def test_guardrail_sentence_breaker_and_counts():
    g = GuardrailSummary(
        rows=360, violating_rows=144, violation_rate=0.4, held_rows=360, breaker_tripped=True
    )
    assert "40%" in guardrail_sentence(g) and "held for review" in guardrail_sentence(g)
    ok = GuardrailSummary(rows=360, violating_rows=0, violation_rate=0.0)
    assert "All 360 forecasts" in guardrail_sentence(ok)


def test_cycle_summary_and_markdown_agree_with_the_numbers():
    drift = DriftSummary(
        features=(
            FeatureDrift(
                feature="price",
                kind="numeric",
                method="wasserstein",
                score=0.3,
                threshold=0.1,
                drifted=True,
                importance=0.4,
            ),
            FeatureDrift(
                feature="temperature",
                kind="numeric",
                method="wasserstein",
                score=0.05,
                threshold=0.1,
                drifted=False,
                importance=0.6,
            ),
        ),
        drift_share=0.5,
        importance_weighted_share=0.4,
    )
    o = CycleOutcome(
        period=20,
        batch="period_020.csv",
        gate=_gate(),
        drift=drift,
        performance=_perf(7.3, 6.8, 7.9, -0.03, est=(7.1, 6.5, 7.7)),
        retrain=_retrain("skip", "no_decay", "No decay: retraining postponed."),
        champion_version="3",
    )
    summary = cycle_summary(o)
    assert "1 of 2 inputs changed (price)" in summary and "40%" in summary
    assert "We kept the current model" in summary and "7.3" in summary
    md = cycle_markdown(o, "retail_demand")
    assert summary in md and "| price | wasserstein |" in md and "estimated on the same rows" in md
