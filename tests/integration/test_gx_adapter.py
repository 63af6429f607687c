"""The Great Expectations adapter: the contract's value rules run in GX, mapped to RuleResults."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pandas as pd
import pytest

from mlops_core.config import UseCase
from mlops_core.contract_rules import check_structure
from mlops_core.decisions import RuleResult
from tasks.gx_adapter import run_contract_suite

pytestmark = pytest.mark.integration

ROWS = 200


@pytest.fixture(scope="module")
def usecase(shop_usecase: Callable[..., UseCase]) -> UseCase:
    return shop_usecase()


def value_rules(batch: pd.DataFrame, usecase: UseCase) -> list[RuleResult]:
    """The adapter's results on the values the structural rules hand over."""
    structure = check_structure(batch, usecase)
    assert structure.values is not None
    return run_contract_suite(structure.values, usecase, skip_range=structure.unparsable)


def only_failure(results: list[RuleResult], rule: str, column: str | None) -> RuleResult:
    found = [r for r in results if r.rule == rule and r.column == column and not r.success]
    assert len(found) == 1, f"expected one failed {rule!r} on {column!r}, got {results}"
    return found[0]


def test_one_result_per_value_rule_and_column(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    results = value_rules(shop_batch(ROWS), usecase)

    assert all(r.success for r in results)
    # A range checked as a minimum and a maximum is one rule; one measured share of
    # values present is two (null_share and some_values).
    assert Counter((r.rule, r.column) for r in results) == Counter(
        {
            ("min_rows", None): 1,
            **{("null_share", c): 1 for c in ("id", "week", "store", "price", "promo", "temp")},
            **{("some_values", c): 1 for c in ("id", "week", "store", "price", "promo", "temp")},
            ("range", "week"): 1,
            ("range", "price"): 1,
            ("range", "temp"): 1,
            ("categories", "store"): 1,
            ("boolean", "promo"): 1,
            ("unique_id", "id"): 1,
        }
    )


def test_failures_of_several_kinds_each_get_their_rows_counted(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    # The batch-level pass finds the failed rules; the row-level pass, run on the
    # failed columns only, counts their rows and lists examples for each.
    batch = shop_batch(ROWS)
    batch.loc[[3, 4], "price"] = 500.0
    batch.loc[7, "store"] = "s7"
    batch.loc[8, "id"] = 9

    results = value_rules(batch, usecase)
    counted = {
        (r.rule, r.column): (r.unexpected_count, r.examples) for r in results if not r.success
    }
    assert counted == {
        ("range", "price"): (2, ("500.0",)),
        ("categories", "store"): (1, ("s7",)),
        ("unique_id", "id"): (2, ("9",)),
    }


def test_a_column_whose_values_are_not_numbers_has_no_range_checked(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch["price"] = batch["price"].astype(object)
    batch.loc[4, "price"] = "12,5"

    results = value_rules(batch, usecase)
    assert ("range", "price") not in {(r.rule, r.column) for r in results}
    assert all(r.success for r in results)  # "12,5" is a wrong value, not a missing one


def test_gx_exception_counts_as_that_rule_failing(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    # The structural rules never hand GX text in a numeric column; doing so here
    # makes GX raise inside the range expectation, which must map to a failed rule.
    narrow = shop_batch(ROWS)[["id", "price"]].astype({"price": str})

    results = run_contract_suite(narrow, usecase, skip_range=frozenset())
    crashed = only_failure(results, "range", "price")
    assert "could not be evaluated" in crashed.message and crashed.severity == "error"
    others = [r for r in results if r.rule != "range"]
    assert others and all(r.success for r in others)
