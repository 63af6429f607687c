"""Unique ids across a whole batch, read whole or chunk by chunk.

No chunk can tell alone whether its ids repeat another chunk's, so ids are
checked in two passes over the id column that keep 8 bytes per row, not the ids:

1. Every present id is hashed to 64 bits (:func:`id_hashes`; ``5``, ``5.0``
   and ``"5"`` are one id, however a chunk's dtype came out); the hashes seen
   more than once are the candidates (:func:`repeated_hashes`).
2. Only when there are candidates: the id column is read again, and the rows
   whose hash is a candidate get a second, independent 64-bit hash. Rows whose
   two hashes both repeat are the duplicates (:func:`confirm_duplicates`), so a
   collision of the first hash alone never counts (a false duplicate would need
   both to collide: about 2^-128 per pair of ids).

Missing ids are not compared (as Great Expectations' uniqueness ignores them).
The result counts every row whose id appears more than once, and lists the
first such ids in row order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Duplicated ids listed, in row order (as a row rule's examples are chosen from).
FIRST_DUPLICATES = 20
#: Candidate rows whose ids are kept to find the first duplicates among them.
_CANDIDATES_KEPT = 5 * FIRST_DUPLICATES
# pandas' hash keys (16 characters): two keys give two independent hashes.
_FIRST_KEY = "mlops-unique-ids"
_SECOND_KEY = "second-id-hashes"


@dataclass(frozen=True)
class DuplicateIds:
    """The rows of a batch whose id appears more than once.

    Attributes:
        rows: Rows whose id appears more than once (every occurrence counts).
        first: The first of those ids, in row order (up to ``FIRST_DUPLICATES``).
    """

    rows: int
    first: tuple[Any, ...]


def id_hashes(ids: pd.Series) -> np.ndarray:
    """The first pass's 64-bit hashes of the present ids of one chunk, in row order."""
    return _id_hashes(ids.dropna(), second=False)


def _id_hashes(present: pd.Series, *, second: bool) -> np.ndarray:
    """Hashes of ids (none missing), one id one hash however a chunk typed it.

    A whole number is hashed as a 64-bit integer, whether it was read as an
    integer, a float (``5.0``) or text written the way an integer prints
    (``"5"``, not ``"05"``); anything else is hashed as text. pandas hashes
    integers with a bijection (no two collide) and text with SipHash under a
    key, so the second hash uses another key for text and another bijection
    for integers.
    """
    if pd.api.types.is_integer_dtype(present):
        return _integer_hashes(present.to_numpy(np.int64), second)
    if pd.api.types.is_float_dtype(present):
        values = present.to_numpy(float)
        whole = np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < 2.0**63)
        numbers = np.where(whole, values, 0).astype(np.int64)
        texts = present.astype(str).to_numpy(object)
    else:
        texts = present.astype(str).to_numpy(object)
        parsed = pd.to_numeric(pd.Series(texts), errors="coerce").to_numpy(float)
        whole = np.isfinite(parsed) & (parsed == np.floor(parsed)) & (np.abs(parsed) < 2.0**63)
        numbers = np.where(whole, parsed, 0).astype(np.int64)
        # Only an integer written as an integer prints back the same: "05" and
        # "5.0" stay text, as they are different ids from 5 in a column of text.
        whole &= numbers.astype(str).astype(object) == texts
    hashes = np.empty(len(present), dtype=np.uint64)
    hashes[whole] = _integer_hashes(numbers[whole], second)
    key = _SECOND_KEY if second else _FIRST_KEY
    hashes[~whole] = pd.util.hash_array(texts[~whole], hash_key=key, categorize=False)
    return hashes


#: Added (xor) to integers before the second hash: another bijection of 64 bits.
_SECOND_INTEGERS = np.uint64(0x9E3779B97F4A7C15)


def _integer_hashes(numbers: np.ndarray, second: bool) -> np.ndarray:
    values = numbers.view(np.uint64)
    if second:
        values = values ^ _SECOND_INTEGERS
    return pd.util.hash_array(values)


def repeated_hashes(hashes: list[np.ndarray]) -> np.ndarray:
    """The hashes (sorted) seen more than once across the chunks' hashes.

    The list is emptied: its arrays are joined into one, which is sorted in
    place, so the memory held is 8 bytes a row once the join is done (16 while
    it is made), not the several copies ``np.unique`` would make.
    """
    joined = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    hashes.clear()
    joined.sort()
    again = joined[1:][joined[1:] == joined[:-1]]
    return np.unique(again)


def confirm_duplicates(chunks: Iterable[pd.Series], candidates: np.ndarray) -> DuplicateIds:
    """The second pass: which candidate rows hold an id that truly repeats.

    Args:
        chunks: The id column again, chunk by chunk, in the same row order.
        candidates: :func:`repeated_hashes` of the first pass.

    Returns:
        The duplicated rows and the first duplicated ids.
    """
    if candidates.size == 0:
        return DuplicateIds(0, ())
    pairs: list[np.ndarray] = []
    kept: list[tuple[tuple[int, int], Any]] = []
    for ids in chunks:
        present = ids.dropna()
        first = _id_hashes(present, second=False)
        hit = np.isin(first, candidates)
        if not hit.any():
            continue
        second = _id_hashes(present[hit], second=True)
        pairs.append(np.stack([first[hit], second], axis=1))
        if len(kept) < _CANDIDATES_KEPT:
            # Positions, not labels: the ids as the rows hold them, for the examples.
            rows = np.flatnonzero(ids.notna().to_numpy())[hit][: _CANDIDATES_KEPT - len(kept)]
            raw = ids.iloc[rows].tolist()
            found = zip(first[hit].tolist(), second.tolist(), strict=True)
            kept += list(zip(found, raw, strict=False))
    if not pairs:
        return DuplicateIds(0, ())
    seen, counts = np.unique(np.concatenate(pairs), axis=0, return_counts=True)
    repeated = {(int(a), int(b)) for (a, b), n in zip(seen, counts, strict=True) if n > 1}
    rows = int(counts[counts > 1].sum())
    first_ids = tuple(value for pair, value in kept if pair in repeated)[:FIRST_DUPLICATES]
    return DuplicateIds(rows, first_ids)


def duplicate_ids(chunks: list[pd.Series]) -> DuplicateIds:
    """Both passes over an id column held in memory (whole, or as a list of chunks)."""
    return confirm_duplicates(chunks, repeated_hashes([id_hashes(ids) for ids in chunks]))
