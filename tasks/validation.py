"""Batch validation: a batch checked against the use case's data contract.

The structural rules run in pandas (:mod:`mlops_core.contract_rules`); the value
rules run as Great Expectations suites (:mod:`tasks.gx_adapter`, the only module
that talks to GX). Every rule yields a :class:`~mlops_core.decisions.RuleResult`;
the gate decision itself is made in ``mlops_core.gate`` from those results.
Reading the file is :mod:`tasks.batch_file`'s job (the ``readable`` rule).

Rules and their severities:

==================  ===============================================  =================
rule                checks                                           severity
==================  ===============================================  =================
readable            the file could be read                           error
duplicate_columns   no column name appears twice                     error
column_present      every contract column is there                   error
extra_columns       no column outside the contract                   error (pass when
                                                                     allowed)
target_leak         the target column is not in the batch            error
empty_batch         the batch has at least one row                   error
period              every time value falls in a period               error
period_span         the batch falls in one period                    warn
min_rows            the batch has at least ``contract.min_rows``     error
dtype               numeric/integer values parse as finite (whole)   error
                    numbers
boolean             boolean values are in {0, 1, True, False}        error
unique_id           ids are unique (when ``contract.unique_id``)     error
range               values within [min, max]                         column severity
categories          values in the allowed categories                 column severity
null_share          missing share <= ``max_null_share``              column severity
some_values         at least one value present (a column emptied by  error (unless
                    a broken export), unless ``max_null_share`` is 1  all may be missing)
==================  ===============================================  =================

Type rules are errors because a model cannot consume a text value in a numeric
feature; value rules take the column's severity so a contract can merely warn.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from mlops_core.config import UseCase
from mlops_core.contract_rules import StructureTally, observe_structure
from mlops_core.decisions import RuleResult
from mlops_core.unique_ids import DuplicateIds, confirm_duplicates, id_hashes, repeated_hashes
from tasks.batch_file import ChunkSource, UnreadableBatch
from tasks.gx_adapter import ValueTally, observe_values, value_results

#: Values (rows x columns) of one slice a batch held in memory is validated in.
#: Great Expectations copies the frame it validates several times over; slices of
#: about 400 MB of numbers bound that copying. Each slice costs GX's fixed
#: overhead again (about half a second for 25 columns on this 2-core machine),
#: so a batch of a million rows x 25 columns stays one slice.
CHUNK_VALUES = 50_000_000


def chunk_rows(columns: int) -> int:
    """Rows per slice for a batch of ``columns`` columns (at least 10,000)."""
    return max(10_000, CHUNK_VALUES // max(columns, 1))


def validate_frame(frame: pd.DataFrame, usecase: UseCase) -> tuple[RuleResult, ...]:
    """Check a batch held in memory against the use case's data contract.

    Structural rules run in pandas; value rules run as Great Expectations
    validations over the contract columns present in the batch, on slices of
    :func:`chunk_rows` rows (views, not copies), so GX's own copies stay the
    size of a slice. Every rule yields a result, passed or failed, so the
    record shows what was checked; the results are the whole batch's
    (:func:`validate_chunks`).

    Args:
        frame: The batch as read (not modified, not copied whole).
        usecase: The use case whose ``contract`` and ``data`` roles apply.

    Returns:
        One RuleResult per rule and column, structural rules first.
    """
    rows = chunk_rows(len(frame.columns))

    def slices() -> Iterable[pd.DataFrame]:
        if len(frame) <= rows:
            return (frame,)
        return (frame.iloc[start : start + rows] for start in range(0, len(frame), rows))

    return validate_chunks(slices, usecase)[1]


def validate_chunks(chunks: ChunkSource, usecase: UseCase) -> tuple[int, tuple[RuleResult, ...]]:
    """Check a batch chunk by chunk: the results of the batch read whole, in bounded memory.

    Each chunk is tallied (structure in pandas, values in GX) and the tallies
    merge, so the results are the whole batch's: counts and shares over all
    rows, the first offending values in row order. Memory is one chunk plus 8
    bytes per row when ids must be unique, whose check reads the id column a
    second time only when some id hash repeats (:mod:`mlops_core.unique_ids`).

    Args:
        chunks: Reads the batch's chunks (at least one, maybe empty, with the
            batch's columns), in row order, each time it is called.
        usecase: The use case whose ``contract`` and ``data`` roles apply.

    Returns:
        The batch's rows, and one RuleResult per rule and column, structural
        rules first. A chunk that cannot be read (:class:`UnreadableBatch`)
        gives its one failed ``readable`` rule instead.
    """
    ids = usecase.data.id_column
    unique = usecase.contract.unique_id and any(c.name == ids for c in usecase.contract.columns)
    structure: StructureTally | None = None
    values: ValueTally | None = None
    hashes: list[np.ndarray] = []
    try:
        for chunk in chunks():
            tally, narrow = observe_structure(chunk, usecase)
            structure = tally if structure is None else structure.merged(tally)
            if narrow is None:
                continue
            seen = observe_values(narrow, usecase, skip_range=tally.unparsable)
            values = seen if values is None else values.merged(seen)
            if unique and ids in narrow.columns:
                hashes.append(id_hashes(narrow[ids]))
        if structure is None:
            raise ValueError("a batch's chunks must include at least one, even if empty")
        results = structure.results(usecase)
        if values is None:
            return structure.rows, results
        duplicates = None
        if unique and ids in structure.columns:
            duplicates = _duplicates(chunks, usecase, repeated_hashes(hashes))
    except UnreadableBatch as unreadable:
        return 0, (unreadable.result,)
    present = frozenset(c.name for c in usecase.contract.columns) & set(structure.columns)
    return structure.rows, results + tuple(
        value_results(
            values,
            usecase,
            columns=present,
            skip_range=structure.unparsable,
            duplicates=duplicates,
        )
    )


def _duplicates(chunks: ChunkSource, usecase: UseCase, candidates: np.ndarray) -> DuplicateIds:
    """The second pass over the id column, prepared as the first pass saw it."""
    ids = usecase.data.id_column

    def id_values() -> Iterable[pd.Series]:
        for chunk in chunks():
            _, narrow = observe_structure(chunk.loc[:, [ids]], usecase)
            if narrow is not None:
                yield narrow[ids]

    return confirm_duplicates(id_values(), candidates)
