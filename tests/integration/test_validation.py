"""Batch validation against real Great Expectations: the contract's rules, one by one.

The structural rules alone are tested in ``tests/unit/test_contract_rules.py``,
the GX adapter's passes in ``test_gx_adapter.py`` and the file reader in
``test_batch_file.py``; here the whole check runs, as a cycle runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rule_results import failures, only_failure

from mlops_core.config import UseCase
from tasks.batch_file import read_batch_file
from tasks.validation import validate_frame

pytestmark = pytest.mark.integration

ROWS = 200


@pytest.fixture(scope="module")
def usecase(shop_usecase: Callable[..., UseCase]) -> UseCase:
    return shop_usecase()


# ---------------------------------------------------------------- frames
def test_clean_batch_passes_every_rule(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    frame = shop_batch(ROWS)
    before = frame.copy()
    results = validate_frame(frame, usecase)

    assert [r for r in results if not r.success] == []
    kinds = {r.rule for r in results}
    assert kinds >= {
        "column_present",
        "extra_columns",
        "target_leak",
        "empty_batch",
        "min_rows",
        "dtype",
        "range",
        "categories",
        "boolean",
        "null_share",
        "unique_id",
    }
    assert {r.column for r in results if r.rule == "null_share"} == {
        "id",
        "week",
        "store",
        "price",
        "promo",
        "temp",
    }
    pd.testing.assert_frame_equal(frame, before)  # the batch is not modified


def test_a_column_with_every_value_missing_is_an_error_even_when_its_rules_only_warn(
    shop_batch: Callable[..., pd.DataFrame],
    usecase: UseCase,
) -> None:
    warn_only = usecase.model_copy(
        update={
            "contract": usecase.contract.model_copy(
                update={
                    "columns": tuple(
                        c.model_copy(update={"severity": "warn", "max_null_share": 0.5})
                        if c.name == "price"
                        else c
                        for c in usecase.contract.columns
                    )
                }
            )
        }
    )
    results = validate_frame(shop_batch(ROWS).assign(price=np.nan), warn_only)

    empty = only_failure(results, "some_values", "price")
    assert empty.severity == "error" and empty.unexpected_count == ROWS
    assert "price" in empty.message and "at least one value present" in empty.message
    # Half missing is within this contract: only an entirely empty column stops the batch.
    half = shop_batch(ROWS)
    half.loc[half.index[: ROWS // 2], "price"] = np.nan
    assert failures(validate_frame(half, warn_only), "some_values") == []


@pytest.mark.parametrize(
    ("null_rows", "passes"),
    [(20, True), (21, False)],  # max_null_share 0.1 of 200 rows allows 20
    ids=["at-limit", "over-limit"],
)
def test_null_share_limit(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase, null_rows: int, passes: bool
) -> None:
    batch = shop_batch(ROWS)
    batch.loc[: null_rows - 1, "price"] = np.nan

    results = validate_frame(batch, usecase)
    null_rule = next(r for r in results if r.rule == "null_share" and r.column == "price")
    assert null_rule.success is passes
    assert null_rule.unexpected_count == null_rows
    assert null_rule.unexpected_share == pytest.approx(null_rows / ROWS)
    if not passes:
        assert null_rule.severity == "error" and "10.00%" in null_rule.message


def test_out_of_range_values_fail_with_examples(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch.loc[[3, 17, 40], "price"] = [150.0, -2.5, 150.0]

    bad = only_failure(validate_frame(batch, usecase), "range", "price")
    assert bad.severity == "error"
    assert bad.unexpected_count == 3
    assert bad.unexpected_share == pytest.approx(3 / ROWS)
    assert set(bad.examples) == {"150.0", "-2.5"}  # duplicates shown once
    assert "between 0 and 100" in bad.message and "price" in bad.message


def test_warn_severity_column_yields_a_warning_not_an_error(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch.loc[5, "temp"] = 60.0

    results = validate_frame(batch, usecase)
    warning = only_failure(results, "range", "temp")
    assert warning.severity == "warn" and warning.examples == ("60.0",)
    assert [r for r in results if not r.success and r.severity == "error"] == []


def test_unknown_category_fails(shop_batch: Callable[..., pd.DataFrame], usecase: UseCase) -> None:
    batch = shop_batch(ROWS)
    batch.loc[[1, 2], "store"] = "s9"

    bad = only_failure(validate_frame(batch, usecase), "categories", "store")
    assert bad.severity == "error" and bad.examples == ("s9",) and bad.unexpected_count == 2


def test_numeric_codes_are_compared_with_text_categories(
    shop_usecase: Callable[..., UseCase],
) -> None:
    usecase = shop_usecase(
        columns=[
            {"name": "id", "type": "integer"},
            {"name": "week", "type": "integer"},
            {
                "name": "store",
                "type": "categorical",
                "categories": ["1", "2"],
                "max_null_share": 0.5,
            },
        ]
    )
    batch = pd.DataFrame({"id": [1, 2, 3, 4], "week": 1, "store": [1.0, 2.0, np.nan, 3.0]})
    store = [r for r in validate_frame(batch, usecase) if r.column == "store" and not r.success]
    assert [(r.rule, r.examples) for r in store] == [("categories", ("3",))]


def test_non_boolean_value_in_boolean_column_fails(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch["promo"] = batch["promo"].astype(object)
    batch.loc[9, "promo"] = "yes"

    bad = only_failure(validate_frame(batch, usecase), "boolean", "promo")
    assert bad.severity == "error" and bad.examples == ("yes",)


def test_duplicate_ids_fail(shop_batch: Callable[..., pd.DataFrame], usecase: UseCase) -> None:
    batch = shop_batch(ROWS)
    batch.loc[10, "id"] = 11

    bad = only_failure(validate_frame(batch, usecase), "unique_id", "id")
    assert bad.severity == "error" and bad.examples == ("11",) and bad.unexpected_count == 2


def test_a_column_without_values_has_nothing_out_of_range(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    results = validate_frame(shop_batch(ROWS).assign(temp=np.nan), usecase)
    temp = {r.rule: r for r in results if r.column == "temp"}
    assert temp["range"].success and "no values" in temp["range"].message
    assert not temp["some_values"].success and not temp["null_share"].success


def test_pandas_categorical_columns_are_checked_like_text(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch["store"] = pd.Categorical(batch["store"], categories=["s1", "s2", "s3", "s8"])
    assert failures(validate_frame(batch, usecase), "categories") == []  # s8 unused: fine

    batch["store"] = batch["store"].cat.set_categories(["s1", "s2", "s3", "s8"])
    batch.loc[0, "store"] = "s8"
    bad = only_failure(validate_frame(batch, usecase), "categories", "store")
    assert bad.unexpected_count == 1 and bad.examples == ("s8",)


def test_fewer_rows_than_the_contract_minimum_fail(
    shop_batch: Callable[..., pd.DataFrame], shop_usecase: Callable[..., UseCase]
) -> None:
    results = validate_frame(shop_batch(5), shop_usecase(min_rows=10))
    bad = only_failure(results, "min_rows", None)
    assert bad.severity == "error" and "5 rows" in bad.message and "10" in bad.message


# ------------------------------------------------------- files, read then validated
def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_csv_and_parquet_round_trip_pass(
    shop_batch: Callable[..., pd.DataFrame], tmp_path: Path, usecase: UseCase
) -> None:
    batch = shop_batch(ROWS)
    batch.to_parquet(tmp_path / "b.parquet", index=False)
    for path, fmt in [
        (_write_csv(tmp_path / "b.csv", batch), "csv"),
        (tmp_path / "b.parquet", "parquet"),
    ]:
        frame, problems = read_batch_file(path, fmt)
        assert problems == () and frame is not None and len(frame) == ROWS
        assert [r for r in validate_frame(frame, usecase) if not r.success] == []


def test_bom_in_the_header_is_stripped(
    shop_batch: Callable[..., pd.DataFrame], tmp_path: Path, usecase: UseCase
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + shop_batch(ROWS).to_csv(index=False).encode("utf-8"))

    frame, problems = read_batch_file(path, "csv")
    assert problems == () and frame is not None
    assert list(frame.columns)[0] == "id"
    assert [r for r in validate_frame(frame, usecase) if not r.success] == []


def test_decimal_comma_in_numeric_column_fails_dtype_with_examples(
    shop_batch: Callable[..., pd.DataFrame], tmp_path: Path, usecase: UseCase
) -> None:
    text = shop_batch(ROWS).to_csv(index=False).splitlines()
    header = text[0].split(",")
    price = header.index("price")
    row = text[5].split(",")
    row[price] = '"12,5"'  # quoted, so the CSV stays well-formed
    text[5] = ",".join(row)
    path = tmp_path / "comma.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")

    frame, problems = read_batch_file(path, "csv")
    assert problems == () and frame is not None and frame["price"].dtype == object

    results = validate_frame(frame, usecase)
    bad = only_failure(results, "dtype", "price")
    assert bad.severity == "error" and bad.examples == ("12,5",) and bad.unexpected_count == 1
    assert "'12,5'" in bad.message and "price" in bad.message
    assert "not all numbers" in only_failure(results, "range", "price").message
    null_rule = next(r for r in results if r.rule == "null_share" and r.column == "price")
    assert null_rule.success  # "12,5" is a wrong value, not a missing one


def test_header_only_file_is_an_empty_batch(
    shop_batch: Callable[..., pd.DataFrame], tmp_path: Path, usecase: UseCase
) -> None:
    path = tmp_path / "header.csv"
    path.write_text(",".join(shop_batch(ROWS).columns) + "\n", encoding="utf-8")

    frame, problems = read_batch_file(path, "csv")
    assert problems == () and frame is not None and len(frame) == 0
    results = validate_frame(frame, usecase)
    assert only_failure(results, "empty_batch", None).severity == "error"
    assert [r.rule for r in results if not r.success] == ["empty_batch"]
