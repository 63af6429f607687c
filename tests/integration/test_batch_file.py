"""Reading batch files: what pandas would read silently wrong is a failed 'readable' rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tasks.batch_file import read_batch_file

pytestmark = pytest.mark.integration

ROWS = 200


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    frame, problems = read_batch_file(path, "csv")
    assert frame is None
    assert [(p.rule, p.severity, p.success) for p in problems] == [("readable", "error", False)]
    assert "empty.csv" in problems[0].message and "empty" in problems[0].message


def test_truncated_csv_is_unreadable(
    shop_batch: Callable[..., pd.DataFrame], tmp_path: Path
) -> None:
    text = shop_batch(ROWS).to_csv(index=False)
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
    shop_batch: Callable[..., pd.DataFrame], tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    good = tmp_path / "good.parquet"
    shop_batch(ROWS).to_parquet(good, index=False)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(damage(good.read_bytes()))

    frame, problems = read_batch_file(broken, "parquet")
    assert frame is None
    assert [(p.rule, p.severity, p.success) for p in problems] == [("readable", "error", False)]
    assert "broken.parquet" in problems[0].message


def test_missing_file_raises_instead_of_failing_the_batch(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_batch_file(tmp_path / "nope.csv", "csv")


def test_values_keep_the_types_pandas_infers(
    shop_batch: Callable[..., pd.DataFrame], tmp_path: Path
) -> None:
    # Nothing is coerced: a text value in a numeric column stays text for the dtype rule.
    batch = shop_batch(ROWS)
    batch["price"] = batch["price"].astype(object)
    batch.loc[5, "price"] = "12,5"
    path = tmp_path / "comma.csv"
    batch.to_csv(path, index=False)

    frame, problems = read_batch_file(path, "csv")
    assert problems == () and frame is not None
    assert frame["price"].dtype == object and frame.loc[5, "price"] == "12,5"
    assert frame["id"].dtype == "int64" and list(frame.columns) == list(batch.columns)


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="unsupported batch format"):
        read_batch_file(path, "json")  # type: ignore[arg-type]
