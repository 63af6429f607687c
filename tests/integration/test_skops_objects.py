"""Deserialised skops objects are kept per content: same bytes, one load; other bytes, others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LinearRegression

from tasks import skops_objects
from tasks.skops_objects import KEPT, forget_loaded, load_skops

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    forget_loaded()
    calls: list[Path] = []
    real = skops.io.load

    def counted(path, trusted=None):
        calls.append(Path(path))
        return real(path, trusted=trusted)

    monkeypatch.setattr(skops.io, "load", counted)
    yield calls
    forget_loaded()


def _dump(path: Path, slope: float) -> Path:
    model = LinearRegression().fit(np.arange(4.0).reshape(-1, 1), slope * np.arange(4.0))
    skops.io.dump(model, path)
    return path


def _trusted(path: Path) -> list[str]:
    return skops.io.get_untrusted_types(file=path)


def test_the_same_bytes_are_deserialised_once_even_under_another_name(tmp_path, fresh):
    first = _dump(tmp_path / "a.skops", 2.0)
    copy = tmp_path / "b.skops"
    copy.write_bytes(first.read_bytes())
    one = load_skops(first, _trusted(first))
    two = load_skops(copy, _trusted(copy))
    assert one is two
    assert len(fresh) == 1
    assert one.predict([[3.0]]) == pytest.approx([6.0])


def test_other_bytes_give_their_own_objects(tmp_path, fresh):
    a = _dump(tmp_path / "a.skops", 2.0)
    b = _dump(tmp_path / "b.skops", 5.0)
    assert load_skops(a, _trusted(a)).predict([[1.0]]) == pytest.approx([2.0])
    assert load_skops(b, _trusted(b)).predict([[1.0]]) == pytest.approx([5.0])
    assert len(fresh) == 2


def test_only_the_most_recent_files_are_kept(tmp_path, fresh):
    files = [_dump(tmp_path / f"{i}.skops", float(i + 1)) for i in range(KEPT + 1)]
    for f in files:
        load_skops(f, _trusted(f))
    load_skops(files[-1], _trusted(files[-1]))  # kept
    load_skops(files[0], _trusted(files[0]))  # the oldest was dropped: loaded again
    assert len(fresh) == KEPT + 2
    assert len(skops_objects._loaded) == KEPT
