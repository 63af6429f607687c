"""The data contract's structural rules: what a batch is checked for before its values.

These rules need neither a validation engine nor a file: they read the batch's
column names, row count and values in pandas, and every rule yields a
:class:`~mlops_core.decisions.RuleResult`, passed or failed, so the record shows
what was checked. :func:`check_structure` runs them all and hands back the
contract columns that exist, with their values ready for the value rules
(range, categories, boolean, missing share, unique ids) that an engine checks.

Structural rules:

- ``duplicate_columns``: no column name appears twice (the first one is kept).
- ``column_present``: every contract column is there.
- ``extra_columns``: no column outside the contract (passes when the contract
  allows them; the id, time and segment columns are never extra).
- ``target_leak``: the target column is not in the batch.
- ``empty_batch``: the batch has at least one row.
- ``period`` and ``period_span``: every time value falls in a period; a batch
  spanning several periods is a warning.
- ``dtype``: numeric and integer columns hold finite (whole) numbers.

The value rules of a missing column, and the range of a column whose values are
not all numbers, are reported as failed because they could not be checked.
Type rules are errors because a model cannot consume a text value in a numeric
feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops_core.config import ColumnContract, ContractConfig, UseCase
from mlops_core.decisions import RuleResult
from mlops_core.periods import HINT_VALUES, bad_period_problem, cut, period_label

Severity = Literal["error", "warn"]

#: Offending values a failed rule lists (distinct, as text).
MAX_EXAMPLES = 5
#: Contract column types whose values must parse as numbers.
NUMERIC_TYPES = ("numeric", "integer")


@dataclass(frozen=True)
class StructureCheck:
    """The structural rules' results and what the value rules are to check.

    Attributes:
        results: One RuleResult per structural rule and column, in the order
            the batch record lists them.
        values: The contract columns present in the batch (numbers parsed,
            categories as text categoricals), sharing the batch's data; None
            when the batch has no rows, so no value can be checked.
        unparsable: Numeric columns whose values are not all numbers: their
            ``values`` are the raw ones and their range is not checked.
    """

    results: tuple[RuleResult, ...]
    values: pd.DataFrame | None
    unparsable: frozenset[str]


@dataclass(frozen=True)
class NumericTally:
    """What the ``dtype`` rule found in a numeric column, over some rows.

    Each problem is counted only in rows whose earlier problems are absent
    (a chunk with a value that is not a number is not checked for infinite
    values, as the whole batch would not be); :meth:`StructureTally.results`
    reports the first problem found anywhere, so the order is the same.

    Attributes:
        unparsed: Values that are not numbers.
        infinite: Infinite values.
        fractional: Values with a fraction (integer columns).
        unparsed_head, infinite_head, fractional_head: The first
            :data:`DTYPE_EXAMPLE_ROWS` such values, in row order.
    """

    unparsed: int = 0
    infinite: int = 0
    fractional: int = 0
    unparsed_head: tuple[Any, ...] = ()
    infinite_head: tuple[Any, ...] = ()
    fractional_head: tuple[Any, ...] = ()

    def merged(self, later: NumericTally) -> NumericTally:
        """This tally and the one of the rows after it."""
        return NumericTally(
            unparsed=self.unparsed + later.unparsed,
            infinite=self.infinite + later.infinite,
            fractional=self.fractional + later.fractional,
            unparsed_head=_head(self.unparsed_head + later.unparsed_head, DTYPE_EXAMPLE_ROWS),
            infinite_head=_head(self.infinite_head + later.infinite_head, DTYPE_EXAMPLE_ROWS),
            fractional_head=_head(self.fractional_head + later.fractional_head, DTYPE_EXAMPLE_ROWS),
        )


@dataclass(frozen=True)
class PeriodTally:
    """The time column over some rows: the values that cannot be cut, the periods of the rest.

    Attributes:
        bad: Values that cannot be cut into a period.
        bad_head: The first :data:`~mlops_core.periods.HINT_VALUES` of them.
        numeric: Whether the column's dtype was numeric in every chunk.
        counts: Rows per period (of the values that can be cut).
    """

    bad: int
    bad_head: tuple[Any, ...]
    numeric: bool
    counts: Mapping[int, int]

    def merged(self, later: PeriodTally) -> PeriodTally:
        """This tally and the one of the rows after it."""
        counts = dict(self.counts)
        for period, rows in later.counts.items():
            counts[period] = counts.get(period, 0) + rows
        return PeriodTally(
            bad=self.bad + later.bad,
            bad_head=_head(self.bad_head + later.bad_head, HINT_VALUES),
            numeric=self.numeric and later.numeric,
            counts=counts,
        )


@dataclass(frozen=True)
class StructureTally:
    """What the structural rules need to know of a batch, mergeable chunk by chunk.

    A batch read whole is one tally; a batch read in chunks is the merge of
    its chunks' tallies, in row order, and gives the same rule results.

    Attributes:
        columns: The column names as read, duplicates included.
        rows: Rows in the batch.
        period: The time column's tally (None when it is missing or no row was read).
        numeric: The dtype tally of each numeric contract column present.
    """

    columns: tuple[str, ...]
    rows: int
    period: PeriodTally | None
    numeric: Mapping[str, NumericTally]

    def merged(self, later: StructureTally) -> StructureTally:
        """This tally and the one of the rows after it (the same columns)."""
        if later.columns != self.columns:
            raise ValueError(
                f"chunks of one batch have different columns: {self.columns} and {later.columns}"
            )
        numeric = dict(self.numeric)
        for name, tally in later.numeric.items():
            numeric[name] = numeric[name].merged(tally) if name in numeric else tally
        period = self.period
        if later.period is not None:
            period = later.period if period is None else period.merged(later.period)
        return StructureTally(self.columns, self.rows + later.rows, period, numeric)

    @property
    def unparsable(self) -> frozenset[str]:
        """Numeric columns with a value that is not a number (their range is not checked)."""
        return frozenset(name for name, tally in self.numeric.items() if tally.unparsed)

    def results(self, usecase: UseCase) -> tuple[RuleResult, ...]:
        """The structural rules' results, in the order the batch record lists them."""
        contract = usecase.contract
        results: list[RuleResult] = []
        duplicated = sorted({c for i, c in enumerate(self.columns) if c in self.columns[:i]})
        results.append(_duplicate_columns_result(duplicated))
        present = set(self.columns)
        results.extend(_column_presence(contract, present))
        results.extend(_extra_columns(usecase, present))
        results.append(_target_leak(usecase, present))
        if self.rows == 0:
            # Nothing to check values on; missing columns are still named.
            results.append(
                rule_result(
                    "empty_batch",
                    None,
                    "error",
                    False,
                    "the batch has no rows (empty or header-only file)",
                )
            )
            results.extend(_missing_column_rules(usecase, present))
            return tuple(results)
        results.append(
            rule_result("empty_batch", None, "error", True, f"the batch has {self.rows} rows")
        )
        if self.period is not None:
            results.extend(_period_rules(self.period, self.rows, usecase))
        results.extend(
            _dtype_result(c, self.numeric[c.name], self.rows)
            for c in contract.columns
            if c.name in self.numeric
        )
        results.extend(_missing_column_rules(usecase, present))
        unparsable = self.unparsable
        results.extend(
            rule_result(
                "range",
                c.name,
                c.severity,
                False,
                f"column '{c.name}': range not checked because its values are not all numbers",
            )
            for c in contract.columns
            if c.name in unparsable and has_range(c)
        )
        return tuple(results)


#: Offending values of a failed ``dtype`` rule kept for its examples.
DTYPE_EXAMPLE_ROWS = 50


def check_structure(frame: pd.DataFrame, usecase: UseCase) -> StructureCheck:
    """Check a batch's structure against the use case's data contract.

    Args:
        frame: The batch as read (not modified, not copied whole).
        usecase: The use case whose ``contract`` and ``data`` roles apply.

    Returns:
        The structural rules' results, and the contract columns' values for
        the value rules (None when the batch is empty).
    """
    tally, values = observe_structure(frame, usecase)
    return StructureCheck(tally.results(usecase), values, tally.unparsable)


def observe_structure(
    frame: pd.DataFrame, usecase: UseCase
) -> tuple[StructureTally, pd.DataFrame | None]:
    """Tally a batch, or one chunk of it, for the structural rules.

    Args:
        frame: The rows as read (not modified, not copied whole).
        usecase: The use case whose ``contract`` and ``data`` roles apply.

    Returns:
        The tally, and the contract columns present with their values ready for
        the value rules (numbers parsed where they all parse, categories as text
        categoricals; None when ``frame`` has no rows).
    """
    columns = tuple(str(c) for c in frame.columns)
    if frame.columns.duplicated().any():
        # Keep the first occurrence so frame[col] is a Series below.
        frame = frame.loc[:, ~frame.columns.duplicated()]
    present = set(columns)
    if len(frame) == 0:
        return StructureTally(columns, 0, None, {}), None
    time_column = usecase.data.time_column
    period = _period_tally(frame[time_column], usecase) if time_column in present else None
    narrow: dict[str, pd.Series] = {}
    numeric: dict[str, NumericTally] = {}
    for column in usecase.contract.columns:
        if column.name not in present:
            continue
        series = frame[column.name]
        if column.type in NUMERIC_TYPES:
            numbers, numeric[column.name] = _numeric_values(series, column)
            # Nulls are still checked on the raw values of a column that does not parse.
            narrow[column.name] = series if numbers is None else numbers
        elif column.type == "categorical" and column.categories is not None:
            narrow[column.name] = _as_categories(series)
        else:
            narrow[column.name] = series
    # copy=False: the columns are views of the batch's, not one consolidated copy of them.
    values = pd.DataFrame(narrow, index=frame.index, copy=False)
    return StructureTally(columns, len(frame), period, numeric), values


def _head(values: tuple[Any, ...], size: int) -> tuple[Any, ...]:
    return values[:size]


# ------------------------------------------------------------- rule results
def rule_result(
    rule: str,
    column: str | None,
    severity: Severity,
    success: bool,
    message: str,
    *,
    unexpected_count: int = 0,
    rows: int = 0,
    examples: Iterable[Any] = (),
) -> RuleResult:
    """One rule's outcome, its share of rows and a few distinct offending values as text.

    Args:
        rule: Rule kind, e.g. ``"range"``.
        column: Column the rule checks; None for table rules.
        severity: ``"error"`` blocks the batch, ``"warn"`` is listed only.
        success: Whether the rule held.
        message: What was checked and, on failure, what was found.
        unexpected_count: Offending rows (or values).
        rows: Rows in the batch, for the share (0: share 0).
        examples: Offending values; at most ``MAX_EXAMPLES`` distinct ones are kept.

    Returns:
        The RuleResult.
    """
    return RuleResult(
        rule=rule,
        column=column,
        severity=severity,
        success=success,
        message=message,
        unexpected_count=int(unexpected_count),
        unexpected_share=float(unexpected_count / rows) if rows else 0.0,
        examples=example_texts(examples),
    )


def example_texts(values: Iterable[Any]) -> tuple[str, ...]:
    """The first ``MAX_EXAMPLES`` distinct values, as text, in the order seen."""
    seen: list[str] = []
    for value in values:
        text = str(value)
        if text not in seen:
            seen.append(text)
        if len(seen) == MAX_EXAMPLES:
            break
    return tuple(seen)


def quoted(names: Sequence[str]) -> str:
    """Names in single quotes, comma-separated: ``'a', 'b'``."""
    return ", ".join(f"'{n}'" for n in names)


def _duplicate_columns_result(duplicated: list[str]) -> RuleResult:
    if duplicated:
        return rule_result(
            "duplicate_columns",
            None,
            "error",
            False,
            f"column names appear more than once: {quoted(duplicated)}",
            unexpected_count=len(duplicated),
            examples=duplicated,
        )
    return rule_result("duplicate_columns", None, "error", True, "every column name is unique")


def _period_tally(times: pd.Series, usecase: UseCase) -> PeriodTally:
    periods, bad = cut(times, usecase.data.period)
    found, counts = np.unique(periods[~bad], return_counts=True)
    return PeriodTally(
        bad=int(bad.sum()),
        bad_head=tuple(times[bad].head(HINT_VALUES).tolist()),
        numeric=pd.api.types.is_numeric_dtype(times),
        counts=dict(zip(found.tolist(), counts.tolist(), strict=True)),
    )


def _period_rules(tally: PeriodTally, rows: int, usecase: UseCase) -> list[RuleResult]:
    """Every row can be cut into a period; a batch spanning several periods is said."""
    data = usecase.data
    column, unit = data.time_column, data.period
    if tally.bad:
        problem = bad_period_problem(
            tally.bad_head, tally.bad, rows, numeric=tally.numeric, unit=unit, column=column
        )
        return [
            rule_result(
                "period",
                column,
                "error",
                False,
                problem,
                unexpected_count=tally.bad,
                rows=rows,
                examples=tally.bad_head[:MAX_EXAMPLES],
            )
        ]
    first, last = min(tally.counts), max(tally.counts)
    ok = rule_result(
        "period",
        column,
        "error",
        True,
        f"every row falls in a period ({period_label(last, unit)})"
        if first == last
        else f"every row falls in a period ({period_label(first, unit)} to "
        f"{period_label(last, unit)})",
    )
    spanned = len(tally.counts)
    span = rule_result(
        "period_span",
        column,
        "warn",
        spanned == 1,
        f"the batch falls in one period, {period_label(last, unit)}"
        if spanned == 1
        else f"the batch spans {spanned} periods ({period_label(first, unit)} to "
        f"{period_label(last, unit)}): it counts as {period_label(last, unit)}, and each "
        "row keeps its own period for labels and training",
        unexpected_count=rows - tally.counts[last],
        rows=rows,
    )
    return [ok, span]


def _column_presence(contract: ContractConfig, present: set[str]) -> list[RuleResult]:
    return [
        rule_result(
            "column_present",
            c.name,
            "error",
            c.name in present,
            f"column '{c.name}' is present"
            if c.name in present
            else f"column '{c.name}' is missing from the batch",
        )
        for c in contract.columns
    ]


def _extra_columns(usecase: UseCase, present: set[str]) -> list[RuleResult]:
    data = usecase.data
    known = {c.name for c in usecase.contract.columns}
    known |= {data.id_column, data.time_column}
    if data.segment_column is not None:
        known.add(data.segment_column)
    extra = sorted(present - known)
    if not extra:
        return [rule_result("extra_columns", None, "error", True, "no column outside the contract")]
    if usecase.contract.allow_extra_columns:
        return [
            rule_result(
                "extra_columns",
                None,
                "error",
                True,
                f"columns outside the contract are allowed and ignored: {quoted(extra)}",
                examples=extra,
            )
        ]
    return [
        rule_result(
            "extra_columns",
            None,
            "error",
            False,
            f"columns not in the contract: {quoted(extra)} (a renamed column shows up "
            "as one missing and one extra column)",
            unexpected_count=len(extra),
            examples=extra,
        )
    ]


def _target_leak(usecase: UseCase, present: set[str]) -> RuleResult:
    target = usecase.data.target_column
    if target in present:
        return rule_result(
            "target_leak",
            target,
            "error",
            False,
            f"the batch carries the target column '{target}': batches must arrive "
            "without labels (labels come in label files)",
        )
    return rule_result("target_leak", target, "error", True, f"target column '{target}' is absent")


def _value_rules(column: ColumnContract, usecase: UseCase) -> list[tuple[str, Severity]]:
    """Rules (name, severity) that check the values of ``column``."""
    rules: list[tuple[str, Severity]] = []
    if column.type in NUMERIC_TYPES:
        rules.append(("dtype", "error"))
        if has_range(column):
            rules.append(("range", column.severity))
    elif column.type == "boolean":
        rules.append(("boolean", "error"))
    elif column.categories is not None:
        rules.append(("categories", column.severity))
    rules.append(("null_share", column.severity))
    if column.max_null_share < 1.0:
        rules.append(("some_values", "error"))
    if usecase.contract.unique_id and column.name == usecase.data.id_column:
        rules.append(("unique_id", "error"))
    return rules


def _missing_column_rules(usecase: UseCase, present: set[str]) -> list[RuleResult]:
    return [
        rule_result(
            rule,
            c.name,
            severity,
            False,
            f"column '{c.name}': rule '{rule}' not checked because the column is missing",
        )
        for c in usecase.contract.columns
        if c.name not in present
        for rule, severity in _value_rules(c, usecase)
    ]


def has_range(column: ColumnContract | None) -> bool:
    """Whether the contract bounds the column's values (a minimum, a maximum or both)."""
    return column is not None and (column.min is not None or column.max is not None)


def _numeric_values(
    series: pd.Series, column: ColumnContract
) -> tuple[pd.Series | None, NumericTally]:
    """Check that a numeric column holds numbers (whole numbers for integers).

    Returns the values to give GX (the series itself when its dtype is numeric,
    the parsed numbers when text parses cleanly, None when some values are not
    numbers, so no range can be checked) and the dtype rule's tally.
    """
    numbers = series
    if not pd.api.types.is_numeric_dtype(series):
        numbers = pd.to_numeric(series, errors="coerce")
        unparsed = (numbers.isna() & series.notna()).to_numpy()
        if unparsed.any():
            return None, NumericTally(
                unparsed=int(unparsed.sum()),
                unparsed_head=tuple(series[unparsed].head(DTYPE_EXAMPLE_ROWS).tolist()),
            )
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    # A model cannot take an infinite input (scikit-learn refuses the whole
    # batch), whatever severity the column's range has.
    infinite = np.isinf(values)
    if infinite.any():
        return numbers, NumericTally(
            infinite=int(infinite.sum()),
            infinite_head=tuple(numbers[infinite].head(DTYPE_EXAMPLE_ROWS).tolist()),
        )
    if column.type == "integer":
        fractional = np.isfinite(values) & (values != np.floor(values))
        if fractional.any():
            return numbers, NumericTally(
                fractional=int(fractional.sum()),
                fractional_head=tuple(numbers[fractional].head(DTYPE_EXAMPLE_ROWS).tolist()),
            )
    return numbers, NumericTally()


def _dtype_result(column: ColumnContract, tally: NumericTally, rows: int) -> RuleResult:
    """The dtype rule: the first problem of the three found in the column, or a pass."""
    if tally.unparsed:
        return _dtype_failure(
            column.name,
            tally.unparsed,
            tally.unparsed_head,
            rows,
            "numbers",
            "do not parse as numbers (a decimal comma or text?)",
        )
    if tally.infinite:
        return _dtype_failure(
            column.name, tally.infinite, tally.infinite_head, rows, "finite numbers", "are infinite"
        )
    if tally.fractional:
        return _dtype_failure(
            column.name,
            tally.fractional,
            tally.fractional_head,
            rows,
            "whole numbers",
            "have a fraction",
        )
    kind = "whole numbers" if column.type == "integer" else "numbers"
    return rule_result("dtype", column.name, "error", True, f"column '{column.name}' holds {kind}")


def _dtype_failure(
    name: str, count: int, found: Sequence[Any], rows: int, expected: str, problem: str
) -> RuleResult:
    """The failed dtype rule: how many values are bad, what is wrong, examples."""
    return rule_result(
        "dtype",
        name,
        "error",
        False,
        f"column '{name}' must hold {expected} but {count} of {rows} values "
        f"({count / rows:.2%}) {problem}, e.g. {quoted(example_texts(found))}",
        unexpected_count=count,
        rows=rows,
        examples=found,
    )


def _as_categories(series: pd.Series) -> pd.Series:
    """Text values as a pandas categorical, the form the value checks read fastest.

    Encoding once costs one pass; every later check (missing values, distinct
    values, membership) then reads integer codes instead of comparing strings.
    """
    if isinstance(series.dtype, pd.CategoricalDtype) and all(
        isinstance(c, str) for c in series.cat.categories
    ):
        return series
    return _as_text(series).astype("category")


def _as_text(series: pd.Series) -> pd.Series:
    """Categories are text in the contract; compare numeric codes as text too."""
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        return series
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object)
    values = series
    if pd.api.types.is_float_dtype(series):
        finite = series.dropna()
        if (finite == np.floor(finite)).all():
            values = series.astype("Int64")  # 3.0 -> "3", the way it was written
    return values.astype(str).where(series.notna(), None)
