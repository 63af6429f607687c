"""The ids of every accepted batch, kept in one cached file that grows by the new batches only.

The label gate needs the ids of every batch ever scored (a label for an id
never scored is set aside). Reading them from every file in ``processed``
costs one Parquet read per batch, so a cycle would slow down as the history
grows. This module keeps them in one file, ``scored_ids.parquet`` beside the
use case's ``processed`` folder, whose footer names the processed files it
was built from (name, size, modification time). A call reads that one file,
lists ``processed`` (no reads) and reads only the files it does not yet hold.

The cache is derived data and never the record: it is rebuilt from
``processed`` whenever a file it names is gone or has changed, and it is
replaced atomically, so a crash leaves the old cache or the new one, each true
of the files it names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks import storage
from tasks.storage import UseCasePaths

#: Key of the footer metadata that names the processed files the cache holds.
SOURCES_KEY = b"mlops.scored_ids.sources"
#: Column of the cached ids (text, the form labels are compared in).
ID_COLUMN = "id"

Source = tuple[str, int, int]


def scored_ids_cache(paths: UseCasePaths) -> Path:
    """Where the use case's scored ids are cached."""
    return paths.processed.parent / "scored_ids.parquet"


def _source(path: Path) -> Source:
    stat = path.stat()
    return (path.name, stat.st_size, stat.st_mtime_ns)


class ScoredIds:
    """The distinct scored ids, as Arrow text: membership is tested in Arrow's C++.

    A pandas index of a few million Python strings costs seconds to build from
    the cache and again to hash for each membership test (at 4M ids and a
    1M-row label file: about 4 CPU-s against 1).
    """

    def __init__(self, ids: pa.Array) -> None:
        self._ids = ids

    def contains(self, ids: pd.Series) -> np.ndarray:
        """Per id (text), whether it was scored."""
        text = storage.ids_as_arrow_text(ids)
        return pc.is_in(text, value_set=self._ids).to_numpy(zero_copy_only=False)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids.to_pylist())


def _read_cache(cache: Path) -> tuple[pa.Array, set[Source]] | None:
    """The cached ids and the sources they came from, or None when there is no usable cache."""
    try:
        table = pq.read_table(cache)
        raw = (table.schema.metadata or {})[SOURCES_KEY]
        sources = {(str(n), int(s), int(m)) for n, s, m in json.loads(raw)}
        ids = table.column(ID_COLUMN).combine_chunks().cast(pa.string())
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException):
        return None
    return ids, sources


def _write_cache(cache: Path, ids: pa.Array, sources: set[Source]) -> None:
    table = pa.table({ID_COLUMN: ids})
    table = table.replace_schema_metadata({SOURCES_KEY: json.dumps(sorted(sources)).encode()})
    with storage.replacing(cache) as tmp:
        pq.write_table(table, tmp)


def _ids_of(files: list[Path], id_column: str) -> pa.Array:
    parts = [
        storage.ids_as_arrow_text(pd.read_parquet(f, columns=[id_column])[id_column]) for f in files
    ]
    return pa.concat_arrays(parts) if parts else pa.array([], type=pa.string())


def scored_ids(paths: UseCasePaths, id_column: str) -> ScoredIds:
    """Ids of every accepted batch, as text, without rereading the batches read before.

    Args:
        paths: The use case's folders.
        id_column: The id column of the batches.

    Returns:
        The distinct ids of every file in ``processed``.
    """
    files = {f.name: f for f in storage.parquet_files(paths.processed)}
    current = {_source(f) for f in files.values()}
    cache = scored_ids_cache(paths)
    cached = _read_cache(cache) if cache.exists() else None
    if cached is not None and cached[1] <= current:
        ids, held = cached
        new = sorted(current - held)
    else:  # no cache, or a file it was built from is gone or changed: rebuild
        ids, held = pa.array([], type=pa.string()), set()
        new = sorted(current)
    if new:
        added = pc.unique(_ids_of([files[name] for name, _, _ in new], id_column))
        # The cached ids are distinct: only the new ones not among them are added.
        added = added.filter(pc.invert(pc.is_in(added, value_set=ids)))
        ids = pa.concat_arrays([ids, added])
        _write_cache(cache, ids, held | set(new))
    return ScoredIds(ids)  # distinct: the cache is written without repeats
