"""Batch validation: the data contract as a Great Expectations suite, mapped to RuleResults.

This is the only module that talks to Great Expectations. It turns the use case's
contract into an expectation suite, runs it on a whole-dataframe batch in an
ephemeral context kept per contract, and maps every ``ExpectationValidationResult``
into a :class:`~mlops_core.decisions.RuleResult`. The gate decision itself is made
in ``mlops_core`` from those results.

The suite runs in two passes, so a million-row batch costs a few column scans:

1. Batch-level expectations on every rule (column minimum and maximum, distinct
   values, share of values present, share of unique ids, row count). Each is one
   aggregate over a column; GX's row-level expectations instead copy the whole
   frame once per expectation to collect the failing rows.
2. Only if a row-level rule failed (range, categories, boolean, unique ids): GX's
   row-level expectations for those rules, on the failed columns alone, to count
   the offending rows and list examples.

Text categories reach GX as pandas categoricals (encoded once), and the frame
GX sees shares its columns with the batch instead of copying them.

Rules and their severities:

==================  ===============================================  =================
rule                checks                                           severity
==================  ===============================================  =================
readable            the file could be read                           error
duplicate_columns   no column name appears twice                     error
column_present      every contract column is there                   error
extra_columns       no column outside the contract                   error (pass when
                                                                     allowed)
target_leak         the target column is not in the batch            error
empty_batch         the batch has at least one row                   error
min_rows            the batch has at least ``contract.min_rows``     error
dtype               numeric/integer values parse as finite (whole)   error
                    numbers
boolean             boolean values are in {0, 1, True, False}        error
unique_id           ids are unique (when ``contract.unique_id``)     error
range               values within [min, max]                         column severity
categories          values in the allowed categories                 column severity
null_share          missing share <= ``max_null_share``              column severity
some_values         at least one value present (a column emptied by  error (unless
                    a broken export), unless ``max_null_share`` is 1  all may be missing)
==================  ===============================================  =================

Type rules are errors because a model cannot consume a text value in a numeric
feature; value rules take the column's severity so a contract can merely warn.

Structural rules (missing/extra/target columns, empty batch, parse-as-number) are
checked in pandas before GX: GX only sees a narrow frame with the contract columns
that exist, because GX 1.x copies the whole frame many times per run and raises on
missing columns. Value rules of a missing column (or the range rule of a column
whose values are not numbers) are reported as failed because they could not be
checked, never raised.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops_core.config import ColumnContract, ContractConfig, UseCase
from mlops_core.decisions import RuleResult
from mlops_core.periods import cut, period_label, period_problem

Severity = Literal["error", "warn"]

MAX_EXAMPLES = 5
# GX collects this many unexpected values; duplicates (e.g. repeated ids) are
# removed before keeping MAX_EXAMPLES, so ask for more than we keep.
_PARTIAL_UNEXPECTED = 20
_NUMERIC_TYPES = ("numeric", "integer")
_BOOLEAN_VALUES = [0, 1, True, False]
# Share of non-missing values a column must reach for "some_values": any value at all.
_SOME_VALUES_SHARE = 1e-9
# Bytes read from the end of a CSV to check that its last row is complete.
_TAIL_BYTES = 64 * 1024


# ------------------------------------------------------------------------ reading
def read_batch_file(
    path: str | os.PathLike[str], fmt: Literal["csv", "parquet"]
) -> tuple[pd.DataFrame | None, tuple[RuleResult, ...]]:
    """Read a batch file without coercing its types.

    CSV is read as UTF-8 with an optional byte-order mark; dtypes are the ones
    pandas infers, so a text value in a numeric column stays visible to
    :func:`validate_frame`. A header-only file gives an empty frame (the
    ``empty_batch`` rule then fails it).

    Args:
        path: Local path of the batch file.
        fmt: ``"csv"`` or ``"parquet"``.

    Returns:
        ``(frame, ())`` when the file was read, or ``(None, (failed 'readable'
        rule,))`` when it is empty, truncated, not UTF-8 or not valid Parquet.

    Raises:
        FileNotFoundError: The file does not exist (an I/O problem the caller may
            retry, not a bad batch).
        ValueError: ``fmt`` is not a supported format.
    """
    file = Path(path)
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unsupported batch format {fmt!r}; expected 'csv' or 'parquet'")
    if not file.is_file():
        raise FileNotFoundError(f"batch file {file} does not exist")
    if file.stat().st_size == 0:
        return None, (_unreadable(file, fmt, "the file is empty (0 bytes)"),)
    try:
        if fmt == "csv":
            frame = pd.read_csv(file, encoding="utf-8-sig")
            problem = _truncated_csv_problem(file, len(frame.columns))
            if not isinstance(frame.index, pd.RangeIndex):
                # pandas turns a first column without a header into the index when
                # every row has one field more than the header: a malformed file.
                problem = "its rows have more fields than the header"
            if problem is not None:
                return None, (_unreadable(file, fmt, problem),)
        else:
            frame = pd.read_parquet(file)
    except UnicodeDecodeError as exc:
        return None, (
            _unreadable(
                file, fmt, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ),
        )
    except pd.errors.EmptyDataError:
        return None, (_unreadable(file, fmt, "the file has no header and no rows"),)
    except (ValueError, OSError) as exc:
        # pandas ParserError and pyarrow's ArrowInvalid subclass ValueError; a
        # broken Parquet footer can also surface as OSError from pyarrow.
        return None, (_unreadable(file, fmt, _first_line(exc)),)
    return frame, ()


def _truncated_csv_problem(file: Path, header_fields: int) -> str | None:
    """Say why the file looks truncated, or None.

    pandas pads a short last row with missing values silently, so a file cut
    off mid-row would pass as a row with nulls. A complete CSV ends with a
    newline or has a full last row; check the last line's field count.
    """
    size = file.stat().st_size
    with file.open("rb") as handle:
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read()
    if tail.endswith((b"\n", b"\r")):
        return None
    last_line = tail.splitlines()[-1].decode("utf-8", errors="replace")
    fields = next(csv.reader(io.StringIO(last_line)), [])
    if len(fields) < header_fields:
        return (
            f"the file looks truncated: its last row has {len(fields)} of {header_fields} "
            "fields and no line end"
        )
    return None


def _unreadable(file: Path, fmt: str, why: str) -> RuleResult:
    return RuleResult(
        rule="readable",
        severity="error",
        success=False,
        message=f"{file.name}: cannot read the {fmt.upper()} file: {why}",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# --------------------------------------------------------------------- validation
def validate_frame(frame: pd.DataFrame, usecase: UseCase) -> tuple[RuleResult, ...]:
    """Check a batch against the use case's data contract.

    Structural rules run in pandas; value rules run as one Great Expectations
    validation over the contract columns present in the batch. Every rule
    yields a result, passed or failed, so the record shows what was checked.

    Args:
        frame: The batch as read (not modified, not copied whole).
        usecase: The use case whose ``contract`` and ``data`` roles apply.

    Returns:
        One RuleResult per rule and column, structural rules first.
    """
    contract = usecase.contract
    rows = len(frame)
    results: list[RuleResult] = []

    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    results.append(_duplicate_columns_result(duplicated))
    if duplicated:
        # Keep the first occurrence so frame[col] is a Series below.
        frame = frame.loc[:, ~frame.columns.duplicated()]

    present = {str(c) for c in frame.columns}
    results.extend(_column_presence(contract, present))
    results.extend(_extra_columns(usecase, present))
    results.append(_target_leak(usecase, present))

    if rows == 0:
        # Nothing to check values on; missing columns are still named.
        results.append(
            _rule(
                "empty_batch",
                None,
                "error",
                False,
                "the batch has no rows (empty or header-only file)",
            )
        )
        results.extend(_missing_column_rules(usecase, present))
        return tuple(results)
    results.append(_rule("empty_batch", None, "error", True, f"the batch has {rows} rows"))
    if usecase.data.time_column in present:
        results.extend(_period_rules(frame[usecase.data.time_column], usecase))

    narrow: dict[str, pd.Series] = {}
    unparsable: list[ColumnContract] = []
    for column in contract.columns:
        if column.name not in present:
            continue
        series = frame[column.name]
        if column.type in _NUMERIC_TYPES:
            numbers, dtype_result = _numeric_values(series, column, rows)
            results.append(dtype_result)
            if numbers is None:
                unparsable.append(column)
                narrow[column.name] = series  # nulls are still checked on the raw values
            else:
                narrow[column.name] = numbers
        elif column.type == "categorical" and column.categories is not None:
            narrow[column.name] = _as_categories(series)
        else:
            narrow[column.name] = series

    results.extend(_missing_column_rules(usecase, present))
    results.extend(
        _rule(
            "range",
            c.name,
            c.severity,
            False,
            f"column '{c.name}': range not checked because its values are not all numbers",
        )
        for c in unparsable
        if _has_range(c)
    )
    # copy=False: the columns are views of the batch's, not one consolidated copy of them.
    narrow_frame = pd.DataFrame(narrow, index=frame.index, copy=False)
    skip_range = frozenset(c.name for c in unparsable)
    results.extend(_run_suite(narrow_frame, usecase, skip_range=skip_range))
    return tuple(results)


# ------------------------------------------------------------- structural rules
def _rule(
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
    return RuleResult(
        rule=rule,
        column=column,
        severity=severity,
        success=success,
        message=message,
        unexpected_count=int(unexpected_count),
        unexpected_share=float(unexpected_count / rows) if rows else 0.0,
        examples=_examples(examples),
    )


def _examples(values: Iterable[Any]) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        text = str(value)
        if text not in seen:
            seen.append(text)
        if len(seen) == MAX_EXAMPLES:
            break
    return tuple(seen)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _duplicate_columns_result(duplicated: list[str]) -> RuleResult:
    if duplicated:
        return _rule(
            "duplicate_columns",
            None,
            "error",
            False,
            f"column names appear more than once: {_quoted(duplicated)}",
            unexpected_count=len(duplicated),
            examples=duplicated,
        )
    return _rule("duplicate_columns", None, "error", True, "every column name is unique")


def _period_rules(times: pd.Series, usecase: UseCase) -> list[RuleResult]:
    """Every row can be cut into a period; a batch spanning several periods is said."""
    data = usecase.data
    column, rows = data.time_column, len(times)
    periods, bad = cut(times, data.period)
    problem = period_problem(times, data.period, column, bad)
    if problem is not None:
        return [
            _rule(
                "period",
                column,
                "error",
                False,
                problem,
                unexpected_count=int(bad.sum()),
                rows=rows,
                examples=times[bad].head(MAX_EXAMPLES).tolist(),
            )
        ]
    unit = data.period
    first, last = int(periods.min()), int(periods.max())
    ok = _rule(
        "period",
        column,
        "error",
        True,
        f"every row falls in a period ({period_label(last, unit)})"
        if first == last
        else f"every row falls in a period ({period_label(first, unit)} to "
        f"{period_label(last, unit)})",
    )
    spanned = int(np.unique(periods).size)
    span = _rule(
        "period_span",
        column,
        "warn",
        spanned == 1,
        f"the batch falls in one period, {period_label(last, unit)}"
        if spanned == 1
        else f"the batch spans {spanned} periods ({period_label(first, unit)} to "
        f"{period_label(last, unit)}): it counts as {period_label(last, unit)}, and each "
        "row keeps its own period for labels and training",
        unexpected_count=int((periods != last).sum()),
        rows=rows,
    )
    return [ok, span]


def _column_presence(contract: ContractConfig, present: set[str]) -> list[RuleResult]:
    return [
        _rule(
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
        return [_rule("extra_columns", None, "error", True, "no column outside the contract")]
    if usecase.contract.allow_extra_columns:
        return [
            _rule(
                "extra_columns",
                None,
                "error",
                True,
                f"columns outside the contract are allowed and ignored: {_quoted(extra)}",
                examples=extra,
            )
        ]
    return [
        _rule(
            "extra_columns",
            None,
            "error",
            False,
            f"columns not in the contract: {_quoted(extra)} (a renamed column shows up "
            "as one missing and one extra column)",
            unexpected_count=len(extra),
            examples=extra,
        )
    ]


def _target_leak(usecase: UseCase, present: set[str]) -> RuleResult:
    target = usecase.data.target_column
    if target in present:
        return _rule(
            "target_leak",
            target,
            "error",
            False,
            f"the batch carries the target column '{target}': batches must arrive "
            "without labels (labels come in label files)",
        )
    return _rule("target_leak", target, "error", True, f"target column '{target}' is absent")


def _value_rules(column: ColumnContract, usecase: UseCase) -> list[tuple[str, Severity]]:
    """Rules (name, severity) that check the values of ``column``."""
    rules: list[tuple[str, Severity]] = []
    if column.type in _NUMERIC_TYPES:
        rules.append(("dtype", "error"))
        if _has_range(column):
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
        _rule(
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


def _has_range(column: ColumnContract | None) -> bool:
    return column is not None and (column.min is not None or column.max is not None)


def _numeric_values(
    series: pd.Series, column: ColumnContract, rows: int
) -> tuple[pd.Series | None, RuleResult]:
    """Check that a numeric column holds numbers (whole numbers for integers).

    Returns the values to give GX (the series itself when its dtype is numeric,
    the parsed numbers when text parses cleanly, None when some values are not
    numbers, so no range can be checked) and the dtype rule's result.
    """
    name = column.name
    numbers = series
    if not pd.api.types.is_numeric_dtype(series):
        numbers = pd.to_numeric(series, errors="coerce")
        unparsed = (numbers.isna() & series.notna()).to_numpy()
        if unparsed.any():
            return None, _dtype_failure(
                series,
                unparsed,
                rows,
                "numbers",
                "do not parse as numbers (a decimal comma or text?)",
            )
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    # A model cannot take an infinite input (scikit-learn refuses the whole
    # batch), whatever severity the column's range has.
    infinite = np.isinf(values)
    if infinite.any():
        return numbers, _dtype_failure(numbers, infinite, rows, "finite numbers", "are infinite")
    if column.type == "integer":
        fractional = np.isfinite(values) & (values != np.floor(values))
        if fractional.any():
            return numbers, _dtype_failure(
                numbers, fractional, rows, "whole numbers", "have a fraction"
            )
    kind = "whole numbers" if column.type == "integer" else "numbers"
    return numbers, _rule("dtype", name, "error", True, f"column '{name}' holds {kind}")


def _dtype_failure(
    values: pd.Series, bad: np.ndarray, rows: int, expected: str, problem: str
) -> RuleResult:
    """The failed dtype rule: how many values are ``bad``, what is wrong, examples."""
    name = str(values.name)
    count = int(bad.sum())
    found = values[bad].head(50)
    return _rule(
        "dtype",
        name,
        "error",
        False,
        f"column '{name}' must hold {expected} but {count} of {rows} values "
        f"({count / rows:.2%}) {problem}, e.g. {_quoted(_examples(found))}",
        unexpected_count=count,
        rows=rows,
        examples=found,
    )


def _as_categories(series: pd.Series) -> pd.Series:
    """Text values as a pandas categorical, the form GX checks fastest.

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


# -------------------------------------------------------------------------- GX run
# Rules GX checks row by row in the drill-down pass: only their failures need
# counts and examples that a batch-level metric does not give.
_ROW_RULES = frozenset({"range", "categories", "boolean", "unique_id"})


@dataclass
class _GxRunner:
    """An ephemeral GX context with a whole-dataframe batch definition, per contract."""

    batch_definition: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    suites: dict[tuple[str, frozenset[tuple[str, str]]], Any] = field(default_factory=dict)


@lru_cache(maxsize=16)
def _runner(contract_key: str) -> _GxRunner:
    """One GX context per contract: creating a context per batch is expensive."""
    # Imported here: GX takes seconds to import and only validation needs it.
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    asset = context.data_sources.add_pandas("batches").add_dataframe_asset("batch")
    return _GxRunner(batch_definition=asset.add_batch_definition_whole_dataframe("whole"))


def _meta(rule: str, column: str | None, severity: Severity, expected: str) -> dict[str, Any]:
    return {"rule": rule, "column": column, "severity": severity, "expected": expected}


def _batch_suite(
    runner: _GxRunner, usecase: UseCase, columns: frozenset[str], skip_range: frozenset[str]
) -> Any:
    key = frozenset({("col", c) for c in columns} | {("skip", c) for c in skip_range})
    suite = runner.suites.get(("batch", key))
    if suite is None:
        suite = _build_batch_suite(usecase, columns, skip_range)
        runner.suites[("batch", key)] = suite
    return suite


def _build_batch_suite(
    usecase: UseCase, columns: frozenset[str], skip_range: frozenset[str]
) -> Any:
    """The contract as batch-level expectations: one aggregate metric per rule and column.

    Column minimum and maximum, distinct values, the share of values present and
    of unique ids are computed on whole columns, without materialising the rows
    that fail: GX's row-level (map) expectations copy the whole frame once per
    expectation, which at a million rows costs more than the checks themselves.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    contract = usecase.contract
    expectations: list[Any] = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=contract.min_rows,
            meta=_meta(
                "min_rows",
                None,
                "error",
                f"at least {contract.min_rows} row{'s' if contract.min_rows != 1 else ''}",
            ),
        )
    ]
    for column in contract.columns:
        name = column.name
        if name not in columns:
            continue
        if column.type in _NUMERIC_TYPES and _has_range(column) and name not in skip_range:
            meta = _meta("range", name, column.severity, _range_text(column))
            if column.min is not None:
                expectations.append(
                    gxe.ExpectColumnMinToBeBetween(column=name, min_value=column.min, meta=meta)
                )
            if column.max is not None:
                expectations.append(
                    gxe.ExpectColumnMaxToBeBetween(column=name, max_value=column.max, meta=meta)
                )
        if column.type == "categorical" and column.categories is not None:
            expectations.append(
                gxe.ExpectColumnDistinctValuesToBeInSet(
                    column=name,
                    value_set=list(column.categories),
                    meta=_meta(
                        "categories",
                        name,
                        column.severity,
                        f"values in {{{', '.join(column.categories)}}}",
                    ),
                )
            )
        if column.type == "boolean":
            expectations.append(
                gxe.ExpectColumnDistinctValuesToBeInSet(
                    column=name,
                    value_set=_BOOLEAN_VALUES,
                    meta=_meta("boolean", name, "error", "values in {0, 1, True, False}"),
                )
            )
        # One measured share of values present serves two rules: the column's
        # allowed missing share, and (an error whatever the column's severity)
        # "some value present", since a column emptied by a broken export
        # leaves the model nothing to read.
        expectations.append(
            gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column=name,
                min_value=1.0 - column.max_null_share,
                meta=_meta(
                    "null_share",
                    name,
                    column.severity,
                    f"at most {column.max_null_share:.2%} missing values",
                ),
            )
        )
        if contract.unique_id and name == usecase.data.id_column:
            expectations.append(
                gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(
                    column=name,
                    min_value=1.0,
                    meta=_meta("unique_id", name, "error", "unique ids"),
                )
            )
    return gx.ExpectationSuite(name=f"{usecase.name}-contract", expectations=expectations)


def _build_row_suite(usecase: UseCase, failed: frozenset[tuple[str, str]]) -> Any:
    """Row-level expectations for the rules that failed, to count and show the bad values."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    by_name = {c.name: c for c in usecase.contract.columns}
    expectations: list[Any] = []
    for rule, name in sorted(failed):
        column = by_name[name]
        if rule == "range":
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=name,
                    min_value=column.min,
                    max_value=column.max,
                    meta=_meta("range", name, column.severity, _range_text(column)),
                )
            )
        elif rule == "categories":
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=name,
                    value_set=list(column.categories or ()),
                    meta=_meta(
                        "categories",
                        name,
                        column.severity,
                        f"values in {{{', '.join(column.categories or ())}}}",
                    ),
                )
            )
        elif rule == "boolean":
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=name,
                    value_set=_BOOLEAN_VALUES,
                    meta=_meta("boolean", name, "error", "values in {0, 1, True, False}"),
                )
            )
        elif rule == "unique_id":
            expectations.append(
                gxe.ExpectColumnValuesToBeUnique(
                    column=name, meta=_meta("unique_id", name, "error", "unique ids")
                )
            )
    return gx.ExpectationSuite(name=f"{usecase.name}-failed-rows", expectations=expectations)


def _range_text(column: ColumnContract) -> str:
    if column.min is not None and column.max is not None:
        return f"values between {column.min:g} and {column.max:g}"
    if column.min is not None:
        return f"values at least {column.min:g}"
    return f"values at most {column.max:g}"


def _run_suite(
    narrow: pd.DataFrame, usecase: UseCase, *, skip_range: frozenset[str]
) -> list[RuleResult]:
    """Run the contract on ``narrow`` in two GX passes.

    The first pass checks every rule with batch-level expectations over the
    whole batch. Only when a row-level rule (range, categories, boolean, unique
    ids) fails does a second pass run GX's row-level expectations, on the
    failed columns alone, to count the offending rows and list examples.
    """
    # The suite depends on the contract and on which column holds the ids.
    runner = _runner(f"{usecase.contract.model_dump_json()}|{usecase.data.id_column}")
    rows = len(narrow)
    with runner.lock:
        suite = _batch_suite(runner, usecase, frozenset(narrow.columns), skip_range)
        try:
            outcome = _validate(runner, narrow, suite, "BASIC")
        except Exception as exc:  # noqa: BLE001 - a GX failure fails the batch, never the flow
            return [_gx_crash(e.meta, exc) for e in _unique_rules(suite.expectations)]
        results = _from_batch_results(outcome.results, rows, usecase)
        failed = frozenset(
            (r.rule, r.column)
            for r in results
            if not r.success and r.rule in _ROW_RULES and r.column is not None
        )
        if not failed:
            return results
        row_suite = _build_row_suite(usecase, failed)
        try:
            drill = _validate(
                runner,
                narrow[sorted({column for _, column in failed})],
                row_suite,
                {"result_format": "BASIC", "partial_unexpected_count": _PARTIAL_UNEXPECTED},
            )
        except Exception as exc:  # noqa: BLE001 - the failure stands; only its detail is lost
            detail = {
                (e.meta["rule"], e.meta["column"]): _gx_crash(e.meta, exc)
                for e in row_suite.expectations
            }
        else:
            detail = {(r.rule, r.column): r for r in (_from_gx(x, rows) for x in drill.results)}
    return [detail.get((r.rule, r.column), r) if not r.success else r for r in results]


def _validate(runner: _GxRunner, frame: pd.DataFrame, suite: Any, result_format: Any) -> Any:
    """Validate ``suite`` on ``frame``, loading the batch once.

    ``Batch.validate`` loads the batch a second time (and fingerprints the whole
    frame again); a validator on the batch definition loads it once.
    """
    from great_expectations.validator.v1_validator import Validator

    try:
        validator = Validator(
            runner.batch_definition,
            result_format=result_format,
            batch_parameters={"dataframe": frame},
        )
        return validator.validate_expectation_suite(suite)
    finally:
        _release_batch_data(runner)


def _unique_rules(expectations: Sequence[Any]) -> list[Any]:
    """One expectation per (rule, column): a range may take two (minimum and maximum)."""
    seen: dict[tuple[str, str | None], Any] = {}
    for e in expectations:
        seen.setdefault((e.meta["rule"], e.meta.get("column")), e)
    return list(seen.values())


def _raised(result: Any) -> str | None:
    """GX's exception message for a result that could not be evaluated, else None."""
    info = result.exception_info or {}
    if info.get("raised_exception") is None and info:
        # Per-metric form: {metric id: {"raised_exception": ..., "exception_message": ...}}.
        info = next((v for v in info.values() if v.get("raised_exception")), {})
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error").splitlines()[0]
    return None


def _from_batch_results(results: Sequence[Any], rows: int, usecase: UseCase) -> list[RuleResult]:
    """Map the batch-level pass's GX results into RuleResults (one per rule and column).

    A range's minimum and maximum results become one rule; the share of values
    present becomes two (``null_share`` and ``some_values``).
    """
    by_name = {c.name: c for c in usecase.contract.columns}
    grouped: dict[tuple[str, str | None], list[Any]] = {}
    for result in results:
        meta = result.expectation_config.meta
        grouped.setdefault((meta["rule"], meta.get("column")), []).append(result)
    mapped: list[RuleResult] = []
    for (rule, column), parts in grouped.items():
        meta = parts[0].expectation_config.meta
        severity, expected = meta["severity"], meta["expected"]
        where = f"column '{column}': " if column else ""
        errors = [m for m in (_raised(p) for p in parts) if m]
        if errors:
            mapped.append(
                _rule(
                    rule,
                    column,
                    severity,
                    False,
                    f"{where}rule '{rule}' could not be evaluated: {errors[0]}",
                )
            )
            if rule == "null_share" and column is not None and by_name[column].max_null_share < 1.0:
                mapped.append(_some_values(column, None, rows))
            continue
        observed = [(p.result or {}).get("observed_value") for p in parts]
        if rule == "min_rows":
            text = f"the batch has {observed[0]} rows; the contract requires {expected}"
            mapped.append(_rule(rule, None, severity, bool(parts[0].success), text))
        elif rule == "null_share":
            present = float(observed[0]) if observed[0] is not None else 0.0
            missing = rows - round(present * rows)
            mapped.append(
                _null_share(column, severity, expected, bool(parts[0].success), missing, rows)
            )
            if by_name[column].max_null_share < 1.0:
                mapped.append(_some_values(column, missing, rows))
        elif rule == "range":
            if all(value is None for value in observed):
                # No value at all: nothing is out of range (emptiness is null_share's and
                # some_values' finding, not the range's).
                mapped.append(
                    _rule(rule, column, severity, True, f"{where}{expected}: passed (no values)")
                )
                continue
            success = all(bool(p.success) for p in parts)
            seen = ", ".join(
                f"{'maximum' if '_max_' in p.expectation_config.type else 'minimum'} {value:g}"
                for p, value in zip(parts, observed, strict=True)
                if value is not None
            )
            text = (
                f"{where}{expected}: passed"
                if success
                else f"{where}expected {expected}; found {seen}"
            )
            mapped.append(_rule(rule, column, severity, success, text))
        else:  # categories, boolean, unique_id: the row counts come from the drill-down pass
            success = bool(parts[0].success)
            text = (
                f"{where}{expected}: passed" if success else f"{where}expected {expected}; not met"
            )
            mapped.append(_rule(rule, column, severity, success, text))
    return mapped


def _null_share(
    column: str, severity: Severity, expected: str, success: bool, missing: int, rows: int
) -> RuleResult:
    share = missing / rows if rows else 0.0
    if success:
        text = f"column '{column}': {expected}: passed"
        if missing:
            text += f" ({missing} of {rows} rows, {share:.2%}, within the allowed share)"
    else:
        text = (
            f"column '{column}': expected {expected}; found {missing} of {rows} rows "
            f"({share:.2%}) missing"
        )
    return _rule("null_share", column, severity, success, text, unexpected_count=missing, rows=rows)


def _some_values(column: str, missing: int | None, rows: int) -> RuleResult:
    """At least one value present: an error whatever the column's severity."""
    expected = "at least one value present"
    if missing is None:
        return _rule(
            "some_values",
            column,
            "error",
            False,
            f"column '{column}': rule 'some_values' could not be evaluated (see null_share)",
        )
    if missing < rows:
        return _rule("some_values", column, "error", True, f"column '{column}': {expected}: passed")
    return _rule(
        "some_values",
        column,
        "error",
        False,
        f"column '{column}': expected {expected}; found {missing} of {rows} rows (100.00%) missing",
        unexpected_count=missing,
        rows=rows,
    )


def _release_batch_data(runner: _GxRunner) -> None:
    """Drop GX's cached copy of the last batch.

    The cached context's execution engine keeps the last batch's frame until the
    next batch arrives; at a million rows that is hundreds of MB held for nothing.
    Best effort: the cache is GX-internal, so a GX upgrade that moves it only
    costs memory, never correctness.
    """
    try:
        engine = runner.batch_definition.data_asset.datasource.get_execution_engine()
        engine.batch_manager.batch_data_cache.clear()
        engine.batch_manager.reset_batch_cache()
    except AttributeError:
        pass


def _gx_crash(meta: dict[str, Any], exc: Exception) -> RuleResult:
    column = meta.get("column")
    where = f"column '{column}': " if column else ""
    return _rule(
        meta["rule"],
        column,
        meta["severity"],
        False,
        f"{where}rule '{meta['rule']}' could not be evaluated: {_first_line(exc)}",
    )


def _from_gx(result: Any, rows: int) -> RuleResult:
    """Map one GX ExpectationValidationResult into a RuleResult (the only GX reader)."""
    meta = result.expectation_config.meta
    rule, column, severity, expected = (
        meta["rule"],
        meta.get("column"),
        meta["severity"],
        meta["expected"],
    )
    where = f"column '{column}': " if column else ""
    info = result.exception_info or {}
    if info.get("raised_exception") is None and info:
        # Per-metric form: {metric id: {"raised_exception": ..., "exception_message": ...}}.
        info = next((v for v in info.values() if v.get("raised_exception")), {})
    if info.get("raised_exception"):
        message = str(info.get("exception_message") or "unknown error").splitlines()[0]
        return _rule(
            rule, column, severity, False, f"{where}rule '{rule}' could not be evaluated: {message}"
        )

    detail = result.result or {}
    if rule == "min_rows":
        observed = detail.get("observed_value", rows)
        text = f"the batch has {observed} rows; the contract requires {expected}"
        return _rule(rule, None, severity, bool(result.success), text)

    count = int(detail.get("unexpected_count") or 0)
    examples = detail.get("partial_unexpected_list") or []
    share = count / rows if rows else 0.0
    if result.success:
        text = f"{where}{expected}: passed"
        if count:
            text += f" ({count} of {rows} rows, {share:.2%}, within the allowed share)"
    else:
        found = {
            "range": "outside the range",
            "categories": "not an allowed category",
            "boolean": "not a boolean",
            "null_share": "missing",
            "some_values": "missing",
            "unique_id": "with a duplicated id",
        }.get(rule, "unexpected")
        text = f"{where}expected {expected}; found {count} of {rows} rows ({share:.2%}) {found}"
        if rule not in ("null_share", "some_values") and examples:
            text += f", e.g. {_quoted(_examples(examples))}"
    return _rule(
        rule,
        column,
        severity,
        bool(result.success),
        text,
        unexpected_count=count,
        rows=rows,
        examples=() if rule in ("null_share", "some_values") else examples,
    )
