"""Faulty batch files a producer may deliver, shared by the fault tests.

Each builder takes a good batch and returns the bytes of its faulty delivery,
so the file tests (a local landing folder, a bucket) land the same faults.
"""

from __future__ import annotations

import pandas as pd

#: The share of a file's bytes a truncated delivery keeps (the upload was cut off).
TRUNCATED_SHARE = 0.6


def truncated_csv(frame: pd.DataFrame) -> bytes:
    """The CSV of ``frame``, cut off part way through a row."""
    data = frame.to_csv(index=False).encode("utf-8")
    return data[: int(len(data) * TRUNCATED_SHARE)]


def latin1_csv(frame: pd.DataFrame, text_column: str) -> bytes:
    """The CSV of ``frame`` in Latin-1, with a non-ASCII value in ``text_column``."""
    frame = frame.copy()
    frame.loc[frame.index[0], text_column] = "Düsseldorf"
    return frame.to_csv(index=False).encode("latin-1")
