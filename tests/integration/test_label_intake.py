"""Label intake: known files are not reread, so a cycle's cost does not grow with history."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tasks import labels as intake
from tasks import storage
from tasks.runtime import open_runtime

# slow (left out of `make test-fast`): each test opens a fresh MLflow store.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

USECASE = Path(__file__).resolve().parents[2] / "usecases" / "retail_demand.yaml"


class Counted:
    """A real function behind a call counter (the files are really read and hashed)."""

    def __init__(self, function):
        self.function = function
        self.calls: list[str] = []

    def __call__(self, *args, **kwargs):
        first = args[0]
        self.calls.append(first.name if isinstance(first, Path) else type(first).__name__)
        return self.function(*args, **kwargs)


@pytest.fixture()
def rt(tmp_path: Path):
    return open_runtime(USECASE, str(tmp_path))


@pytest.fixture()
def counted(monkeypatch):
    """Counters on hashing, on reading the accepted labels and on reading the scored ids."""
    counters = {
        "hashed": Counted(storage.file_sha256),
        "accepted_reads": Counted(intake.read_accepted_labels),
        "scored_reads": Counted(intake.scored_ids),
    }
    monkeypatch.setattr(storage, "file_sha256", counters["hashed"])
    monkeypatch.setattr(intake, "read_accepted_labels", counters["accepted_reads"])
    monkeypatch.setattr(intake, "scored_ids", counters["scored_reads"])
    return counters


def _land(rt, name: str, ids: list[str], values: list[float]) -> Path:
    d = rt.usecase.data
    path = rt.paths.labels / f"{name}.csv"
    pd.DataFrame({d.id_column: ids, d.target_column: values}).to_csv(path, index=False)
    return path


def _batch(rt, ids: list[str]) -> None:
    d = rt.usecase.data
    frame = pd.DataFrame({d.id_column: ids, d.time_column: 1})
    frame.to_parquet(rt.paths.processed / "batch_001.parquet", index=False)


def test_a_second_call_hashes_no_known_file(rt, counted) -> None:
    _batch(rt, ["a", "b", "c", "d"])
    for i in range(5):
        _land(rt, f"labels_{i}", ["a", "b"], [float(i), 1.0])
    first = intake.admit_label_files(rt.paths, rt.usecase)
    assert [x.action for x in first] == ["accept"] * 5
    assert len(counted["hashed"].calls) == 5
    # Read once for the whole call, however many files were gated.
    assert len(counted["accepted_reads"].calls) == len(counted["scored_reads"].calls) == 1

    for counter in counted.values():
        counter.calls.clear()
    assert intake.admit_label_files(rt.paths, rt.usecase) == []
    assert counted["hashed"].calls == [], "known, unchanged files are not read again"
    assert counted["accepted_reads"].calls == counted["scored_reads"].calls == []


def test_a_changed_file_under_a_known_name_is_gated_as_a_new_file(rt, counted) -> None:
    _batch(rt, ["a", "b"])
    path = _land(rt, "labels_0", ["a"], [1.0])
    assert len(intake.admit_label_files(rt.paths, rt.usecase)) == 1
    _land(rt, "labels_0", ["a", "b"], [5.0, 2.0])  # redelivered, corrected
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    counted["hashed"].calls.clear()
    (decision,) = intake.admit_label_files(rt.paths, rt.usecase)
    assert counted["hashed"].calls == ["labels_0.csv"]
    assert decision.file == "labels_0.csv" and decision.corrections == 1
    labels = intake.read_accepted_labels(rt.paths, "row_id", "units_sold")
    assert dict(zip(labels["row_id"], labels["units_sold"], strict=True)) == {"a": 5.0, "b": 2.0}


def test_known_content_under_another_name_is_hashed_once_and_never_decided(rt, counted) -> None:
    _batch(rt, ["a"])
    path = _land(rt, "labels_0", ["a"], [1.0])
    intake.admit_label_files(rt.paths, rt.usecase)
    shutil.copyfile(path, rt.paths.labels / "labels_0_copy.csv")
    counted["hashed"].calls.clear()
    assert intake.admit_label_files(rt.paths, rt.usecase) == []
    assert counted["hashed"].calls == ["labels_0_copy.csv"]
    assert intake.admit_label_files(rt.paths, rt.usecase) == []
    assert counted["hashed"].calls == ["labels_0_copy.csv"], "hashed once only"
    assert [x.file for x in intake.label_ledger_decisions(rt.paths)] == ["labels_0.csv"]


def test_files_of_one_call_see_each_other_as_files_of_separate_calls_do(rt) -> None:
    """A correction within one call is judged against the labels accepted earlier in it."""
    _batch(rt, ["a", "b"])
    _land(rt, "labels_0", ["a", "b"], [1.0, 2.0])
    _land(rt, "labels_1", ["a"], [3.0])  # corrects a
    _land(rt, "labels_2", ["a", "b"], [3.0, 2.0])  # repeats: no correction
    decisions = intake.admit_label_files(rt.paths, rt.usecase)
    assert [x.corrections for x in decisions] == [0, 1, 0]
    folder = intake.accepted_labels_folder(rt.paths)
    assert sorted(f.name for f in folder.glob("*.parquet")) == [
        "000000-labels_0.parquet",
        "000001-labels_1.parquet",
        "000002-labels_2.parquet",
    ]


def test_accepted_labels_are_compacted_and_later_files_still_win(rt) -> None:
    """Past COMPACT_AT files the accepted labels are one file; the labels read are the same."""
    ids = [f"r{i}" for i in range(intake.COMPACT_AT + 5)]
    _batch(rt, ids)
    d = rt.usecase.data
    for i, row_id in enumerate(ids):  # one file per id, then a correction of the first id
        _land(rt, f"labels_{i:03d}", [row_id], [float(i)])
        intake.admit_label_files(rt.paths, rt.usecase)
    folder = intake.accepted_labels_folder(rt.paths)
    files = sorted(f.name for f in folder.glob("*.parquet"))
    assert len(files) <= intake.COMPACT_AT, files
    assert any(f.endswith("-~compacted.parquet") for f in files), files
    read = intake.read_accepted_labels(rt.paths, d.id_column, d.target_column)
    assert dict(zip(read[d.id_column], read[d.target_column], strict=True)) == {
        row_id: float(i) for i, row_id in enumerate(ids)
    }

    _land(rt, "labels_zz_correction", [ids[0]], [99.0])
    [decision] = intake.admit_label_files(rt.paths, rt.usecase)
    assert decision.corrections == 1
    newest = sorted(f.name for f in folder.glob("*.parquet"))[-1]
    assert newest.endswith("-labels_zz_correction.parquet"), "sorts after the compacted file"
    read = intake.read_accepted_labels(rt.paths, d.id_column, d.target_column).set_index(
        d.id_column
    )[d.target_column]
    assert read[ids[0]] == 99.0 and read[ids[1]] == 1.0 and len(read) == len(ids)
