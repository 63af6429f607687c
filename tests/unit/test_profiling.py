"""Profiling a data file into a starting use case: types, limits, roles, policies, YAML."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_core.config import AlertPolicy, UseCaseError, parse_usecase
from mlops_core.metrics import METRICS
from mlops_core.profiling import (
    CATEGORY_MAX_DISTINCT,
    RANGE_MARGIN,
    profile_frame,
    render_usecase_yaml,
    usecase_name_from,
)

pytestmark = pytest.mark.unit

ROWS = 120


def sample_frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Daily rows over four months with one column of every kind the profiler knows."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=rows, freq="D")
    price = rng.uniform(10.0, 50.0, rows)
    price[[0, 1]] = [10.0, 50.0]  # pin the observed range
    temperature = rng.uniform(-5.0, 15.0, rows)
    temperature[[0, 1]] = [-5.0, 15.0]
    share = rng.uniform(0.2, 0.9, rows)
    share[[0, 1]] = [0.2, 0.9]
    visits = rng.integers(0, 400, rows)
    visits[[0, 1]] = [0, 400]
    rating = np.where(rng.random(rows) < 0.1, np.nan, rng.uniform(1.0, 5.0, rows))
    rating[[0, 1]] = [1.0, 5.0]
    return pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),
            "order_no": [f"o{i:05d}" for i in range(rows)],
            "record": np.arange(1, rows + 1),
            "store": rng.choice(["north", "south", "east"], rows),
            "comment": [f"text {i % 80}" for i in range(rows)],
            "hour": np.arange(rows) % 24,
            "visits": visits,
            "price": price,
            "temperature": temperature,
            "share": share,
            "rating": rating,
            "promo": rng.random(rows) < 0.3,
            "channel": "web",
            "sales": rng.gamma(2.0, 30.0, rows),
        }
    )


def columns_of(mapping: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in mapping["contract"]["columns"]}


def profile(frame: pd.DataFrame | None = None, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": "shop",
        "target": "sales",
        "time": "day",
        "source_name": "shop.csv",
    }
    return profile_frame(sample_frame() if frame is None else frame, **(args | kwargs)).mapping


@pytest.fixture(scope="module")
def mapping() -> dict[str, Any]:
    return profile()


# ------------------------------------------------------------------------ types
@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("row_id", {"type": "categorical", "feature": False}),
        ("day", {"type": "categorical", "feature": False}),
        ("order_no", {"type": "categorical", "feature": False}),
        ("record", {"type": "integer", "min": 1, "feature": False}),
        ("store", {"type": "categorical", "categories": ["east", "north", "south"]}),
        ("comment", {"type": "categorical"}),
        ("hour", {"type": "integer", "min": 0, "max": 23}),
        ("visits", {"type": "integer", "min": 0, "max": 500, "severity": "warn"}),
        ("price", {"type": "numeric", "min": 0, "max": 60, "severity": "warn"}),
        ("temperature", {"type": "numeric", "min": -10, "max": 20, "severity": "warn"}),
        ("share", {"type": "numeric", "min": 0.025, "max": 1, "severity": "warn"}),
        ("promo", {"type": "boolean"}),
        ("channel", {"type": "categorical", "categories": ["web"], "feature": False}),
    ],
)
def test_column_types_and_limits(
    mapping: dict[str, Any], column: str, expected: dict[str, Any]
) -> None:
    entry = columns_of(mapping)[column]
    assert {k: v for k, v in entry.items() if k not in ("name", "max_null_share")} == expected


def test_widened_ranges_follow_the_documented_margin() -> None:
    frame = sample_frame()
    frame["signed"] = np.linspace(-2.0, 6.0, len(frame))
    entry = columns_of(profile(frame))["signed"]
    span = 8.0
    assert entry["min"] == pytest.approx(-2.0 - RANGE_MARGIN * span)
    assert entry["max"] == pytest.approx(6.0 + RANGE_MARGIN * span)


def test_the_target_is_not_a_contract_column(mapping: dict[str, Any]) -> None:
    assert "sales" not in columns_of(mapping)
    assert mapping["data"]["target_column"] == "sales"


@pytest.mark.parametrize(
    ("share", "allowed"),
    [(0.0, None), (0.1, 0.25), (0.3, 0.65), (0.6, 1.0)],
)
def test_null_shares_get_headroom(share: float, allowed: float | None) -> None:
    frame = sample_frame()
    missing = int(round(share * len(frame)))
    values = np.linspace(0.0, 1.0, len(frame))
    values[len(frame) - missing :] = np.nan
    frame["x"] = values
    entry = columns_of(profile(frame))["x"]
    assert entry.get("max_null_share") == allowed


def test_categories_of_numbers_sort_as_numbers() -> None:
    frame = sample_frame()
    frame["size"] = [("2", "10", "1")[i % 3] for i in range(len(frame))]
    assert columns_of(profile(frame))["size"]["categories"] == ["1", "2", "10"]


def test_many_categories_are_not_listed() -> None:
    frame = sample_frame()
    frame["city"] = [f"c{i % (CATEGORY_MAX_DISTINCT + 1)}" for i in range(len(frame))]
    entry = columns_of(profile(frame))["city"]
    assert entry["type"] == "categorical" and "categories" not in entry
    assert entry.get("feature", True)


# ------------------------------------------------------------------------ roles
def test_roles_without_an_id_use_the_replay_id(mapping: dict[str, Any]) -> None:
    data = mapping["data"]
    assert data["id_column"] == "row_id" and data["time_column"] == "day"
    assert data["period"] == "week"  # four months of days: under 12 months, over 12 weeks
    assert "segment_column" not in data


def test_a_given_id_and_segment_are_used() -> None:
    result = profile(id_column="order_no", segment="store")
    cols = columns_of(result)
    assert "row_id" not in cols
    assert cols["order_no"] == {"name": "order_no", "type": "categorical", "feature": False}
    assert result["data"]["id_column"] == "order_no"
    assert result["data"]["segment_column"] == "store"
    assert cols["store"]["categories"] == ["east", "north", "south"]


def test_a_numeric_segment_is_a_category() -> None:
    frame = sample_frame()
    frame["shop"] = [float(i % 12 + 1) for i in range(len(frame))]
    entry = columns_of(profile(frame, segment="shop"))["shop"]
    assert entry["type"] == "categorical"
    assert entry["categories"] == [str(i) for i in range(1, 13)]


@pytest.mark.parametrize(
    ("days", "period", "expected"),
    [
        (730, None, "month"),
        (120, None, "week"),
        (84, None, "week"),
        (40, None, "day"),
        (730, "week", "week"),
    ],
)
def test_period_of_a_date_column(days: int, period: str | None, expected: str) -> None:
    frame = sample_frame(rows=days)
    assert profile(frame, period=period)["data"]["period"] == expected


def test_integer_periods_need_no_unit() -> None:
    frame = sample_frame(rows=7 * 17)  # whole weeks only
    frame["week"] = np.arange(len(frame)) // 7
    result = profile(frame.drop(columns="day"), time="week")
    assert "period" not in result["data"]
    # Periods of unknown length: the budget and the age limit fall back to counts.
    assert result["retrain"]["budget_window_periods"] == 13
    assert result["retrain"]["max_age_periods"] == 4
    assert columns_of(result)["week"] == {
        "name": "week",
        "type": "integer",
        "min": 0,
        "feature": False,
    }
    # A week holds 7 rows: half of that is the smallest acceptable batch.
    assert result["contract"]["min_rows"] == 3


def test_min_rows_never_rejects_a_period_the_history_holds() -> None:
    # Months of very unequal size (a business that grows from 2 rows a month):
    # half the typical month would block the small early months of a replay.
    frame = sample_frame()
    sizes = [2, 8, 40, 70]
    frame["month"] = np.repeat(np.arange(4), sizes)[: len(frame)]
    result = profile(frame.drop(columns="day"), time="month")
    assert result["contract"]["min_rows"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "revenue"}, "--target column 'revenue' is not in the data"),
        ({"time": "when"}, "--time column 'when' is not in the data"),
        ({"id_column": "nope"}, "--id column 'nope'"),
        ({"segment": "region"}, "--segment column 'region'"),
        ({"time": "store"}, "holds neither integer periods nor dates"),
        ({"time": "price"}, "holds neither integer periods nor dates"),
        ({"segment": "sales"}, "must name different columns"),
        ({"period": "year"}, "--period must be one of day, week, month"),
        ({"task": "ranking"}, "--task must be regression or classification"),
        ({"target": "store", "task": "regression"}, "is not numeric"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        profile(**kwargs)


@pytest.mark.parametrize("column", ["day", "week"])
def test_a_time_column_with_gaps_is_refused(column: str) -> None:
    frame = sample_frame()
    frame["week"] = np.arange(len(frame)) // 7
    frame[column] = frame[column].astype(object)
    frame.loc[5, column] = None
    with pytest.raises(ValueError, match=f"--time column '{column}' has missing values"):
        profile(frame, time=column)


def test_a_row_id_column_must_be_named() -> None:
    frame = sample_frame()
    frame["row_id"] = np.arange(len(frame))
    with pytest.raises(ValueError, match="--id"):
        profile(frame)


def test_a_period_for_integer_periods_is_refused() -> None:
    frame = sample_frame()
    frame["week"] = np.arange(len(frame)) // 7
    with pytest.raises(ValueError, match="integer periods"):
        profile(frame, time="week", period="week")


# ------------------------------------------------------------------ task, floor
@pytest.mark.parametrize(
    ("target", "task", "expected"),
    [
        (np.linspace(0.5, 9.5, ROWS), None, "regression"),
        (np.arange(ROWS) % 40, None, "regression"),
        (np.arange(ROWS) % 3, None, "classification"),
        (np.where(np.arange(ROWS) % 4 == 0, "yes", "no"), None, "classification"),
        (np.arange(ROWS) % 2 == 0, None, "classification"),
        (np.arange(ROWS) % 3, "regression", "regression"),
    ],
)
def test_task_inference(target: np.ndarray, task: str | None, expected: str) -> None:
    frame = sample_frame()
    frame["sales"] = target
    result = profile(frame, task=task)
    assert result["model"]["task"] == expected
    regression = expected == "regression"
    assert METRICS[result["metric"]["primary"]].task == expected
    if regression:
        assert result["metric"]["primary"] == "mae"
    assert result["model"]["estimator"] == (
        "sklearn.ensemble.HistGradientBoostingRegressor"
        if regression
        else "sklearn.ensemble.HistGradientBoostingClassifier"
    )


def test_generated_promotion_sets_no_floor_and_requires_the_naive_baseline(
    mapping: dict[str, Any],
) -> None:
    # A floor profiled from the whole file would use the future: none is set.
    assert mapping["promotion"]["floor"] is None
    assert mapping["promotion"]["baseline"] == "naive"
    assert parse_usecase(mapping, "x.yaml").promotion.baseline == "naive"


def _classes(shares_by_quarter: list[float], rows_per_quarter: list[int]) -> pd.DataFrame:
    """Daily rows over a year; in quarter q a share ``shares_by_quarter[q]`` is positive."""
    parts = []
    start = pd.Timestamp("2024-01-01")
    for q, (share, rows) in enumerate(zip(shares_by_quarter, rows_per_quarter, strict=True)):
        days = pd.date_range(start + pd.Timedelta(days=91 * q), periods=91, freq="D")
        stamps = np.sort(np.random.default_rng(q).choice(days, rows))
        positive = np.zeros(rows, dtype=int)
        positive[: round(share * rows)] = 1
        parts.append(
            pd.DataFrame({"day": pd.to_datetime(stamps).strftime("%Y-%m-%d")}).assign(
                x=np.random.default_rng(10 + q).normal(size=rows), y=positive
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize(
    ("shares", "rows", "primary"),
    [
        # Balanced enough everywhere (Elec2-like 42/58): accuracy.
        ([0.42, 0.40, 0.45, 0.43], [300, 300, 300, 300], "accuracy"),
        # One class holds 11% of the file: balanced accuracy.
        ([0.11, 0.11, 0.11, 0.11], [300, 300, 300, 300], "balanced_accuracy"),
        # Label shift, 5% to 50%, with very unequal quarters: the file holds 33%
        # positives, but the first quarter only 5%: balanced accuracy.
        ([0.05, 0.2, 0.35, 0.5], [40, 400, 200, 300], "balanced_accuracy"),
    ],
)
def test_classification_metric_follows_the_class_balance(
    shares: list[float], rows: list[int], primary: str
) -> None:
    result = profile_frame(
        _classes(shares, rows), name="cls", target="y", time="day", period="month", source_name="c"
    )
    assert result.mapping["metric"]["primary"] == primary
    assert primary in result.notes.metric or "balanced accuracy" in result.notes.metric
    usecase = parse_usecase(result.mapping, "c.yaml")
    assert usecase.metric.primary == primary


@pytest.mark.parametrize(
    ("period", "window", "age"), [("day", 365, 30), ("week", 52, 4), ("month", 12, 1)]
)
def test_retrain_budget_spans_a_year_and_never_binds_at_no_cost(
    period: str, window: int, age: int
) -> None:
    frame = sample_frame(rows=800)
    result = profile(frame, period=period)
    retrain = parse_usecase(result, "x.yaml").retrain
    assert retrain.budget_window_periods == window
    # A free refresh about once a month in the period unit.
    assert retrain.max_age_periods == age
    # One retrain a period at most: with retrain_cost 0 the budget cannot bind.
    assert retrain.max_retrains == window and retrain.retrain_cost == 0
    # The next decision waits for the labels of the new model's first period.
    assert retrain.min_periods_between == parse_usecase(result, "x.yaml").data.label_delay + 1


def test_a_column_rising_with_time_is_no_feature() -> None:
    frame = sample_frame()
    frame["days_since_start"] = np.linspace(0.0, 1.0, ROWS)  # a normalised date
    cols = columns_of(profile(frame))
    assert cols["days_since_start"]["feature"] is False
    assert cols["price"].get("feature", True) is True


@pytest.mark.parametrize(
    ("offset", "has_non_negative_rule"),
    [(0.0, True), (-1000.0, False)],
)
def test_regression_guardrails(offset: float, has_non_negative_rule: bool) -> None:
    frame = sample_frame()
    frame["sales"] = frame["sales"] + offset
    guardrails = profile(frame)["guardrails"]
    kinds = [r["kind"] for r in guardrails["rules"]]
    assert kinds[0] == "finite" and guardrails["rules"][0]["action"] == "fallback"
    assert guardrails["fallback"]["value"] == pytest.approx(frame["sales"].mean(), rel=1e-5)
    assert ("range" in kinds) is has_non_negative_rule
    if has_non_negative_rule:
        rule = guardrails["rules"][kinds.index("range")]
        assert rule["min"] == 0 and rule["action"] == "clip"
    assert kinds[-1] == "input_out_of_range" and guardrails["rules"][-1]["action"] == "flag"


def test_classification_guardrails_have_no_value_limits() -> None:
    frame = sample_frame()
    frame["sales"] = np.where(np.arange(ROWS) % 4 == 0, "yes", "no")
    guardrails = profile(frame)["guardrails"]
    assert [r["kind"] for r in guardrails["rules"]] == ["finite", "input_out_of_range"]
    assert "fallback" not in guardrails


@pytest.mark.parametrize(("offset", "target_min"), [(0.0, 0), (-1000.0, None)])
def test_a_never_negative_regression_target_gets_a_floor_and_no_ceiling(
    offset: float, target_min: int | None
) -> None:
    frame = sample_frame()
    frame["sales"] = frame["sales"] + offset
    labels = profile(frame)["labels"]
    assert labels.get("target_min") == target_min
    # No ceiling from the data: a true label above the largest one seen is real.
    assert "target_max" not in labels and "target_classes" not in labels
    assert labels["max_bad_row_share"] == 0.2 and labels["corrections"] == "apply"


def test_a_classification_target_gets_its_classes_as_text() -> None:
    frame = sample_frame()
    frame["sales"] = np.where(np.arange(ROWS) % 4 == 0, "yes", "no")
    assert profile(frame)["labels"]["target_classes"] == ["no", "yes"]
    frame["sales"] = np.where(np.arange(ROWS) % 3 == 0, 10.0, 2.0)
    frame.loc[5, "sales"] = None  # floats beside a blank: the classes are still 2 and 10
    assert profile(frame, task="classification")["labels"]["target_classes"] == ["2", "10"]
    frame["sales"] = np.where(np.arange(ROWS) % 2 == 0, "Yes", "yes ")
    assert "target_classes" not in profile(frame)["labels"]


def test_a_column_that_follows_the_target_gets_a_leak_note() -> None:
    frame = sample_frame()
    frame["sales_copy"] = frame["sales"] * 0.5 + 1.0
    notes = profile_frame(
        frame, name="shop", target="sales", time="day", source_name="shop.csv"
    ).notes.columns
    assert "CHECK: correlates 1.00 with the target" in notes["sales_copy"]
    assert "CHECK" not in notes["price"]


# ------------------------------------------------------------------- the output
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"id_column": "order_no", "segment": "store", "period": "week"},
        {"task": "classification", "target": "hour"},
    ],
)
def test_the_profile_parses_and_round_trips_through_yaml(kwargs: dict[str, Any]) -> None:
    result = profile_frame(
        sample_frame(),
        **({"name": "shop", "target": "sales", "time": "day", "source_name": "shop.csv"} | kwargs),
    )
    text = render_usecase_yaml(result.mapping, source_name="shop.csv", notes=result.notes)
    loaded = yaml.safe_load(text)
    assert loaded == result.mapping
    usecase = parse_usecase(loaded, "shop.yaml")
    assert usecase.name == "shop" and usecase.data.target_column == kwargs.get("target", "sales")
    assert usecase.contract.feature_names  # something to learn from


def test_the_yaml_writes_the_alert_policy_with_its_defaults_and_a_comment() -> None:
    result = profile_frame(
        sample_frame(), name="shop", target="sales", time="day", source_name="shop.csv"
    )
    text = render_usecase_yaml(result.mapping, source_name="shop.csv", notes=result.notes)
    usecase = parse_usecase(yaml.safe_load(text), "shop.yaml")
    assert usecase.alerts == AlertPolicy(), "the defaults, written out for review"
    section = text[text.index("\n# When a guardrail") : text.index("\nalerts:")]
    assert "# Quarantines, leak suspicions, promotions and rollbacks always alert" in section
    assert "alerts:\n  guardrail_breach:\n    mode: threshold" in text


def test_the_yaml_says_where_it_came_from_and_asks_for_review() -> None:
    result = profile_frame(
        sample_frame(), name="shop", target="sales", time="day", source_name="shop.csv"
    )
    text = render_usecase_yaml(result.mapping, source_name="shop.csv", notes=result.notes)
    header = text.split("\n\n")[0]
    assert header.startswith("# Generated by `mlops init-usecase` from shop.csv")
    assert "Review EVERY value" in header
    # Each column's observation sits right above it.
    lines = text.splitlines()
    at = lines.index("    - name: hour")
    first = at - 1
    while lines[first - 1].startswith("    # "):
        first -= 1
    assert lines[first].startswith("    # observed 0 to 23") and first > at - 4
    assert "calendar code (hour)" in " ".join(lines[first:at])
    assert "baseline: naive: a challenger must beat the naive baseline" in text
    assert "floor: none." in text
    assert "the budget never binds" in text


def test_a_bad_name_fails_the_parse_with_its_key() -> None:
    with pytest.raises(UseCaseError, match="name"):
        parse_usecase(profile(name="Bad Name"), "x.yaml")


def test_profiling_does_not_modify_the_frame() -> None:
    frame = sample_frame()
    before = frame.copy()
    profile(frame, segment="store")
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    ("stem", "name"),
    [
        ("hour", "hour"),
        ("Walmart Store Sales", "walmart_store_sales"),
        ("2024-export", "usecase_2024-export"),
        ("x", "x_usecase"),
    ],
)
def test_usecase_name_from_a_file_name(stem: str, name: str) -> None:
    assert usecase_name_from(stem) == name
    parse_usecase(profile(name=usecase_name_from(stem)), "x.yaml")


@pytest.mark.parametrize(("period", "ok"), [("day", True), ("month", True), ("year", False)])
def test_data_period_is_a_calendar_unit(mapping: dict[str, Any], period: str, ok: bool) -> None:
    raw = dict(mapping) | {"data": dict(mapping["data"]) | {"period": period}}
    if ok:
        assert parse_usecase(raw, "x.yaml").data.period == period
    else:
        with pytest.raises(UseCaseError, match="data.period"):
            parse_usecase(raw, "x.yaml")


# --------------------------------------------------------------- calendar codes
def profiled_column(name: str, values: np.ndarray) -> tuple[dict[str, Any], str, dict[str, str]]:
    """The contract entry and note of one added column, and the calendar columns the
    input-range guardrail names."""
    frame = sample_frame().rename(columns={"day": "date"})  # the time column
    frame[name] = values
    result = profile_frame(frame, name="shop", target="sales", time="date", source_name="s.csv")
    rule = next(
        r for r in result.mapping["guardrails"]["rules"] if r["kind"] == "input_out_of_range"
    )
    return (
        columns_of(result.mapping)[name],
        result.notes.columns[name],
        rule.get("calendar_columns", {}),
    )


def cycle(low: int, high: int) -> np.ndarray:
    return low + np.arange(ROWS) % (high - low + 1)


@pytest.mark.parametrize(
    ("name", "values", "field", "low", "high"),
    [
        # A sample of three months still allows the whole year.
        ("mnth", cycle(1, 3), "month", 1, 12),
        ("Month", cycle(1, 12), "month", 1, 12),
        ("hr", cycle(0, 23), "hour", 0, 23),
        ("hour_of_day", cycle(3, 9), "hour", 0, 23),
        ("weekday", cycle(0, 6), "weekday", 0, 6),
        ("dayOfWeek", cycle(1, 7), "weekday", 1, 7),
        ("dow", cycle(2, 5), "weekday", 0, 7),  # neither 0 nor 7 seen: both numberings
        ("season", cycle(1, 3), "season", 0, 4),
        ("day_of_month", cycle(1, 20), "day", 1, 31),
        ("day", cycle(1, 7), "weekday", 1, 7),  # a bare "day" holding a whole week
        ("day", cycle(1, 28), "day", 1, 31),
        ("week_of_year", cycle(1, 17), "week", 0, 53),
        ("week", cycle(0, 17), "week", 0, 53),
        ("quarter", cycle(1, 2), "quarter", 1, 4),
        ("season", cycle(1, 4), "season", 1, 4),
        ("season", cycle(0, 2), "season", 0, 3),
        ("yr", cycle(0, 1), "year", 0, None),  # a year index: no upper bound
        ("year", cycle(2011, 2012), "year", 2011, None),
    ],
)
def test_calendar_codes_get_their_whole_domain(
    name: str, values: np.ndarray, field: str, low: int, high: int | None
) -> None:
    entry, note, calendar = profiled_column(name, values)
    expected = {"name": name, "type": "integer", "min": low}
    if high is not None:
        expected["max"] = high
    assert entry == expected  # severity error: a month 13 is wrong, not unusual
    assert f"a calendar code ({field})" in note and "calendar_columns" in note
    assert calendar[name] == field


@pytest.mark.parametrize(
    ("name", "values", "observed"),
    [
        ("workingday", cycle(0, 1), (0, 1)),  # not a calendar word on its own
        ("is_weekday", cycle(0, 1), (0, 1)),  # an indicator
        ("hour", cycle(0, 1), (0, 1)),  # 0 and 1 only: an indicator whatever the name
        ("orders_per_hour", cycle(0, 20), (0, 20)),  # a rate
        ("days_open", cycle(1, 20), (1, 20)),
        ("month", cycle(0, 11), (0, 11)),  # 0-11 is no month numbering we know
        ("hr", cycle(55, 70), (55, 70)),  # a heart rate
        ("age_yr", cycle(18, 30), (18, 30)),  # an age in years
        ("day_of_year", cycle(1, 20), (1, 20)),  # no day of the month, no year
        ("weathersit", cycle(1, 4), (1, 4)),
    ],
)
def test_other_codes_keep_their_observed_range(
    name: str, values: np.ndarray, observed: tuple[int, int]
) -> None:
    entry, note, calendar = profiled_column(name, values)
    assert (entry["min"], entry["max"]) == observed
    assert "calendar" not in note and name not in calendar


def test_a_constant_calendar_column_is_no_feature_and_not_guarded() -> None:
    entry, note, calendar = profiled_column("mnth", np.full(ROWS, 1))
    assert (entry["min"], entry["max"], entry["feature"]) == (1, 12, False)
    assert "constant" in note and "calendar_columns" not in note and "mnth" not in calendar


def test_the_profiled_guardrails_never_let_flags_hold_a_batch(mapping: dict[str, Any]) -> None:
    guardrails = mapping["guardrails"]
    assert guardrails["breaker_counts_flags"] is False
    (rule,) = [r for r in guardrails["rules"] if r["kind"] == "input_out_of_range"]
    assert rule["batch_share"] == 0.5 and rule["calendar_columns"] == {"hour": "hour"}
    usecase = parse_usecase(mapping, "shop.yaml")
    assert usecase.guardrails.rules[-1].calendar_columns == {"hour": "hour"}


def test_bike_sharing_calendar_columns_are_profiled_as_calendar_codes(bike_hours_profile) -> None:
    result = bike_hours_profile
    columns = columns_of(result.mapping)
    domains = {c: (columns[c].get("min"), columns[c].get("max")) for c in columns}
    assert domains["mnth"] == (1, 12)
    assert domains["hr"] == (0, 23)
    assert domains["weekday"] == (0, 6)
    assert domains["season"] == (1, 4)
    assert domains["yr"] == (0, None)
    for column in ("mnth", "hr", "weekday", "season", "yr"):
        assert "a calendar code" in result.notes.columns[column], column
        assert columns[column].get("severity", "error") == "error"
    for column in ("holiday", "workingday", "weathersit"):
        assert "calendar" not in result.notes.columns[column], column
    rule = result.mapping["guardrails"]["rules"][-1]
    assert rule["calendar_columns"] == {
        "season": "season",
        "yr": "year",
        "mnth": "month",
        "hr": "hour",
        "weekday": "weekday",
    }
    parse_usecase(result.mapping, "hour.yaml")
    text = render_usecase_yaml(result.mapping, source_name="hour.csv", notes=result.notes)
    assert yaml.safe_load(text) == result.mapping


def test_a_time_zone_aware_time_column_is_cut_on_its_wall_clock_without_warnings() -> None:
    import warnings

    frame = sample_frame().drop(columns="day")
    frame["ts"] = pd.date_range("2024-01-01", periods=len(frame), freq="D", tz="Europe/Berlin")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = profile(frame, time="ts", period="week")
    assert result["data"]["period"] == "week"
    assert columns_of(result)["ts"]["feature"] is False
