"""Reading a batch file: CSV or Parquet into a dataframe, or why it cannot be read.

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
