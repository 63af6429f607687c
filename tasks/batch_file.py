"""Reading a batch file: CSV or Parquet into a dataframe, or why it cannot be read.

A batch too large for memory is read in chunks of rows instead
(:func:`batch_chunks`): a CSV file, a Parquet file, or a Parquet dataset (a
folder of files).

The reader keeps what the file holds: dtypes are the ones pandas infers, so a
text value in a numeric column stays visible to the contract's ``dtype`` rule.
A file that is empty, truncated, not UTF-8 or not valid Parquet is a bad batch
(a failed ``readable`` rule), never an exception; a file that does not exist is
an I/O problem the caller may retry.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

import pandas as pd

from mlops_core.decisions import RuleResult

# Bytes read from the end of a CSV to check that its last row is complete.
_TAIL_BYTES = 64 * 1024


def read_batch_file(
    path: str | os.PathLike[str], fmt: Literal["csv", "parquet"]
) -> tuple[pd.DataFrame | None, tuple[RuleResult, ...]]:
    """Read a batch file without coercing its types.

    CSV is read as UTF-8 with an optional byte-order mark; dtypes are the ones
    pandas infers, so a text value in a numeric column stays visible to
    :func:`tasks.validation.validate_frame`. A header-only file gives an empty
    frame (the ``empty_batch`` rule then fails it).

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
        return None, (_unreadable(file, fmt, _not_utf8(exc)),)
    except pd.errors.EmptyDataError:
        return None, (_unreadable(file, fmt, "the file has no header and no rows"),)
    except (ValueError, OSError) as exc:
        # pandas ParserError and pyarrow's ArrowInvalid subclass ValueError; a
        # broken Parquet footer can also surface as OSError from pyarrow.
        return None, (_unreadable(file, fmt, _first_line(exc)),)
    return frame, ()


#: A batch's rows, chunk by chunk in row order; each call reads them again.
ChunkSource = Callable[[], Iterable[pd.DataFrame]]


class UnreadableBatch(Exception):
    """A chunk of a batch could not be read; ``result`` is the failed ``readable`` rule."""

    def __init__(self, result: RuleResult) -> None:
        super().__init__(result.message)
        self.result = result


def batch_chunks(
    path: str | os.PathLike[str], fmt: Literal["csv", "parquet"], rows: int
) -> tuple[Callable[[], Iterator[pd.DataFrame]] | None, tuple[RuleResult, ...]]:
    """A batch's rows, ``rows`` at a time, as :func:`read_batch_file` would read them.

    The checks that need no rows run first (empty file, truncated CSV, Parquet
    footer); a problem found while reading a chunk (a byte that is not UTF-8 in
    the middle of the file) raises :class:`UnreadableBatch` from the iterator.
    Each chunk's dtypes are the ones pandas infers for it: a text value in a
    numeric column shows in its own chunk.

    Args:
        path: A CSV or Parquet file, or a folder of Parquet files (one dataset).
        fmt: ``"csv"`` or ``"parquet"``.
        rows: Rows per chunk (the last may hold fewer).

    Returns:
        ``(chunks, ())``: ``chunks()`` yields the chunks in row order (at least
        one, maybe empty, with the batch's columns) each time it is called; or
        ``(None, (failed 'readable' rule,))``.

    Raises:
        FileNotFoundError: Nothing exists at ``path``.
        ValueError: ``fmt`` is not a supported format, or ``rows`` < 1.
    """
    source = Path(path)
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unsupported batch format {fmt!r}; expected 'csv' or 'parquet'")
    if rows < 1:
        raise ValueError(f"rows per chunk must be at least 1, not {rows}")
    if not source.exists():
        raise FileNotFoundError(f"batch {source} does not exist")
    if source.is_file() and source.stat().st_size == 0:
        return None, (_unreadable(source, fmt, "the file is empty (0 bytes)"),)
    if fmt == "parquet":
        return _parquet_chunks(source, rows)
    try:
        header = pd.read_csv(source, encoding="utf-8-sig", nrows=0)
    except UnicodeDecodeError as exc:
        return None, (_unreadable(source, fmt, _not_utf8(exc)),)
    except pd.errors.EmptyDataError:
        return None, (_unreadable(source, fmt, "the file has no header and no rows"),)
    except (ValueError, OSError) as exc:
        return None, (_unreadable(source, fmt, _first_line(exc)),)
    problem = _truncated_csv_problem(source, len(header.columns))
    if problem is not None:
        return None, (_unreadable(source, fmt, problem),)

    def csv_chunks() -> Iterator[pd.DataFrame]:
        read = 0
        try:
            with pd.read_csv(source, encoding="utf-8-sig", chunksize=rows) as reader:
                for chunk in reader:
                    if not isinstance(chunk.index, pd.RangeIndex):
                        raise UnreadableBatch(
                            _unreadable(source, fmt, "its rows have more fields than the header")
                        )
                    read += 1
                    yield chunk
        except UnicodeDecodeError as exc:
            raise UnreadableBatch(_unreadable(source, fmt, _not_utf8(exc))) from exc
        except (ValueError, OSError) as exc:
            raise UnreadableBatch(_unreadable(source, fmt, _first_line(exc))) from exc
        if read == 0:
            yield header

    return csv_chunks, ()


def _parquet_chunks(
    source: Path, rows: int
) -> tuple[Callable[[], Iterator[pd.DataFrame]] | None, tuple[RuleResult, ...]]:
    """A Parquet file, or a folder of them, read ``rows`` at a time (at most a row group).

    The files of a folder are read in name order (hidden ones and names starting
    with ``_``, such as ``_SUCCESS``, skipped, as Arrow's datasets skip them), one
    after the other: Arrow's dataset scanner would read ahead across files and
    hold far more than a chunk.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if source.is_dir():
        files = sorted(
            path
            for path in source.rglob("*.parquet")
            if path.is_file() and not path.name.startswith(("_", "."))
        )
        if not files:
            return None, (_unreadable(source, "parquet", "the folder holds no Parquet file"),)
    else:
        files = [source]
    try:
        schemas = [pq.read_schema(path) for path in files]
    except (ValueError, OSError, pa.ArrowException) as exc:
        return None, (_unreadable(source, "parquet", _first_line(exc)),)
    for path, schema in zip(files[1:], schemas[1:], strict=True):
        if schema.names != schemas[0].names:
            return None, (
                _unreadable(
                    source,
                    "parquet",
                    f"{path.name} has other columns than {files[0].name}: "
                    "the files of one batch must share their columns",
                ),
            )

    def parquet_chunks() -> Iterator[pd.DataFrame]:
        read = 0
        try:
            for path in files:
                # Without pre-buffering: Arrow would keep every row group's bytes it
                # read until the file is closed (memory growing with the file).
                with pq.ParquetFile(path, pre_buffer=False) as parquet:
                    for batch in parquet.iter_batches(batch_size=rows):
                        if batch.num_rows:
                            read += 1
                            yield batch.to_pandas()
        except (ValueError, OSError, pa.ArrowException) as exc:
            raise UnreadableBatch(_unreadable(source, "parquet", _first_line(exc))) from exc
        if read == 0:
            yield schemas[0].empty_table().to_pandas()

    return parquet_chunks, ()


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"


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
