"""The typed records at the storage and flow boundaries: written, read back, and old files.

Records are built from real decision values (``decide_retrain``,
``decide_promotion``, ``decide_gate``), dumped as the product writes them, and
read back with the product's readers. Old files are the literal text earlier
versions of the product wrote.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from pydantic import ValidationError
from sample_cycles import promoting_outcome

from mlops_core.decisions import (
    GuardrailSummary,
)
from mlops_core.label_gate import LabelGateDecision
from mlops_core.records import (
    BootstrapResult,
    CycleRecord,
    CycleResult,
    FileStat,
    LabelDecisionLine,
    LabelSeenLine,
    LedgerEntry,
    MonitorLandedResult,
    RecordError,
    RollbackRecord,
)
from mlops_core.report import CycleOutcome

pytestmark = pytest.mark.unit

#: The keys of ``decision.json`` in the order every version wrote them.
CYCLE_KEYS = [
    "usecase",
    "period",
    "batch",
    "summary",
    "decay_cause",
    "champion_version",
    "challenger_version",
    "gate",
    "performance",
    "drift",
    "guardrails",
    "retrain",
    "promotion",
    "champion_before",
    "labels",
    "schema_change",
    "alerts",
]


def _outcome(realized: float = 10.5) -> CycleOutcome:
    return dataclasses.replace(
        promoting_outcome(realized=realized),
        guardrails=GuardrailSummary(
            rows=360,
            violating_rows=12,
            violation_rate=12 / 360,
            held_rows=5,
            actions={"store_capacity:quarantine": 5},
        ),
        labels=(
            LabelGateDecision(
                file="labels_019.csv", sha256="b" * 64, action="accept", rows=360, accepted_rows=360
            ),
        ),
    )


def _record(outcome: CycleOutcome) -> CycleRecord:
    return CycleRecord.from_outcome(
        outcome,
        usecase="retail_demand",
        summary="Week 21: retrained; version 4 promoted.",
        decay_cause="concept_drift",
        champion_before="3",
    )


def _stored(record: CycleRecord) -> object:
    """The record as ``decision.json`` holds it, parsed."""
    return json.loads(json.dumps(record.model_dump(mode="json"), indent=2))


# ------------------------------------------------------------ cycle records
def test_a_cycle_record_reads_back_as_the_same_decisions() -> None:
    outcome = _outcome()
    record = _record(outcome)
    assert record.retrain is not None and record.retrain.action == "retrain"
    assert record.promotion is not None and record.promotion.action == "promote"

    back = CycleRecord.read(_stored(record), "decision.json")

    assert back == record
    assert back.outcome() == CycleOutcome(**{**vars(outcome), "champion_before": "3"})


def test_a_cycle_record_keeps_the_file_layout_and_writes_superseded_by_only_when_set() -> None:
    record = _record(_outcome())
    assert list(record.model_dump(mode="json")) == CYCLE_KEYS

    amended = record.model_copy(update={"summary": "superseded", "superseded_by": "6"})
    dumped = amended.model_dump(mode="json")
    assert list(dumped) == [*CYCLE_KEYS, "superseded_by"]
    back = CycleRecord.read(json.loads(json.dumps(dumped)), "decision.json")
    assert back.superseded_by == "6"
    # The decision run's tag says who superseded the promotion; the record is the same decision.
    assert back.outcome(superseded_by="6").superseded_by == "6"
    assert back.outcome().superseded_by is None


def test_a_cycle_record_of_an_older_version_loads_with_defaults() -> None:
    stored = _stored(_record(_outcome()))
    assert isinstance(stored, dict)
    # Before champion_before, labels, schema_change and alerts were recorded.
    for key in ("champion_before", "labels", "schema_change", "alerts"):
        del stored[key]
    # A key only a newer version writes is dropped, not refused.
    stored["written_by_a_newer_version"] = {"x": 1}

    old = CycleRecord.read(stored, "decision.json of run r1")

    assert old.champion_before is None
    assert old.labels == ()
    assert old.schema_change is None
    assert old.alerts == ()
    assert old.retrain == _outcome().retrain


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"gate": None}, "gate"),
        ({"period": "week 21"}, "period"),
        ({"retrain": {"action": "maybe"}}, "retrain"),
    ],
)
def test_a_malformed_cycle_record_is_refused_naming_the_field(
    change: dict[str, object], named: str
) -> None:
    stored = _stored(_record(_outcome()))
    assert isinstance(stored, dict)
    stored.update(change)
    with pytest.raises(
        RecordError, match=rf"decision.json of run r9: not a CycleRecord: .*{named}"
    ):
        CycleRecord.read(stored, "decision.json of run r9")


def test_a_cycle_record_missing_a_key_every_version_wrote_is_refused() -> None:
    stored = _stored(_record(_outcome()))
    assert isinstance(stored, dict)
    del stored["batch"]
    with pytest.raises(RecordError, match="batch: Field required"):
        CycleRecord.read(stored, "decision.json")
    with pytest.raises(RecordError, match="not a CycleRecord"):
        CycleRecord.read(["not", "an", "object"], "decision.json")


def test_the_product_cannot_write_a_misspelt_field() -> None:
    with pytest.raises(ValidationError, match="extra"):
        RollbackRecord(
            from_version="4", to_version="3", reason="odd", requested_by="Ana", why="typo"
        )


def test_a_rollback_record_round_trips() -> None:
    record = RollbackRecord(from_version="4", to_version="3", reason="odd", requested_by="Ana")
    dumped = record.model_dump(mode="json")
    assert list(dumped) == ["from_version", "to_version", "reason", "requested_by"]
    assert RollbackRecord.read(json.loads(json.dumps(dumped)), "decision.json") == record


# ------------------------------------------------------------------ ledger
#: Lines as every earlier version wrote them (``json.dumps(..., sort_keys=True)``).
OLD_CYCLE_LINE = (
    '{"at": "2026-03-02T09:30:00.123456+00:00", "batch": "period_021.csv", '
    '"decision": "retrain", "decision_run_id": "0f3c", "gate": "pass", "period": 21, '
    '"sha256": "' + "a" * 64 + '"}'
)
OLD_BOOTSTRAP_LINE = (
    '{"batch": "period_003.csv", "decision": "bootstrap", "gate": "pass", "period": 3, '
    '"sha256": "' + "c" * 64 + '"}'
)


def _line(entry: LedgerEntry) -> str:
    """A ledger line as ``tasks.storage.append_json_line`` writes it."""
    return json.dumps(entry.model_dump(mode="json"), default=str, sort_keys=True)


def test_old_ledger_lines_load_and_are_written_again_byte_for_byte() -> None:
    cycle = LedgerEntry.read(json.loads(OLD_CYCLE_LINE), "ledger.jsonl line 1")
    boot = LedgerEntry.read(json.loads(OLD_BOOTSTRAP_LINE), "ledger.jsonl line 2")

    assert cycle.decision_run_id == "0f3c"
    assert cycle.at == dt.datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=dt.UTC)
    assert boot.decision_run_id is None and boot.at is None
    assert _line(cycle) == OLD_CYCLE_LINE
    assert _line(boot) == OLD_BOOTSTRAP_LINE


def test_a_ledger_entry_round_trips() -> None:
    entry = LedgerEntry(
        sha256="d" * 64,
        batch="period_022.csv",
        period=None,
        gate="fail",
        decision="skip",
        decision_run_id="r22",
        at=dt.datetime.now(dt.UTC),
    )
    assert LedgerEntry.read(json.loads(_line(entry)), "ledger.jsonl line 3") == entry


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('{"sha256": "' + "e" * 64 + '", "batch": "b.csv"}', "decision: Field required"),
        (OLD_CYCLE_LINE.replace('"period": 21', '"period": "21st"'), "period"),
        ('["sha256", "batch"]', "not a LedgerEntry"),
    ],
)
def test_a_malformed_ledger_line_is_refused_naming_the_line(line: str, named: str) -> None:
    with pytest.raises(RecordError, match=rf"ledger.jsonl line 7: .*{named}"):
        LedgerEntry.read(json.loads(line), "ledger.jsonl line 7")


# ------------------------------------------------------------ label ledger
def test_label_ledger_lines_round_trip_and_old_lines_load() -> None:
    decision = LabelGateDecision(
        file="labels_019.csv", sha256="b" * 64, action="accept", rows=360, accepted_rows=358
    )
    stat = FileStat(size=9000, mtime_ns=1_700_000_000_000_000_000)
    line = LabelDecisionLine(**dict(decision), file_stat=stat)
    text = json.dumps(line.model_dump(mode="json"), sort_keys=True)
    # The line is the decision's fields with file_stat beside them, as before.
    assert json.loads(text) == {
        **decision.model_dump(mode="json"),
        "file_stat": {"size": 9000, "mtime_ns": 1_700_000_000_000_000_000},
    }
    back = LabelDecisionLine.read(json.loads(text), "labels_ledger.jsonl line 1")
    assert back == line
    assert back.decision() == decision
    assert type(back.decision()) is LabelGateDecision

    old = LabelDecisionLine.read(decision.model_dump(mode="json"), "labels_ledger.jsonl line 2")
    assert old.file_stat is None and old.decision() == decision

    seen = LabelSeenLine(seen="copy.csv", sha256="b" * 64, file_stat=stat)
    assert LabelSeenLine.read(seen.model_dump(mode="json"), "line 3") == seen
    with pytest.raises(RecordError, match="labels_ledger.jsonl line 4: .*file_stat"):
        LabelSeenLine.read({"seen": "x.csv", "sha256": "b" * 64}, "labels_ledger.jsonl line 4")


# ------------------------------------------------------------ flow results
def test_flow_results_are_strict_and_round_trip_as_json() -> None:
    cycle = CycleResult(
        batch="period_021.csv",
        period=21,
        status="done",
        decision="retrain",
        guardrail_actions={"store_capacity:quarantine": 5},
    )
    boot = BootstrapResult(
        **cycle.model_dump(), accepted_batches=18, quarantined_batches=1, committed_batches=18
    )
    landed = MonitorLandedResult(handled=1, waiting=0, cycles=(cycle,))

    assert BootstrapResult.model_validate_json(boot.model_dump_json()) == boot
    assert MonitorLandedResult.model_validate_json(landed.model_dump_json()) == landed
    with pytest.raises(ValidationError, match="status"):
        CycleResult(batch="b.csv", period=1, status="finished")
    with pytest.raises(ValidationError, match="extra"):
        CycleResult(batch="b.csv", period=1, status="done", decison="skip")
