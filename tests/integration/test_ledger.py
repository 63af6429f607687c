"""The batch ledger on a real file: one writer, one reader, torn and malformed lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_cycles import sample_ledger_entry

from mlops_core.records import RecordError
from tasks import storage

pytestmark = pytest.mark.integration


def test_entries_read_back_in_order_and_by_hash(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    assert storage.ledger_entries(ledger) == []
    boot = sample_ledger_entry(1, decision="bootstrap", decision_run_id=None, at=None)
    cycle = sample_ledger_entry(2)
    storage.ledger_append(ledger, boot)
    storage.ledger_append(ledger, cycle)

    assert storage.ledger_entries(ledger) == [boot, cycle]
    assert storage.ledger_entry(ledger, cycle.sha256) == cycle
    assert storage.ledger_entry(ledger, "f" * 64) is None
    # A bootstrap's batch has no run of its own: the keys are left out of its line.
    first = ledger.read_text(encoding="utf-8").splitlines()[0]
    assert "decision_run_id" not in first and '"at"' not in first


def test_a_torn_line_is_no_entry_and_the_next_append_lands_whole(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    storage.ledger_append(ledger, sample_ledger_entry(1))
    with ledger.open("a", encoding="utf-8") as fh:
        fh.write('{"sha256": "' + "2" * 64 + '", "batch": "per')  # a failed append
    storage.ledger_append(ledger, sample_ledger_entry(3))

    assert [e.period for e in storage.ledger_entries(ledger)] == [1, 3]
    assert storage.ledger_entry(ledger, "2" * 64) is None


def test_a_malformed_line_fails_naming_the_file_and_line(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    storage.ledger_append(ledger, sample_ledger_entry(1))
    with ledger.open("a", encoding="utf-8") as fh:
        fh.write('{"sha256": "' + "2" * 64 + '", "batch": "b.csv", "period": "two"}\n')

    with pytest.raises(RecordError, match=rf"{ledger} line 2: not a LedgerEntry: period"):
        storage.ledger_entry(ledger, "1" * 64)
