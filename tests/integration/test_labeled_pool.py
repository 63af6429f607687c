"""The labeled pool: accepted batches joined with late labels, read only as far as needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks import steps
from tasks.labels import admit_label_files
from tasks.runtime import open_runtime

# slow (left out of `make test-fast`): each test opens a fresh MLflow store.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

USECASE = Path(__file__).resolve().parents[2] / "usecases" / "retail_demand.yaml"


@pytest.fixture()
def rt(tmp_path: Path):
    return open_runtime(USECASE, str(tmp_path))


def _batch(rt, period: int, ids: list[str]) -> pd.DataFrame:
    """A processed batch: the contract's columns, ids and period set, values arbitrary."""
    d = rt.usecase.data
    rng = np.random.default_rng(period)
    frame = pd.DataFrame({c.name: rng.uniform(0, 1, len(ids)) for c in rt.usecase.contract.columns})
    frame[d.id_column] = ids
    frame[d.time_column] = period
    frame.to_parquet(rt.paths.processed / f"batch_{period:03d}.parquet", index=False)
    return frame


def _labels(rt, name: str, ids: list[str], values: list[float]) -> None:
    """A label file lands and passes the label gate, as at the start of a cycle."""
    d = rt.usecase.data
    frame = pd.DataFrame({d.id_column: ids, d.target_column: values})
    if d.format == "csv":
        frame.to_csv(rt.paths.labels / f"{name}.csv", index=False)
    else:
        frame.to_parquet(rt.paths.labels / f"{name}.parquet", index=False)
    decisions = admit_label_files(rt.paths, rt.usecase)
    assert [x.action for x in decisions] == ["accept"]


def test_pool_is_the_inner_join_in_period_order(rt) -> None:
    d = rt.usecase.data
    _batch(rt, 1, ["a", "b", "c"])
    _batch(rt, 2, ["d", "e"])
    _batch(rt, 3, ["f"])  # no label yet
    _labels(rt, "first", ["b", "a", "d"], [2.0, 1.0, 4.0])
    _labels(rt, "late", ["c", "zz"], [3.0, 9.0])  # "zz" was never scored

    pool = steps.labeled_pool.fn(rt)
    assert pool[d.id_column].tolist() == ["a", "b", "c", "d"]
    assert pool[d.target_column].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert pool[d.time_column].tolist() == [1, 1, 1, 2]


def test_after_period_keeps_later_rows_and_skips_older_batches(rt, monkeypatch) -> None:
    d = rt.usecase.data
    _batch(rt, 1, ["a", "b"])
    _batch(rt, 2, ["c", "d"])
    _batch(rt, 3, ["e"])
    _labels(rt, "all", ["a", "b", "c", "d", "e"], [1.0, 2.0, 3.0, 4.0, 5.0])
    full = steps.labeled_pool.fn(rt)

    read: list[str] = []
    original = pd.read_parquet

    def recording(path, *args, **kwargs):
        read.append(Path(path).name)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(pd, "read_parquet", recording)
    recent = steps.labeled_pool.fn(rt, after_period=1)

    expected = full[full[d.time_column] > 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(recent, expected)
    # The period-1 batch is known from its footer to hold nothing later: never opened.
    assert "batch_001.parquet" not in read and "batch_002.parquet" in read


def test_a_batch_without_labels_is_read_by_its_ids_only(rt, monkeypatch) -> None:
    d = rt.usecase.data
    _batch(rt, 1, ["a"])
    _batch(rt, 2, ["b", "c"])
    _labels(rt, "one", ["a"], [1.0])

    whole: list[str] = []
    original = pd.read_parquet

    def recording(path, *args, columns=None, **kwargs):
        if columns is None:
            whole.append(Path(path).name)
        return original(path, *args, columns=columns, **kwargs)

    monkeypatch.setattr(pd, "read_parquet", recording)
    pool = steps.labeled_pool.fn(rt)
    assert pool[d.id_column].tolist() == ["a"]
    assert "batch_002.parquet" not in whole


def test_an_id_scored_twice_keeps_its_latest_row(rt) -> None:
    d = rt.usecase.data
    _batch(rt, 1, ["a", "b"])
    _batch(rt, 2, ["a"])  # re-sent in a later batch
    _labels(rt, "all", ["a", "b"], [1.0, 2.0])

    pool = steps.labeled_pool.fn(rt)
    assert sorted(zip(pool[d.id_column], pool[d.time_column], strict=True)) == [("a", 2), ("b", 1)]


@pytest.mark.parametrize(
    ("batch_ids", "label_ids"),
    [
        ([10, 9, 11, 12], [12, 9, 10]),  # integers on both sides: looked up as integers
        ([10, 9, 11, 12], ["12", "9", "10"]),  # text labels for integer ids
        (["10", "9", "11", "12"], [12, 9, 10]),  # integer labels (a CSV) for text ids
        (["10", "9", "11", "12"], ["12", "9", "10"]),
    ],
    ids=["int-int", "int-text", "text-int", "text-text"],
)
def test_integer_and_text_ids_join_alike_and_the_pool_holds_text(
    rt, batch_ids: list, label_ids: list
) -> None:
    d = rt.usecase.data
    _batch(rt, 1, batch_ids[:2])
    _batch(rt, 2, batch_ids[2:])
    _batch(rt, 3, batch_ids[:1])  # id 10 sent again later: its latest row is kept
    _labels(rt, "all", label_ids, [12.0, 9.0, 10.0])

    pool = steps.labeled_pool.fn(rt)
    # Text order within a period, as always ("9" after "10"); id 11 has no label.
    assert pool[d.id_column].tolist() == ["9", "12", "10"]
    assert pool[d.target_column].tolist() == [9.0, 12.0, 10.0]
    assert pool[d.time_column].tolist() == [1, 2, 3]


@pytest.fixture()
def parquet_rt(tmp_path: Path):
    """The shipped use case with batches landing as Parquet."""
    import yaml

    doc = yaml.safe_load(USECASE.read_text(encoding="utf-8"))
    doc["data"]["format"] = "parquet"
    path = tmp_path / "parquet_usecase.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return open_runtime(path, str(tmp_path / "root"))


def _landed(rt, frame: pd.DataFrame, name: str):
    """Land ``frame`` as a Parquet batch; read and validate it as the cycle does."""
    path = rt.paths.landing / name
    frame.to_parquet(path, index=False)
    return path, *steps.validate_batch.fn(rt, path)


@pytest.mark.parametrize("extra_column", [False, True], ids=["contract-only", "extra-column"])
def test_an_accepted_parquet_batch_is_stored_as_the_same_table(parquet_rt, extra_column) -> None:
    rt = parquet_rt
    d = rt.usecase.data
    frame = _batch(rt, 4, ["a", "b", "c"])  # the contract columns, in its order
    (rt.paths.processed / "batch_004.parquet").unlink()
    if extra_column:
        frame = frame.assign(note="x")
    path, read, gate = _landed(rt, frame, "period_004.parquet")

    stored = steps.store_accepted.fn(rt, read, gate, source=path)

    contract = [c.name for c in rt.usecase.contract.columns]
    pd.testing.assert_frame_equal(pd.read_parquet(stored), frame[contract])
    # Only a file holding exactly the contract's columns is copied byte for byte.
    assert (stored.read_bytes() == path.read_bytes()) is (not extra_column)
    _labels(rt, "all", ["a", "b", "c"], [1.0, 2.0, 3.0])
    assert steps.labeled_pool.fn(rt)[d.target_column].tolist() == [1.0, 2.0, 3.0]


def test_the_pool_order_is_pandas_stable_sort_by_period_then_id_text() -> None:
    rng = np.random.default_rng(11)
    rows = 5_000
    # Ids as text: numbers (text order, not numeric), non-ASCII, repeated keys.
    words = np.array(["10", "9", "100", "a", "B", "é", "ä", "z", "Z0", "ß", "0"])
    frame = pd.DataFrame(
        {
            "week": rng.integers(0, 6, rows),
            "id": rng.choice(words, rows).astype(object),
            "row": np.arange(rows),
        }
    )
    frame.index = rng.permutation(rows) + 100
    expected = frame.sort_values(["week", "id"], kind="stable", ignore_index=True)
    got = steps._in_pool_order(frame, "week", "id")
    pd.testing.assert_frame_equal(got, expected)

    ordered = steps._in_pool_order(expected, "week", "id")
    pd.testing.assert_frame_equal(ordered, expected)
