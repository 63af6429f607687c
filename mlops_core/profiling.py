"""A starting use-case file profiled from a user's data (``mlops init-usecase``).

Pure: a data frame in, a plain mapping that :func:`mlops_core.config.parse_usecase`
accepts out, plus the YAML text with comments for the user to review. Every
value is a starting point derived by fixed rules (documented below and written
as comments into the file); none of them replaces a look at the data.

Profiling rules:

- Roles: the id column (or ``row_id``, added by the replay when the file has
  none) and the time column are never features; the target is not a contract
  column (batches arrive without it).
- Whole-number columns are ``integer``; other numbers are ``numeric``; text is
  ``categorical``; true/false columns are ``boolean``; date/time values are
  ``categorical`` and not a feature.
- Calendar codes: a whole-number column whose name says it is a calendar field
  and whose values all lie in that field's domain gets the full domain as its
  range (an error when broken), whatever part of it the file shows: month 1-12,
  hour 0-23, weekday 0-6 or 1-7, day of the month 1-31, week of the year 0-53,
  quarter 1-4, season 1-4 or 0-3 (values that fit both numberings, a weekday
  seen only from 2 to 5, get both: 0-7), and a year (a calendar year or a year
  index) its observed minimum and no maximum (years only grow). The name is
  matched by whole words (``mnth``, ``hr``, ``day_of_week``, ``weekOfYear``; not
  ``workingday``, ``days_open`` or ``orders_per_hour``); a column holding only 0
  and 1 is an indicator, never a calendar code; a column named just ``day``
  holding every value of 1-7 (or only values of 0-6) is a weekday. Calendar
  feature columns are named in the ``input_out_of_range`` guardrail's
  ``calendar_columns``: a month the champion never saw is one finding for the
  batch ("the model has not seen this season"), not a flag on each row.
- Ranges: other integer codes (at most ``CODE_MAX_DISTINCT`` distinct values,
  e.g. a weather class) get their observed minimum and maximum; other numbers get
  the observed range widened by ``RANGE_MARGIN`` (25%) of its span on each
  side, never below 0 for a column that is never negative, kept within 0-1 for
  a column whose values all lie in 0-1 (a share), and whole for integers.
  A widened range is a guess from one sample, so it only warns (severity
  ``warn``); exact codes and categories are errors.
- Categories: text with at most ``CATEGORY_MAX_DISTINCT`` distinct values is
  listed; more distinct values allow any category.
- Segment: always categorical (a store number is a label, not a quantity).
- Ids: a text or integer column unique on every row looks like an id or a
  record index: kept in the contract, not a feature. A constant column is no
  feature either (it carries no signal).
- Missing values: a column never missing allows none; otherwise twice the
  observed share plus 5 points, at most 1.
- Time index: a numeric column with more than ``CODE_MAX_DISTINCT`` values
  whose rank correlation with the time column reaches
  ``TIME_INDEX_CORRELATION`` (a day counter, a normalised date) is no
  feature: every new batch lies past its training range.
- Leaks: a numeric feature whose correlation with a numeric target reaches
  ``LEAK_CORRELATION`` in size gets a CHECK note (it stays a feature: only the
  user knows whether it is available before the label).
- Task: a numeric target with fractions or more than ``CODE_MAX_DISTINCT``
  distinct values is a regression (metric MAE), anything else a classification.
- Classification metric: accuracy, unless a class is rare somewhere in the
  history: when the rarest class holds less than half of its balanced share
  (``RARE_CLASS_FACTOR / k`` of the rows for ``k`` classes, 25% for two) in
  the whole file or in any quarter of its periods, the metric is balanced
  accuracy (the mean of the per-class recalls). Accuracy is then dominated by
  the common class: always predicting it scores 75% and more, a model can
  look good while missing every rare row, and under label shift (the rare
  class growing over time) accuracy falls when the model did not get worse.
  Balanced accuracy weighs each class the same, equals accuracy when the
  classes are balanced, and scores 50% for any constant guess of two classes.
- Label rules (``labels``): a regression target never negative in the data
  gets ``target_min: 0`` (a negative count or amount is a broken label) and no
  ``target_max``: a true label above the largest one seen is real (demand grows,
  a record week happens), so no bound is taken from the data; a target that is
  negative somewhere gets no rule. A classification target gets its observed
  classes (``target_classes``): a label with a class differing from one of them
  only in case or spaces is left out as misspelled, any other new class is kept
  and counted (label shift is real data). Classes that differ only in case or
  spaces in the data itself get no list (a label could not be told apart from a
  misspelling).
- Guardrails: non-finite predictions fall back (regression) or are held
  (classification); a never-negative target is clipped at 0; inputs outside the
  champion's training range are flagged, or are one finding for the batch when
  most rows are out (``batch_share``). Flags never count towards the circuit
  breaker (``breaker_counts_flags: false``), so an expected flag, such as a new
  season's inputs, never holds a whole batch.
- Promotion: no absolute floor. Every challenger must beat the naive
  baseline (``promotion.baseline: naive``), refit on the challenger's own
  training window and scored on the same holdout rows (see
  :mod:`mlops_core.baseline`). A floor profiled from the whole file would use
  the future (its class balance, its target level) and go stale as the data
  moves; the refit baseline does neither.
- Retrain budget: a window of one year in the period unit (12 months, 52
  weeks, 365 days; 13 integer periods when the unit is unknown) allowing one
  retrain per period. With ``retrain_cost`` 0 a retrain costs nothing, so the
  budget must never be what keeps a decayed model in production: at most one
  retrain a period is what the monitor can take anyway. Set a lower
  ``max_retrains`` together with a real ``retrain_cost``.
- Holdout: at least ``MIN_HOLDOUT_ROWS`` (200) rows; with periods of very
  unequal size the holdout reaches back over earlier periods until it holds
  them, so the gate never judges on a handful of rows.
- Champion age: refreshed after about a month (``max_age_periods``: 1 month,
  4 weeks, 30 days; 4 integer periods). With ``retrain_cost`` 0 a refresh costs
  only compute and the gate keeps out one that is not better, while a model
  learns from newer rows in a world that trends (levels, prices, new
  categories) even when no single period shows a significant decay.
- Decay: measured against the champion's out-of-time reference, the error a
  refit on its window's earlier rows makes on the holdout periods (see
  :class:`mlops_core.training.DecayReference`), so the step from training to
  the next period is not read as decay.
- Cooldown: ``label_delay + 1`` periods (``min_periods_between``): a
  retrain's effect shows only once the labels of the first period it served
  have arrived, so deciding again sooner judges the new model on no evidence
  of its own. A significant decay over ``critical_decay`` overrides it.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from mlops_core.config import (
    AlertPolicy,
    CalendarField,
    DriftPolicy,
    InputRangeRule,
    LabelPolicy,
    PromotionPolicy,
    RetrainPolicy,
    class_key,
)
from mlops_core.guardrails import segment_keys
from mlops_core.periods import cut, parse_times

RANGE_MARGIN = 0.25
#: A class holding less than this share of its balanced share (1/k) is rare.
RARE_CLASS_FACTOR = 0.5
#: Parts of the history (by period) checked for a rare class, besides the whole file.
RARE_CLASS_PARTS = 4
#: Periods between a batch and its labels in a generated use case (to be reviewed).
LABEL_DELAY = 1
#: Periods in one year per unit: the retrain budget's window.
PERIODS_PER_YEAR = {"day": 365, "week": 52, "month": 12}
#: Periods in about one month per unit: the oldest a champion gets before a refresh.
PERIODS_PER_MONTH = {"day": 30, "week": 4, "month": 1}
#: Champion age limit when the time column holds integer periods of unknown length.
MAX_AGE_INTEGER_PERIODS = 4
#: Held-out rows the promotion gate judges on, at least: with 200 rows the standard
#: error of an accuracy near 0.8 is under 0.03, so a gap of a few points shows.
MIN_HOLDOUT_ROWS = 200
#: Budget window when the time column holds integer periods of unknown length.
BUDGET_WINDOW_INTEGER_PERIODS = 13
CODE_MAX_DISTINCT = 24
CATEGORY_MAX_DISTINCT = 50
LEAK_CORRELATION = 0.9
#: A numeric column whose rank correlation with the time reaches this is a time index.
TIME_INDEX_CORRELATION = 0.99
NULL_SHARE_FACTOR = 2.0
NULL_SHARE_SLACK = 0.05
REPLAY_ID_COLUMN = "row_id"
PERIODS = ("day", "week", "month")
# Periods a file should hold for a unit to be picked when none is given.
_MIN_PERIODS_FOR_UNIT = 12
_SIGNIFICANT = 6
_DATE_PATTERN = r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})([ T]\d.*)?\s*$"

Task = Literal["regression", "classification"]


@dataclass(frozen=True)
class ProfileNotes:
    """What was observed, written as comments beside the values it explains.

    Attributes:
        columns: Per contract column, what the data showed and why the column got
            its rules.
        metric: Why the primary metric was chosen.
        labels: Why the label gate got its target rules.
        rows: Rows and periods of the profiled data.
    """

    columns: dict[str, str] = field(default_factory=dict)
    metric: str = ""
    labels: str = ""
    rows: str = ""


@dataclass(frozen=True)
class UseCaseProfile:
    """A profiled use case: the mapping to write and the notes behind it.

    Attributes:
        mapping: Plain mapping accepted by ``parse_usecase``.
        notes: The observations behind the values, for the comments.
    """

    mapping: dict[str, Any]
    notes: ProfileNotes


# ----------------------------------------------------------------------- helpers
def _round(value: float) -> float | int:
    """A plain Python number with at most ``_SIGNIFICANT`` significant digits."""
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return 0 if v == 0 else v
    rounded = round(v, _SIGNIFICANT - 1 - int(math.floor(math.log10(abs(v)))))
    return int(rounded) if float(rounded).is_integer() and abs(rounded) < 2**53 else rounded


def _fmt(value: float) -> str:
    return f"{float(value):.6g}"


def usecase_name_from(stem: str) -> str:
    """A valid use-case name from a file name stem (``Hour Data.csv`` -> ``hour_data``)."""
    name = re.sub(r"[^a-z0-9_\-]+", "_", stem.lower()).strip("_-")
    if not name or not name[0].isalpha():
        name = f"usecase_{name}".rstrip("_")
    return name[:63] if len(name) > 1 else f"{name}_usecase"


def _is_bool(series: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(series)


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not _is_bool(series)


def _is_datetime(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series)


def _whole(values: pd.Series) -> bool:
    finite = values.dropna().to_numpy(dtype=float)
    return bool(np.all(np.isfinite(finite)) and np.all(finite == np.floor(finite)))


def _as_text(series: pd.Series) -> pd.Series:
    """Values as the text a contract's categories compare to (3.0 is ``"3"``)."""
    if _is_number(series) and _whole(series):
        return series.dropna().astype("int64").astype(str)
    return series.dropna().astype(str)


def _null_share(series: pd.Series) -> float:
    share = float(series.isna().mean()) if len(series) else 0.0
    if share == 0.0:
        return 0.0
    allowed = min(1.0, share * NULL_SHARE_FACTOR + NULL_SHARE_SLACK)
    # Up to whole percent; rounding first keeps 0.25 from becoming 0.26.
    return float(math.ceil(round(allowed * 100, 6)) / 100)


def _dates(series: pd.Series) -> pd.Series | None:
    """The values as timestamps, or None when they are not all dates.

    Text counts as dates only when every value has a full year, month and day
    (``2011-01-31``, ``2011/01/31 13:00``, ``31.01.2011``): parsers fill a
    missing part from today's date, and codes like ``"3"`` are no dates.
    """
    if _is_datetime(series):
        return pd.to_datetime(series)
    if _is_number(series) or _is_bool(series):
        return None
    text = series.dropna().astype(str)
    if text.empty or not text.str.match(_DATE_PATTERN).all():
        return None
    parsed = pd.to_datetime(series.astype("string"), errors="coerce", format="mixed")
    if parsed[series.notna()].isna().any():
        return None
    return parsed


def _category_order(value: str) -> tuple[int, float, str]:
    """Numbers written as text sort as numbers (``"2"`` before ``"10"``)."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _check_columns(frame: pd.DataFrame, **roles: str | None) -> None:
    columns = {str(c) for c in frame.columns}
    for role, column in roles.items():
        if column is not None and column not in columns:
            raise ValueError(
                f"--{role} column {column!r} is not in the data (columns: "
                f"{', '.join(sorted(columns))})"
            )


# --------------------------------------------------------------------- columns
def _numeric_range(values: pd.Series, integer: bool) -> tuple[float | int, float | int, str]:
    """Bounds for a measured column: observed range widened by the margin."""
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo
    margin = RANGE_MARGIN * (span if span > 0 else max(abs(lo), 1.0))
    low, high = lo - margin, hi + margin
    how = f"widened by {RANGE_MARGIN:.0%} of the span"
    if lo >= 0 and hi <= 1:
        low, high = max(low, 0.0), min(high, 1.0)
        how += ", kept within 0-1 (all values are shares)"
    elif lo >= 0:
        low = max(low, 0.0)
        how += ", never below 0 (no value is negative)"
    if integer:
        low, high = math.floor(low), math.ceil(high)
    return _round(low), _round(high), how


#: Name forms of each calendar field, as words joined by ``_``. None marks forms
#: that are no calendar field of ours but contain one's word (a day of the year).
_CALENDAR_NAMES: tuple[tuple[str, CalendarField | None], ...] = (
    ("day_of_year", None),
    ("dayofyear", None),
    ("doy", None),
    ("day_of_week", "weekday"),
    ("dayofweek", "weekday"),
    ("week_day", "weekday"),
    ("weekday", "weekday"),
    ("wday", "weekday"),
    ("dow", "weekday"),
    ("day_of_month", "day"),
    ("dayofmonth", "day"),
    ("mday", "day"),
    ("dom", "day"),
    ("hour_of_day", "hour"),
    ("hourofday", "hour"),
    ("hour", "hour"),
    ("hr", "hour"),
    ("week_of_year", "week"),
    ("weekofyear", "week"),
    ("iso_week", "week"),
    ("isoweek", "week"),
    ("woy", "week"),
    ("week", "week"),
    ("wk", "week"),
    ("month_of_year", "month"),
    ("monthofyear", "month"),
    ("month", "month"),
    ("mnth", "month"),
    ("mth", "month"),
    ("quarter", "quarter"),
    ("qtr", "quarter"),
    ("season", "season"),
    ("year", "year"),
    ("yr", "year"),
    ("yyyy", "year"),
    ("day", "day"),
)
#: The numberings of each calendar field with a closed domain.
_CALENDAR_DOMAINS: dict[str, tuple[tuple[int, int], ...]] = {
    "month": ((1, 12),),
    "hour": ((0, 23),),
    "weekday": ((0, 6), (1, 7)),
    "day": ((1, 31),),
    "week": ((0, 53),),
    "quarter": ((1, 4),),
    "season": ((1, 4), (0, 3)),
}
#: Words that make a name a count, a rate or an indicator, not a calendar field.
_NOT_CALENDAR_WORDS = frozenset(
    {"is", "has", "per", "since", "until", "ago", "age", "num", "count", "n"}
)


def _name_words(name: str) -> list[str]:
    """Lower-case words of a column name: ``weekOfYear`` and ``week-of-year`` alike."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _calendar_name(name: str) -> tuple[CalendarField, str] | None:
    """The calendar field a column name says it is, and the name form that said so."""
    words = _name_words(name)
    if not words or _NOT_CALENDAR_WORDS.intersection(words):
        return None
    joined = f"_{'_'.join(words)}_"
    # Longest forms first: day_of_week is a weekday before day or week can match.
    for form, kind in sorted(_CALENDAR_NAMES, key=lambda f: -len(f[0].split("_"))):
        if f"_{form}_" in joined:
            return None if kind is None else (kind, form)
    return None


def _calendar_domain(name: str, values: pd.Series) -> tuple[CalendarField, int, int | None] | None:
    """The calendar field a whole-number column is, with its full domain, or None.

    Both the name and the values must say so (see the module docstring); a year
    has no upper bound.
    """
    said = _calendar_name(name)
    if said is None or values.empty or not _whole(values):
        return None
    kind, form = said
    seen = values.to_numpy(dtype=float)
    lo, hi, distinct = float(seen.min()), float(seen.max()), int(values.nunique())
    if kind == "year":
        index, calendar_year = hi <= 99 and lo >= 0, lo >= 1900 and hi <= 2100
        return ("year", int(lo), None) if index or calendar_year else None
    if lo == 0 and hi <= 1:
        return None  # 0 and 1 only: an indicator
    if kind == "day" and form == "day" and hi <= 7 and (lo == 0 or distinct == 7):
        kind = "weekday"  # a bare "day" holding a week's codes
    # The numberings in use; values that fit several (a weekday seen only from 2 to
    # 5) get all of them, so no day of either numbering is refused.
    fits = [(low, high) for low, high in _CALENDAR_DOMAINS[kind] if lo >= low and hi <= high]
    if not fits:
        return None
    return kind, min(f[0] for f in fits), max(f[1] for f in fits)


def _profile_column(
    series: pd.Series, name: str, rows: int
) -> tuple[dict[str, Any], str, CalendarField | None]:
    """Contract entry, review note and calendar field (or None) of one ordinary column."""
    values = series.dropna()
    distinct = int(values.nunique())
    nulls = _null_share(series)
    missing = f"{series.isna().mean():.1%} missing" if series.isna().any() else "none missing"
    entry: dict[str, Any] = {"name": name}
    unique_per_row = rows > 1 and distinct == rows

    calendar: CalendarField | None = None

    if values.empty:
        entry.update(type="categorical", max_null_share=1.0, severity="warn", feature=False)
        return entry, "always missing in the data: no feature; drop it or describe it", None

    if _is_bool(series):
        entry["type"] = "boolean"
        note = f"true/false ({missing})"
    elif _is_datetime(series) or (not _is_number(series) and _dates(series) is not None):
        entry.update(type="categorical", feature=False)
        note = f"dates ({missing}): no feature as they are; derive calendar columns if useful"
    elif _is_number(series):
        integer = _whole(values)
        lo, hi = float(values.min()), float(values.max())
        observed = f"observed {_fmt(lo)} to {_fmt(hi)}, {distinct} distinct values, {missing}"
        domain = _calendar_domain(name, values) if integer else None
        if domain is not None:
            calendar, low, high = domain
            entry.update(type="integer", min=low)
            if high is None:
                note = (
                    f"{observed}: a calendar code ({calendar}); years only grow, so no upper bound"
                )
            else:
                entry["max"] = high
                note = f"{observed}: a calendar code ({calendar}), its full domain {low} to {high}"
        elif integer and unique_per_row:
            entry.update(type="integer", min=_round(lo), feature=False)
            note = f"{observed}: unique on every row, looks like an id or record index: no feature"
        elif integer and distinct <= CODE_MAX_DISTINCT:
            entry.update(type="integer", min=_round(lo), max=_round(hi))
            note = f"{observed}: a code, exact observed range"
        else:
            low, high, how = _numeric_range(values, integer)
            entry.update(
                type="integer" if integer else "numeric", min=low, max=high, severity="warn"
            )
            note = f"{observed}: range {how}; only warns"
    else:
        text = _as_text(series)
        observed = f"text, {distinct} distinct values, {missing}"
        entry["type"] = "categorical"
        if unique_per_row:
            entry["feature"] = False
            note = f"{observed}: unique on every row, looks like an id: no feature"
        elif distinct <= CATEGORY_MAX_DISTINCT:
            entry["categories"] = sorted(text.unique().tolist(), key=_category_order)
            note = f"{observed}: categories as observed; a new one blocks the batch"
        else:
            note = f"{observed}: too many to list, any category is allowed"

    if distinct == 1 and entry.get("feature", True):
        entry["feature"] = False
        note += "; constant in the data: no feature"
    if calendar is not None and entry.get("feature", True):
        note += (
            "; a value the model never saw in training is one guardrail finding for the "
            "batch (calendar_columns)"
        )
    if nulls:
        entry["max_null_share"] = nulls
    return entry, note, calendar


def _time_entry(
    series: pd.Series, name: str, period: str | None
) -> tuple[dict[str, Any], str, str | None, pd.Series]:
    """Contract entry of the time column, its note, the period unit and each row's period."""
    if series.isna().any():
        raise ValueError(f"--time column {name!r} has missing values")
    if _is_number(series) and _whole(series):
        if period is not None:
            raise ValueError(
                f"--period applies to a date time column; {name!r} already holds integer periods"
            )
        values = series.dropna()
        entry = {"name": name, "type": "integer", "min": _round(values.min()), "feature": False}
        note = (
            f"the time column: integer periods {_fmt(values.min())} to {_fmt(values.max())}; "
            "no upper bound (periods only grow), never a feature"
        )
        return entry, note, None, series
    dates = _dates(series)
    if dates is None:
        raise ValueError(f"--time column {name!r} holds neither integer periods nor dates")
    if period is None:
        period = _pick_period(dates)
    elif period not in PERIODS:
        raise ValueError(f"--period must be one of {', '.join(PERIODS)}, not {period!r}")
    keys = _period_index(dates, period)
    first, last = dates.min(), dates.max()
    entry = {"name": name, "type": "categorical", "feature": False}
    note = (
        f"the time column: dates {first:%Y-%m-%d} to {last:%Y-%m-%d}, cut into "
        f"{keys.nunique()} {period}s (data.period); never a feature"
    )
    return entry, note, period, keys


def _period_index(dates: pd.Series, unit: str) -> pd.Series:
    """Each row's period, cut as the live flows and the replay cut it (mlops_core.periods)."""
    periods, _ = cut(dates, unit)  # type: ignore[arg-type]
    return pd.Series(periods, index=dates.index)


def _pick_period(dates: pd.Series) -> str:
    """The coarsest calendar unit that still gives enough periods to learn from."""
    for unit in ("month", "week"):
        if _period_index(dates, unit).nunique() >= _MIN_PERIODS_FOR_UNIT:
            return unit
    return "day"


def _time_order(series: pd.Series) -> pd.Series:
    """The time column as numbers that order the rows in time."""
    if _is_number(series):
        return series.astype(float)
    dates = _dates(series)
    assert dates is not None  # _time_entry accepted the column
    # Naive wall-clock times, as mlops_core.periods cuts them (no time-zone warning).
    return parse_times(dates).astype("int64")


def _is_time_index(column: pd.Series, time_order: pd.Series) -> bool:
    """A numeric column with many values that rises or falls with time, row for row.

    A day counter or a normalised date (``0.0`` on the first day, ``1.0`` on the
    last) only ever takes values the model has not seen. Codes (at most
    ``CODE_MAX_DISTINCT`` values, e.g. a year flag) are left alone.
    """
    if not _is_number(column) or column.nunique() <= CODE_MAX_DISTINCT:
        return False
    both = pd.DataFrame({"x": column.astype(float), "t": time_order}).dropna()
    if len(both) < 3 or both["t"].nunique() < 2:
        return False
    corr = both["x"].rank().corr(both["t"].rank())
    return bool(np.isfinite(corr) and abs(corr) >= TIME_INDEX_CORRELATION)


def _leak_note(column: pd.Series, target: pd.Series) -> str | None:
    """A warning when a numeric column follows a numeric target almost exactly."""
    if not (_is_number(column) and _is_number(target)):
        return None
    both = pd.DataFrame({"x": column, "y": target}).dropna()
    if len(both) < 3 or both["x"].nunique() < 2 or both["y"].nunique() < 2:
        return None
    corr = float(np.corrcoef(both["x"].to_numpy(float), both["y"].to_numpy(float))[0, 1])
    if abs(corr) < LEAK_CORRELATION:
        return None
    return (
        f"CHECK: correlates {corr:.2f} with the target; if it is only known together with "
        "the label it leaks it: set feature: false"
    )


# ------------------------------------------------------------------------ model
def _infer_task(target: pd.Series) -> Task:
    values = target.dropna()
    if _is_number(values) and (not _whole(values) or values.nunique() > CODE_MAX_DISTINCT):
        return "regression"
    return "classification"


def _classification_metric(target: pd.Series, periods: pd.Series) -> tuple[str, str]:
    """Accuracy, or balanced accuracy when a class is rare in the file or a part of it."""
    labeled = target.notna()
    y, keys = target[labeled].astype(str), periods[labeled]
    classes = sorted(y.unique())
    k = len(classes)
    if k < 2:
        return "accuracy", "one class only in the data: accuracy"
    rare = RARE_CLASS_FACTOR / k
    parts = [("the whole file", y)]
    ordered = sorted(keys.unique())
    if len(ordered) >= RARE_CLASS_PARTS:
        for i, chunk in enumerate(np.array_split(np.asarray(ordered), RARE_CLASS_PARTS)):
            parts.append((f"quarter {i + 1} of the periods", y[keys.isin(chunk).to_numpy()]))
    lowest_share, lowest_class, where = 1.0, classes[0], "the whole file"
    for name, part in parts:
        if part.empty:
            continue
        shares = part.value_counts(normalize=True).reindex(classes, fill_value=0.0)
        if float(shares.min()) < lowest_share:
            lowest_share, lowest_class, where = float(shares.min()), str(shares.idxmin()), name
    seen = f"the rarest class ({lowest_class!r}) holds {lowest_share:.1%} of the rows in {where}"
    if lowest_share < rare:
        return "balanced_accuracy", (
            f"{seen}, under {rare:.0%} (half of an even share): balanced accuracy, the mean "
            "of the per-class recalls, so the rare class counts as much as the common one "
            "and a shift in the class balance does not read as decay"
        )
    return "accuracy", f"{seen}, at least {rare:.0%} (half of an even share): accuracy"


def _model(task: Task) -> dict[str, Any]:
    estimator = "Regressor" if task == "regression" else "Classifier"
    return {
        "task": task,
        "estimator": f"sklearn.ensemble.HistGradientBoosting{estimator}",
        "params": {
            "max_iter": 200,
            "learning_rate": 0.1,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "loss": "squared_error" if task == "regression" else "log_loss",
            "early_stopping": False,
        },
        "random_state": 42,
    }


def _label_rules(task: Task, target: pd.Series) -> tuple[dict[str, Any], str]:
    """The label gate's target rules for the class of problem, with why."""
    rules = LabelPolicy().model_dump(exclude_none=True)
    values = target.dropna()
    if task == "regression":
        numbers = pd.to_numeric(values, errors="coerce").dropna()
        if float(numbers.min()) >= 0:
            rules["target_min"] = 0
            return rules, (
                "The target is never negative in the data: a negative label is a broken\n"
                "one (target_min: 0). No target_max: a true label above the largest one\n"
                f"seen ({_fmt(numbers.max())}) is real data; set one only for a physical limit."
            )
        return rules, "The target is negative in the data: no range rule (set a real limit)."
    if pd.api.types.is_float_dtype(values) and bool((values % 1 == 0).all()):
        values = values.astype("int64")
    classes = sorted({str(v) for v in values}, key=_category_order)
    if len({class_key(c) for c in classes}) < len(classes):
        return rules, (
            "Classes in the data differ only in case or spaces: no target_classes (a label\n"
            "could not be told apart from a misspelling); clean the classes first."
        )
    rules["target_classes"] = classes
    return rules, (
        "target_classes are the classes seen: a label whose class differs from one only\n"
        "in case or spaces is left out as misspelled; any other new class is kept and\n"
        "counted (a class the model never saw is real data under label shift)."
    )


# ---------------------------------------------------------------------- profile
def profile_frame(
    frame: pd.DataFrame,
    *,
    name: str,
    target: str,
    time: str,
    id_column: str | None = None,
    segment: str | None = None,
    period: str | None = None,
    task: str | None = None,
    source_name: str,
) -> UseCaseProfile:
    """Profile a data file into a starting use case and a review note per column.

    Args:
        frame: The data, one row per example, target included.
        name: Use-case name (lower case letters, digits, ``_`` and ``-``).
        target: The column the model predicts.
        time: The time column: integer periods, or dates cut by ``period``.
        id_column: The unique row id; None uses ``row_id``, which the replay adds.
        segment: Optional segment column (e.g. store).
        period: ``day``, ``week`` or ``month`` for a date time column; None picks
            the coarsest unit giving at least 12 periods.
        task: ``regression`` or ``classification``; None infers it from the target.
        source_name: Name of the profiled file (for the description and format).

    Returns:
        The mapping and the notes :func:`render_usecase_yaml` writes as comments.

    Raises:
        ValueError: A named column is not in the data, two roles name the same
            column, the time column holds neither periods nor dates, or the
            period, task or target are unusable.
    """
    if frame.columns.duplicated().any():
        raise ValueError("the data has duplicate column names")
    frame = frame.rename(columns=str)
    _check_columns(frame, target=target, time=time, id=id_column, segment=segment)
    roles = [c for c in (target, time, id_column, segment) if c is not None]
    if len(set(roles)) != len(roles):
        raise ValueError("--target, --time, --id and --segment must name different columns")
    if task is not None and task not in ("regression", "classification"):
        raise ValueError(f"--task must be regression or classification, not {task!r}")
    if frame.empty:
        raise ValueError("the data has no rows to profile")
    y = frame[target]
    if y.dropna().empty:
        raise ValueError(f"--target column {target!r} has no values")
    task_name: Task = task if task is not None else _infer_task(y)  # type: ignore[assignment]
    if task_name == "regression" and not _is_number(y):
        raise ValueError(f"--target column {target!r} is not numeric: a regression needs numbers")
    rows = len(frame)

    columns: list[dict[str, Any]] = []
    notes: dict[str, str] = {}
    calendar_columns: dict[str, CalendarField] = {}
    id_name = id_column or REPLAY_ID_COLUMN
    if id_column is None:
        if REPLAY_ID_COLUMN in frame.columns:
            raise ValueError(
                f"the data has a {REPLAY_ID_COLUMN!r} column: name it with --id if it is the id"
            )
        columns.append({"name": id_name, "type": "categorical", "feature": False})
        notes[id_name] = (
            "not in the file: the replay adds a unique id per row; live batches must carry it"
        )
    time_entry, time_note, unit, period_keys = _time_entry(frame[time], time, period)
    time_order = _time_order(frame[time])

    for col in frame.columns:
        col = str(col)
        if col == target:
            continue
        if col == time:
            columns.append(time_entry)
            notes[col] = time_note
            continue
        if col == id_column:
            ids = frame[col]
            unique = ids.dropna().nunique() == rows
            columns.append({"name": col, "type": "categorical", "feature": False})
            notes[col] = "the id column (--id): labels are joined on it" + (
                "" if unique else "; NOT unique in the data: check it, the contract requires it"
            )
            continue
        if col == segment:
            # A segment is a label (store 7), never a quantity: profile it as text.
            labels = pd.Series(segment_keys(frame[col].to_numpy()), index=frame.index)
            entry, note, _ = _profile_column(labels, col, rows)
            note = f"the segment column (--segment): {note}"
        else:
            entry, note, calendar = _profile_column(frame[col], col, rows)
            if calendar is not None and entry.get("feature", True):
                calendar_columns[col] = calendar
        if (
            entry.get("feature", True)
            and col not in calendar_columns
            and _is_time_index(frame[col], time_order)
        ):
            entry["feature"] = False
            note = (
                f"{note}; CHECK: follows the time column (rank correlation at least "
                f"{TIME_INDEX_CORRELATION:g}): a time index, whose every new value lies past "
                "the training range (a tree model reads them all as its last value, and "
                "drift fires on it each batch): no feature"
            )
        leak = _leak_note(frame[col], y) if entry.get("feature", True) else None
        if leak:
            note = f"{note}. {leak}"
        columns.append(entry)
        notes[col] = note

    if not any(c.get("feature", True) for c in columns):
        raise ValueError("no column of the data can be a feature (all are ids, dates or constant)")

    rows_per_period = period_keys.value_counts()
    typical_rows = int(rows_per_period.median())
    # Half a typical period catches a truncated export; a period as small as the
    # smallest one in the data is real (periods of very unequal size exist), so
    # the floor never rejects a batch the history itself holds.
    min_rows = max(1, min(typical_rows // 2, int(rows_per_period.min())))
    target_values = pd.to_numeric(y, errors="coerce").dropna()
    binary = task_name == "classification" and y.dropna().nunique() == 2
    if task_name == "regression":
        metric = {"primary": "mae", "secondary": ["rmse"]}
        metric_note = "regression: mean absolute error, in the target's own units"
    else:
        primary, metric_note = _classification_metric(y, period_keys)
        other = "accuracy" if primary == "balanced_accuracy" else "balanced_accuracy"
        metric = {"primary": primary, "secondary": [other, *(["f1", "roc_auc"] if binary else [])]}

    label_rules, label_note = _label_rules(task_name, y)
    retrain = RetrainPolicy().model_dump()
    retrain["min_new_labels"] = max(1, min(retrain["min_new_labels"], int(typical_rows * 0.8)))
    budget_window = PERIODS_PER_YEAR[unit] if unit is not None else BUDGET_WINDOW_INTEGER_PERIODS
    retrain["budget_window_periods"] = budget_window
    retrain["min_holdout_rows"] = MIN_HOLDOUT_ROWS
    retrain["max_retrains"] = budget_window
    # A monthly refresh: with retrain_cost 0 it costs only compute, and the
    # promotion gate keeps out a refresh that is not better. Models learn from
    # newer rows in a world that trends (levels, prices, new categories) even
    # when no single period shows a significant decay; the cooldown still
    # spaces retrains by label_delay + 1 periods.
    retrain["max_age_periods"] = (
        PERIODS_PER_MONTH[unit] if unit is not None else MAX_AGE_INTEGER_PERIODS
    )
    # A retrain's effect is measured once the labels of the first period it served
    # arrive: label_delay periods later. Deciding again before that judges a model
    # on no evidence of its own (a decay over critical_decay still overrides it).
    retrain["min_periods_between"] = LABEL_DELAY + 1
    rules: list[dict[str, Any]] = []
    guardrails: dict[str, Any] = {"rules": rules}
    input_rule: dict[str, Any] = {
        "kind": "input_out_of_range",
        "tolerance": RANGE_MARGIN,
        "batch_share": InputRangeRule.model_fields["batch_share"].default,
        "action": "flag",
    }
    if calendar_columns:
        input_rule["calendar_columns"] = calendar_columns
    if task_name == "regression":
        rules.append({"kind": "finite", "action": "fallback"})
        if float(target_values.min()) >= 0:
            rules.append({"kind": "range", "name": "non_negative", "min": 0, "action": "clip"})
        rules.append(input_rule)
        guardrails["fallback"] = {"value": _round(target_values.mean())}
    else:
        rules.append({"kind": "finite", "action": "quarantine"})
        rules.append(input_rule)
    guardrails["max_violation_rate"] = 0.25
    # Flags are expected (a new season's inputs): they never hold a whole batch.
    guardrails["breaker_counts_flags"] = False

    promotion = PromotionPolicy().model_dump()
    promotion["floor"] = None
    promotion["baseline"] = "naive"

    data: dict[str, Any] = {
        "landing": f"{name}/landing",
        "labels": f"{name}/labels",
        "format": "parquet" if source_name.lower().endswith((".parquet", ".pq")) else "csv",
        "id_column": id_name,
        "time_column": time,
    }
    if unit is not None:
        data["period"] = unit
    data["target_column"] = target
    if segment is not None:
        data["segment_column"] = segment
    data["label_delay"] = LABEL_DELAY

    what = "Forecast" if task_name == "regression" else "Predict"
    mapping: dict[str, Any] = {
        "name": name,
        "description": f"{what} {target} from the columns of {source_name} (profiled "
        "automatically: describe here what the model is for).",
        "data": data,
        "contract": {
            "min_rows": min_rows,
            "unique_id": True,
            "allow_extra_columns": False,
            "columns": columns,
        },
        "model": _model(task_name),
        "metric": metric,
        "drift": DriftPolicy().model_dump(),
        "labels": label_rules,
        "retrain": retrain,
        "promotion": promotion,
        "guardrails": guardrails,
        "alerts": AlertPolicy().model_dump(),
    }
    profile_notes = ProfileNotes(
        columns=notes,
        metric=metric_note,
        labels=label_note,
        rows=f"{rows} rows in {len(rows_per_period)} periods, typically {typical_rows} a period",
    )
    return UseCaseProfile(mapping=mapping, notes=profile_notes)


# ----------------------------------------------------------------------- render
_SECTION_NOTES: dict[str, str] = {
    "name": "Use-case id: names the MLflow experiment and registered model.",
    "data": "Where batches and labels land (relative to the data root) and which\n"
    "column plays which role. label_delay: periods after a batch before its\n"
    "labels arrive; set it to how late your labels really are.",
    "contract": "Every column of a batch with its type and rules, profiled from the data.\n"
    "Ranges: calendar codes (month, hour, weekday, ...) get their whole domain;\n"
    "other codes keep their observed range; measured values are widened by\n"
    "25% of their span and only warn. Replace them with the real limits you\n"
    "know (a price is never negative, a share never above 1) and make those\n"
    "errors. min_rows: half of a typical period's rows, never more than the\n"
    "smallest period of the profiled data (periods of very unequal size are real).",
    "model": "Histogram gradient boosting: a sound default for tabular data of any size.",
    "metric": "The primary metric drives every decision; secondary ones are logged.",
    "drift": "Per-feature drift tests and the multivariate domain classifier\n(project defaults).",
    "labels": "The label gate (mlops_core/label_gate.py): a label file with more than\n"
    "max_bad_row_share malformed rows is quarantined whole; below it they are left\n"
    "out and counted. corrections: a later label that changes an earlier one is\n"
    "applied (recorded) or refused.",
    "retrain": "When a retrain pays off (project defaults, except as said here).\n"
    "Budget: max_retrains per budget_window_periods, a window of one year in the\n"
    "period unit, allowing one retrain a period: with retrain_cost 0 a retrain costs\n"
    "nothing, so the budget never binds (a decayed model is never kept to save a\n"
    "free retrain). When retraining costs something, set retrain_cost and\n"
    "error_cost_per_unit (the cost check weighs a retrain against the error it saves)\n"
    "and lower max_retrains to the retrains a year you can afford; a decay over\n"
    "critical_decay still overrides it. min_holdout_rows: the gate\n"
    "judges on at least about 200 held-out rows (earlier periods join the holdout\n"
    "when the last one is small). max_age_periods: about a month in the period\n"
    "unit: a free refresh lets the model learn from newer rows in a world that\n"
    "trends, even when no period shows a significant decay; the gate keeps out a\n"
    "refresh that is not better. Decay is measured against the error the model\n"
    "makes one step after its training (out of time), not on its own holdout.\n"
    "min_periods_between:\n"
    "label_delay + 1, the periods until the labels of a new model's first period\n"
    "arrive, so its effect is measured before the next retrain (a decay over\n"
    "critical_decay, with its whole interval over max_decay, overrides it).",
    "promotion": "The gate a retrained model passes to replace the champion.\n"
    "baseline: naive: a challenger must beat the naive baseline refit on its own\n"
    "training window and scored on the same holdout rows: the median of the target\n"
    "(mae; the mean for rmse), or the majority class with the class shares as\n"
    "probabilities (classification). It moves with the data; no baseline, no\n"
    "promotion. floor: none. A floor measured on this whole file would use the\n"
    "future (its target level and class balance) and go stale as the data shifts;\n"
    "set one only from a quality the business requires.",
    "guardrails": "Business limits on every prediction before it leaves.\n"
    "input_out_of_range flags the rows whose inputs lie outside the champion's\n"
    "training range; a column out of range on batch_share of the rows or more,\n"
    "or a calendar column (calendar_columns) out of range at all, is one finding\n"
    "for the batch instead (a new season, not a suspect row), and the batch is\n"
    "delivered. max_violation_rate holds the whole batch when that share of\n"
    "predictions was clipped, replaced or held; flags count only with\n"
    "breaker_counts_flags: true.",
    "alerts": "When a guardrail condition pages a person (project defaults). One cause\n"
    "per rule:action (breach) or per column (finding). threshold: a new cause alerts,\n"
    "and a cause alerts when min_rate of the rows (or min_count rows) have it, each\n"
    "at most once per min_periods_between periods; the rest is muted and counted in\n"
    "the cycle's record. A cause absent from resolve_after measured cycles in a row is\n"
    "resolved (a message is sent). A circuit-breaker trip always alerts. Other modes:\n"
    "immediate (every condition) and digest (one message every digest_every_periods).\n"
    "Quarantines, leak suspicions, promotions and rollbacks always alert at once.",
}


def _comment(text: str, indent: str = "") -> str:
    lines = []
    for paragraph in text.splitlines():
        lines.extend(textwrap.wrap(paragraph, width=96 - len(indent)) or [""])
    return "".join(f"{indent}# {line}".rstrip() + "\n" for line in lines)


class _Dumper(yaml.SafeDumper):
    """Block style, except lists of plain values (categories) on one line."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = all(not isinstance(v, dict | list | tuple) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(list, _represent_list)


def _dump(value: Any) -> str:
    return yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=96,
    )


def render_usecase_yaml(
    mapping: Mapping[str, Any],
    *,
    source_name: str | None = None,
    notes: ProfileNotes | None = None,
) -> str:
    """Write a use-case mapping as commented YAML for a person to review.

    Args:
        mapping: The use case, e.g. ``profile_frame(...).mapping``.
        source_name: The profiled file, named in the header.
        notes: The observations behind the values (per column, the metric, the
            rows), written as comments above what they explain.

    Returns:
        YAML text that loads back to ``mapping``.
    """
    notes = notes or ProfileNotes()
    origin = f" from {source_name}" if source_name else ""
    out = [
        _comment(
            f"Generated by `mlops init-usecase`{origin}: a starting point profiled from\n"
            "the data, not a reviewed use case. Review EVERY value before using it:\n"
            "column types and limits, the roles of the columns, the metric, the\n"
            "policies and the guardrails. Values come from the data as it was, so\n"
            "anything the file did not show (a future category, a real upper limit)\n"
            "is not known here."
        )
    ]
    if notes.rows:
        out.append(_comment(f"Profiled: {notes.rows}."))
    for key, value in mapping.items():
        out.append("\n")
        note = _SECTION_NOTES.get(key)
        if key == "metric" and notes.metric:
            note = f"{note}\nChosen because {notes.metric}."
        if key == "labels" and notes.labels:
            note = f"{note}\n{notes.labels}"
        if key == "guardrails" and mapping.get("model", {}).get("task") == "regression":
            note = (
                f"{note}\nfallback.value is the target's mean in the profiled data; a column\n"
                "(e.g. last period's value) is usually a better fallback."
            )
        if note:
            out.append(_comment(note))
        if key == "contract" and isinstance(value, Mapping) and "columns" in value:
            head = {k: v for k, v in value.items() if k != "columns"}
            out.append(_dump({key: head}) if head else f"{key}:\n")
            out.append("  columns:\n")
            for column in value["columns"]:
                col_note = notes.columns.get(str(column.get("name")))
                if col_note:
                    out.append(_comment(col_note, indent="    "))
                body = _dump([column])
                out.append("".join(f"    {line}\n" for line in body.splitlines()))
            continue
        out.append(_dump({key: value}))
    return "".join(out)
