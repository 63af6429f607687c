"""The commit protocol's cases, run through in-memory fakes of its interfaces.

``tasks/commit_protocol.py`` is written against ``DecisionStore``, ``Registry``,
``Ledger``, ``BatchFiles``, ``Notices`` and ``MonitoringHistory``; ``tests/fakes.py``
implements them in memory with the semantics of the real adapters, and can "kill" the process
at a named write. The decisions are real values (``decide_retrain``,
``decide_promotion``). The same cases against real MLflow, Prefect and a
``kill -9`` are in ``tests/flows/test_crash.py``.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fakes
import pytest
from fakes import Killed, World
from sample_cycles import promoting_outcome

from mlops_core.config import UseCase
from mlops_core.records import CycleResult
from mlops_core.report import CycleOutcome
from tasks import commit_adapters, commit_protocol, coordination
from tasks.commit_protocol import CommitPorts
from tasks.tags import TAG_ABANDONED_REASON, TAG_SUPERSEDED_BY, TAG_TRIGGER, Event

pytestmark = pytest.mark.unit

SHA = "b" * 64
BATCH = "period_021.csv"
LANDED = Path("landing") / BATCH


def _promoting_outcome(champion: str | None, challenger: str) -> CycleOutcome:
    """A cycle that measured decay, retrained, and whose challenger passed the gate."""
    outcome = promoting_outcome(
        has_champion=champion is not None,
        champion_before=champion,
        challenger=challenger,
        batch=BATCH,
        batch_sha256=SHA,
    )
    assert outcome.retrain is not None and outcome.retrain.action == "retrain"
    assert outcome.promotion is not None and outcome.promotion.action == "promote"
    return outcome


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def ports(shop_usecase: Callable[..., UseCase], world: World) -> CommitPorts:
    """A use case with champion 1, and batch ``period_021.csv`` waiting in landing."""
    ports = fakes.fake_ports(shop_usecase(), world)
    registry = _registry(ports)
    first = registry.register("-" * 64)
    registry.set_champion(first, expected_current=None, reason="bootstrap")
    _files(ports).landing.add(LANDED)
    world.journal.clear()
    return ports


def _registry(ports: CommitPorts) -> fakes.FakeRegistry:
    assert isinstance(ports.registry, fakes.FakeRegistry)
    return ports.registry


def _store(ports: CommitPorts) -> fakes.FakeDecisionStore:
    assert isinstance(ports.decisions, fakes.FakeDecisionStore)
    return ports.decisions


def _ledger(ports: CommitPorts) -> fakes.FakeLedger:
    assert isinstance(ports.ledger, fakes.FakeLedger)
    return ports.ledger


def _files(ports: CommitPorts) -> fakes.FakeBatchFiles:
    assert isinstance(ports.files, fakes.FakeBatchFiles)
    return ports.files


def _history(ports: CommitPorts) -> fakes.FakeMonitoringHistory:
    assert isinstance(ports.monitoring, fakes.FakeMonitoringHistory)
    return ports.monitoring


def _cycle(ports: CommitPorts, trained: list[str]) -> Callable[[], CycleResult]:
    """The decide part of ``monitor``: stage outputs, train a challenger, hand over the outcome."""

    def run() -> CycleResult:
        _files(ports).stage(SHA, "predictions/period_021.parquet", "review/period_021.parquet")
        challenger = _registry(ports).register(SHA)
        trained.append(challenger)
        return commit_protocol.finish(
            ports,
            _promoting_outcome(_registry(ports).champion(), challenger),
            labels_through=19,
            decay_cause="concept_drift",
            trigger="realized_decay",
            landed=LANDED,
            champion_before=_registry(ports).champion(),
        )

    return run


def _handle(ports: CommitPorts, run: Callable[[], CycleResult]) -> CycleResult:
    return commit_protocol.handle_claimed(ports, BATCH, SHA, LANDED, run)


def _must_not_decide() -> CycleResult:
    raise AssertionError("the batch was decided again")


def _assert_committed_once(ports: CommitPorts, run_id: str) -> None:
    entries = _ledger(ports).entries()
    assert [(e.sha256, e.decision, e.decision_run_id) for e in entries] == [
        (SHA, "retrain", run_id)
    ]
    files = _files(ports)
    assert files.staged == {}
    assert files.delivered == {"predictions/period_021.parquet", "review/period_021.parquet"}
    assert LANDED not in files.landing and files.archived == {BATCH}


def test_a_decided_promotion_is_recorded_then_carried_out_then_committed(
    ports: CommitPorts, world: World
) -> None:
    trained: list[str] = []
    result = _handle(ports, _cycle(ports, trained))

    registry, store = _registry(ports), _store(ports)
    assert trained == ["2"]
    assert (registry.champion(), registry.previous()) == ("2", "1")
    assert (registry.status("2"), registry.status("1")) == ("champion", "previous")
    assert registry.cards == ["2"]
    assert (result.status, result.promotion, result.champion_version) == ("done", "promote", "2")
    [retrain_run] = store.finished("retrain")
    assert len(store.finished("promotion")) == 1
    assert result.decision_run_id == retrain_run.run_id
    _assert_committed_once(ports, retrain_run.run_id)
    # Records before carry-out; staged outputs published before the batch is archived
    # and committed; the ledger line last.
    assert world.journal == [
        "record retrain",
        "record promotion",
        "set champion",
        "publish card",
        "publish staged",
        "archive batch",
        "chart period",
        "ledger append",
    ]
    assert isinstance(ports.notices, fakes.FakeNotices)
    assert [e for e, _ in ports.notices.events] == [Event.MODEL_PROMOTED]
    # The cycle's point in the monitoring history, linked from both decision runs.
    history = _history(ports)
    assert history.points[("realized", 21)] == 10.5
    assert (history.points[("retrain", 21)], history.points[("promoted", 21)]) == (1.0, 1.0)
    assert history.points[("champion_version", 21)] == 2.0
    [promotion_run] = store.finished("promotion")
    assert set(history.links) == {retrain_run.run_id, promotion_run.run_id}
    # The decision, with its reason code, in the run's log.
    code = retrain_run.tags[TAG_TRIGGER]
    assert any(
        f"Decision: retrain (reason code {code}); promotion: promote." in line
        for line in ports.notices.logged
    ), ports.notices.logged


def test_a_monitoring_history_that_fails_is_marked_and_the_batch_still_commits(
    ports: CommitPorts, world: World
) -> None:
    history = _history(ports)
    history.failing = True

    result = _handle(ports, _cycle(ports, []))

    [decided] = _store(ports).finished("retrain")
    assert result.decision_run_id == decided.run_id
    _assert_committed_once(ports, decided.run_id)
    assert history.points == {}
    assert "ConnectionError: monitoring run unreachable" in history.missing[decided.run_id]
    assert isinstance(ports.notices, fakes.FakeNotices)
    assert any("missing from the monitoring history" in line for line in ports.notices.logged)


def test_a_rerun_after_a_kill_before_the_commit_charts_the_same_point(
    ports: CommitPorts, world: World
) -> None:
    world.kill_at.add("ledger append")
    with pytest.raises(Killed):
        _handle(ports, _cycle(ports, []))
    first = dict(_history(ports).points)

    _handle(ports, _must_not_decide)

    assert _history(ports).points == first
    assert world.journal.count("chart period") == 2


@pytest.mark.parametrize(
    "killed_at",
    ["record promotion", "set champion", "publish staged", "archive batch", "ledger append"],
)
def test_a_kill_after_the_record_is_finished_by_the_rerun_without_deciding_again(
    ports: CommitPorts, world: World, killed_at: str
) -> None:
    world.kill_at.add(killed_at)
    trained: list[str] = []
    with pytest.raises(Killed):
        _handle(ports, _cycle(ports, trained))
    store = _store(ports)
    [decided] = store.finished("retrain")
    assert _ledger(ports).entries() == []
    if killed_at in ("record promotion", "set champion"):
        assert _registry(ports).champion() == "1"  # the champion did not move yet
        assert _files(ports).delivered == set()  # nothing reached a reader yet

    result = _handle(ports, _must_not_decide)

    registry = _registry(ports)
    assert trained == ["2"]  # nothing retrained
    assert (registry.champion(), registry.previous()) == ("2", "1")
    assert registry.status("2") == "champion"
    assert store.finished("retrain") == [decided]
    assert len(store.finished("promotion")) == 1  # a run the kill left open is no record
    assert (result.promotion, result.champion_version) == ("promote", "2")
    assert result.decision_run_id == decided.run_id
    assert result.realized == 10.5  # the figures the killed run recorded
    _assert_committed_once(ports, decided.run_id)


def test_a_promotion_superseded_by_another_champion_is_abandoned_and_its_record_rewritten(
    ports: CommitPorts, world: World
) -> None:
    world.kill_at.add("set champion")
    trained: list[str] = []
    with pytest.raises(Killed):
        _handle(ports, _cycle(ports, trained))
    registry, store = _registry(ports), _store(ports)
    [decided] = store.finished("retrain")
    first_summary = store.read(decided.run_id)[0].summary
    # Another batch's promotion moves the champion before the rerun.
    other = registry.register("c" * 64)
    registry.set_champion(other, expected_current="1", reason="another batch")

    result = _handle(ports, _must_not_decide)

    assert registry.champion() == other == "3"
    assert registry.status("2") == "abandoned"
    assert (
        "became champion before it was carried out" in registry.versions["2"][TAG_ABANDONED_REASON]
    )
    assert (result.promotion, result.champion_version) == ("superseded", other)
    record, markdown = store.read(decided.run_id)
    assert record.superseded_by == other
    assert decided.tags[TAG_SUPERSEDED_BY] == other
    assert record.summary != first_summary and result.summary == record.summary
    assert registry.cards == []  # no card for a version that was not promoted
    _assert_committed_once(ports, decided.run_id)
    # The monitoring history charts what happened: no promotion, the other champion.
    points = _history(ports).points
    assert (points[("promoted", 21)], points[("champion_version", 21)]) == (0.0, 3.0)


def test_a_committed_batch_is_not_redone(ports: CommitPorts, world: World) -> None:
    first = _handle(ports, _cycle(ports, []))
    journal = list(world.journal)
    _files(ports).landing.add(LANDED)  # the same content landed again

    again = _handle(ports, _must_not_decide)

    assert (again.status, again.reason, again.decision) == (
        "duplicate",
        "already_processed",
        "retrain",
    )
    assert again.decision_run_id == first.decision_run_id
    assert world.journal == [*journal, "archive batch"]  # only the file moved
    assert len(_ledger(ports).entries()) == 1
    assert LANDED not in _files(ports).landing


def test_an_undecided_failure_discards_staging_and_abandons_the_challenger(
    ports: CommitPorts,
) -> None:
    store = _store(ports)

    def fails_before_deciding() -> CycleResult:
        _files(ports).stage(SHA, "predictions/period_021.parquet")
        _registry(ports).register(SHA)
        store.runs.append(
            fakes.FakeRun("run-open", "training", {"mlops.batch_sha256": SHA}, "{}", "", {})
        )
        raise RuntimeError("drift measurement failed")

    with pytest.raises(RuntimeError, match="drift measurement failed"):
        _handle(ports, fails_before_deciding)

    registry = _registry(ports)
    assert registry.status("2") == "abandoned" and registry.champion() == "1"
    assert _files(ports).staged == {} and _files(ports).delivered == set()
    assert [r.status for r in store.runs] == ["FAILED"]
    assert _ledger(ports).entries() == [] and store.finished("retrain") == []
    # The rerun decides afresh.
    trained: list[str] = []
    result = _handle(ports, _cycle(ports, trained))
    assert trained == ["3"] and result.champion_version == "3"


def test_a_recorded_decision_survives_a_failure_after_it(ports: CommitPorts, world: World) -> None:
    """A failure (not a kill) after the record keeps the staged outputs for the rerun."""

    class Refused(Exception):
        pass

    def refuses(*args: Any, **kwargs: Any) -> None:
        raise Refused

    ports.files.publish_staged = refuses  # type: ignore[method-assign]
    with pytest.raises(Refused):
        _handle(ports, _cycle(ports, []))
    assert _files(ports).staged != {}  # covered by the record: not discarded
    assert _registry(ports).status("2") == "champion"


@pytest.mark.parametrize(
    ("interface", "fake", "real"),
    [
        (
            commit_protocol.DecisionStore,
            fakes.FakeDecisionStore,
            commit_adapters.MlflowDecisionStore,
        ),
        (commit_protocol.Registry, fakes.FakeRegistry, commit_adapters.MlflowRegistry),
        (commit_protocol.Ledger, fakes.FakeLedger, coordination.LedgerFile),
        (commit_protocol.Ledger, fakes.FakeLedger, coordination.PostgresCoordination),
        (commit_protocol.BatchFiles, fakes.FakeBatchFiles, commit_adapters.BatchFolders),
        (commit_protocol.Notices, fakes.FakeNotices, commit_adapters.PrefectNotices),
        (
            commit_protocol.MonitoringHistory,
            fakes.FakeMonitoringHistory,
            commit_adapters.MlflowMonitoringHistory,
        ),
    ],
)
def test_fakes_and_real_adapters_have_the_interfaces_methods(
    interface: type, fake: type, real: type
) -> None:
    methods = {
        name: inspect.signature(member)
        for name, member in vars(interface).items()
        if callable(member) and not name.startswith("_")
    }
    assert methods
    for implementation in (fake, real):
        for name, signature in methods.items():
            assert hasattr(implementation, name), f"{implementation.__name__} lacks {name}"
            assert inspect.signature(getattr(implementation, name)).parameters.keys() == (
                signature.parameters.keys()
            ), f"{implementation.__name__}.{name}"


def test_the_protocol_module_loads_neither_prefect_nor_mlflow() -> None:
    """What makes its cases unit tests: importing it starts no orchestration or tracking."""
    probe = (
        "import sys, tasks.commit_protocol\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'mlflow'})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert loaded == ""
