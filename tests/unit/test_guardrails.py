"""Guardrails: each rule and action, rule order, fail-safes and the circuit breaker."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_core.config import GuardrailPolicy
from mlops_core.guardrails import apply_guardrails

pytestmark = pytest.mark.unit

NAN = float("nan")

FRAME = pd.DataFrame(
    {
        "capacity": [50.0, 50.0, 50.0, NAN, 50.0],
        "last_week": [10.0, 10.0, 0.0, 10.0, 40.0],
        "baseline": [7.0, 8.0, 9.0, 10.0, 11.0],
        "x": [5.0, 10.5, 11.5, -1.5, 0.0],
    }
)


def policy(*rules: dict[str, Any], **extra: Any) -> GuardrailPolicy:
    base: dict[str, Any] = {"rules": list(rules), "max_violation_rate": 1.0}
    return GuardrailPolicy.model_validate(base | extra)


FALLBACK_COLUMN = {"fallback": {"column": "baseline"}}
FALLBACK_VALUE = {"fallback": {"value": 0.0}}

# (id, predictions, rules, extra policy keys, training ranges,
#  expected values, held rows, flagged rows, violations)
CASES = [
    (
        "range-clip",
        [5, 15, -1, 3, 4],
        [{"kind": "range", "min": 0, "max": 10, "action": "clip"}],
        {},
        None,
        [5, 10, 0, 3, 4],
        [],
        [],
        ["", "range:clip", "range:clip", "", ""],
    ),
    (
        "range-flag",
        [5, 15, -1, 3, 4],
        [{"kind": "range", "min": 0, "max": 10, "action": "flag"}],
        {},
        None,
        [5, 15, -1, 3, 4],
        [],
        [1, 2],
        ["", "range:flag", "range:flag", "", ""],
    ),
    (
        "range-quarantine",
        [5, 15, -1, 3, 4],
        [{"kind": "range", "min": 0, "action": "quarantine", "name": "non_negative"}],
        {},
        None,
        [5, 15, -1, 3, 4],
        [2],
        [],
        ["", "", "non_negative:quarantine", "", ""],
    ),
    (
        "range-fallback-column",
        [5, 15, -1, 3, 4],
        [{"kind": "range", "max": 10, "action": "fallback"}],
        FALLBACK_COLUMN,
        None,
        [5, 8, -1, 3, 4],
        [],
        [],
        ["", "range:fallback", "", "", ""],
    ),
    (
        "range-fallback-value",
        [5, 15, -1, 3, 4],
        [{"kind": "range", "min": 0, "max": 10, "action": "fallback"}],
        FALLBACK_VALUE,
        None,
        [5, 0, 0, 3, 4],
        [],
        [],
        ["", "range:fallback", "range:fallback", "", ""],
    ),
    # Capacity of row 3 is missing: the cap cannot judge that row.
    (
        "cap-clip",
        [60, 40, 51, 999, 50],
        [{"kind": "cap_column", "column": "capacity", "action": "clip"}],
        {},
        None,
        [50, 40, 50, 999, 50],
        [],
        [],
        ["cap_column:clip", "", "cap_column:clip", "", ""],
    ),
    (
        "cap-quarantine",
        [60, 40, 51, 999, 50],
        [{"kind": "cap_column", "column": "capacity", "action": "quarantine"}],
        {},
        None,
        [60, 40, 51, 999, 50],
        [0, 2],
        [],
        ["cap_column:quarantine", "", "cap_column:quarantine", "", ""],
    ),
    # limit = max(2 x last_week, 5): 20, 20, 5 (zero column uses the floor), 20, 80.
    (
        "ratio-clip",
        [25, 20, 6, 21, 79],
        [
            {
                "kind": "max_ratio_to_column",
                "column": "last_week",
                "ratio": 2,
                "floor": 5,
                "action": "clip",
            }
        ],
        {},
        None,
        [20, 20, 5, 20, 79],
        [],
        [],
        [
            "max_ratio_to_column:clip",
            "",
            "max_ratio_to_column:clip",
            "max_ratio_to_column:clip",
            "",
        ],
    ),
    (
        "ratio-flag-zero-floor",
        [1, 20, 0.5, 0, 79],
        [{"kind": "max_ratio_to_column", "column": "last_week", "ratio": 2, "action": "flag"}],
        {},
        None,
        [1, 20, 0.5, 0, 79],
        [],
        [2],
        ["", "", "max_ratio_to_column:flag", "", ""],
    ),
    # x range 0..10, tolerance 10% of the range: allowed -1..11.
    (
        "input-range-flag",
        [1, 2, 3, 4, 5],
        [{"kind": "input_out_of_range", "tolerance": 0.1}],
        {},
        {"x": (0.0, 10.0)},
        [1, 2, 3, 4, 5],
        [],
        [2, 3],
        ["", "", "input_out_of_range:flag", "input_out_of_range:flag", ""],
    ),
    (
        "input-range-quarantine",
        [1, 2, 3, 4, 5],
        [{"kind": "input_out_of_range", "action": "quarantine"}],
        {},
        {"x": (0.0, 10.0)},
        [1, 2, 3, 4, 5],
        [1, 2, 3],
        [],
        [
            "",
            "input_out_of_range:quarantine",
            "input_out_of_range:quarantine",
            "input_out_of_range:quarantine",
            "",
        ],
    ),
    (
        "input-range-clip-acts-as-flag",
        [1, 2, 3, 4, 5],
        [{"kind": "input_out_of_range", "action": "clip"}],
        {},
        {"x": (0.0, 11.0)},
        [1, 2, 3, 4, 5],
        [],
        [2, 3],
        ["", "", "input_out_of_range:flag", "input_out_of_range:flag", ""],
    ),
    (
        "input-range-without-ranges",
        [1, 2, 3, 4, 5],
        [{"kind": "input_out_of_range"}],
        {},
        None,
        [1, 2, 3, 4, 5],
        [],
        [],
        [""] * 5,
    ),
    # Non-finite predictions.
    (
        "nan-held-without-finite-rule",
        [1, NAN, np.inf, 4, 5],
        [],
        {},
        None,
        [1, NAN, np.inf, 4, 5],
        [1, 2],
        [],
        ["", "finite:quarantine", "finite:quarantine", "", ""],
    ),
    (
        "nan-with-range-clip-not-clipped",
        [1, NAN, np.inf, 4, 5],
        [{"kind": "range", "min": 0, "max": 3, "action": "clip"}],
        {},
        None,
        [1, NAN, np.inf, 3, 3],
        [1, 2],
        [],
        ["", "finite:quarantine", "finite:quarantine", "range:clip", "range:clip"],
    ),
    (
        "finite-fallback",
        [1, NAN, -np.inf, 4, 5],
        [{"kind": "finite"}],
        FALLBACK_COLUMN,
        None,
        [1, 8, 9, 4, 5],
        [],
        [],
        ["", "finite:fallback", "finite:fallback", "", ""],
    ),
    (
        "finite-flag-still-held",
        [1, NAN, 3, 4, 5],
        [{"kind": "finite", "action": "flag"}],
        {},
        None,
        [1, NAN, 3, 4, 5],
        [1],
        [1],
        ["", "finite:flag; finite:quarantine", "", "", ""],
    ),
    (
        "range-leaves-non-finite-to-a-later-finite-rule",
        [1, np.inf, 3, 4, 5],
        [{"kind": "range", "max": 3, "action": "clip"}, {"kind": "finite", "action": "fallback"}],
        FALLBACK_VALUE,
        None,
        [1, 0, 3, 3, 3],
        [],
        [],
        ["", "finite:fallback", "", "range:clip", "range:clip"],
    ),
    # A fallback to a missing value is caught by a later finite rule, or by the fail-safe.
    (
        "fallback-to-missing-then-finite-rule",
        [1, 2, 3, 999, 5],
        [
            {"kind": "range", "max": 10, "action": "fallback"},
            {"kind": "finite", "action": "quarantine", "name": "finite_after_fallback"},
        ],
        {"fallback": {"column": "capacity"}},
        None,
        [1, 2, 3, NAN, 5],
        [3],
        [],
        ["", "", "", "range:fallback; finite_after_fallback:quarantine", ""],
    ),
    (
        "fallback-to-missing-held-by-failsafe",
        [1, 2, 3, 999, 5],
        [{"kind": "range", "max": 10, "action": "fallback"}],
        {"fallback": {"column": "capacity"}},
        None,
        [1, 2, 3, NAN, 5],
        [3],
        [],
        ["", "", "", "range:fallback; finite:quarantine", ""],
    ),
    # Rules run in order on the current value.
    (
        "clip-then-cap",
        [150, 45, 5, 5, 5],
        [
            {"kind": "range", "max": 100, "action": "clip"},
            {"kind": "cap_column", "column": "capacity", "action": "quarantine"},
        ],
        {},
        None,
        [100, 45, 5, 5, 5],
        [0],
        [],
        ["range:clip; cap_column:quarantine", "", "", "", ""],
    ),
    (
        "cap-clip-hides-later-range",
        [150, 45, 5, 5, 5],
        [
            {"kind": "cap_column", "column": "capacity", "action": "clip"},
            {"kind": "range", "max": 100, "action": "flag"},
        ],
        {},
        None,
        [50, 45, 5, 5, 5],
        [],
        [],
        ["cap_column:clip", "", "", "", ""],
    ),
]


@pytest.mark.parametrize(
    ("preds", "rules", "extra", "ranges", "values", "held", "flagged", "violations"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_guardrail_table(
    preds: list[float],
    rules: list[dict[str, Any]],
    extra: dict[str, Any],
    ranges: dict[str, tuple[float, float]] | None,
    values: list[float],
    held: list[int],
    flagged: list[int],
    violations: list[str],
) -> None:
    result = apply_guardrails(preds, FRAME, policy(*rules, **extra), ranges)
    np.testing.assert_array_equal(result.values, np.asarray(values, dtype=float))
    np.testing.assert_array_equal(result.raw, np.asarray(preds, dtype=float))
    assert np.flatnonzero(result.held).tolist() == held
    assert np.flatnonzero(result.flagged).tolist() == flagged
    assert list(result.violations) == violations
    s = result.summary
    assert s.rows == 5
    assert s.violating_rows == sum(v != "" for v in violations)
    assert s.violation_rate == pytest.approx(s.violating_rows / 5)
    assert s.held_rows == len(held)
    assert not s.breaker_tripped
    counted: dict[str, int] = {}
    for v in violations:
        for tag in filter(None, v.split("; ")):
            counted[tag] = counted.get(tag, 0) + 1
    assert s.actions == counted


def test_missing_training_ranges_are_reported() -> None:
    result = apply_guardrails(
        [1, 2, 3, 4, 5], FRAME, policy({"kind": "input_out_of_range", "name": "inputs"})
    )
    reason = result.summary.reasons[0]
    assert reason.code == "input_range_unavailable" and reason.passed is None
    assert "'inputs'" in reason.message


def test_features_absent_from_the_batch_are_named() -> None:
    result = apply_guardrails(
        [1, 2, 3, 4, 5],
        FRAME,
        policy({"kind": "input_out_of_range"}),
        {"x": (0.0, 10.0), "gone": (0.0, 1.0)},
    )
    assert "gone" in result.summary.reasons[0].message


def test_rule_reasons_count_violations() -> None:
    result = apply_guardrails(
        [5, 15, -1, 3, 4],
        FRAME,
        policy(
            {"kind": "range", "min": 0, "max": 10, "action": "clip"},
            {"kind": "cap_column", "column": "capacity", "action": "flag"},
        ),
    )
    range_reason, cap_reason = result.summary.reasons
    assert range_reason.numbers == {"rule": "range", "action": "clip", "rows": 2}
    assert range_reason.passed is False and "2 of 5" in range_reason.message
    assert cap_reason.passed is True and cap_reason.numbers["rows"] == 0


@pytest.mark.parametrize(
    ("preds", "limit", "tripped"),
    [
        ([11, 12, 3, 4], 0.25, True),  # 50% violate
        ([11, 2, 3, 4], 0.25, False),  # 25% is not over 25%
        ([1, 2, 3, 4], 0.0, False),
        ([11, 2, 3, 4], 0.0, True),
        ([11, 12, 13, 14], 1.0, False),
    ],
)
def test_circuit_breaker(preds: list[float], limit: float, tripped: bool) -> None:
    frame = FRAME.iloc[:4]
    result = apply_guardrails(
        preds,
        frame,
        policy({"kind": "range", "max": 10, "action": "clip"}, max_violation_rate=limit),
    )
    s = result.summary
    assert s.breaker_tripped is tripped
    assert bool(result.held.all()) is tripped
    if tripped:
        assert s.held_rows == 4
        assert s.reasons[0].code == "circuit_breaker" and s.reasons[0].passed is False
        assert f"{s.violation_rate:.1%}" in s.reasons[0].message
    else:
        assert s.held_rows == 0
        assert "circuit_breaker" not in {r.code for r in s.reasons}
    # The breaker holds rows; it does not undo the clip.
    np.testing.assert_array_equal(result.values, np.minimum(preds, 10))


def test_empty_batch() -> None:
    result = apply_guardrails(
        [], FRAME.iloc[:0], policy({"kind": "range", "max": 1, "action": "clip"})
    )
    assert result.summary.rows == 0 and result.summary.violation_rate == 0.0
    assert not result.summary.breaker_tripped and list(result.violations) == []


@pytest.mark.parametrize(
    ("preds", "rules"),
    [
        ([1, 2], []),  # length mismatch
        ([1, 2, 3, 4, 5], [{"kind": "cap_column", "column": "nope", "action": "clip"}]),
    ],
)
def test_caller_errors(preds: list[float], rules: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError):
        apply_guardrails(preds, FRAME, policy(*rules))


def test_inputs_are_not_modified() -> None:
    preds = np.array([5.0, 15.0, -1.0, 3.0, 4.0])
    frame = FRAME.copy()
    apply_guardrails(preds, frame, policy({"kind": "range", "max": 10, "action": "clip"}))
    np.testing.assert_array_equal(preds, [5.0, 15.0, -1.0, 3.0, 4.0])
    pd.testing.assert_frame_equal(frame, FRAME)


# ------------------------------------------------------------------ class labels
def test_class_labels_pass_through_and_only_inputs_and_missing_are_judged():
    frame = pd.DataFrame({"x": [0.5, 5.0, 0.2, 0.4]})
    labels = np.array(["UP", "DOWN", None, "UP"], dtype=object)
    p = policy(
        {"kind": "finite", "action": "fallback"},
        {"kind": "input_out_of_range", "action": "flag"},
        fallback={"value": 0.0},
    )
    out = apply_guardrails(labels, frame, p, training_ranges={"x": (0.0, 1.0)})
    assert list(out.values) == ["UP", "DOWN", None, "UP"]
    assert list(out.held) == [False, False, True, False]  # no class to fall back to
    assert list(out.flagged) == [False, True, False, False]
    assert out.summary.violating_rows == 2


def test_a_classifier_use_case_refuses_value_limits():
    from pathlib import Path

    import yaml

    from mlops_core.config import UseCaseError, parse_usecase

    shipped = Path(__file__).resolve().parents[2] / "usecases" / "retail_demand_up.yaml"
    raw = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    raw["guardrails"]["rules"].append(
        {"kind": "cap_column", "column": "store_capacity", "action": "clip"}
    )
    with pytest.raises(UseCaseError, match=r"guardrails\.rules\.\d+\.kind: 'cap_column' limits"):
        parse_usecase(raw, "up.yaml")


# ------------------------------------------------------------ segment history cap
# Stores s1 (best training week 10) and s2 (best 40); s3 was never trained on.
SEGMENT_CAPS = {"s1": 10.0, "s2": 40.0}
SEGMENTS = ["s1", "s1", "s2", "s2", "s3"]


@pytest.mark.parametrize(
    ("preds", "multiple", "action", "values", "held", "flagged", "violations"),
    [
        pytest.param(
            [15, 25, 70, 90, 1000],
            2.0,
            "clip",
            [15, 20, 70, 80, 1000],
            [],
            [],
            ["", "cap:clip", "", "cap:clip", ""],
            id="clip-to-multiple-of-segment-best",
        ),
        pytest.param(
            [15, 25, 70, 90, 1000],
            2.0,
            "flag",
            [15, 25, 70, 90, 1000],
            [],
            [1, 3],
            ["", "cap:flag", "", "cap:flag", ""],
            id="flag",
        ),
        pytest.param(
            [15, 25, 70, 90, 1000],
            1.0,
            "quarantine",
            [15, 25, 70, 90, 1000],
            [0, 1, 2, 3],
            [],
            ["cap:quarantine"] * 4 + [""],
            id="quarantine-at-the-best-week",
        ),
        pytest.param(
            [10, 20, 40, 80, 5],
            2.0,
            "clip",
            [10, 20, 40, 80, 5],
            [],
            [],
            [""] * 5,
            id="at-the-limit-passes",
        ),
    ],
)
def test_segment_history_cap(
    preds: list[float],
    multiple: float,
    action: str,
    values: list[float],
    held: list[int],
    flagged: list[int],
    violations: list[str],
) -> None:
    p = policy(
        {"kind": "segment_history_cap", "name": "cap", "multiple": multiple, "action": action}
    )
    result = apply_guardrails(preds, FRAME, p, segment_caps=SEGMENT_CAPS, segments=SEGMENTS)
    np.testing.assert_array_equal(result.values, np.asarray(values, dtype=float))
    assert np.flatnonzero(result.held).tolist() == held
    assert np.flatnonzero(result.flagged).tolist() == flagged
    assert list(result.violations) == violations
    (reason,) = result.summary.reasons
    caught = sum(v != "" for v in violations)
    assert reason.numbers == {"rule": "cap", "action": action, "rows": caught}
    # s3 has no training history: its row is never judged, and the reason says so.
    assert "1 rows could not be checked: their segment has no training history" in reason.message


@pytest.mark.parametrize(
    ("caps", "segments", "lacking"),
    [
        (None, SEGMENTS, "no per-segment training maxima"),
        ({}, SEGMENTS, "no per-segment training maxima"),
        (SEGMENT_CAPS, None, "no segment labels"),
    ],
)
def test_segment_cap_without_inputs_is_not_applied(
    caps: dict[str, float] | None, segments: list[str] | None, lacking: str
) -> None:
    p = policy({"kind": "segment_history_cap", "multiple": 1.0, "action": "quarantine"})
    result = apply_guardrails(
        [1000, 1000, 1000, 1000, 1000], FRAME, p, segment_caps=caps, segments=segments
    )
    (reason,) = result.summary.reasons
    assert reason.code == "segment_caps_unavailable" and reason.passed is None
    assert "'segment_history_cap'" in reason.message and lacking in reason.message
    assert not result.held.any() and result.summary.violating_rows == 0


def test_segment_labels_match_caps_whatever_their_number_type() -> None:
    # A store column read as floats (a gap in the file) still finds the caps of "1", "2".
    p = policy({"kind": "segment_history_cap", "multiple": 1.0, "action": "clip"})
    result = apply_guardrails(
        [50, 50, 50, 50, 50],
        FRAME,
        p,
        segment_caps={"1": 10.0, "2": 100.0},
        segments=np.array([1.0, 2.0, 1.0, np.nan, 3.0]),
    )
    np.testing.assert_array_equal(result.values, [10, 50, 10, 50, 50])


def test_segment_labels_must_match_the_batch() -> None:
    p = policy({"kind": "segment_history_cap", "multiple": 1.0, "action": "clip"})
    with pytest.raises(ValueError, match="segment labels"):
        apply_guardrails([1, 2, 3, 4, 5], FRAME, p, segment_caps=SEGMENT_CAPS, segments=["s1"])


@pytest.mark.parametrize(
    ("segments", "keys"),
    [
        ([1, 2, 3], ["1", "2", "3"]),
        ([1.0, 2.0, np.nan], ["1", "2", None]),
        (["S01", "007", None], ["S01", "007", None]),
        ([1.5, True, pd.NA], ["1.5", "True", None]),
    ],
)
def test_segment_keys(segments: list[Any], keys: list[str | None]) -> None:
    from mlops_core.guardrails import segment_keys

    assert segment_keys(segments).tolist() == keys


def test_segment_maxima_are_the_best_target_per_segment() -> None:
    from mlops_core.features import segment_maxima

    train = pd.DataFrame(
        {
            "store": [1.0, 1.0, 2.0, 2.0, 3.0, np.nan],
            "sales": [10.0, 30.0, 5.0, np.nan, np.nan, 99.0],
        }
    )
    # Store 3 has no known target and no cap; a row without a store counts for none.
    assert segment_maxima(train, "store", "sales") == {"1": 30.0, "2": 5.0}
    with pytest.raises(ValueError, match="region"):
        segment_maxima(train, "region", "sales")


def test_segment_maxima_feed_the_cap() -> None:
    from mlops_core.features import segment_maxima

    train = pd.DataFrame({"store": ["a", "a", "b"], "sales": [4.0, 8.0, 20.0]})
    batch = pd.DataFrame({"store": ["a", "b", "c"]})
    p = policy({"kind": "segment_history_cap", "multiple": 1.5, "action": "clip"})
    result = apply_guardrails(
        [100, 100, 100],
        batch,
        p,
        segment_caps=segment_maxima(train, "store", "sales"),
        segments=batch["store"].to_numpy(),
    )
    np.testing.assert_array_equal(result.values, [12, 30, 100])


def _walmart_raw() -> dict[str, Any]:
    from pathlib import Path

    import yaml

    shipped = Path(__file__).resolve().parents[2] / "usecases" / "walmart_sales.yaml"
    return yaml.safe_load(shipped.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (
            lambda raw: raw["data"].pop("segment_column"),
            "guardrails.rules.2.kind",
            "needs data.segment_column",
        ),
        (
            lambda raw: raw["guardrails"]["rules"][2].update(multiple=0),
            "guardrails.rules.2.multiple",
            "greater than 0",
        ),
        (
            lambda raw: raw["guardrails"]["rules"][2].pop("multiple"),
            "guardrails.rules.2.multiple",
            "required key is missing",
        ),
    ],
)
def test_segment_cap_config_errors(change: Any, key: str, message: str) -> None:
    from mlops_core.config import UseCaseError, parse_usecase

    raw = _walmart_raw()
    assert raw["guardrails"]["rules"][2]["kind"] == "segment_history_cap"
    change(raw)
    with pytest.raises(UseCaseError) as info:
        parse_usecase(raw, "walmart.yaml")
    assert info.value.key == key and message in info.value.message


def test_a_classifier_use_case_refuses_the_segment_cap() -> None:
    from mlops_core.config import UseCaseError, parse_usecase

    raw = _walmart_raw()
    raw["model"] = {
        "task": "classification",
        "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
    }
    raw["metric"] = {"primary": "accuracy"}
    raw["guardrails"]["rules"] = [r for r in raw["guardrails"]["rules"] if r["kind"] != "range"]
    with pytest.raises(UseCaseError, match=r"'segment_history_cap' limits a predicted value"):
        parse_usecase(raw, "walmart.yaml")
