"""The scored-ids cache: right ids, one read per new batch, rebuilt when its sources change."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tasks import scored_ids as cache_module
from tasks import storage
from tasks.scored_ids import scored_ids, scored_ids_cache
from tasks.storage import UseCasePaths

pytestmark = pytest.mark.integration

USECASE = Path(__file__).resolve().parents[2] / "usecases" / "retail_demand.yaml"


@pytest.fixture()
def paths(tmp_path: Path) -> UseCasePaths:
    return UseCasePaths.for_usecase(storage.load_usecase_file(USECASE), tmp_path)


@pytest.fixture()
def reads(monkeypatch) -> list[str]:
    """Names of the processed files really read, in order."""
    seen: list[str] = []
    real = cache_module._ids_of

    def counted(files, id_column):
        seen.extend(f.name for f in files)
        return real(files, id_column)

    monkeypatch.setattr(cache_module, "_ids_of", counted)
    return seen


def _archive(paths: UseCasePaths, name: str, ids: list) -> Path:
    return storage.write_parquet(
        pd.DataFrame({"id": ids, "x": range(len(ids))}), paths.processed / name
    )


def test_ids_of_every_batch_as_text_each_batch_read_once(paths, reads):
    _archive(paths, "b1.parquet", [1, 2, 3])
    assert sorted(scored_ids(paths, "id")) == ["1", "2", "3"]
    _archive(paths, "b2.parquet", [3, 4])
    _archive(paths, "b3.parquet", ["a-5"])
    assert sorted(scored_ids(paths, "id")) == ["1", "2", "3", "4", "a-5"]
    assert sorted(scored_ids(paths, "id")) == ["1", "2", "3", "4", "a-5"]
    assert reads == ["b1.parquet", "b2.parquet", "b3.parquet"]


def test_a_batch_gone_or_rewritten_rebuilds_the_cache(paths, reads):
    _archive(paths, "b1.parquet", [1, 2])
    old = _archive(paths, "b2.parquet", [3])
    scored_ids(paths, "id")
    old.unlink()
    assert sorted(scored_ids(paths, "id")) == ["1", "2"]
    rewritten = _archive(paths, "b1.parquet", [7])
    os.utime(rewritten, ns=(1, 1))
    assert sorted(scored_ids(paths, "id")) == ["7"]
    assert reads == ["b1.parquet", "b2.parquet", "b1.parquet", "b1.parquet"]


def test_an_unreadable_cache_is_rebuilt(paths, reads):
    _archive(paths, "b1.parquet", [1])
    scored_ids(paths, "id")
    scored_ids_cache(paths).write_bytes(b"not parquet")
    assert list(scored_ids(paths, "id")) == ["1"]
    assert reads == ["b1.parquet", "b1.parquet"]


def test_no_batches_no_ids_and_no_cache(paths):
    assert len(scored_ids(paths, "id")) == 0
    assert not scored_ids_cache(paths).exists()


def test_membership_is_tested_on_the_ids_as_text(paths):
    _archive(paths, "b1.parquet", [1, 2, 3])
    _archive(paths, "b2.parquet", ["é", "a-5"])
    ids = scored_ids(paths, "id")
    asked = pd.Series(["1", "4", "é", "a-5", "3", "", "2.0", "e"], dtype=object)
    assert ids.contains(asked).tolist() == [True, False, True, True, True, False, False, False]
