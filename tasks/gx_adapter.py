"""The Great Expectations adapter: the contract's value rules as GX suites, results as RuleResults.

This is the only module that talks to Great Expectations. It turns the use
case's contract into expectation suites, runs them on a whole-dataframe batch
in an ephemeral context kept per contract, and maps every
``ExpectationValidationResult`` into a :class:`~mlops_core.decisions.RuleResult`
here and nowhere else. The structural rules run before, in
:mod:`mlops_core.contract_rules`, which also hands over the values to check.

The suite runs in two passes, so a million-row batch costs a few column scans:

1. Batch-level expectations on every rule (column minimum and maximum, distinct
   values, share of values present). Each is one aggregate over a column; GX's
   row-level expectations instead copy the whole frame once per expectation to
   collect the failing rows.
2. Only if a row-level rule failed (range, categories, boolean): GX's row-level
   expectations for those rules, on the failed columns alone, to count the
   offending rows and list examples.

Each pass's results are mapped into a :class:`ValueTally`, which merges: a batch
read in chunks is validated chunk by chunk and the merged tally gives the same
results as the batch read whole (a minimum of minimums, a sum of values present,
a rule fails where any chunk fails it and its offending rows add up). Two rules
are not GX's, because no chunk can decide them alone: the row count
(``min_rows``) and unique ids (``unique_id``, :mod:`mlops_core.unique_ids`).

GX sees a narrow frame with the contract columns that exist, because GX 1.x
copies the whole frame many times per run and raises on missing columns. An
expectation GX cannot evaluate fails its rule, it never raises.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import pandas as pd

from mlops_core.config import ColumnContract, UseCase
from mlops_core.contract_rules import (
    NUMERIC_TYPES,
    Severity,
    example_texts,
    has_range,
    quoted,
    rule_result,
)
from mlops_core.decisions import RuleResult
from mlops_core.unique_ids import DuplicateIds, duplicate_ids

# GX collects this many unexpected values; duplicates (e.g. repeated ids) are
# removed before keeping MAX_EXAMPLES, so ask for more than we keep.
_PARTIAL_UNEXPECTED = 20
_BOOLEAN_VALUES = [0, 1, True, False]
# Rules GX checks row by row in the drill-down pass: only their failures need
# counts and examples that a batch-level metric does not give.
_ROW_RULES = frozenset({"range", "categories", "boolean"})


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

    Column minimum and maximum, distinct values and the share of values present
    are computed on whole columns, without materialising the rows
    that fail: GX's row-level (map) expectations copy the whole frame once per
    expectation, which at a million rows costs more than the checks themselves.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    contract = usecase.contract
    expectations: list[Any] = []
    for column in contract.columns:
        name = column.name
        if name not in columns:
            continue
        if column.type in NUMERIC_TYPES and has_range(column) and name not in skip_range:
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
    return gx.ExpectationSuite(name=f"{usecase.name}-failed-rows", expectations=expectations)


def _range_text(column: ColumnContract) -> str:
    if column.min is not None and column.max is not None:
        return f"values between {column.min:g} and {column.max:g}"
    if column.min is not None:
        return f"values at least {column.min:g}"
    return f"values at most {column.max:g}"


@dataclass(frozen=True)
class ValueRuleTally:
    """One value rule over some rows, as GX found it (mergeable, chunk by chunk).

    Attributes:
        rule, column, severity, expected: The rule, from its expectation's meta.
        success: Whether the batch-level expectations held.
        error: GX's message when an expectation could not be evaluated.
        bounds: A range's ``(side, observed, success)`` per expectation
            (``"minimum"`` or ``"maximum"``); ``observed`` is None without values.
        present: Values present (``null_share``).
        drilled: Whether the row-level pass ran (the rule failed somewhere).
        drill_success, drill_error: The row-level pass's outcome.
        unexpected: Offending rows the row-level pass counted.
        unexpected_head: The first offending values, in row order.
    """

    rule: str
    column: str | None
    severity: Severity
    expected: str
    success: bool = True
    error: str | None = None
    bounds: tuple[tuple[str, float | None, bool], ...] = ()
    present: int = 0
    drilled: bool = False
    drill_success: bool = True
    drill_error: str | None = None
    unexpected: int = 0
    unexpected_head: tuple[Any, ...] = ()

    def merged(self, later: ValueRuleTally) -> ValueRuleTally:
        """This rule's tally and the one of the rows after it."""
        bounds = self.bounds
        if later.bounds:
            bounds = later.bounds if not bounds else _merged_bounds(bounds, later.bounds)
        return replace(
            self,
            success=self.success and later.success,
            error=self.error or later.error,
            bounds=bounds,
            present=self.present + later.present,
            drilled=self.drilled or later.drilled,
            drill_success=self.drill_success and later.drill_success,
            drill_error=self.drill_error or later.drill_error,
            unexpected=self.unexpected + later.unexpected,
            unexpected_head=(self.unexpected_head + later.unexpected_head)[:_PARTIAL_UNEXPECTED],
        )


def _merged_bounds(
    first: tuple[tuple[str, float | None, bool], ...],
    later: tuple[tuple[str, float | None, bool], ...],
) -> tuple[tuple[str, float | None, bool], ...]:
    merged = []
    for (side, seen, held), (_, seen_later, held_later) in zip(first, later, strict=True):
        values = [v for v in (seen, seen_later) if v is not None]
        pick = min if side == "minimum" else max
        merged.append((side, pick(values) if values else None, held and held_later))
    return tuple(merged)


@dataclass(frozen=True)
class ValueTally:
    """The value rules over some rows of a batch, mergeable chunk by chunk.

    Attributes:
        rows: Rows tallied.
        rules: Each rule's tally, by ``(rule, column)``.
        crash: GX's message when the batch-level pass itself raised.
    """

    rows: int
    rules: Mapping[tuple[str, str | None], ValueRuleTally]
    crash: str | None = None

    def merged(self, later: ValueTally) -> ValueTally:
        """This tally and the one of the rows after it."""
        rules = dict(self.rules)
        for key, tally in later.rules.items():
            rules[key] = rules[key].merged(tally) if key in rules else tally
        return ValueTally(self.rows + later.rows, rules, self.crash or later.crash)


def run_contract_suite(
    narrow: pd.DataFrame, usecase: UseCase, *, skip_range: frozenset[str]
) -> list[RuleResult]:
    """Check the contract's value rules on ``narrow``, a whole batch.

    Args:
        narrow: The contract columns present in the batch, as
            :func:`mlops_core.contract_rules.check_structure` prepares them.
        usecase: The use case whose contract applies.
        skip_range: Columns whose range is not checked (their values are not
            all numbers; the structural rules already said so).

    Returns:
        One RuleResult per value rule and column (and ``min_rows``); a rule GX
        could not evaluate is a failed one.
    """
    tally = observe_values(narrow, usecase, skip_range=skip_range)
    ids = usecase.data.id_column
    duplicates = None
    if usecase.contract.unique_id and ids in narrow.columns:
        duplicates = duplicate_ids([narrow[ids]])
    return value_results(
        tally,
        usecase,
        columns=frozenset(narrow.columns),
        skip_range=skip_range,
        duplicates=duplicates,
    )


def observe_values(
    narrow: pd.DataFrame, usecase: UseCase, *, skip_range: frozenset[str]
) -> ValueTally:
    """Run the contract's GX suites on a batch, or one chunk of it, and tally the results.

    The first pass checks every rule with batch-level expectations. Only when a
    row-level rule (range, categories, boolean) fails does a second pass run
    GX's row-level expectations, on the failed columns alone, to count the
    offending rows and list examples. A chunk that holds none of a rule's
    offending rows passes it in the first pass, so its rows are never drilled.

    Args:
        narrow: The contract columns present, as
            :func:`mlops_core.contract_rules.observe_structure` prepares them.
        usecase: The use case whose contract applies.
        skip_range: Columns whose range is not checked in these rows.

    Returns:
        The tally of these rows.
    """
    # The suite depends on the contract and on which column holds the ids.
    runner = _runner(f"{usecase.contract.model_dump_json()}|{usecase.data.id_column}")
    rows = len(narrow)
    with runner.lock:
        suite = _batch_suite(runner, usecase, frozenset(narrow.columns), skip_range)
        if not suite.expectations:
            return ValueTally(rows, {})
        try:
            outcome = _validate(runner, narrow, suite, "BASIC")
        except Exception as exc:  # noqa: BLE001 - a GX failure fails the batch, never the flow
            return ValueTally(rows, {}, crash=_first_line(exc))
        rules = _tally_batch_results(outcome.results, rows)
        failed = frozenset(
            (t.rule, t.column)
            for t in rules.values()
            if not t.success and t.error is None and t.rule in _ROW_RULES and t.column is not None
        )
        if not failed:
            return ValueTally(rows, rules)
        row_suite = _build_row_suite(usecase, failed)
        try:
            drill = _validate(
                runner,
                narrow[sorted({column for _, column in failed})],
                row_suite,
                {"result_format": "BASIC", "partial_unexpected_count": _PARTIAL_UNEXPECTED},
            )
        except Exception as exc:  # noqa: BLE001 - the failure stands; only its detail is lost
            for key in failed:
                rules[key] = replace(
                    rules[key], drilled=True, drill_success=False, drill_error=_first_line(exc)
                )
        else:
            for result in drill.results:
                meta = result.expectation_config.meta
                key = (meta["rule"], meta.get("column"))
                rules[key] = _tally_drill(rules[key], result)
    return ValueTally(rows, rules)


def value_results(
    tally: ValueTally,
    usecase: UseCase,
    *,
    columns: frozenset[str],
    skip_range: frozenset[str],
    duplicates: DuplicateIds | None,
) -> list[RuleResult]:
    """The value rules' results of a batch from its (merged) tally.

    Args:
        tally: The batch's tally: one chunk's, or the merge of its chunks'.
        usecase: The use case whose contract applies.
        columns: The contract columns present in the batch.
        skip_range: Columns whose range is not checked anywhere in the batch.
        duplicates: The id column's duplicates (None when ids need not be unique
            or the id column is missing).

    Returns:
        ``min_rows`` first, then each present column's rules in contract order.
    """
    contract, rows = usecase.contract, tally.rows
    min_rows = f"at least {contract.min_rows} row{'s' if contract.min_rows != 1 else ''}"
    results: list[RuleResult] = []
    if tally.crash is not None:
        results.append(_crashed("min_rows", None, "error", tally.crash))
    else:
        results.append(
            rule_result(
                "min_rows",
                None,
                "error",
                rows >= contract.min_rows,
                f"the batch has {rows} rows; the contract requires {min_rows}",
            )
        )
    for column in contract.columns:
        name = column.name
        if name not in columns:
            continue
        for rule in ("range", "categories", "boolean", "null_share"):
            if rule == "range" and name in skip_range:
                continue
            ruled = tally.rules.get((rule, name))
            if tally.crash is not None and _checks(column, rule, skip_range):
                results.append(_crashed(rule, name, column.severity, tally.crash))
            elif ruled is not None:
                results.extend(_rule_results(ruled, rows, column))
        if contract.unique_id and name == usecase.data.id_column and duplicates is not None:
            results.append(_unique_ids(name, duplicates, rows))
    return results


def _checks(column: ColumnContract, rule: str, skip_range: frozenset[str]) -> bool:
    """Whether the batch-level suite has an expectation for ``rule`` on ``column``."""
    if rule == "range":
        return column.type in NUMERIC_TYPES and has_range(column) and column.name not in skip_range
    if rule == "categories":
        return column.type == "categorical" and column.categories is not None
    if rule == "boolean":
        return column.type == "boolean"
    return rule == "null_share"


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


def _raised(result: Any) -> str | None:
    """GX's exception message for a result that could not be evaluated, else None."""
    info = result.exception_info or {}
    if info.get("raised_exception") is None and info:
        # Per-metric form: {metric id: {"raised_exception": ..., "exception_message": ...}}.
        info = next((v for v in info.values() if v.get("raised_exception")), {})
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error").splitlines()[0]
    return None


def _tally_batch_results(
    results: Sequence[Any], rows: int
) -> dict[tuple[str, str | None], ValueRuleTally]:
    """Tally the batch-level pass's GX results (one tally per rule and column).

    This and :func:`_tally_drill` are the only readers of GX's results. A range's
    minimum and maximum results become one tally; the share of values present
    becomes a count.
    """
    tallies: dict[tuple[str, str | None], ValueRuleTally] = {}
    for result in results:
        meta = result.expectation_config.meta
        key = (meta["rule"], meta.get("column"))
        tally = tallies.get(key) or ValueRuleTally(
            rule=meta["rule"],
            column=meta.get("column"),
            severity=meta["severity"],
            expected=meta["expected"],
        )
        error = _raised(result)
        observed = None if error else (result.result or {}).get("observed_value")
        held = bool(result.success) and error is None
        if key[0] == "range":
            side = "maximum" if "_max_" in result.expectation_config.type else "minimum"
            seen = None if observed is None else float(observed)
            tally = replace(tally, bounds=(*tally.bounds, (side, seen, held)))
        elif key[0] == "null_share" and observed is not None:
            tally = replace(tally, present=round(float(observed) * rows))
        tallies[key] = replace(tally, success=tally.success and held, error=tally.error or error)
    return tallies


def _tally_drill(tally: ValueRuleTally, result: Any) -> ValueRuleTally:
    """Add one row-level GX result (offending rows and examples) to a rule's tally."""
    error = _raised(result)
    detail = {} if error else (result.result or {})
    return replace(
        tally,
        drilled=True,
        drill_success=bool(result.success) and error is None,
        drill_error=error,
        unexpected=int(detail.get("unexpected_count") or 0),
        unexpected_head=tuple(detail.get("partial_unexpected_list") or ())[:_PARTIAL_UNEXPECTED],
    )


def _rule_results(tally: ValueRuleTally, rows: int, column: ColumnContract) -> list[RuleResult]:
    """One rule's results from its merged tally (``null_share`` gives ``some_values`` too)."""
    rule, name, severity, expected = tally.rule, tally.column, tally.severity, tally.expected
    where = f"column '{name}': "
    if tally.error is not None:
        results = [_crashed(rule, name, severity, tally.error)]
        if rule == "null_share" and column.max_null_share < 1.0:
            results.append(_some_values(name or "", None, rows))
        return results
    if rule == "null_share":
        missing = rows - tally.present
        # GX's test: the share of values present at least 1 - the allowed missing share.
        held = rows > 0 and tally.present / rows >= 1.0 - column.max_null_share
        results = [_null_share(name or "", severity, expected, held, missing, rows)]
        if column.max_null_share < 1.0:
            results.append(_some_values(name or "", missing, rows))
        return results
    if rule == "range" and all(seen is None for _, seen, _ in tally.bounds):
        # No value at all: nothing is out of range (emptiness is null_share's and
        # some_values' finding, not the range's).
        return [rule_result(rule, name, severity, True, f"{where}{expected}: passed (no values)")]
    if tally.success:
        return [rule_result(rule, name, severity, True, f"{where}{expected}: passed")]
    if not tally.drilled:
        return [rule_result(rule, name, severity, False, f"{where}expected {expected}; not met")]
    if tally.drill_error is not None:
        return [_crashed(rule, name, severity, tally.drill_error)]
    return [
        _offending_rows(
            rule,
            name,
            severity,
            expected,
            tally.drill_success,
            tally.unexpected,
            tally.unexpected_head,
            rows,
        )
    ]


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
    return rule_result(
        "null_share", column, severity, success, text, unexpected_count=missing, rows=rows
    )


def _some_values(column: str, missing: int | None, rows: int) -> RuleResult:
    """At least one value present: an error whatever the column's severity."""
    expected = "at least one value present"
    if missing is None:
        return rule_result(
            "some_values",
            column,
            "error",
            False,
            f"column '{column}': rule 'some_values' could not be evaluated (see null_share)",
        )
    if missing < rows:
        return rule_result(
            "some_values", column, "error", True, f"column '{column}': {expected}: passed"
        )
    return rule_result(
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _crashed(rule: str, column: str | None, severity: Severity, error: str) -> RuleResult:
    where = f"column '{column}': " if column else ""
    return rule_result(
        rule, column, severity, False, f"{where}rule '{rule}' could not be evaluated: {error}"
    )


#: How each row rule names the rows it found.
_FOUND = {
    "range": "outside the range",
    "categories": "not an allowed category",
    "boolean": "not a boolean",
    "unique_id": "with a duplicated id",
}


def _offending_rows(
    rule: str,
    column: str | None,
    severity: Severity,
    expected: str,
    success: bool,
    count: int,
    examples: Sequence[Any],
    rows: int,
) -> RuleResult:
    """A row rule's result: how many rows offend it, with examples."""
    where = f"column '{column}': " if column else ""
    share = count / rows if rows else 0.0
    if success:
        text = f"{where}{expected}: passed"
        if count:
            text += f" ({count} of {rows} rows, {share:.2%}, within the allowed share)"
    else:
        text = (
            f"{where}expected {expected}; found {count} of {rows} rows ({share:.2%}) "
            f"{_FOUND.get(rule, 'unexpected')}"
        )
        if examples:
            text += f", e.g. {quoted(example_texts(examples))}"
    return rule_result(
        rule,
        column,
        severity,
        success,
        text,
        unexpected_count=count,
        rows=rows,
        examples=examples,
    )


def _unique_ids(column: str, duplicates: DuplicateIds, rows: int) -> RuleResult:
    return _offending_rows(
        "unique_id",
        column,
        "error",
        "unique ids",
        duplicates.rows == 0,
        duplicates.rows,
        duplicates.first,
        rows,
    )
