"""Periods: the one way a time column becomes the integer period a decision counts in.

Live flows (validation, scoring, the labeled pool, history, reports), the
backtester and ``init-usecase`` all cut time through this module, so a batch
lands in the same period whether it is replayed or monitored live.

Rules:

- ``data.period`` unset: the time column holds integer periods (``3``, ``3.0``);
  anything else in it is an error that names the column and a value.
- ``data.period`` set (``day``, ``week``, ``month``): the time column holds
  dates or times: ISO strings (``2012-03-05``, ``2012-03-05 14:00``,
  ``2012-03-05T14:00:00+01:00``), other unambiguous date strings, or date and
  datetime columns (CSV or Parquet). Periods are counted from a fixed calendar
  origin, not from the first row, so every batch is cut the same way on its own:
  a day is a calendar day (days since 1970-01-01), a week a calendar week from
  Monday to Sunday (weeks since Monday 1970-01-05), a month a calendar month
  (months since 1970-01).
- Time zones: a time-zone-aware time is cut on its own wall clock (the local
  calendar day it names); strings that mix different UTC offsets are cut in UTC.
- A batch that spans several periods counts as its latest one (the period its
  decisions are taken for); each row keeps its own period for the label join,
  training windows and holdouts. The gate records the span as a warning, so the
  mix is never silent.
- A batch is late when its period is before the latest period already decided:
  it is scored and delivered, its rows join the labeled pool, and no retrain is
  decided on it (decisions only move forward in time).
- People see periods as dates: ``2012-03``, ``week of 2012-03-05``,
  ``2012-03-05``; integer periods as ``period 17``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

PeriodUnit = Literal["day", "week", "month"]
PERIOD_UNITS: tuple[PeriodUnit, ...] = ("day", "week", "month")

_EPOCH = pd.Timestamp("1970-01-01")
_FIRST_MONDAY = pd.Timestamp("1970-01-05")  # weeks run Monday to Sunday


class PeriodError(ValueError):
    """A time column that cannot be cut into periods; ``str()`` names column and value."""


def parse_times(raw: pd.Series) -> pd.Series:
    """Dates and times as naive ``datetime64`` values; NaT where a value is not a date.

    Args:
        raw: A column of strings, dates, datetimes (naive or time-zone-aware).

    Returns:
        The same index, ``datetime64[ns]`` without a time zone (aware values are
        kept on their own wall clock; strings with mixed UTC offsets in UTC).
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        # Numbers are not dates here: 20120305 or 1331 would parse as nanoseconds.
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    with warnings.catch_warnings():
        # pandas warns when it falls back to parsing element by element, and
        # about mixed time zones (handled below).
        warnings.simplefilter("ignore")
        stamps = None
        for options in ({}, {"format": "ISO8601"}, {"format": "mixed"}):
            try:
                parsed = pd.to_datetime(raw, errors="coerce", **options)  # type: ignore[call-overload]
            except (ValueError, TypeError):
                continue
            if not pd.api.types.is_datetime64_any_dtype(parsed):
                # Mixed UTC offsets come back as objects: cut them in UTC.
                parsed = pd.to_datetime(raw, errors="coerce", utc=True, **options)  # type: ignore[call-overload]
                parsed = parsed.dt.tz_convert(None)
            if stamps is None or parsed.notna().sum() > stamps.notna().sum():
                stamps = parsed
            if not stamps.isna().any():
                break
    assert stamps is not None
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    return stamps.astype("datetime64[ns]")


def _whole_numbers(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer values and the mask of rows that are not whole numbers."""
    if pd.api.types.is_bool_dtype(raw):
        values = pd.Series(np.nan, index=raw.index)
    else:
        values = pd.to_numeric(raw, errors="coerce")
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(numbers) | (numbers != np.floor(numbers))
    out = np.zeros(len(numbers), dtype="int64")
    out[~bad] = numbers[~bad].astype("int64")
    return out, bad


def _from_stamps(stamps: pd.Series, unit: PeriodUnit) -> np.ndarray:
    days = stamps.dt.normalize()
    if unit == "month":
        return ((stamps.dt.year - 1970) * 12 + (stamps.dt.month - 1)).to_numpy(dtype="int64")
    if unit == "day":
        return (days - _EPOCH).dt.days.to_numpy(dtype="int64")
    return np.floor_divide((days - _FIRST_MONDAY).dt.days.to_numpy(dtype="int64"), 7)


def cut(raw: pd.Series, unit: PeriodUnit | None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's period and the mask of rows that cannot be cut (no error raised).

    Args:
        raw: The time column.
        unit: ``data.period``; None when the column holds integer periods.

    Returns:
        ``(periods, bad)``: int64 periods (0 where bad) and a boolean mask.
    """
    if unit is None:
        return _whole_numbers(raw)
    if unit not in PERIOD_UNITS:
        raise PeriodError(f"unknown period unit {unit!r}: use one of {', '.join(PERIOD_UNITS)}")
    stamps = parse_times(raw)
    bad = stamps.isna().to_numpy()
    periods = np.zeros(len(stamps), dtype="int64")
    if (~bad).any():
        periods[~bad] = _from_stamps(stamps[~bad], unit)
    return periods, bad


def cut_problem(raw: pd.Series, unit: PeriodUnit | None, column: str) -> str | None:
    """Why ``raw`` cannot be cut into periods (one line naming a value), or None."""
    _, bad = cut(raw, unit)
    return period_problem(raw, unit, column, bad)


def period_problem(
    raw: pd.Series, unit: PeriodUnit | None, column: str, bad: np.ndarray
) -> str | None:
    """The one-line problem of the rows ``bad`` (from :func:`cut`), or None when none is bad."""
    if not bad.any():
        return None
    return bad_period_problem(
        raw[bad].head(HINT_VALUES).tolist(),
        int(bad.sum()),
        len(raw),
        numeric=pd.api.types.is_numeric_dtype(raw),
        unit=unit,
        column=column,
    )


#: Values that cannot be cut that :func:`bad_period_problem` reads (the first one
#: is named, all are tried as dates for the hint).
HINT_VALUES = 20


def bad_period_problem(
    first_bad: Sequence[Any],
    count: int,
    rows: int,
    *,
    numeric: bool,
    unit: PeriodUnit | None,
    column: str,
) -> str:
    """The one-line problem of ``count`` of ``rows`` values that cannot be cut.

    Args:
        first_bad: The first (up to :data:`HINT_VALUES`) values that cannot be
            cut, in row order; at least one.
        count: How many values cannot be cut.
        rows: Values in the column.
        numeric: Whether the column's dtype is numeric.
        unit: ``data.period``.
        column: The time column's name.
    """
    example = first_bad[0]
    if isinstance(example, np.generic):
        example = example.item()
    counted = f"{count} of {rows} rows" if count > 1 else "1 row"
    if unit is None:
        hint = (
            "set data.period (day, week or month) when it holds dates"
            if parse_times(pd.Series(list(first_bad[:HINT_VALUES]))).notna().any()
            else "it must hold whole-number periods"
        )
        return (
            f"time column {column!r} holds {example!r} ({counted}), not an integer period: {hint}"
        )
    if numeric:
        return (
            f"time column {column!r} holds numbers ({example!r}), but data.period {unit!r} cuts "
            "dates: leave data.period out when the column already holds integer periods"
        )
    return f"time column {column!r} holds {example!r} ({counted}), which is not a date"


def period_index(raw: pd.Series, unit: PeriodUnit | None, column: str) -> pd.Series:
    """Each row's integer period, on ``raw``'s index.

    Raises:
        PeriodError: A value that is not an integer period (no unit) or not a
            date (with a unit); the message names the column and the value.
    """
    periods, bad = cut(raw, unit)  # parsed once: this runs on every batch and pool
    problem = period_problem(raw, unit, column, bad)
    if problem is not None:
        raise PeriodError(problem)
    return pd.Series(periods, index=raw.index, dtype="int64")


def period_start(period: int, unit: PeriodUnit) -> pd.Timestamp:
    """The first day of a period (Monday for weeks)."""
    if unit == "month":
        year, month = divmod(int(period), 12)
        return pd.Timestamp(year=1970 + year, month=month + 1, day=1)
    if unit == "day":
        return _EPOCH + pd.Timedelta(days=int(period))
    return _FIRST_MONDAY + pd.Timedelta(weeks=int(period))


def period_label(period: int | None, unit: PeriodUnit | None) -> str:
    """A period as people read it: ``2012-03``, ``week of 2012-03-05``, ``2012-03-05``.

    Integer periods (no unit) read ``period 17``; an unknown period reads ``-``.
    """
    if period is None:
        return "-"
    if unit is None:
        return f"period {int(period)}"
    start = period_start(period, unit)
    if unit == "month":
        return f"{start:%Y-%m}"
    if unit == "week":
        return f"week of {start:%Y-%m-%d}"
    return f"{start:%Y-%m-%d}"


def short_label(period: int | None, unit: PeriodUnit | None) -> str:
    """A compact label for tables and axes: ``2012-03``, ``2012-03-05``, ``17``."""
    if period is None:
        return "-"
    if unit is None:
        return str(int(period))
    start = period_start(period, unit)
    return f"{start:%Y-%m}" if unit == "month" else f"{start:%Y-%m-%d}"


@dataclass(frozen=True)
class BatchPeriods:
    """The periods one batch's rows fall in.

    Attributes:
        period: The batch's period: its latest row's (the period decided for).
        first: Its earliest row's period.
        periods: How many distinct periods its rows fall in.
    """

    period: int
    first: int
    periods: int

    @property
    def spans(self) -> bool:
        """Whether the rows fall in more than one period."""
        return self.periods > 1


def batch_periods(raw: pd.Series, unit: PeriodUnit | None) -> BatchPeriods | None:
    """The periods of a batch's time column; None when no row can be cut."""
    periods, bad = cut(raw, unit)
    good = periods[~bad]
    if good.size == 0:
        return None
    return BatchPeriods(
        period=int(good.max()), first=int(good.min()), periods=int(np.unique(good).size)
    )


def is_late(period: int, latest_decided: int | None) -> bool:
    """A batch is late when its period is before the latest period already decided."""
    return latest_decided is not None and period < latest_decided
