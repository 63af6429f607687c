"""One notion of period: dates and integer periods cut the same way live and in replay."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mlops_core.config import DriftPolicy, RetrainPolicy
from mlops_core.cycle import DecisionHistory, PastDecision, build_retrain_inputs
from mlops_core.periods import (
    PeriodError,
    batch_periods,
    cut_problem,
    is_late,
    period_index,
    period_label,
    period_start,
    short_label,
)
from mlops_core.retrain import decide_retrain

pytestmark = pytest.mark.unit


def test_months_are_calendar_months_from_a_fixed_origin():
    got = period_index(pd.Series(["2011-01-01", "2011-01-31 23:59", "2011-02-01"]), "month", "d")
    assert got.tolist() == [492, 492, 493]  # (2011 - 1970) * 12
    assert [period_label(p, "month") for p in got] == ["2011-01", "2011-01", "2011-02"]


def test_each_batch_is_cut_alone_the_same_way_as_the_whole_file():
    # The origin is the calendar, not the first row: a batch cut alone gets the
    # period it gets inside the whole history (what live and replay rely on).
    whole = pd.Series(pd.date_range("2012-01-01", "2012-06-30", freq="6h").astype(str))
    cut_whole = period_index(whole, "week", "t")
    late_part = whole.iloc[400:]
    assert period_index(late_part, "week", "t").tolist() == cut_whole.iloc[400:].tolist()


def test_weeks_run_monday_to_sunday():
    stamps = ["2012-03-04 23:59", "2012-03-05 00:00", "2012-03-11 23:00", "2012-03-12"]
    got = period_index(pd.Series(stamps), "week", "t").tolist()
    assert got[1] == got[2] and got[0] == got[1] - 1 and got[3] == got[1] + 1
    assert period_label(got[1], "week") == "week of 2012-03-05"
    assert period_start(got[1], "week").day_name() == "Monday"
    assert short_label(got[1], "week") == "2012-03-05"


def test_days_and_datetime_columns_naive_and_aware_and_date_objects():
    naive = pd.Series(pd.to_datetime(["2012-03-05 23:30", "2012-03-06 00:10"]))
    aware = naive.dt.tz_localize("Australia/Sydney")
    dates = pd.Series([dt.date(2012, 3, 5), dt.date(2012, 3, 6)])
    expected = period_index(pd.Series(["2012-03-05", "2012-03-06"]), "day", "t").tolist()
    # An aware time is cut on its own wall clock (the local calendar day it names).
    for column in (naive, aware, dates):
        assert period_index(column, "day", "t").tolist() == expected
    assert period_label(expected[0], "day") == "2012-03-05"


def test_strings_with_different_utc_offsets_are_cut_in_utc():
    got = period_index(
        pd.Series(["2012-03-05T23:30:00-05:00", "2012-03-05T23:30:00+01:00"]), "day", "t"
    )
    assert got.tolist()[0] == got.tolist()[1] + 1  # 04:30 UTC on the 6th, 22:30 UTC on the 5th


def test_integer_periods_need_no_unit_and_dates_need_one():
    assert period_index(pd.Series([3, 1, 2.0]), None, "t").tolist() == [3, 1, 2]
    assert period_label(17, None) == "period 17"
    with pytest.raises(PeriodError, match="'dteday' holds '2011-01-01'.*set data.period"):
        period_index(pd.Series(["2011-01-01"]), None, "dteday")
    with pytest.raises(PeriodError, match=r"holds 1.5 \(1 row\), not an integer period"):
        period_index(pd.Series([1.5]), None, "t")
    with pytest.raises(PeriodError, match=r"holds numbers \(3\), but data.period 'week'"):
        period_index(pd.Series([3, 4]), "week", "t")
    with pytest.raises(PeriodError, match=r"holds 'soon' \(1 row\), which is not a date"):
        period_index(pd.Series(["2012-01-01", "soon"]), "month", "t")
    with pytest.raises(PeriodError, match="unknown period unit 'year'"):
        period_index(pd.Series(["2012-01-01"]), "year", "t")  # type: ignore[arg-type]
    assert cut_problem(pd.Series(["2012-01-01", None]), "month", "t") is not None


def test_a_batch_counts_as_its_latest_period_and_says_it_spans():
    one = batch_periods(pd.Series(["2012-03-01", "2012-03-31"]), "month")
    assert one is not None and one.period == one.first and not one.spans
    two = batch_periods(pd.Series(["2012-02-28", "2012-03-01", "2012-03-02"]), "month")
    assert two is not None and two.spans and two.periods == 2
    assert period_label(two.period, "month") == "2012-03"
    assert period_label(two.first, "month") == "2012-02"
    assert batch_periods(pd.Series(["never"]), "month") is None


def test_a_late_batch_is_scored_but_no_retrain_is_decided_on_it():
    assert is_late(5, 7) and not is_late(7, 7) and not is_late(8, 7) and not is_late(5, None)
    history = DecisionHistory.from_decisions(
        [PastDecision(period=7, action="skip", labels_through=6)]
        + [PastDecision(period=4, action="retrain", labels_through=3)]
    )
    assert history.last_period == 7
    common = {
        "gate_passed": True,
        "champion_trained_period": 3,
        "has_champion": True,
        "history": history,
        "budget_window_periods": 13,
        "new_labeled_rows": 500,
        "last_labeled_period": 6,
        "rows_per_period": 500.0,
        "performance": None,
        "drift": None,
        "decay_cause": "unknown",
    }
    late = build_retrain_inputs(period=5, **common)
    assert late.late_after == 7
    decision = decide_retrain(late, RetrainPolicy(max_age_periods=1), DriftPolicy(), "mae")
    assert decision.action == "skip"
    assert decision.reasons[0].code == "late_batch"
    assert decision.reasons[0].numbers == {"period": 5, "latest_decided_period": 7}
    # The same evidence on time: the champion is old, so it is refreshed.
    on_time = build_retrain_inputs(period=8, **common)
    assert on_time.late_after is None
    again = decide_retrain(on_time, RetrainPolicy(max_age_periods=1), DriftPolicy(), "mae")
    assert again.action == "retrain"


def test_labels_and_periods_round_trip_over_years():
    for unit in ("day", "week", "month"):
        stamps = pd.Series(pd.date_range("1996-05-07", "2012-12-31", freq="17D"))
        periods = period_index(stamps, unit, "t")  # type: ignore[arg-type]
        starts = pd.Series([period_start(int(p), unit) for p in periods])  # type: ignore[arg-type]
        assert (starts <= stamps.dt.normalize()).all()
        assert np.array_equal(period_index(starts, unit, "t").to_numpy(), periods.to_numpy())  # type: ignore[arg-type]
