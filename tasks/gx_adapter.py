"""The Great Expectations adapter: the contract's value rules as GX suites, results as RuleResults.

This is the only module that talks to Great Expectations. It turns the use
case's contract into expectation suites, runs them on a whole-dataframe batch
in an ephemeral context kept per contract, and maps every
``ExpectationValidationResult`` into a :class:`~mlops_core.decisions.RuleResult`
here and nowhere else. The structural rules run before, in
:mod:`mlops_core.contract_rules`, which also hands over the values to check.

The suite runs in two passes, so a million-row batch costs a few column scans:

1. Batch-level expectations on every rule (column minimum and maximum, distinct
   values, share of values present, share of unique ids, row count). Each is one
   aggregate over a column; GX's row-level expectations instead copy the whole
   frame once per expectation to collect the failing rows.
2. Only if a row-level rule failed (range, categories, boolean, unique ids): GX's
   row-level expectations for those rules, on the failed columns alone, to count
   the offending rows and list examples.

GX sees a narrow frame with the contract columns that exist, because GX 1.x
copies the whole frame many times per run and raises on missing columns. An
expectation GX cannot evaluate fails its rule, it never raises.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
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

# GX collects this many unexpected values; duplicates (e.g. repeated ids) are
# removed before keeping MAX_EXAMPLES, so ask for more than we keep.
_PARTIAL_UNEXPECTED = 20
_BOOLEAN_VALUES = [0, 1, True, False]
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


def run_contract_suite(
    narrow: pd.DataFrame, usecase: UseCase, *, skip_range: frozenset[str]
) -> list[RuleResult]:
    """Check the contract's value rules on ``narrow`` in two GX passes.

    The first pass checks every rule with batch-level expectations over the
    whole batch. Only when a row-level rule (range, categories, boolean, unique
    ids) fails does a second pass run GX's row-level expectations, on the
    failed columns alone, to count the offending rows and list examples.

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
                rule_result(
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
            mapped.append(rule_result(rule, None, severity, bool(parts[0].success), text))
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
                    rule_result(
                        rule, column, severity, True, f"{where}{expected}: passed (no values)"
                    )
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
            mapped.append(rule_result(rule, column, severity, success, text))
        else:  # categories, boolean, unique_id: the row counts come from the drill-down pass
            success = bool(parts[0].success)
            text = (
                f"{where}{expected}: passed" if success else f"{where}expected {expected}; not met"
            )
            mapped.append(rule_result(rule, column, severity, success, text))
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


def _gx_crash(meta: dict[str, Any], exc: Exception) -> RuleResult:
    column = meta.get("column")
    where = f"column '{column}': " if column else ""
    return rule_result(
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
        return rule_result(
            rule, column, severity, False, f"{where}rule '{rule}' could not be evaluated: {message}"
        )

    detail = result.result or {}
    if rule == "min_rows":
        observed = detail.get("observed_value", rows)
        text = f"the batch has {observed} rows; the contract requires {expected}"
        return rule_result(rule, None, severity, bool(result.success), text)

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
            text += f", e.g. {quoted(example_texts(examples))}"
    return rule_result(
        rule,
        column,
        severity,
        bool(result.success),
        text,
        unexpected_count=count,
        rows=rows,
        examples=() if rule in ("null_share", "some_values") else examples,
    )
