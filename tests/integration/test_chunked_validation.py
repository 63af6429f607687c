"""A batch validated chunk by chunk gives the results of the batch validated whole.

Every case is a batch the shop's contract fails in its own way (or passes), cut
into uneven chunks: a single row, an empty chunk, a failing value in the last
chunk only, a duplicated id whose two rows sit in different chunks. The
results (rule, success, message, counts, shares and examples) must be equal,
field for field, to the in-memory path's. Then the same from files: a CSV and
a Parquet file read ``rows`` at a time, and a Parquet dataset (a folder of files).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_core.config import UseCase
from mlops_core.gate import decide_gate
from tasks import validation
from tasks.batch_file import batch_chunks, read_batch_file
from tasks.validation import validate_chunks, validate_frame

pytestmark = pytest.mark.integration

ROWS = 200
#: Chunk boundaries: a one-row chunk, an empty one, uneven sizes; then equal sizes.
CUTS = ([0, 1, 50, 50, 51, 130, ROWS], [0, 64, 128, 192, ROWS])


def _faulty(name: str, batch: pd.DataFrame) -> pd.DataFrame:
    """The shop batch with the fault ``name``; most faults sit in a later chunk only."""
    if name == "several":
        batch.loc[[3, 150], "price"] = 500.0
        batch.loc[7, "store"] = "s7"
        batch.loc[[8, 190], "id"] = 9  # the two rows of id 9 in different chunks
    elif name == "decimal comma":
        batch["price"] = batch["price"].astype(object)
        batch.loc[160, "price"] = "12,5"
    elif name == "infinite":
        batch.loc[[20, 120], "price"] = np.inf
    elif name == "missing share":
        batch.loc[100:, "price"] = np.nan
    elif name == "column emptied":
        batch["temp"] = np.nan
    elif name == "two periods":
        batch.loc[150:, "week"] = 8
    elif name == "not a period":
        batch["week"] = batch["week"].astype(object)
        batch.loc[[60, 170], "week"] = "x"
    elif name == "columns":
        batch["extra"] = 1
        batch = batch.drop(columns=["temp"])
    elif name == "fraction":
        batch["id"] = batch["id"].astype(float)
        batch.loc[130, "id"] = 4.5
    elif name == "boolean":
        batch["promo"] = batch["promo"].astype(object)
        batch.loc[199, "promo"] = 3
    elif name == "warned range":
        batch.loc[[2, 180], "temp"] = 60.0
    return batch


CASES = (
    "clean",
    "several",
    "decimal comma",
    "infinite",
    "missing share",
    "column emptied",
    "two periods",
    "not a period",
    "columns",
    "fraction",
    "boolean",
    "warned range",
)


@pytest.fixture(scope="module")
def usecase(shop_usecase: Callable[..., UseCase]) -> UseCase:
    return shop_usecase()


@pytest.mark.parametrize("case", CASES)
def test_chunks_give_the_results_of_the_whole_batch(
    case: str, shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    batch = _faulty(case, shop_batch(ROWS))
    whole = validate_frame(batch, usecase)
    assert (case == "clean") == all(r.success for r in whole)  # the case is what it says

    for cuts in CUTS:
        chunks = [batch.iloc[start:end] for start, end in zip(cuts, cuts[1:], strict=False)]
        rows, chunked = validate_chunks(lambda chunks=chunks: iter(chunks), usecase)
        assert rows == len(batch)
        assert chunked == whole


def test_a_frame_in_memory_is_validated_in_slices_with_the_results_of_one_chunk(
    monkeypatch: pytest.MonkeyPatch, shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    # The cycle's path: a frame held whole is validated in slices of
    # chunk_rows rows, so GX's copies stay a slice's size.
    batch = _faulty("several", shop_batch(25_000))
    batch.loc[24_990, "id"] = 9  # id 9 once more, in the last slice
    one_chunk = validate_chunks(lambda: (batch,), usecase)[1]
    validated: list[int] = []
    observe = validation.observe_values

    def counted(narrow: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        validated.append(len(narrow))
        return observe(narrow, *args, **kwargs)

    monkeypatch.setattr(validation, "observe_values", counted)
    monkeypatch.setattr(validation, "CHUNK_VALUES", 1)  # the floor: 10,000 rows a slice

    assert validate_frame(batch, usecase) == one_chunk
    assert validated == [10_000, 10_000, 5_000]
    repeated = int((batch["id"] == 9).sum())  # rows 8, 9, 190 and 24,990
    assert [r.unexpected_count for r in one_chunk if r.rule == "unique_id"] == [repeated]


def test_a_batch_too_small_for_the_contract_fails_in_chunks_too(
    shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    # No chunk can tell the batch is too small; the merged row count can.
    strict = usecase.model_copy(
        update={"contract": usecase.contract.model_copy(update={"min_rows": 300})}
    )
    batch = shop_batch(ROWS)
    rows, chunked = validate_chunks(lambda: iter([batch.iloc[:100], batch.iloc[100:]]), strict)
    assert chunked == validate_frame(batch, strict)
    assert [r.success for r in chunked if r.rule == "min_rows"] == [False]


def _written(batch: pd.DataFrame, folder: Path, fmt: str) -> Path:
    if fmt == "csv":
        path = folder / "batch.csv"
        batch.to_csv(path, index=False)
    elif fmt == "parquet":
        path = folder / "batch.parquet"
        batch.to_parquet(path, index=False)
    else:  # a Parquet dataset: a folder of three files of uneven sizes
        path = folder / "batch"
        path.mkdir()
        for number, (start, end) in enumerate(((0, 30), (30, 31), (31, len(batch)))):
            batch.iloc[start:end].to_parquet(path / f"part-{number}.parquet", index=False)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet", "dataset"])
@pytest.mark.parametrize("case", ["clean", "several", "decimal comma", "not a period"])
def test_a_file_read_in_chunks_gives_the_results_of_the_file_read_whole(
    case: str,
    fmt: str,
    tmp_path: Path,
    shop_batch: Callable[..., pd.DataFrame],
    usecase: UseCase,
) -> None:
    batch = _faulty(case, shop_batch(ROWS))
    if fmt != "csv" and case in ("decimal comma", "not a period"):
        batch = batch.astype({c: str for c in ("price", "week")})  # one type per Parquet column
    path = _written(batch, tmp_path, fmt)
    kind = "csv" if fmt == "csv" else "parquet"
    if fmt == "dataset":
        frame, problems = batch.reset_index(drop=True), ()
    else:
        frame, problems = read_batch_file(path, kind)
    assert frame is not None and problems == ()
    whole = validate_frame(frame, usecase)

    chunks, problems = batch_chunks(path, kind, rows=37)
    assert chunks is not None and problems == ()
    sizes = [len(chunk) for chunk in chunks()]
    # At most 37 rows a chunk; a dataset's chunks also end where its files end.
    assert max(sizes) == 37 and sum(sizes) == ROWS
    rows, chunked = validate_chunks(chunks, usecase)
    assert (rows, chunked) == (ROWS, whole)


def _with_latin1_row(batch: pd.DataFrame, row: int) -> bytes:
    text = batch.assign(store=batch["store"].astype(object))
    text.loc[row, "store"] = "Düsseldorf"
    return text.to_csv(index=False).encode("latin-1")


def test_a_chunk_that_cannot_be_read_fails_the_batch_as_unreadable(
    tmp_path: Path, shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    # The Latin-1 byte sits megabytes past the first chunk: the read fails part way.
    batch = shop_batch(50_000)
    path = tmp_path / "batch.csv"
    path.write_bytes(_with_latin1_row(batch, 45_000))
    chunks, problems = batch_chunks(path, "csv", rows=10_000)
    assert chunks is not None and problems == ()

    rows, results = validate_chunks(chunks, usecase)
    assert rows == 0 and [(r.rule, r.success) for r in results] == [("readable", False)]
    assert "not UTF-8" in results[0].message
    gate = decide_gate(path.name, "sha", rows, results)
    assert gate.action == "fail"
    _, whole = read_batch_file(path, "csv")
    assert [(r.rule, r.success) for r in whole] == [("readable", False)]


def test_a_row_with_more_fields_than_the_header_fails_the_batch_in_chunks_too(
    tmp_path: Path, shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    lines = shop_batch(50_000).to_csv(index=False).splitlines()
    lines[45_000] += ",extra"
    path = tmp_path / "batch.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks, problems = batch_chunks(path, "csv", rows=10_000)
    assert chunks is not None and problems == ()

    rows, results = validate_chunks(chunks, usecase)
    _, whole = read_batch_file(path, "csv")
    assert rows == 0 and [(r.rule, r.success) for r in results] == [("readable", False)]
    assert [(r.rule, r.success) for r in whole] == [("readable", False)]


def test_a_truncated_or_empty_file_is_refused_before_any_chunk(
    tmp_path: Path, shop_batch: Callable[..., pd.DataFrame]
) -> None:
    text = shop_batch(ROWS).to_csv(index=False)
    truncated = tmp_path / "truncated.csv"
    truncated.write_text(text[: len(text) // 2 + 3])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    for path in (truncated, empty):
        chunks, problems = batch_chunks(path, "csv", rows=50)
        _, whole = read_batch_file(path, "csv")
        assert chunks is None
        assert problems == whole and problems[0].rule == "readable"


def test_a_header_only_file_is_one_empty_chunk(
    tmp_path: Path, shop_batch: Callable[..., pd.DataFrame], usecase: UseCase
) -> None:
    path = tmp_path / "header.csv"
    shop_batch(0).to_csv(path, index=False)
    chunks, _ = batch_chunks(path, "csv", rows=50)
    assert chunks is not None
    read: Iterator[pd.DataFrame] = chunks()
    assert [len(chunk) for chunk in read] == [0]
    frame, _ = read_batch_file(path, "csv")
    assert frame is not None
    assert validate_chunks(chunks, usecase) == (0, validate_frame(frame, usecase))
