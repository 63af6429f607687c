"""The data contract's structural rules, without a validation engine or a file."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from rule_results import failures, only_failure

from mlops_core.config import UseCase
from mlops_core.contract_rules import check_structure
from mlops_core.decisions import RuleResult

pytestmark = pytest.mark.unit

ROWS = 200


@pytest.fixture(scope="module")
def usecase(shop_usecase: Callable[..., UseCase]) -> UseCase:
    return shop_usecase()


def rules(frame: pd.DataFrame, usecase: UseCase) -> tuple[RuleResult, ...]:
    return check_structure(frame, usecase).results


def test_missing_column_fails_presence_and_reports_its_rules_as_unchecked(
    shop_batch: Callable[..., pd.DataFrame],
    usecase: UseCase,
) -> None:
    results = rules(shop_batch(ROWS).drop(columns=["price"]), usecase)

    missing = only_failure(results, "column_present", "price")
    assert missing.severity == "error" and "price" in missing.message
    unchecked = {r.rule for r in results if r.column == "price" and not r.success} - {
        "column_present"
    }
    assert unchecked == {"dtype", "range", "null_share", "some_values"}
    assert all("missing" in r.message for r in results if r.column == "price")
    assert failures(results, "extra_columns") == []


def test_renamed_column_is_missing_plus_extra(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    results = rules(shop_batch(ROWS).rename(columns={"price": "Price"}), usecase)

    assert only_failure(results, "column_present", "price").severity == "error"
    extra = only_failure(results, "extra_columns", None)
    assert extra.severity == "error" and extra.examples == ("Price",)
    assert "'Price'" in extra.message


def test_extra_column_fails_unless_the_contract_allows_it(
    shop_batch: Callable[..., pd.DataFrame], shop_usecase: Callable[..., UseCase], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS).assign(comment="x")

    extra = only_failure(rules(batch, usecase), "extra_columns", None)
    assert extra.severity == "error" and extra.examples == ("comment",)

    lenient = check_structure(batch, shop_usecase(allow_extra_columns=True))
    assert [r for r in lenient.results if not r.success] == []
    assert "comment" not in lenient.values.columns  # the value rules never see it


def test_target_column_in_a_batch_is_a_leak_even_when_extra_columns_are_allowed(
    shop_batch: Callable[..., pd.DataFrame], shop_usecase: Callable[..., UseCase]
) -> None:
    batch = shop_batch(ROWS).assign(sales=np.arange(ROWS, dtype=float))

    for usecase in (shop_usecase(), shop_usecase(allow_extra_columns=True)):
        leak = only_failure(rules(batch, usecase), "target_leak", "sales")
        assert leak.severity == "error" and "sales" in leak.message

    strict = rules(batch, shop_usecase())
    assert only_failure(strict, "extra_columns", None).examples == ("sales",)


def test_fractional_value_in_integer_column_fails(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch["week"] = batch["week"].astype(float)
    batch.loc[0, "week"] = 7.5

    bad = only_failure(rules(batch, usecase), "dtype", "week")
    assert bad.severity == "error" and bad.examples == ("7.5",)


def test_a_clean_batch_passes_and_hands_its_contract_columns_to_the_value_rules(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    before = batch.copy()
    check = check_structure(batch, usecase)

    assert [r for r in check.results if not r.success] == []
    assert {r.rule for r in check.results} == {
        "duplicate_columns",
        "column_present",
        "extra_columns",
        "target_leak",
        "empty_batch",
        "period",
        "period_span",
        "dtype",
    }
    assert list(check.values.columns) == [c.name for c in usecase.contract.columns]
    assert check.unparsable == frozenset()
    # Categories reach the value rules as text categoricals; numbers are shared, not copied.
    assert isinstance(check.values["store"].dtype, pd.CategoricalDtype)
    assert np.shares_memory(check.values["price"].to_numpy(), batch["price"].to_numpy())
    pd.testing.assert_frame_equal(batch, before)  # the batch is not modified


def test_a_column_name_given_twice_fails_and_the_first_is_checked(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    doubled = pd.concat([batch, batch[["price"]].mul(1000)], axis=1)

    check = check_structure(doubled, usecase)
    bad = only_failure(check.results, "duplicate_columns", None)
    assert bad.severity == "error" and bad.examples == ("price",)
    pd.testing.assert_series_equal(check.values["price"], batch["price"])


def test_an_empty_batch_fails_and_leaves_no_values_to_check(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    check = check_structure(shop_batch(0).drop(columns=["temp"]), usecase)

    assert only_failure(check.results, "empty_batch", None).severity == "error"
    assert check.values is None
    # The missing column's value rules are still named as unchecked.
    assert {r.rule for r in check.results if r.column == "temp" and not r.success} == {
        "column_present",
        "dtype",
        "range",
        "null_share",
        "some_values",
    }


def test_text_in_a_numeric_column_fails_dtype_and_its_range_is_not_checked(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch["price"] = batch["price"].astype(object)
    batch.loc[[4, 9], "price"] = ["12,5", "n/a"]

    check = check_structure(batch, usecase)
    bad = only_failure(check.results, "dtype", "price")
    assert bad.unexpected_count == 2 and bad.examples == ("12,5", "n/a")
    assert "not all numbers" in only_failure(check.results, "range", "price").message
    assert check.unparsable == frozenset({"price"})
    assert check.values["price"].iloc[4] == "12,5"  # raw values: their nulls are still checked


def test_an_infinite_number_fails_dtype_whatever_the_column_severity(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch.loc[3, "temp"] = np.inf  # temp's range only warns; infinity is still an error

    bad = only_failure(rules(batch, usecase), "dtype", "temp")
    assert bad.severity == "error" and "infinite" in bad.message and bad.examples == ("inf",)


def test_a_batch_over_several_periods_is_a_warning(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch.loc[: ROWS // 4 - 1, "week"] = 6

    span = only_failure(rules(batch, usecase), "period_span", "week")
    assert span.severity == "warn" and span.unexpected_count == ROWS // 4
    assert "spans 2 periods" in span.message
