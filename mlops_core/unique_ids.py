"""Unique ids across a whole batch, read whole or chunk by chunk.

No chunk can tell alone whether its ids repeat another chunk's, so ids are
checked in two passes over the id column that keep 8 bytes per row, not the ids:

1. Every present id, as text (``5``, ``5.0`` and ``"5"`` are one id, however a
   chunk's dtype came out), is hashed to 64 bits (:func:`id_hashes`); the
   hashes seen more than once are the candidates (:func:`repeated_hashes`).
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


def id_texts(ids: pd.Series) -> pd.Series:
    """The present ids as text: whole floats without their ``.0``, on the rows' index."""
    present = ids.dropna()
    if pd.api.types.is_float_dtype(present):
        whole = present == np.floor(present)
        if whole.all():
            return present.astype("int64").astype(str)
    return present.astype(str)


def id_hashes(ids: pd.Series) -> np.ndarray:
    """The first pass's 64-bit hashes of the present ids of one chunk."""
    return _hashes(id_texts(ids), _FIRST_KEY)


def repeated_hashes(hashes: Iterable[np.ndarray]) -> np.ndarray:
    """The hashes (sorted) seen more than once across the chunks' hashes."""
    arrays = [h for h in hashes if h.size]
    if not arrays:
        return np.empty(0, dtype=np.uint64)
    seen, counts = np.unique(np.concatenate(arrays), return_counts=True)
    return seen[counts > 1]


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
        texts = id_texts(ids)
        first = _hashes(texts, _FIRST_KEY)
        hit = np.isin(first, candidates)
        if not hit.any():
            continue
        second = _hashes(texts[hit], _SECOND_KEY)
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
    return confirm_duplicates(chunks, repeated_hashes(id_hashes(ids) for ids in chunks))


def _hashes(texts: pd.Series, key: str) -> np.ndarray:
    return pd.util.hash_pandas_object(texts, index=False, hash_key=key).to_numpy(np.uint64)
