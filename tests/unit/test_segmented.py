"""Per-segment models: routing, the fallback, and fits mapped in any order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlops_core.segmented import (
    FALLBACK,
    SegmentedModel,
    SegmentJob,
    chunk_jobs,
    fit_cost,
    fit_job,
    fit_segmented,
    segment_jobs,
)

pytestmark = pytest.mark.unit


def _frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    store = rng.choice([1, 2, 3, 4], rows, p=[0.4, 0.3, 0.28, 0.02])  # store 4: too few rows
    x = rng.normal(size=rows)
    # Each store has its own slope: one global line cannot fit them.
    slope = np.select([store == 1, store == 2, store == 3], [1.0, -2.0, 5.0], 0.5)
    return pd.DataFrame({"store": store, "x": x}), slope * x + rng.normal(0, 0.1, rows)


def _template(model: Any = None) -> Pipeline:
    prep = ColumnTransformer(
        [("store", OneHotEncoder(handle_unknown="ignore"), ["store"]), ("x", "passthrough", ["x"])]
    )
    return Pipeline([("prep", prep), ("model", model or LinearRegression())])


def test_jobs_are_the_fallback_then_every_segment_with_enough_rows() -> None:
    frame, y = _frame(1000, 1)
    jobs = segment_jobs(frame, y, "store", min_rows=50)
    assert [j.segment for j in jobs] == [FALLBACK, "1", "2", "3"]
    assert len(jobs[0].features) == 1000
    assert all((j.features["store"].astype(str) == j.segment).all() for j in jobs[1:])
    assert sum(len(j.target) for j in jobs[1:]) == (frame["store"] != 4).sum()


def test_rows_are_routed_to_their_segment_and_unknown_ones_to_the_fallback() -> None:
    frame, y = _frame(2000, 2)
    model = fit_segmented(_template(), frame, y, "store", min_rows=50)
    test, y_test = _frame(500, 3)
    test.loc[test.index[:5], "store"] = 9  # never seen
    pred = model.predict(test)
    for key, seg_model in model.models_.items():
        rows = test["store"].astype(str) == key
        np.testing.assert_allclose(pred[rows.to_numpy()], seg_model.predict(test[rows]))
    routed_to_fallback = ~test["store"].astype(str).isin(list(model.models_)).to_numpy()
    # The unseen store 9 and store 4 (too few training rows) use the fallback.
    assert set(test.loc[routed_to_fallback, "store"]) == {9, 4}
    np.testing.assert_allclose(
        pred[routed_to_fallback], model.fallback_.predict(test[routed_to_fallback])
    )
    # Per-store slopes fit far better than one global line.
    global_error = np.abs(model.fallback_.predict(test) - y_test).mean()
    assert np.abs(pred - y_test).mean() < 0.3 * global_error


def test_mapped_fits_in_any_order_give_the_same_model_as_fitting_in_turn() -> None:
    frame, y = _frame(1500, 4)
    in_turn = SegmentedModel("store", _template(), 50).fit(frame, y)

    def backwards(template: Any, jobs: list[Any]) -> list[Any]:
        return [fit_job(template, job) for job in reversed(jobs)][::-1]

    mapped = fit_segmented(_template(), frame, y, "store", 50, backwards)
    test, _ = _frame(300, 5)
    np.testing.assert_array_equal(mapped.predict(test), in_turn.predict(test))
    assert set(mapped.models_) == set(in_turn.models_) == {"1", "2", "3"}


def test_probabilities_keep_the_fallback_class_order_when_a_segment_lacks_a_class() -> None:
    frame, y = _frame(1200, 6)
    labels = np.where(y > 0, "up", "down")
    labels[(frame["store"] == 3).to_numpy()] = "up"  # store 3 only ever saw "up"
    model = fit_segmented(
        _template(LogisticRegression()), frame, labels, "store", 50, classification=True
    )
    assert set(model.models_) == {"1", "2"}, "one class only: store 3 is left to the fallback"
    test, _ = _frame(200, 7)
    proba = model.predict_proba(test)
    assert list(model.classes_) == ["down", "up"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    store1 = (test["store"] == 1).to_numpy()
    np.testing.assert_allclose(proba[store1], model.models_["1"].predict_proba(test[store1]))
    store3 = (test["store"] == 3).to_numpy()
    np.testing.assert_allclose(proba[store3], model.fallback_.predict_proba(test[store3]))


def test_jobs_are_dealt_into_balanced_chunks_and_none_is_lost() -> None:
    frame, y = _frame(3000, 9)
    jobs = segment_jobs(frame, y, "store", min_rows=10)
    chunks = chunk_jobs(jobs, 2)
    assert len(chunks) == 2
    assert sorted(j.segment for chunk in chunks for j in chunk) == sorted(j.segment for j in jobs)
    # The chunks' costs end within one fit's cost of each other, not split by rows
    # alone (which would leave the fallback alone against four store fits).
    loads = sorted(sum(fit_cost(len(j.target)) for j in chunk) for chunk in chunks)
    assert loads[1] - loads[0] < fit_cost(len(jobs[1].target)), loads
    assert all(len(chunk) >= 2 for chunk in chunks)
    assert len(chunk_jobs(jobs, 50)) == len(jobs), "never an empty chunk"
    with pytest.raises(ValueError):
        chunk_jobs(jobs, 0)


def _stores(stores: int, rows_each: int) -> list[SegmentJob]:
    """Jobs shaped like Walmart's: a fallback on every row, then equal stores."""
    frame = pd.DataFrame({"store": np.repeat(np.arange(stores), rows_each), "x": 0.0})
    return segment_jobs(frame, np.zeros(len(frame)), "store", min_rows=1)


def test_one_chunk_per_worker_splits_the_fallback_and_the_stores_evenly() -> None:
    jobs = _stores(45, 143)  # Walmart: 45 stores of 143 weeks
    store = fit_cost(143)
    # All 6,435 rows fit in about five stores' time (0.70 s against 0.137 s
    # measured), not 45 (by rows) and not one (by count).
    assert 4.5 * store < fit_cost(45 * 143) < 6 * store
    first, second = chunk_jobs(jobs, 2)
    # The fallback and 20 stores (0.70 + 20 x 0.137 = 3.44 s) against 25 stores
    # (3.43 s); one store more or less would leave a worker idle 0.3 s.
    assert first[0].segment == FALLBACK
    assert (len(first), len(second)) == (21, 25)
    costs = [sum(fit_cost(len(j.target)) for j in chunk) for chunk in (first, second)]
    assert abs(costs[0] - costs[1]) <= store
    assert sorted(j.segment for j in first + second) == sorted(j.segment for j in jobs)
    # One chunk is every job, in the jobs' order.
    assert [j.segment for j in chunk_jobs(jobs, 1)[0]] == [j.segment for j in jobs]
