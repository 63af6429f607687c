"""Drift of a wide Parquet batch, read one group of columns at a time.

A batch of a million rows and a thousand float columns is 8 GB in memory: more
than a worker should hold to compare it with a reference. Drift is a
per-feature comparison with the champion's reference profile (histograms and
counts, ``mlops_core.reference_profile``), so a feature needs only its own
column: this module reads the batch ``columns_per_read`` columns at a time,
compares each with its profile and lets the group go, so memory is bounded by
one group of columns, not by the batch. The summary is built by the same
functions as the in-memory path (:func:`tasks.drift.feature_drift`,
:func:`tasks.drift.drift_summary`) and equals :func:`tasks.drift.compute_drift`
on the same rows, including the domain classifier's AUC: the rows it draws are
taken from each group as it passes (:func:`mlops_core.drift_stats.domain_sample_positions`).

A batch is one Parquet file or a folder of them (a Parquet dataset, its files in
the order pyarrow lists them); columns are typed as ``pandas.read_parquet``
gives them, as the batch reader does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from mlops_core.config import UseCase
from mlops_core.decisions import DriftSummary
from mlops_core.drift_stats import MIN_DOMAIN_ROWS, domain_classifier_auc, domain_sample_positions
from mlops_core.reference_profile import (
    DriftFeature,
    ReferenceProfile,
    drift_column,
    drift_features,
    drift_frame,
    profile_categorical,
    profile_numeric,
)
from tasks.drift import drift_summary, feature_drift

#: Columns read at once by default: 64 float columns of a million rows are 512 MiB.
COLUMNS_PER_READ = 64


def parquet_rows(source: str | os.PathLike[str]) -> int:
    """Rows of a Parquet file or folder, from the files' footers (no column is read)."""
    import pyarrow.dataset as ds

    return int(ds.dataset(os.fspath(source), format="parquet").count_rows())


def _column_groups(
    source: str | os.PathLike[str], features: Sequence[DriftFeature], columns_per_read: int
) -> Iterator[tuple[list[DriftFeature], pd.DataFrame]]:
    """Each group of features with its columns read from ``source`` (and nothing else)."""
    if columns_per_read < 1:
        raise ValueError(f"columns_per_read must be at least 1, got {columns_per_read}")
    import pyarrow.dataset as ds

    present = set(ds.dataset(os.fspath(source), format="parquet").schema.names)
    missing = [f.name for f in features if f.name not in present]
    if missing:
        raise ValueError(f"current data lacks feature columns: {', '.join(missing)}")
    for start in range(0, len(features), columns_per_read):
        group = list(features[start : start + columns_per_read])
        yield group, pd.read_parquet(source, columns=[f.name for f in group])


def profile_parquet(
    source: str | os.PathLike[str],
    usecase: UseCase,
    *,
    predictions: np.ndarray | None = None,
    columns_per_read: int = COLUMNS_PER_READ,
) -> ReferenceProfile:
    """The reference profile of a Parquet file or folder, read a group of columns at a time.

    Equal to :func:`mlops_core.reference_profile.profile_reference` on the same
    rows read whole.

    Args:
        source: A Parquet file, or a folder of them, holding every model feature.
        usecase: Supplies the features and their kinds.
        predictions: The model's predictions on (a sample of) the rows, when numbers.
        columns_per_read: Columns held in memory at once.

    Returns:
        The profile, to store with the model.

    Raises:
        ValueError: A feature is missing from ``source``, or ``columns_per_read`` < 1.
    """
    profiles = {}
    for group, frame in _column_groups(source, drift_features(usecase), columns_per_read):
        for feature in group:
            values = drift_column(frame[feature.name], feature)
            profiles[feature.name] = (
                profile_numeric(values)
                if feature.kind == "numeric"
                else profile_categorical(values)
            )
        del frame
    prediction = None if predictions is None else profile_numeric(predictions)
    return ReferenceProfile(rows=parquet_rows(source), features=profiles, prediction=prediction)


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
) -> DriftSummary:
    """Drift of a Parquet batch against a reference profile, a group of columns at a time.

    The same summary as :func:`tasks.drift.compute_drift` on the batch read
    whole (without its ``sample_rows`` option), holding at most
    ``columns_per_read`` of the batch's columns, plus the domain classifier's
    sample of rows (at most ``drift.domain_max_rows``), at once.

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

    Returns:
        The drift summary.

    Raises:
        ValueError: A feature is missing from the profile or the batch, or
            ``columns_per_read`` < 1.
    """
    features = drift_features(usecase)
    absent = [f.name for f in features if f.name not in profile.features]
    if absent:
        raise ValueError(f"reference data lacks feature columns: {', '.join(absent)}")
    rows = parquet_rows(source)
    policy = usecase.drift
    reference_rows = current_at = None
    if policy.domain_classifier and reference_sample is not None and rows > 0:
        reference_rows = drift_frame(reference_sample, features, "reference")
        if min(len(reference_rows), rows) >= MIN_DOMAIN_ROWS:
            _, current_at = domain_sample_positions(
                len(reference_rows), rows, seed, policy.domain_max_rows
            )
    drifts = []
    sampled: dict[str, pd.Series] = {}
    for group, frame in _column_groups(source, features, columns_per_read):
        for feature in group:
            values = drift_column(frame[feature.name], feature)
            drifts.append(feature_drift(feature, profile.features[feature.name], values))
            if current_at is not None:
                sampled[feature.name] = values.iloc[current_at].reset_index(drop=True)
        del frame
    domain_auc = None
    if current_at is not None and reference_rows is not None:
        # The classifier draws the same positions again from these rows: all of them.
        domain_auc = domain_classifier_auc(
            reference_rows, pd.DataFrame(sampled), seed=seed, max_rows=policy.domain_max_rows
        )
    return drift_summary(
        drifts,
        policy,
        importance,
        profile,
        current_rows=rows,
        current_predictions=current_predictions,
        domain_auc=domain_auc,
    )
