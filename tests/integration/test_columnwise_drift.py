"""Drift of a Parquet batch read a group of columns at a time equals drift of it read whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from usecase_variant import small_usecase

from mlops_core.config import UseCase
from mlops_core.decisions import DriftSummary
from mlops_core.reference_profile import profile_reference
from tasks.columnwise_drift import (
    compute_parquet_drift,
    compute_partitioned_drift,
    parquet_rows,
    profile_parquet,
)
from tasks.drift import compute_drift

pytestmark = pytest.mark.integration

ROWS = 3000
NUMERIC = 9  # x0..x8: x0, x1 shifted; x2 spread; the rest stay
COLOURS = ("red", "green", "blue", "grey")


def _usecase(*, ks: bool = False) -> UseCase:
    features: list[dict[str, Any]] = [
        *({"name": f"x{j}", "type": "numeric"} for j in range(NUMERIC)),
        {"name": "units", "type": "integer"},
        {"name": "colour", "type": "categorical"},
        {"name": "store", "type": "categorical"},
        {"name": "grade", "type": "categorical"},
        {"name": "promo", "type": "boolean"},
    ]
    if ks:
        return small_usecase(
            "wide", features, drift={"numeric_method": "ks", "numeric_threshold": 0.05}
        )
    return small_usecase("wide", features)


def _frame(seed: int, *, drifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    numbers = {f"x{j}": rng.normal(10.0 * j, 1.0 + j % 3, ROWS) for j in range(NUMERIC)}
    if drifted:
        numbers["x0"] = numbers["x0"] + 0.5
        numbers["x1"] = numbers["x1"] - 0.4 * (1 + 1 % 3)
        numbers["x2"] = 20.0 + (numbers["x2"] - 20.0) * 1.6
    numbers["x3"][rng.random(ROWS) < 0.02] = np.nan  # missing values on both sides
    colour_p = (0.2, 0.2, 0.3, 0.3) if drifted else (0.4, 0.3, 0.2, 0.1)
    units = pd.array(rng.poisson(3.0, ROWS), dtype="Int64")
    units[rng.random(ROWS) < 0.01] = pd.NA
    # Category codes stored as floats; the batch's last rows hold a 2.5, so every
    # code of it reads "1.0", not "1": a chunk of rows before them must agree.
    grade = rng.choice([1.0, 2.0, 3.0], ROWS)
    grade[rng.random(ROWS) < 0.02] = np.nan
    if drifted:
        grade[-3:] = 2.5
    return pd.DataFrame(
        {
            "id": np.arange(ROWS),
            "week": 1,
            **numbers,
            "units": units,
            "colour": rng.choice(COLOURS, ROWS, p=colour_p),
            "store": rng.integers(1, 6, ROWS),  # category codes stored as numbers
            "grade": grade,
            "promo": rng.random(ROWS) < (0.5 if drifted else 0.3),
        }
    )


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _frame(1, drifted=False), _frame(2, drifted=True)


def _write_folder(frame: pd.DataFrame, folder: Path, parts: int) -> Path:
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[part].to_parquet(folder / f"part-{i:03d}.parquet", index=False)
    return folder


def _assert_same_decisions(got: DriftSummary, expected: DriftSummary) -> None:
    """The same verdicts and counts; scores equal but for float sums added in another order."""
    assert [f.feature for f in got.features] == [f.feature for f in expected.features]
    for ours, theirs in zip(got.features, expected.features, strict=True):
        assert (ours.method, ours.drifted, ours.significant) == (
            theirs.method,
            theirs.drifted,
            theirs.significant,
        ), ours.feature
        for field in ("score", "score_error", "p_value", "importance"):
            a, b = getattr(ours, field), getattr(theirs, field)
            assert (a is None) == (b is None), (ours.feature, field)
            if a is not None:
                assert a == pytest.approx(b, rel=1e-9, abs=1e-12), (ours.feature, field)
    assert got.drift_share == expected.drift_share
    assert got.importance_weighted_share == pytest.approx(expected.importance_weighted_share)
    assert (got.domain_auc, got.multivariate_drift) == (
        expected.domain_auc,
        expected.multivariate_drift,
    )
    assert (got.current_rows, got.reference_rows) == (
        expected.current_rows,
        expected.reference_rows,
    )
    assert got.prediction_drift == expected.prediction_drift


# rows_per_read: every row at once (whole columns); chunks of 700 rows (several per
# file and row group, aligned with neither); more than the batch (one chunk per file).
@pytest.mark.parametrize(
    "rows_per_read", [None, 700, 10_000], ids=["whole", "700 rows", "a file a chunk"]
)
@pytest.mark.parametrize("layout", ["file", "folder"])
@pytest.mark.parametrize("ks", [False, True], ids=["effect sizes", "tests"])
def test_drift_read_by_column_groups_equals_drift_read_whole(
    frames, tmp_path, layout, ks, rows_per_read
):
    reference, current = frames
    usecase = _usecase(ks=ks)
    if layout == "file":
        source = tmp_path / "batch.parquet"
        current.to_parquet(source, row_group_size=700, index=False)
    else:
        source = _write_folder(current, tmp_path / "batch", parts=4)
    whole = pd.read_parquet(source)
    importance = {name: float(i + 1) for i, name in enumerate(usecase.contract.feature_names)}
    profile = profile_reference(reference, usecase)
    predictions = current["x4"].to_numpy() * 2.0

    expected = compute_drift(
        profile,
        whole,
        usecase,
        importance,
        reference_sample=reference,
        current_predictions=predictions,
        seed=3,
    )
    got = compute_parquet_drift(
        profile,
        source,
        usecase,
        importance,
        reference_sample=reference,
        current_predictions=predictions,
        seed=3,
        columns_per_read=3,
        rows_per_read=rows_per_read,
    )

    if rows_per_read is None or (layout == "file" and rows_per_read > ROWS):
        assert got == expected  # whole columns, or one chunk: the same arithmetic
    else:
        _assert_same_decisions(got, expected)
    # The case is not trivial: drift found, the classifier ran and saw it.
    assert {"x0", "x2", "colour", "promo"} <= {f.feature for f in got.features if f.drifted}
    assert got.domain_auc is not None and got.domain_auc > 0.6
    assert got.current_rows == ROWS == parquet_rows(source)


@pytest.fixture(scope="module")
def dask_cluster():
    """A local Dask cluster of 2 worker processes (a partition is tallied in another process)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("ks", [False, True], ids=["effect sizes", "tests"])
def test_drift_partition_by_partition_on_dask_decides_as_in_memory_and_in_chunks(
    frames, tmp_path, ks, dask_cluster
):
    reference, current = frames
    usecase = _usecase(ks=ks)
    source = _write_folder(current, tmp_path / "batch", parts=5)
    importance = {name: float(i + 1) for i, name in enumerate(usecase.contract.feature_names)}
    profile = profile_reference(reference, usecase)
    predictions = current["x4"].to_numpy() * 2.0
    common = {
        "reference_sample": reference,
        "current_predictions": predictions,
        "seed": 3,
    }

    in_memory = compute_drift(profile, pd.read_parquet(source), usecase, importance, **common)
    in_chunks = compute_parquet_drift(
        profile, source, usecase, importance, columns_per_read=3, rows_per_read=700, **common
    )
    on_dask = compute_partitioned_drift(
        profile, source, usecase, importance, scheduler=dask_cluster, columns_per_read=4, **common
    )

    _assert_same_decisions(on_dask, in_memory)
    _assert_same_decisions(on_dask, in_chunks)
    assert {"x0", "x2", "colour", "promo"} <= {f.feature for f in on_dask.features if f.drifted}
    assert on_dask.domain_auc is not None and on_dask.domain_auc > 0.6


def test_profile_read_by_column_groups_equals_profile_read_whole(frames, tmp_path):
    reference, _ = frames
    usecase = _usecase()
    source = _write_folder(reference, tmp_path / "reference", parts=3)
    predictions = np.linspace(0.0, 1.0, ROWS)

    got = profile_parquet(source, usecase, predictions=predictions, columns_per_read=2)

    assert got == profile_reference(pd.read_parquet(source), usecase, predictions=predictions)
    assert set(got.features) == set(usecase.contract.feature_names)


@pytest.mark.parametrize("ks", [False, True], ids=["effect sizes", "tests"])
def test_a_reference_profiled_chunk_by_chunk_decides_as_one_profiled_whole(frames, tmp_path, ks):
    reference, current = frames
    usecase = _usecase(ks=ks)
    source = _write_folder(reference, tmp_path / "reference", parts=3)
    importance = {name: float(i + 1) for i, name in enumerate(usecase.contract.feature_names)}
    whole = profile_reference(pd.read_parquet(source), usecase)

    chunked = profile_parquet(source, usecase, rows_per_read=700)

    assert chunked.rows == whole.rows and list(chunked.features) == list(whole.features)
    for name, ours in chunked.features.items():
        theirs = whole.features[name]
        assert (ours.kind, ours.rows, ours.missing) == (theirs.kind, theirs.rows, theirs.missing)
        if ours.kind == "categorical":  # the same counts (ties may be listed in another order)
            assert dict(zip(ours.values, ours.counts, strict=True)) == dict(
                zip(theirs.values, theirs.counts, strict=True)
            ), name
        else:  # the exact quantile edges, or values, and their counts
            assert list(ours.values) == list(theirs.values), name
            assert list(ours.counts) == list(theirs.counts), name
    common = {"reference_sample": reference, "seed": 3}
    _assert_same_decisions(
        compute_drift(chunked, current, usecase, importance, **common),
        compute_drift(whole, current, usecase, importance, **common),
    )


def test_a_feature_missing_from_the_batch_is_named(frames, tmp_path):
    reference, current = frames
    usecase = _usecase()
    source = tmp_path / "batch.parquet"
    current.drop(columns=["colour"]).to_parquet(source, index=False)

    with pytest.raises(ValueError, match="current data lacks feature columns: colour"):
        compute_parquet_drift(profile_reference(reference, usecase), source, usecase, {})
