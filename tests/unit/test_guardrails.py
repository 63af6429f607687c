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


def test_class_labels_hold_the_rows_an_input_range_fallback_would_replace():
    # A fallback value is a number, not a class: the rows are held instead (this
    # used to fail an assertion inside the guardrails).
    frame = pd.DataFrame({"x": [0.5, 5.0, 0.2, 0.4]})
    labels = np.array(["UP", "DOWN", "DOWN", "UP"], dtype=object)
    p = policy(
        {"kind": "input_out_of_range", "action": "fallback"},
        fallback={"value": 0.0},
    )
    out = apply_guardrails(labels, frame, p, training_ranges={"x": (0.0, 1.0)})
    assert list(out.values) == ["UP", "DOWN", "DOWN", "UP"]
    assert list(out.held) == [False, True, False, False]
    assert out.summary.actions == {"input_out_of_range:quarantine": 1}


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


# ------------------------------------------- inputs out of range for the batch
#: A champion trained on January to March of hourly bike rentals: months 1-3,
#: winter temperatures (normalised), every hour of the day.
WINTER = {"mnth": (1.0, 3.0), "temp": (0.02, 0.56), "hr": (0.0, 23.0)}


def april(rows: int = 240, hot: int = 3) -> pd.DataFrame:
    """A batch of April hours: month 4 on every row, temperatures inside the winter
    range except ``hot`` outliers (0.98, far past the 25% tolerance)."""
    temp = np.linspace(0.2, 0.5, rows)
    temp[:hot] = 0.98
    return pd.DataFrame({"mnth": 4, "temp": temp, "hr": np.arange(rows) % 24})


def input_policy(**rule: Any) -> GuardrailPolicy:
    base = {"kind": "input_out_of_range", "tolerance": 0.25, "action": "flag"}
    return policy(base | rule, max_violation_rate=0.25)


def test_an_unseen_month_is_one_finding_and_the_batch_is_delivered() -> None:
    batch = april()
    result = apply_guardrails(
        np.full(len(batch), 50.0),
        batch,
        input_policy(calendar_columns={"mnth": "month"}),
        WINTER,
    )
    s = result.summary
    (finding,) = s.findings
    assert finding.code == "calendar_not_seen" and finding.calendar == "month"
    assert (finding.column, finding.rows_out, finding.rows, finding.share) == ("mnth", 240, 240, 1)
    assert (finding.train_min, finding.train_max) == (1.0, 3.0)
    assert (finding.batch_min, finding.batch_max) == (4.0, 4.0)
    # The month flags no row; the three hot hours are flagged one by one.
    assert np.flatnonzero(result.flagged).tolist() == [0, 1, 2]
    assert s.actions == {"input_out_of_range:flag": 3} and s.violating_rows == 3
    # Delivered: nothing held, the breaker counted nothing (flags do not count).
    assert not result.held.any() and s.held_rows == 0
    assert not s.breaker_tripped and s.breaker_rows == 0
    reason = next(r for r in s.reasons if r.code == "calendar_not_seen")
    assert reason.passed is False and reason.numbers["column"] == "mnth"
    assert reason.message.startswith(
        "mnth (month) is outside the training range for every row (train 1 to 3, batch 4): "
        "the model has not seen this season."
    )
    rule_reason = next(r for r in s.reasons if r.code == "guardrail_rule")
    assert "3 of 240" in rule_reason.message and "mnth" in rule_reason.message


def test_a_column_out_of_range_for_most_rows_is_a_finding_with_its_ranges() -> None:
    batch = april(rows=100, hot=0)
    batch["temp"] = np.r_[np.linspace(0.3, 0.4, 4), np.linspace(0.9, 0.98, 96)]
    result = apply_guardrails(np.full(100, 50.0), batch, input_policy(), WINTER)
    columns = {f.column: f for f in result.summary.findings}
    # Without calendar_columns the month is judged like any number: 100% out of range.
    assert set(columns) == {"mnth", "temp"}
    temp = columns["temp"]
    assert temp.code == "inputs_outside_training_range" and temp.calendar is None
    assert temp.rows_out == 96 and temp.share == pytest.approx(0.96)
    assert temp.batch_min == pytest.approx(0.3) and temp.batch_max == pytest.approx(0.98)
    assert not result.flagged.any() and not result.summary.breaker_tripped
    message = next(r.message for r in result.summary.reasons if r.numbers.get("column") == "temp")
    assert message.startswith(
        "temp is outside the training range for 96% of rows (train 0.02 to 0.56, "
        "batch 0.3 to 0.98): the model extrapolates."
    )


@pytest.mark.parametrize(
    ("out_of_range", "batch_share", "finding"),
    [
        (49, 0.5, False),  # a minority of rows: each is flagged
        (50, 0.5, True),  # half or more: one finding for the batch
        (79, 0.8, False),
        (80, 0.8, True),
        (99, 1.0, False),
        (100, 1.0, True),
    ],
)
def test_batch_share_decides_between_row_flags_and_one_finding(
    out_of_range: int, batch_share: float, finding: bool
) -> None:
    batch = pd.DataFrame({"temp": np.where(np.arange(100) < out_of_range, 0.95, 0.3)})
    result = apply_guardrails(
        np.full(100, 1.0),
        batch,
        input_policy(batch_share=batch_share),
        {"temp": (0.02, 0.56)},
    )
    assert bool(result.summary.findings) is finding
    assert int(result.flagged.sum()) == (0 if finding else out_of_range)


def test_a_calendar_column_is_judged_without_tolerance_and_on_any_row() -> None:
    # A weekly batch across the turn of the year: 3 of 7 days in a month never seen.
    # With a 25% tolerance on months 1-11 (slack 2.5), month 12 would pass unnoticed.
    batch = pd.DataFrame({"mnth": [11, 11, 11, 11, 12, 12, 12], "temp": 0.3})
    ranges = {"mnth": (1.0, 11.0), "temp": (0.02, 0.56)}
    as_number = apply_guardrails(np.ones(7), batch, input_policy(), ranges)
    assert not as_number.summary.findings and not as_number.flagged.any()
    as_month = apply_guardrails(
        np.ones(7), batch, input_policy(calendar_columns={"mnth": "month"}), ranges
    )
    (finding,) = as_month.summary.findings
    assert (finding.rows_out, finding.tolerance) == (3, 0.0)
    assert not as_month.flagged.any() and not as_month.summary.breaker_tripped
    assert "for 43% of rows (train 1 to 11, batch 11 to 12)" in as_month.summary.reasons[-1].message


def test_a_quarantine_rule_still_holds_the_rows_of_a_finding() -> None:
    # The user chose to hold forecasts made on unseen inputs: the finding says why,
    # the rows are held, and they count towards the breaker, which holds the batch.
    batch = april(hot=0)
    result = apply_guardrails(
        np.full(len(batch), 50.0),
        batch,
        input_policy(action="quarantine", calendar_columns={"mnth": "month"}),
        WINTER,
    )
    s = result.summary
    assert [f.column for f in s.findings] == ["mnth"]
    assert result.held.all() and s.breaker_rows == len(batch) and s.breaker_tripped
    assert "held for review, as rule 'input_out_of_range' says" in s.reasons[-1].message


@pytest.mark.parametrize(
    ("counts_flags", "tripped"),
    [(False, False), (True, True)],
)
def test_flags_count_towards_the_breaker_only_when_the_policy_says_so(
    counts_flags: bool, tripped: bool
) -> None:
    p = policy(
        {"kind": "range", "max": 10, "action": "flag"},
        max_violation_rate=0.25,
        breaker_counts_flags=counts_flags,
    )
    result = apply_guardrails([11, 12, 3, 4], FRAME.iloc[:4], p)
    s = result.summary
    assert s.violating_rows == 2 and s.violation_rate == 0.5
    assert s.breaker_rows == (2 if counts_flags else 0)
    assert s.breaker_tripped is tripped and bool(result.held.all()) is tripped
    if tripped:
        assert "clipped, replaced, held or flagged" in s.reasons[0].message


def test_non_finite_predictions_always_count_towards_the_breaker() -> None:
    p = policy({"kind": "finite", "action": "flag"}, max_violation_rate=0.25)
    result = apply_guardrails([NAN, NAN, 3, 4], FRAME.iloc[:4], p)
    assert result.summary.breaker_rows == 2 and result.summary.breaker_tripped


def test_findings_reach_the_record_and_the_summary_sentence() -> None:
    from mlops_core.decisions import GuardrailSummary
    from mlops_core.report import guardrail_sentence

    batch = april(hot=0)
    result = apply_guardrails(
        np.full(len(batch), 50.0),
        batch,
        input_policy(calendar_columns={"mnth": "month"}),
        WINTER,
    )
    record = result.summary.model_dump(mode="json")
    assert GuardrailSummary.model_validate(record) == result.summary
    text = guardrail_sentence(result.summary)
    assert text == (
        "All 240 forecasts were sent on, with a finding for the batch as a whole rather than "
        "a flag on each row. mnth (month) is outside the training range for every row "
        "(train 1 to 3, batch 4): the model has not seen this season."
    )


def test_class_labels_carry_the_findings() -> None:
    batch = april(hot=0)
    labels = np.array(["UP"] * len(batch), dtype=object)
    out = apply_guardrails(labels, batch, input_policy(calendar_columns={"mnth": "month"}), WINTER)
    assert [f.column for f in out.summary.findings] == ["mnth"]
    assert not out.flagged.any() and not out.held.any()


def test_calendar_columns_must_be_numeric_contract_columns() -> None:
    from mlops_core.config import UseCaseError, parse_usecase

    raw = _walmart_raw()
    rule = next(r for r in raw["guardrails"]["rules"] if r["kind"] == "input_out_of_range")
    rule["calendar_columns"] = {"Temperature": "month"}
    assert parse_usecase(raw, "walmart.yaml")  # a numeric contract column is accepted
    rule["calendar_columns"] = {"month": "month"}
    with pytest.raises(UseCaseError) as info:
        parse_usecase(raw, "walmart.yaml")
    assert info.value.key.endswith("calendar_columns") and "'month'" in info.value.message
    rule["calendar_columns"] = {"Temperature": "fortnight"}
    with pytest.raises(UseCaseError):
        parse_usecase(raw, "walmart.yaml")


def test_a_profiled_bike_sharing_champion_is_never_held_for_a_new_season(
    bike_hours_frame, bike_hours_profile
) -> None:
    """The reported case: the profiled use case of hour.csv, a champion trained on
    January-March 2011 guarding each later month. Before, every month was flagged on
    nearly every row and held whole by the breaker; now each month is delivered,
    the unseen month, season and year are one finding each, and only rows with
    inputs far outside the winter range are flagged."""
    from mlops_core.config import parse_usecase
    from mlops_core.features import training_ranges

    frame, profiled = bike_hours_frame, bike_hours_profile
    usecase = parse_usecase(profiled.mapping, "hour.yaml")
    month = pd.to_datetime(frame["dteday"]).dt.to_period("M")
    months = sorted(month.unique())
    ranges = training_ranges(frame[month.isin(months[:3])], usecase)
    assert ranges["mnth"] == (1.0, 3.0)
    flagged_months = 0
    for m in months[3:]:
        batch = frame[month == m].reset_index(drop=True)
        # The realised counts as forecasts: the guardrails judge inputs, not skill.
        result = apply_guardrails(
            batch["cnt"].to_numpy(dtype=float), batch, usecase.guardrails, ranges
        )
        s = result.summary
        assert not s.breaker_tripped and s.held_rows == 0, (str(m), s.reasons[0].message)
        found = {f.column for f in s.findings}
        assert "mnth" in found or "yr" in found, str(m)
        # Flagged: exactly the rows of a measured column out of range on a minority of
        # the month's rows; calendar columns flag no row.
        expected = np.zeros(len(batch), dtype=bool)
        for column in ("temp", "atemp", "hum", "windspeed"):
            lo, hi = ranges[column]
            x = batch[column].to_numpy(dtype=float)
            out = (x < lo - 0.25 * (hi - lo)) | (x > hi + 0.25 * (hi - lo))
            if out.mean() < 0.5:
                expected |= out
        np.testing.assert_array_equal(result.flagged, expected, err_msg=str(m))
        flagged_months += bool(result.flagged.any())
    # Summer temperatures beyond winter's range still flag some hours of some months.
    assert 0 < flagged_months < len(months) - 3
