"""Drift of a large Parquet batch, read a group of columns, and a chunk of rows, at a time.

A batch of a million rows and a thousand float columns is 8 GB in memory: more
than a worker should hold to compare it with a reference. Drift is a
per-feature comparison with the champion's reference profile (histograms and
counts, ``mlops_core.reference_profile``), so a feature needs only its own
column: this module reads the batch ``columns_per_read`` columns at a time,
compares each with its profile and lets the group go, so memory is bounded by
one group of columns, not by the batch. With ``rows_per_read`` it also reads
each group a chunk of rows at a time (a batch too tall to hold a column of),
adding each chunk to the column's :class:`mlops_core.reference_profile.BatchTally`
(counts and sums per reference bin, category counts) and, for the methods that
need it, reading the group a second time. The summary is built by the same
functions as the in-memory path (:func:`tasks.drift.feature_drift` or
:func:`tasks.drift.tally_drift`, :func:`tasks.drift.drift_summary`). Read in
whole columns it equals :func:`tasks.drift.compute_drift` on the same rows,
including the domain classifier's AUC: the rows it draws are taken from each
group as it passes (:func:`mlops_core.drift_stats.domain_sample_positions`).
Read in chunks of rows, the counts are the same and the float sums are added in
another order: the scores may differ in their last bits, the verdicts do not
(tested on both kinds of batch).

A batch is one Parquet file or a folder of them (a Parquet dataset, its files in
the order pyarrow lists them); columns are typed as ``pandas.read_parquet``
gives them, as the batch reader does. A float column of categories is written
as text the same way in every chunk: whether all its values are integral
("3", not "3.0") is decided over the whole column first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.config import UseCase
from mlops_core.decisions import DriftSummary, FeatureDrift
from mlops_core.drift_stats import MIN_DOMAIN_ROWS, domain_classifier_auc, domain_sample_positions
from mlops_core.reference_profile import (
    BatchTally,
    DriftFeature,
    FeatureProfile,
    ReferenceProfile,
    all_integral,
    drift_column,
    drift_features,
    drift_frame,
    profile_categorical_chunks,
    profile_column,
    profile_numeric,
    profile_numeric_chunks,
)
from tasks.drift import drift_summary, feature_drift, tally_drift

#: Columns read at once by default: 64 float columns of a million rows are 512 MiB.
COLUMNS_PER_READ = 64


@dataclass(frozen=True)
class _ParquetBatch:
    """A Parquet file or folder, listed once: its path, files in order, schema and rows."""

    path: str
    files: tuple[str, ...]
    schema: Any
    rows: int


def _open(source: str | os.PathLike[str]) -> _ParquetBatch:
    import pyarrow.dataset as ds

    dataset = ds.dataset(os.fspath(source), format="parquet")
    return _ParquetBatch(
        os.fspath(source), tuple(dataset.files), dataset.schema, int(dataset.count_rows())
    )


def parquet_rows(source: str | os.PathLike[str]) -> int:
    """Rows of a Parquet file or folder, from the files' footers (no column is read)."""
    return _open(source).rows


def _feature_groups(
    batch: _ParquetBatch, features: Sequence[DriftFeature], columns_per_read: int
) -> list[list[DriftFeature]]:
    """The features in groups of ``columns_per_read``, once each is known to be in ``batch``."""
    if columns_per_read < 1:
        raise ValueError(f"columns_per_read must be at least 1, got {columns_per_read}")
    present = set(batch.schema.names)
    missing = [f.name for f in features if f.name not in present]
    if missing:
        raise ValueError(f"current data lacks feature columns: {', '.join(missing)}")
    return [
        list(features[start : start + columns_per_read])
        for start in range(0, len(features), columns_per_read)
    ]


def _column_groups(
    batch: _ParquetBatch, features: Sequence[DriftFeature], columns_per_read: int
) -> Iterator[tuple[list[DriftFeature], pd.DataFrame]]:
    """Each group of features with its columns read from ``batch`` (and nothing else)."""
    for group in _feature_groups(batch, features, columns_per_read):
        yield group, pd.read_parquet(batch.path, columns=[f.name for f in group])


def _tallied_group(
    batch: _ParquetBatch,
    group: list[DriftFeature],
    profile: ReferenceProfile,
    rows_per_read: int,
    current_at: np.ndarray | None,
    sampled: dict[str, pd.Series],
) -> list[FeatureDrift]:
    """The drift of a group of features read a chunk of rows at a time (one or two passes).

    The domain classifier's rows (``current_at``, positions in the whole batch)
    are collected into ``sampled`` as the chunks pass.
    """
    names = [f.name for f in group]
    integral = _integral_float_categories(batch, group, rows_per_read)
    tallies = {f.name: BatchTally(f.method, profile.features[f.name]) for f in group}
    picked: dict[str, list[pd.Series]] = {name: [] for name in names}
    start = 0
    for chunk in _row_chunks(batch, names, rows_per_read):
        end = start + len(chunk)
        inside = None
        if current_at is not None:
            lo, hi = np.searchsorted(current_at, [start, end])
            inside = current_at[lo:hi] - start
        for feature in group:
            values = drift_column(chunk[feature.name], feature, integral=integral.get(feature.name))
            tallies[feature.name].add(values.to_numpy())
            if inside is not None:
                picked[feature.name].append(values.iloc[inside])
        start = end
    again = [f for f in group if tallies[f.name].second_pass]
    if again:
        for chunk in _row_chunks(batch, [f.name for f in again], rows_per_read):
            for feature in again:
                values = drift_column(chunk[feature.name], feature)
                tallies[feature.name].add_again(values.to_numpy())
    if current_at is not None:
        for name in names:
            sampled[name] = pd.concat(picked[name], ignore_index=True)
    return [tally_drift(f, profile.features[f.name], tallies[f.name]) for f in group]


def _row_chunks(
    batch: _ParquetBatch, names: list[str], rows_per_read: int
) -> Iterator[pd.DataFrame]:
    """The columns ``names`` of every row, ``rows_per_read`` rows at a time, in file order."""
    import pyarrow.parquet as pq

    for path in batch.files:
        # Without pre-buffering: Arrow would keep the bytes of every row group read
        # until the file is closed, so memory would grow with the file, not the chunk.
        with pq.ParquetFile(path, pre_buffer=False) as file:
            for batch in file.iter_batches(batch_size=rows_per_read, columns=names):
                yield batch.to_pandas()


def _integral_float_categories_of(batch: _ParquetBatch, group: Sequence[DriftFeature]) -> list[str]:
    """The float columns of categories in ``group`` (written as text; see ``category_text``)."""
    import pyarrow.types as pa_types

    return [
        f.name
        for f in group
        if f.kind == "categorical"
        and not f.boolean
        and pa_types.is_floating(batch.schema.field(f.name).type)
    ]


def _integral_float_categories(
    batch: _ParquetBatch, group: Sequence[DriftFeature], rows_per_read: int
) -> dict[str, bool]:
    """For each float column of categories in ``group``: are all its values integral?"""
    floats = _integral_float_categories_of(batch, group)
    integral = dict.fromkeys(floats, True)
    if floats:
        for chunk in _row_chunks(batch, floats, rows_per_read):
            for name in floats:
                integral[name] = integral[name] and all_integral(chunk[name])
    return integral


@dataclass(frozen=True)
class _DriftPlan:
    """What both batch readers settle before the first column: the batch, the
    features, and the domain classifier's rows (``current_at``: positions in
    the whole batch, drawn as the in-memory path draws them)."""

    profile: ReferenceProfile
    usecase: UseCase
    batch: _ParquetBatch
    features: list[DriftFeature]
    reference_rows: pd.DataFrame | None
    current_at: np.ndarray | None
    seed: int

    @classmethod
    def of(
        cls,
        profile: ReferenceProfile,
        source: str | os.PathLike[str],
        usecase: UseCase,
        reference_sample: pd.DataFrame | None,
        seed: int,
    ) -> _DriftPlan:
        features = drift_features(usecase)
        absent = [f.name for f in features if f.name not in profile.features]
        if absent:
            raise ValueError(f"reference data lacks feature columns: {', '.join(absent)}")
        batch = _open(source)
        policy = usecase.drift
        reference_rows = current_at = None
        if policy.domain_classifier and reference_sample is not None and batch.rows > 0:
            reference_rows = drift_frame(reference_sample, features, "reference")
            if min(len(reference_rows), batch.rows) >= MIN_DOMAIN_ROWS:
                _, current_at = domain_sample_positions(
                    len(reference_rows), batch.rows, seed, policy.domain_max_rows
                )
        return cls(profile, usecase, batch, features, reference_rows, current_at, seed)

    def summary(
        self,
        drifts: list[FeatureDrift],
        sampled: Mapping[str, pd.Series],
        importance: Mapping[str, float],
        current_predictions: np.ndarray | None,
    ) -> DriftSummary:
        """The summary of the features' drifts, with the domain classifier's AUC on ``sampled``."""
        policy = self.usecase.drift
        domain_auc = None
        if self.current_at is not None and self.reference_rows is not None:
            # The classifier draws the same positions again from these rows: all of them.
            domain_auc = domain_classifier_auc(
                self.reference_rows,
                pd.DataFrame(sampled),
                seed=self.seed,
                max_rows=policy.domain_max_rows,
            )
        return drift_summary(
            drifts,
            policy,
            importance,
            self.profile,
            current_rows=self.batch.rows,
            current_predictions=current_predictions,
            domain_auc=domain_auc,
        )


def profile_parquet(
    source: str | os.PathLike[str],
    usecase: UseCase,
    *,
    predictions: np.ndarray | None = None,
    columns_per_read: int = COLUMNS_PER_READ,
    rows_per_read: int | None = None,
) -> ReferenceProfile:
    """The reference profile of a Parquet file or folder, read a group of columns at a time.

    Equal to :func:`mlops_core.reference_profile.profile_reference` on the same
    rows read whole: with ``rows_per_read``, the same edges and counts, and
    moments and bin means equal to about 1e-15 (sums taken chunk by chunk).

    Args:
        source: A Parquet file, or a folder of them, holding every model feature.
        usecase: Supplies the features and their kinds.
        predictions: The model's predictions on (a sample of) the rows, when numbers.
        columns_per_read: Columns held in memory at once (without ``rows_per_read``).
        rows_per_read: Rows of one column held at once; None: every row. A
            numeric column is then read up to five times (its exact quantile
            edges are picked in passes, :func:`profile_numeric_chunks`), a
            column of categories once.

    Returns:
        The profile, to store with the model.

    Raises:
        ValueError: A feature is missing from ``source``, or ``columns_per_read``
            or ``rows_per_read`` < 1.
    """
    batch = _open(source)
    if rows_per_read is not None:
        if rows_per_read < 1:
            raise ValueError(f"rows_per_read must be at least 1, got {rows_per_read}")
        features = drift_features(usecase)
        _feature_groups(batch, features, columns_per_read)  # every feature is there
        chunked = {f.name: _chunked_profile(batch, f, rows_per_read) for f in features}
        prediction = None if predictions is None else profile_numeric(predictions)
        return ReferenceProfile(rows=batch.rows, features=chunked, prediction=prediction)
    profiles = {}
    for group, frame in _column_groups(batch, drift_features(usecase), columns_per_read):
        for feature in group:
            values = drift_column(frame[feature.name], feature)
            profiles[feature.name] = profile_column(values, numeric=feature.kind == "numeric")
        del frame
    prediction = None if predictions is None else profile_numeric(predictions)
    return ReferenceProfile(rows=batch.rows, features=profiles, prediction=prediction)


def _chunked_profile(
    batch: _ParquetBatch, feature: DriftFeature, rows_per_read: int
) -> FeatureProfile:
    """The reference profile of one feature, ``rows_per_read`` rows of it at a time."""
    integral = _integral_float_categories(batch, [feature], rows_per_read).get(feature.name)

    def values() -> Iterator[np.ndarray]:
        for chunk in _row_chunks(batch, [feature.name], rows_per_read):
            yield drift_column(chunk[feature.name], feature, integral=integral).to_numpy()

    if feature.kind == "numeric":
        return profile_numeric_chunks(values)
    return profile_categorical_chunks(values())


def compute_parquet_drift(
    profile: ReferenceProfile,
    source: str | os.PathLike[str],
    usecase: UseCase,
    importance: Mapping[str, float],
    *,
    reference_sample: pd.DataFrame | None = None,
    current_predictions: np.ndarray | None = None,
    seed: int = 0,
    columns_per_read: int = COLUMNS_PER_READ,
    rows_per_read: int | None = None,
) -> DriftSummary:
    """Drift of a Parquet batch against a reference profile, a group of columns at a time.

    The same summary as :func:`tasks.drift.compute_drift` on the batch read
    whole (without its ``sample_rows`` option), holding at most
    ``columns_per_read`` of the batch's columns (and, with ``rows_per_read``,
    at most that many of their rows), plus the domain classifier's sample of
    rows (at most ``drift.domain_max_rows``), at once. In chunks of rows the
    scores may differ from it in their last bits (float sums in another order).

    Args:
        profile: The champion's reference profile.
        source: The batch: a Parquet file or a folder of them, with every model feature.
        usecase: Supplies the features and the drift policy.
        importance: The champion's permutation importance per feature.
        reference_sample: Reference rows for the domain classifier (only read
            when ``drift.domain_classifier`` is on).
        current_predictions: The champion's predictions on the batch.
        seed: Seed of the domain classifier and of its sample.
        columns_per_read: Columns held in memory at once.
        rows_per_read: Rows of those columns held at once; None: every row.

    Returns:
        The drift summary.

    Raises:
        ValueError: A feature is missing from the profile or the batch, or
            ``columns_per_read`` or ``rows_per_read`` < 1.
    """
    plan = _DriftPlan.of(profile, source, usecase, reference_sample, seed)
    batch, features, current_at = plan.batch, plan.features, plan.current_at
    if rows_per_read is not None and rows_per_read < 1:
        raise ValueError(f"rows_per_read must be at least 1, got {rows_per_read}")
    drifts = []
    sampled: dict[str, pd.Series] = {}
    if rows_per_read is None:
        for group, frame in _column_groups(batch, features, columns_per_read):
            for feature in group:
                values = drift_column(frame[feature.name], feature)
                drifts.append(feature_drift(feature, profile.features[feature.name], values))
                if current_at is not None:
                    sampled[feature.name] = values.iloc[current_at].reset_index(drop=True)
            del frame
    else:
        for group in _feature_groups(batch, features, columns_per_read):
            drifts += _tallied_group(batch, group, profile, rows_per_read, current_at, sampled)
    return plan.summary(drifts, sampled, importance, current_predictions)


# ------------------------------------------------------------ Dask partitions
def _partition_integral(part: pd.DataFrame, names: list[str]) -> dict[str, bool]:
    """Whether each float column of categories of one partition holds integral values only."""
    return {name: all_integral(part[name]) for name in names}


def _partition_first_pass(
    part: pd.DataFrame,
    group: list[DriftFeature],
    profiles: Mapping[str, Any],
    integral: Mapping[str, bool],
) -> tuple[int, dict[str, BatchTally]]:
    """One partition's rows and first-pass tallies of the group's features."""
    tallies = {}
    for feature in group:
        tally = BatchTally(feature.method, profiles[feature.name])
        values = drift_column(part[feature.name], feature, integral=integral.get(feature.name))
        tally.add(values.to_numpy())
        tallies[feature.name] = tally
    return len(part), tallies


def _partition_second_pass(
    part: pd.DataFrame,
    group: list[DriftFeature],
    merged: Mapping[str, BatchTally],
    integral: Mapping[str, bool],
    inside: np.ndarray,
) -> tuple[dict[str, BatchTally], dict[str, pd.Series]]:
    """One partition's second-pass tallies, and its rows of the domain classifier's sample."""
    again = {}
    picked = {}
    for feature in group:
        values = drift_column(part[feature.name], feature, integral=integral.get(feature.name))
        if merged[feature.name].second_pass:
            tally = merged[feature.name].for_second_pass()
            tally.add_again(values.to_numpy())
            again[feature.name] = tally
        if inside.size:
            picked[feature.name] = values.iloc[inside].reset_index(drop=True)
    return again, picked


def compute_partitioned_drift(
    profile: ReferenceProfile,
    source: str | os.PathLike[str],
    usecase: UseCase,
    importance: Mapping[str, float],
    *,
    scheduler: Any,
    reference_sample: pd.DataFrame | None = None,
    current_predictions: np.ndarray | None = None,
    seed: int = 0,
    columns_per_read: int = COLUMNS_PER_READ,
) -> DriftSummary:
    """:func:`compute_parquet_drift` partition by partition on Dask (``dask.dataframe``).

    The batch's files are read as a Dask dataframe, a group of columns at a
    time; each partition is tallied on a worker (:class:`BatchTally`: counts
    and sums per reference bin, category counts), the tallies are merged here
    in partition order, and the methods that need a second pass (and the
    domain classifier's sample) go over the partitions again from the merged
    first pass. A worker holds one partition of one group of columns; this
    process holds the tallies and the sample. The verdicts equal the in-memory
    path's; the scores may differ in their last bits (float sums in another order).

    Args:
        profile: The champion's reference profile.
        source: The batch: a Parquet file or a folder of them, with every model feature.
        usecase: Supplies the features and the drift policy.
        importance: The champion's permutation importance per feature.
        scheduler: Where the partitions are tallied: a ``distributed.Client``
            (a cluster), or a name of Dask's local schedulers (``"sync"``,
            ``"threads"``, ``"processes"``).
        reference_sample: Reference rows for the domain classifier.
        current_predictions: The champion's predictions on the batch.
        seed: Seed of the domain classifier and of its sample.
        columns_per_read: Columns of a partition a worker holds at once.

    Returns:
        The drift summary.

    Raises:
        ValueError: A feature is missing from the profile or the batch, or
            ``columns_per_read`` < 1.
    """
    import dask
    import dask.dataframe as dd

    plan = _DriftPlan.of(profile, source, usecase, reference_sample, seed)
    batch, features, current_at = plan.batch, plan.features, plan.current_at

    def compute(tasks: list[Any]) -> list[Any]:
        return list(dask.compute(*tasks, scheduler=scheduler))

    drifts: list[FeatureDrift] = []
    sampled: dict[str, pd.Series] = {}
    for group in _feature_groups(batch, features, columns_per_read):
        names = [f.name for f in group]
        # In the order pyarrow lists them, as the other readers: the sample's
        # positions count rows in that order.
        parts = dd.read_parquet(list(batch.files), columns=names).to_delayed()
        integral: dict[str, bool] = {}
        floats = list(_integral_float_categories_of(batch, group))
        if floats:
            partial = compute([dask.delayed(_partition_integral)(p, floats) for p in parts])
            integral = {name: all(found[name] for found in partial) for name in floats}
        profiles = dask.delayed({name: profile.features[name] for name in names}, pure=True)
        firsts = compute(
            [dask.delayed(_partition_first_pass)(p, group, profiles, integral) for p in parts]
        )
        merged = {f.name: BatchTally(f.method, profile.features[f.name]) for f in group}
        offsets = np.cumsum([0] + [length for length, _ in firsts])
        for _, tallies in firsts:
            for name, tally in tallies.items():
                merged[name].merge(tally)
        again_needed = any(t.second_pass for t in merged.values())
        if again_needed or current_at is not None:
            shared = dask.delayed(merged, pure=True)
            insides = []
            for start, end in zip(offsets[:-1], offsets[1:], strict=True):
                inside = np.empty(0, dtype=np.int64)
                if current_at is not None:
                    lo, hi = np.searchsorted(current_at, [start, end])
                    inside = current_at[lo:hi] - start
                insides.append(inside)
            seconds = compute(
                [
                    dask.delayed(_partition_second_pass)(p, group, shared, integral, inside)
                    for p, inside in zip(parts, insides, strict=True)
                ]
            )
            picked: dict[str, list[pd.Series]] = {name: [] for name in names}
            for again, rows_of_sample in seconds:
                for name, tally in again.items():
                    merged[name].merge_again(tally)
                for name, values in rows_of_sample.items():
                    picked[name].append(values)
            if current_at is not None:
                for name in names:
                    sampled[name] = pd.concat(picked[name], ignore_index=True)
        drifts += [tally_drift(f, profile.features[f.name], merged[f.name]) for f in group]
    return plan.summary(drifts, sampled, importance, current_predictions)
