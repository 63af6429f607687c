"""Batch validation against real Great Expectations: the contract's rules, one by one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_core.config import UseCase, parse_usecase
from mlops_core.decisions import RuleResult
from tasks.validation import _run_suite, read_batch_file, validate_frame

pytestmark = pytest.mark.integration

ROWS = 200


def _usecase(**contract_overrides: Any) -> UseCase:
    contract: dict[str, Any] = {
        "columns": [
            {"name": "id", "type": "integer", "feature": False},
            {"name": "week", "type": "integer", "min": 1, "feature": False},
            {"name": "store", "type": "categorical", "categories": ["s1", "s2", "s3"]},
            {"name": "price", "type": "numeric", "min": 0, "max": 100, "max_null_share": 0.1},
            {"name": "promo", "type": "boolean"},
            {"name": "temp", "type": "numeric", "min": -30, "max": 45, "severity": "warn"},
        ],
        **contract_overrides,
    }
    raw = {
        "name": "shop-demand",
        "data": {
            "landing": "landing",
            "labels": "labels",
            "id_column": "id",
            "time_column": "week",
            "target_column": "sales",
            "segment_column": "store",
        },
        "contract": contract,
        "model": {"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
        "metric": {"primary": "mae"},
    }
    return parse_usecase(raw, "test-usecase.yaml")


@pytest.fixture(scope="module")
def usecase() -> UseCase:
    return _usecase()


def clean_batch(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "week": np.full(rows, 7),
            "store": rng.choice(["s1", "s2", "s3"], rows),
            "price": rng.uniform(1.0, 99.0, rows).round(2),
            "promo": rng.choice([True, False], rows),
            "temp": rng.normal(15.0, 5.0, rows).clip(-20, 40).round(1),
        }
    )


def failures(results: tuple[RuleResult, ...], rule: str, column: str | None = None) -> list:
    return [
        r
        for r in results
        if r.rule == rule and not r.success and (column is None or r.column == column)
    ]


def only_failure(results: tuple[RuleResult, ...], rule: str, column: str | None) -> RuleResult:
    found = failures(results, rule, column)
    assert len(found) == 1, f"expected one failed {rule!r} on {column!r}, got {results}"
    return found[0]


# ---------------------------------------------------------------- frames
def test_clean_batch_passes_every_rule(usecase: UseCase) -> None:
    frame = clean_batch()
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


def test_missing_column_fails_presence_and_reports_its_rules_as_unchecked(
    usecase: UseCase,
) -> None:
    results = validate_frame(clean_batch().drop(columns=["price"]), usecase)

    missing = only_failure(results, "column_present", "price")
    assert missing.severity == "error" and "price" in missing.message
    unchecked = {r.rule for r in results if r.column == "price" and not r.success} - {
        "column_present"
    }
    assert unchecked == {"dtype", "range", "null_share", "some_values"}
    assert all("missing" in r.message for r in results if r.column == "price")
    assert failures(results, "extra_columns") == []


def test_a_column_with_every_value_missing_is_an_error_even_when_its_rules_only_warn(
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
    results = validate_frame(clean_batch().assign(price=np.nan), warn_only)

    empty = only_failure(results, "some_values", "price")
    assert empty.severity == "error" and empty.unexpected_count == ROWS
    assert "price" in empty.message and "at least one value present" in empty.message
    # Half missing is within this contract: only an entirely empty column stops the batch.
    half = clean_batch()
    half.loc[half.index[: ROWS // 2], "price"] = np.nan
    assert failures(validate_frame(half, warn_only), "some_values") == []


def test_renamed_column_is_missing_plus_extra(usecase: UseCase) -> None:
    results = validate_frame(clean_batch().rename(columns={"price": "Price"}), usecase)

    assert only_failure(results, "column_present", "price").severity == "error"
    extra = only_failure(results, "extra_columns", None)
    assert extra.severity == "error" and extra.examples == ("Price",)
    assert "'Price'" in extra.message


def test_extra_column_fails_unless_the_contract_allows_it(usecase: UseCase) -> None:
    batch = clean_batch().assign(comment="x")

    extra = only_failure(validate_frame(batch, usecase), "extra_columns", None)
    assert extra.severity == "error" and extra.examples == ("comment",)

    lenient = _usecase(allow_extra_columns=True)
    assert [r for r in validate_frame(batch, lenient) if not r.success] == []


def test_target_column_in_a_batch_is_a_leak_even_when_extra_columns_are_allowed() -> None:
    batch = clean_batch().assign(sales=np.arange(ROWS, dtype=float))

    for usecase in (_usecase(), _usecase(allow_extra_columns=True)):
        leak = only_failure(validate_frame(batch, usecase), "target_leak", "sales")
        assert leak.severity == "error" and "sales" in leak.message

    strict = validate_frame(batch, _usecase())
    assert only_failure(strict, "extra_columns", None).examples == ("sales",)


@pytest.mark.parametrize(
    ("null_rows", "passes"),
    [(20, True), (21, False)],  # max_null_share 0.1 of 200 rows allows 20
    ids=["at-limit", "over-limit"],
)
def test_null_share_limit(usecase: UseCase, null_rows: int, passes: bool) -> None:
    batch = clean_batch()
    batch.loc[: null_rows - 1, "price"] = np.nan

    results = validate_frame(batch, usecase)
    null_rule = next(r for r in results if r.rule == "null_share" and r.column == "price")
    assert null_rule.success is passes
    assert null_rule.unexpected_count == null_rows
    assert null_rule.unexpected_share == pytest.approx(null_rows / ROWS)
    if not passes:
        assert null_rule.severity == "error" and "10.00%" in null_rule.message


def test_out_of_range_values_fail_with_examples(usecase: UseCase) -> None:
    batch = clean_batch()
    batch.loc[[3, 17, 40], "price"] = [150.0, -2.5, 150.0]

    bad = only_failure(validate_frame(batch, usecase), "range", "price")
    assert bad.severity == "error"
    assert bad.unexpected_count == 3
    assert bad.unexpected_share == pytest.approx(3 / ROWS)
    assert set(bad.examples) == {"150.0", "-2.5"}  # duplicates shown once
    assert "between 0 and 100" in bad.message and "price" in bad.message


def test_warn_severity_column_yields_a_warning_not_an_error(usecase: UseCase) -> None:
    batch = clean_batch()
    batch.loc[5, "temp"] = 60.0

    results = validate_frame(batch, usecase)
    warning = only_failure(results, "range", "temp")
    assert warning.severity == "warn" and warning.examples == ("60.0",)
    assert [r for r in results if not r.success and r.severity == "error"] == []


def test_unknown_category_fails(usecase: UseCase) -> None:
    batch = clean_batch()
    batch.loc[[1, 2], "store"] = "s9"

    bad = only_failure(validate_frame(batch, usecase), "categories", "store")
    assert bad.severity == "error" and bad.examples == ("s9",) and bad.unexpected_count == 2


def test_numeric_codes_are_compared_with_text_categories() -> None:
    usecase = _usecase(
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


def test_non_boolean_value_in_boolean_column_fails(usecase: UseCase) -> None:
    batch = clean_batch()
    batch["promo"] = batch["promo"].astype(object)
    batch.loc[9, "promo"] = "yes"

    bad = only_failure(validate_frame(batch, usecase), "boolean", "promo")
    assert bad.severity == "error" and bad.examples == ("yes",)


def test_duplicate_ids_fail(usecase: UseCase) -> None:
    batch = clean_batch()
    batch.loc[10, "id"] = 11

    bad = only_failure(validate_frame(batch, usecase), "unique_id", "id")
    assert bad.severity == "error" and bad.examples == ("11",) and bad.unexpected_count == 2


def test_failures_of_several_kinds_each_get_their_rows_counted(usecase: UseCase) -> None:
    # The batch-level pass finds the failed rules; the row-level pass, run on the
    # failed columns only, counts their rows and lists examples for each.
    batch = clean_batch()
    batch.loc[[3, 4], "price"] = 500.0
    batch.loc[7, "store"] = "s7"
    batch.loc[8, "id"] = 9

    results = validate_frame(batch, usecase)
    counted = {
        (r.rule, r.column): (r.unexpected_count, r.examples) for r in results if not r.success
    }
    assert counted == {
        ("range", "price"): (2, ("500.0",)),
        ("categories", "store"): (1, ("s7",)),
        ("unique_id", "id"): (2, ("9",)),
    }


def test_a_column_without_values_has_nothing_out_of_range(usecase: UseCase) -> None:
    results = validate_frame(clean_batch().assign(temp=np.nan), usecase)
    temp = {r.rule: r for r in results if r.column == "temp"}
    assert temp["range"].success and "no values" in temp["range"].message
    assert not temp["some_values"].success and not temp["null_share"].success


def test_pandas_categorical_columns_are_checked_like_text(usecase: UseCase) -> None:
    batch = clean_batch()
    batch["store"] = pd.Categorical(batch["store"], categories=["s1", "s2", "s3", "s8"])
    assert failures(validate_frame(batch, usecase), "categories") == []  # s8 unused: fine

    batch["store"] = batch["store"].cat.set_categories(["s1", "s2", "s3", "s8"])
    batch.loc[0, "store"] = "s8"
    bad = only_failure(validate_frame(batch, usecase), "categories", "store")
    assert bad.unexpected_count == 1 and bad.examples == ("s8",)


def test_fewer_rows_than_the_contract_minimum_fail() -> None:
    results = validate_frame(clean_batch(rows=5), _usecase(min_rows=10))
    bad = only_failure(results, "min_rows", None)
    assert bad.severity == "error" and "5 rows" in bad.message and "10" in bad.message


def test_fractional_value_in_integer_column_fails(usecase: UseCase) -> None:
    batch = clean_batch()
    batch["week"] = batch["week"].astype(float)
    batch.loc[0, "week"] = 7.5

    bad = only_failure(validate_frame(batch, usecase), "dtype", "week")
    assert bad.severity == "error" and bad.examples == ("7.5",)


def test_gx_exception_counts_as_that_rule_failing(usecase: UseCase) -> None:
    # validate_frame never hands GX text in a numeric column; doing so here makes
    # GX raise inside the range expectation, which must map to a failed rule.
    narrow = clean_batch()[["id", "price"]].astype({"price": str})

    results = _run_suite(narrow, usecase, skip_range=frozenset())
    crashed = only_failure(tuple(results), "range", "price")
    assert "could not be evaluated" in crashed.message and crashed.severity == "error"
    others = [r for r in results if r.rule != "range"]
    assert others and all(r.success for r in others)


# ---------------------------------------------------------------- files
def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_csv_and_parquet_round_trip_pass(tmp_path: Path, usecase: UseCase) -> None:
    batch = clean_batch()
    batch.to_parquet(tmp_path / "b.parquet", index=False)
    for path, fmt in [
        (_write_csv(tmp_path / "b.csv", batch), "csv"),
        (tmp_path / "b.parquet", "parquet"),
    ]:
        frame, problems = read_batch_file(path, fmt)
        assert problems == () and frame is not None and len(frame) == ROWS
        assert [r for r in validate_frame(frame, usecase) if not r.success] == []


def test_bom_in_the_header_is_stripped(tmp_path: Path, usecase: UseCase) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + clean_batch().to_csv(index=False).encode("utf-8"))

    frame, problems = read_batch_file(path, "csv")
    assert problems == () and frame is not None
    assert list(frame.columns)[0] == "id"
    assert [r for r in validate_frame(frame, usecase) if not r.success] == []


def test_decimal_comma_in_numeric_column_fails_dtype_with_examples(
    tmp_path: Path, usecase: UseCase
) -> None:
    text = clean_batch().to_csv(index=False).splitlines()
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


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    frame, problems = read_batch_file(path, "csv")
    assert frame is None
    assert [(p.rule, p.severity, p.success) for p in problems] == [("readable", "error", False)]
    assert "empty.csv" in problems[0].message and "empty" in problems[0].message


def test_header_only_file_is_an_empty_batch(tmp_path: Path, usecase: UseCase) -> None:
    path = tmp_path / "header.csv"
    path.write_text(",".join(clean_batch().columns) + "\n", encoding="utf-8")

    frame, problems = read_batch_file(path, "csv")
    assert problems == () and frame is not None and len(frame) == 0
    results = validate_frame(frame, usecase)
    assert only_failure(results, "empty_batch", None).severity == "error"
    assert [r.rule for r in results if not r.success] == ["empty_batch"]


def test_truncated_csv_is_unreadable(tmp_path: Path) -> None:
    text = clean_batch().to_csv(index=False)
    last_row = text.rstrip("\n").rfind("\n") + 1
    cut = text.index(",", last_row) + 3  # mid-way through the last row's second field
    path = tmp_path / "cut.csv"
    path.write_text(text[:cut], encoding="utf-8")
    # pandas alone reads it, padding the short row with missing values
    assert len(pd.read_csv(path)) == ROWS

    frame, problems = read_batch_file(path, "csv")
    assert frame is None and problems[0].rule == "readable" and not problems[0].success
    assert "truncated" in problems[0].message


def test_rows_longer_than_the_header_are_unreadable(tmp_path: Path) -> None:
    # pandas would silently take the first field of each row as the index
    path = tmp_path / "shifted.csv"
    path.write_text("id,store\n1,s1,9\n2,s2,9\n", encoding="utf-8")

    frame, problems = read_batch_file(path, "csv")
    assert frame is None and "more fields than the header" in problems[0].message


def test_non_utf8_csv_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,store\n1,Düsseldorf\n".encode("latin-1"))

    frame, problems = read_batch_file(path, "csv")
    assert frame is None and "UTF-8" in problems[0].message


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-12],  # footer cut off
        lambda data: data[:-8] + b"\x00" * 8,  # footer length and magic overwritten
        lambda data: data[:-300] + b"\xff" * 292 + data[-8:],  # metadata garbled, magic kept
    ],
    ids=["cut", "overwritten", "garbled"],
)
def test_broken_parquet_footer_is_unreadable(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    good = tmp_path / "good.parquet"
    clean_batch().to_parquet(good, index=False)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(damage(good.read_bytes()))

    frame, problems = read_batch_file(broken, "parquet")
    assert frame is None
    assert [(p.rule, p.severity, p.success) for p in problems] == [("readable", "error", False)]
    assert "broken.parquet" in problems[0].message


def test_missing_file_raises_instead_of_failing_the_batch(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_batch_file(tmp_path / "nope.csv", "csv")
