"""In-memory fakes of the commit protocol's interfaces (``tasks/commit_protocol.py``).

Each fake implements one ``typing.Protocol`` the way its real adapter
(``tasks/commit_adapters.py``) does, with the semantics the protocol relies on:
only a finished decision run is recorded, records are stored as the JSON the
real store writes and read back through ``CycleRecord.read``, the champion
alias moves by compare-and-set (``previous`` first, statuses following the
aliases), candidates holding an alias are never abandoned, publishing staged
outputs and archiving are idempotent, the ledger holds one line per commit.

Every call that changes state is written to a shared ``journal`` (so a test can
assert the order of writes), and a test can name points where the process is
"killed": the call raises :class:`Killed` (a ``BaseException``, like the
interrupt a dying process sees) before it changes anything, once.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_core.config import UseCase
from mlops_core.records import CycleRecord, EventPayload, LedgerEntry
from tasks.commit_protocol import (
    ChampionChangedError,
    CommitPorts,
    RecordedDecision,
    monitoring_metrics,
)
from tasks.tags import TAG_ABANDONED_REASON, TAG_BATCH, TAG_SOURCE_BATCH, TAG_STATUS, Event


class Killed(BaseException):  # noqa: N818 - named for what happened to the process
    """The process died at a kill point: nothing after it ran."""


@dataclass
class World:
    """What the fakes share: the journal of writes and the kill points still armed."""

    journal: list[str] = field(default_factory=list)
    kill_at: set[str] = field(default_factory=set)

    def step(self, point: str) -> None:
        """Die at ``point`` if it is armed (once); else note the write in the journal."""
        if point in self.kill_at:
            self.kill_at.discard(point)
            raise Killed(point)
        self.journal.append(point)


@dataclass
class FakeRun:
    """One decision run: its tags, stored record text and status."""

    run_id: str
    kind: str
    tags: dict[str, str]
    record_json: str
    markdown: str
    metrics: dict[str, float]
    status: str = "RUNNING"


class FakeDecisionStore:
    """Decision runs in memory, newest last; only FINISHED runs are decisions."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._ids = itertools.count(1)
        self.runs: list[FakeRun] = []

    def recorded(self, batch_sha256: str, kind: str) -> RecordedDecision | None:
        for run in reversed(self.runs):
            if (
                run.status == "FINISHED"
                and run.kind == kind
                and run.tags.get(TAG_BATCH) == batch_sha256
            ):
                return RecordedDecision(run_id=run.run_id, tags=dict(run.tags))
        return None

    def record(
        self,
        *,
        run_name: str,
        kind: str,
        action: str,
        reason_codes: list[str],
        record: CycleRecord,
        markdown: str,
        metrics: dict[str, float],
        tags: dict[str, str],
    ) -> str:
        # Serialised first, as the real store does: a record that cannot be
        # written leaves no run.
        text = json.dumps(record.model_dump(mode="json"))
        run = FakeRun(
            run_id=f"run-{next(self._ids)}",
            kind=kind,
            tags={**tags, "mlops.kind": kind, "mlops.action": action},
            record_json=text,
            markdown=markdown,
            metrics=dict(metrics),
        )
        self.runs.append(run)  # created RUNNING: a kill now leaves it open, no decision
        self._world.step(f"record {kind}")
        run.status = "FINISHED"
        return run.run_id

    def read(self, run_id: str) -> tuple[CycleRecord, str]:
        run = self._run(run_id)
        return CycleRecord.read(json.loads(run.record_json), run_id), run.markdown

    def amend(
        self, run_id: str, record: CycleRecord, markdown: str, tags: Mapping[str, str]
    ) -> None:
        self._world.step("amend record")
        run = self._run(run_id)
        run.tags.update(tags)
        run.record_json = json.dumps(record.model_dump(mode="json"))
        run.markdown = markdown

    def end_open_runs(self, batch_sha256: str) -> None:
        for run in self.runs:
            if run.status == "RUNNING" and run.tags.get(TAG_BATCH) == batch_sha256:
                run.status = "FAILED"

    def finished(self, kind: str) -> list[FakeRun]:
        """The finished runs of a kind, oldest first."""
        return [r for r in self.runs if r.kind == kind and r.status == "FINISHED"]

    def _run(self, run_id: str) -> FakeRun:
        return next(r for r in self.runs if r.run_id == run_id)


class FakeRegistry:
    """A registered model in memory: versions with tags, and two aliases."""

    def __init__(self, world: World, name: str = "model") -> None:
        self._world = world
        self._name = name
        self.versions: dict[str, dict[str, str]] = {}
        self.aliases: dict[str, str] = {}
        self.cards: list[str] = []

    def register(self, batch_sha256: str) -> str:
        """A newly trained version, status ``candidate``, tagged with its batch."""
        version = str(len(self.versions) + 1)
        self.versions[version] = {TAG_STATUS: "candidate", TAG_SOURCE_BATCH: batch_sha256}
        return version

    def champion(self) -> str | None:
        return self.aliases.get("champion")

    def previous(self) -> str | None:
        return self.aliases.get("previous")

    def status(self, version: str) -> str | None:
        return self.versions.get(version, {}).get(TAG_STATUS)

    def set_champion(
        self, version: str, *, expected_current: str | None, reason: str
    ) -> str | None:
        self._world.step("set champion")
        if version not in self.versions:
            raise LookupError(f"no version {version}")
        current = self.champion()
        if current == version:
            old = self.previous()  # a rerun: the move is done, the tags are finished
        elif current != expected_current:
            raise ChampionChangedError(self._name, expected_current, current)
        else:
            old = current
            if old is not None:
                self.aliases["previous"] = old  # 'previous' first: crash-safe order
            self.aliases["champion"] = version
        for v, tags in self.versions.items():
            if v == self.champion():
                tags[TAG_STATUS] = "champion"
            elif v == self.previous():
                tags[TAG_STATUS] = "previous"
            elif tags.get(TAG_STATUS) in ("champion", "previous"):
                tags[TAG_STATUS] = "archived"
        return old

    def abandon(self, version: str, reason: str) -> None:
        self._world.step("abandon version")
        self.versions[version][TAG_ABANDONED_REASON] = reason
        self.versions[version][TAG_STATUS] = "abandoned"

    def abandon_candidates(self, batch_sha256: str) -> list[str]:
        held = {self.champion(), self.previous()}
        abandoned = []
        for version, tags in self.versions.items():
            if (
                tags.get(TAG_STATUS) == "candidate"
                and tags.get(TAG_SOURCE_BATCH) == batch_sha256
                and version not in held
            ):
                tags[TAG_ABANDONED_REASON] = "its cycle stopped before deciding on it"
                tags[TAG_STATUS] = "abandoned"
                abandoned.append(version)
        return abandoned

    def publish_card(self, record: CycleRecord) -> None:
        self._world.step("publish card")
        self.cards.append(str(record.challenger_version))


class FakeLedger:
    """Ledger lines in memory, stored as the JSON line the real ledger writes."""

    def __init__(self, world: World) -> None:
        self._world = world
        self.lines: list[str] = []

    def entry(self, sha256: str) -> LedgerEntry | None:
        found = [e for e in self.entries() if e.sha256 == sha256]
        return found[-1] if found else None

    def append(self, entry: LedgerEntry) -> None:
        self._world.step("ledger append")
        self.lines.append(json.dumps(entry.model_dump(mode="json"), default=str, sort_keys=True))

    def entries(self) -> list[LedgerEntry]:
        """Every committed line, in order."""
        return [
            LedgerEntry.read(json.loads(line), f"ledger line {n}")
            for n, line in enumerate(self.lines, 1)
        ]


class FakeBatchFiles:
    """Staged outputs, delivered outputs, landing and archive as sets of names."""

    def __init__(self, world: World) -> None:
        self._world = world
        self.staged: dict[str, set[str]] = {}
        self.delivered: set[str] = set()
        self.landing: set[Path] = set()
        self.archived: set[str] = set()

    def stage(self, sha256: str, *names: str) -> None:
        """What a cycle writes before its decisions: outputs waiting for the commit."""
        self.staged.setdefault(sha256, set()).update(names)

    def discard_staged(self, sha256: str) -> None:
        self.staged.pop(sha256, None)

    def publish_staged(self, sha256: str) -> None:
        self._world.step("publish staged")
        self.delivered |= self.staged.pop(sha256, set())

    def archive(self, landed: Path, sha256: str) -> None:
        if landed in self.landing:
            self._world.step("archive batch")
            self.landing.discard(landed)
            self.archived.add(landed.name)


@dataclass
class FakeNotices:
    """Events, artifacts and log lines, kept."""

    events: list[tuple[Event, dict[str, Any]]] = field(default_factory=list)
    artifacts: list[tuple[str, str]] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)

    def event(
        self, event: Event, payload: EventPayload, related_version: str | None = None
    ) -> None:
        self.events.append((event, payload.model_dump(mode="json")))

    def markdown(self, kind: str, markdown: str, description: str) -> None:
        self.artifacts.append((kind, description))

    def info(self, message: str, *args: object) -> None:
        self.logged.append(message % args)

    def warning(self, message: str, *args: object, exc_info: bool = False) -> None:
        self.logged.append(message % args)


class FakeMonitoringHistory:
    """The monitoring run in memory: one value per (metric, step), as MLflow keeps equal points.

    ``failing`` makes the next ``log_cycle`` calls raise, like an unreachable server.
    """

    def __init__(self, world: World) -> None:
        self._world = world
        self.points: dict[tuple[str, int], float] = {}
        self.links: dict[str, str] = {}
        self.missing: dict[str, str] = {}
        self.failing = False

    def log_cycle(self, record: CycleRecord, decision_run_ids: list[str]) -> str:
        if self.failing:
            raise ConnectionError("monitoring run unreachable")
        self._world.step("chart period")
        for key, value in monitoring_metrics(record).items():
            self.points[(key, record.period)] = value
        for run_id in decision_run_ids:
            self.links[run_id] = "monitoring-run"
        return "monitoring-run"

    def mark_missing(self, decision_run_id: str, reason: str) -> None:
        self.missing[decision_run_id] = reason


def fake_ports(usecase: UseCase, world: World | None = None) -> CommitPorts:
    """The commit protocol's ports, every one a fake sharing one world."""
    world = world or World()
    return CommitPorts(
        usecase=usecase,
        decisions=FakeDecisionStore(world),
        registry=FakeRegistry(world, usecase.registered_model_name),
        ledger=FakeLedger(world),
        files=FakeBatchFiles(world),
        notices=FakeNotices(),
        monitoring=FakeMonitoringHistory(world),
    )
