"""Model cards: the known limits as a decision table, the facts from the use case, the text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_core.config import PromotionPolicy, parse_usecase
from mlops_core.decisions import DriftSummary, FeatureDrift, PromotionInputs, SegmentComparison
from mlops_core.model_card import ModelCardInputs, card_facts, known_limits, model_card_markdown
from mlops_core.promotion import decide_promotion

pytestmark = pytest.mark.unit

RETAIL = Path(__file__).resolve().parents[2] / "usecases" / "retail_demand.yaml"
POLICY = PromotionPolicy(floor=20.0, min_improvement=0.02, min_segment_rows=40)


def segment(name: str, worse: float) -> SegmentComparison:
    return SegmentComparison(
        segment=name, rows=60, champion=8.0, challenger=8.0 * (1 + worse), worsening=worse
    )


def promotion(**overrides: Any):
    """A challenger with MAE 7 against a champion with MAE 8, decided by the real gate."""
    base: dict[str, Any] = {
        "metric": "mae",
        "holdout_rows": 720,
        "challenger_metric": 7.0,
        "champion_metric": 8.0,
        "loss_difference_mean": 1.0,
        "loss_difference_low": 0.5,
        "loss_difference_high": 1.5,
        "p_value": 0.002,
        "segments": (segment("S01", -0.2), segment("S02", 0.05)),
        "challenger_guardrail_rate": 0.01,
        "target_association": {"price": 0.31, "units_last_week": 0.62},
        "baseline_metric": 15.0,
        "baseline": "median 40",
    }
    decision = decide_promotion(PromotionInputs(**(base | overrides)), POLICY)
    assert decision.action == "promote", decision.reasons
    return decision


FIRST = {
    "champion_metric": None,
    "loss_difference_mean": None,
    "loss_difference_low": None,
    "loss_difference_high": None,
    "p_value": None,
    "segments": (),
}


def drift(*drifted: str) -> DriftSummary:
    features = tuple(
        FeatureDrift(
            feature=name,
            kind="numeric",
            method="wasserstein",
            score=0.3 if name in drifted else 0.01,
            threshold=0.1,
            drifted=name in drifted,
            importance=0.4 if name == "price" else 0.1,
        )
        for name in ("price", "temperature")
    )
    return DriftSummary(
        features=features,
        drift_share=len(drifted) / 2,
        importance_weighted_share=0.4 if "price" in drifted else 0.1 * len(drifted),
    )


def make_inputs(**overrides: Any) -> ModelCardInputs:
    base: dict[str, Any] = {
        "usecase": "retail_demand",
        "description": "Forecast next week's units per store and item.",
        "model_name": "retail_demand",
        "version": "4",
        "run_id": "abc123",
        "previous_version": "3",
        "promoted_at": dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC),
        "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
        "task": "regression",
        "metric": "mae",
        "window_kind": "expanding",
        "trained_first_period": None,
        "trained_last_period": 11,
        "train_rows": 3960,
        "holdout_metrics": {"mae": 7.0, "rmse": 10.5},
        "promotion": promotion(),
        "importance": {"units_last_week": 0.6, "price": 0.3, "store": 0.1},
        "training_ranges": {"price": (1.0, 40.0), "units_last_week": (0.0, 300.0)},
        "contract_ranges": {"price": (1.0, 40.0), "units_last_week": (0.0, 300.0)},
        "segment_column": "store",
        "segment_rows": {"S01": 720, "S02": 700},
        "few_segment_rows": 30,
        "gate_min_segment_rows": 40,
        "input_range_tolerance": 1.0,
        "estimator_note": "dle",
    }
    return ModelCardInputs(**(base | overrides))


ALWAYS = {"metric_direction", "leak_check"}

# (id, overrides, limit codes expected besides ALWAYS)
CASES = [
    ("nothing-else", {}, {"secondary_not_compared"}),
    ("no-secondary-metric", {"holdout_metrics": {"mae": 7.0}}, set()),
    (
        "first-champion",
        {"promotion": promotion(**FIRST), "previous_version": None},
        {"first_champion"},
    ),
    (
        "few-rows-segment",
        {"segment_rows": {"S01": 720, "S02": 700, "S07": 12}},
        {"secondary_not_compared", "few_rows_segments", "segments_not_compared"},
    ),
    (
        "segment-not-compared",
        {"segment_rows": {"S01": 720, "S02": 700, "S03": 600}},
        {"secondary_not_compared", "segments_not_compared"},
    ),
    (
        "segment-rows-unknown",
        {"segment_rows": {}},
        {"secondary_not_compared", "segment_rows_unknown"},
    ),
    ("no-segment-column", {"segment_column": None, "segment_rows": {}}, {"secondary_not_compared"}),
    (
        "drift-at-training",
        {"drift_at_training": drift("price")},
        {"secondary_not_compared", "drifted_at_training"},
    ),
    ("calm-at-training", {"drift_at_training": drift()}, {"secondary_not_compared"}),
    (
        "contract-wider-than-training",
        {"contract_ranges": {"price": (0.01, 10000.0), "units_last_week": (0.0, None)}},
        {"secondary_not_compared", "extrapolation"},
    ),
    (
        "no-label-free-estimator",
        {"estimator_note": "none: the holdout has one class"},
        {"secondary_not_compared", "no_label_free_estimate"},
    ),
]


@pytest.mark.parametrize(
    ("overrides", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_known_limits_decision_table(overrides, expected) -> None:
    codes = [r.code for r in known_limits(make_inputs(**overrides))]
    assert len(codes) == len(set(codes))
    assert set(codes) == ALWAYS | expected


@pytest.mark.parametrize(
    ("metric", "words"), [("mae", "lower is better"), ("accuracy", "higher is better")]
)
def test_metric_direction_is_stated(metric, words) -> None:
    overrides: dict[str, Any] = {"metric": metric, "holdout_metrics": {metric: 0.9}}
    if metric == "accuracy":
        gate = decide_promotion(
            PromotionInputs(
                metric="accuracy", holdout_rows=500, challenger_metric=0.9, baseline_metric=0.6
            ),
            PromotionPolicy(floor=0.6),
        )
        overrides |= {"promotion": gate, "task": "classification", "previous_version": None}
    first = known_limits(make_inputs(**overrides))[0]
    assert first.code == "metric_direction" and words in first.message


def test_leak_check_carries_the_gate_evidence() -> None:
    leak = next(r for r in known_limits(make_inputs()) if r.code == "leak_check")
    assert leak.passed is True
    assert "units_last_week" in leak.message and "0.620" in leak.message


def test_limits_name_the_segments_and_features() -> None:
    limits = {
        r.code: r.message
        for r in known_limits(
            make_inputs(
                segment_rows={"S01": 720, "S02": 700, "S07": 12, "S08": 500},
                drift_at_training=drift("price", "temperature"),
                contract_ranges={"price": (0.01, 10000.0), "units_last_week": (0.0, None)},
            )
        )
    }
    assert "S07 (12)" in limits["few_rows_segments"]
    assert "S07" in limits["segments_not_compared"] and "S08" in limits["segments_not_compared"]
    assert "S01" not in limits["segments_not_compared"]
    assert "price, temperature" in limits["drifted_at_training"]
    assert "price (trained 1 to 40, accepted 0.01 to 10,000)" in limits["extrapolation"]
    assert "units_last_week (trained 0 to 300, accepted 0 to +inf)" in limits["extrapolation"]
    assert "plus 100% of it" in limits["extrapolation"]


def test_extrapolation_says_when_no_guardrail_flags_it() -> None:
    limits = {
        r.code: r.message
        for r in known_limits(
            make_inputs(input_range_tolerance=None, contract_ranges={"price": (None, None)})
        )
    }
    assert "No guardrail flags such inputs" in limits["extrapolation"]


def test_card_facts_come_from_the_use_case() -> None:
    usecase = parse_usecase(yaml.safe_load(RETAIL.read_text(encoding="utf-8")), str(RETAIL))
    facts = card_facts(usecase)
    assert facts["contract_ranges"]["price"] == (0.01, 10000.0)
    assert facts["contract_ranges"]["units_last_week"] == (0.0, None)
    assert "row_id" not in facts["contract_ranges"] and "period" not in facts["contract_ranges"]
    assert facts["segment_column"] == "store" and facts["input_range_tolerance"] == 1.0
    assert facts["gate_min_segment_rows"] == 40 and facts["metric"] == "mae"


def test_markdown_holds_the_comparison_the_gate_and_the_limits() -> None:
    inputs = make_inputs(drift_at_training=drift("price"))
    text = model_card_markdown(inputs)
    assert text.startswith("# Model card: retail_demand version 4\n")
    assert "| training window | periods the first to 11 (expanding window) |" in text
    assert "| training rows | 3,960 |" in text
    assert "| mae | lower is better | 7 | 8 | 12.5% better |" in text
    assert "| rmse | lower is better | 10.5 | not measured | - |" in text
    assert "| S02 | 60 | 8.4 | 8 | 5.0% worse |" in text
    assert "p = 0.002" in text and "by the promotion gate" in text
    assert "## Promotion gate: `promote`" in text and "`floor_met` | pass" in text
    for limit in known_limits(inputs):
        assert f"- **{limit.code}**:" in text
    assert "| units_last_week | 60.0% | 0 to 300 |" in text
    assert "| store | 10.0% | (categories) |" in text


def test_markdown_names_the_approver_and_a_first_champion() -> None:
    approved = promotion().inputs.model_copy(
        update={"approval": "approved", "approver": "dana", "approval_comment": "fine"}
    )
    gate = decide_promotion(approved, POLICY.model_copy(update={"require_approval": True}))
    assert gate.action == "promote"
    assert 'approved by dana ("fine")' in model_card_markdown(make_inputs(promotion=gate))
    first = model_card_markdown(make_inputs(promotion=promotion(**FIRST), previous_version=None))
    assert "| replaced | none (first champion) |" in first
    assert "| mae | lower is better | 7 | - | - |" in first
