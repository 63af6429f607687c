"""The ledger and the locks in a real PostgreSQL, and the fail-safes around them.

Each test talks to the database ``mlops up`` would create (``coordination_url``,
tests/integration/conftest.py); a lock's holder is another Python process, so
what is tested is what two workers see.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlops_core.records import LedgerEntry
from tasks import storage
from tasks.coordination import (
    COORDINATION_URL_ENV,
    CoordinationError,
    open_coordination,
)
from tasks.storage import BatchClaimedError, UseCasePaths

# slow (left out of `make test-fast`): a PostgreSQL server, processes killed.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHA = "ab" * 32


def _paths(root: Path, usecase: str = "demo") -> UseCasePaths:
    base = root / usecase
    paths = UseCasePaths(
        root=root,
        landing=root / "landing",
        labels=root / "labels",
        quarantine=base / "quarantine",
        processed=base / "processed",
        predictions=base / "predictions",
        review=base / "review",
        reports=base / "reports",
        archive=base / "archive",
    )
    paths.quarantine.mkdir(parents=True, exist_ok=True)
    return paths


def _entry(n: int, **changes: object) -> LedgerEntry:
    base = LedgerEntry(
        sha256=f"{n:064d}",
        batch=f"period_{n:03d}.csv",
        period=n,
        gate="pass",
        decision="skip",
        decision_run_id=f"run-{n}",
        at=dt.datetime(2026, 3, 2, 9, n, tzinfo=dt.UTC),
    )
    return base.model_copy(update=changes)


def _holder(url: str, root: Path, ready: Path) -> subprocess.Popen:
    """Another process that takes the batch's lock and keeps it until killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_coordination import _paths
        from tasks.coordination import open_coordination
        paths = _paths(Path({str(root)!r}))
        coordination = open_coordination(paths, "demo", {{"{COORDINATION_URL_ENV}": {url!r}}})
        with coordination.claims.claim({SHA!r}, timeout_seconds=5):
            Path({str(ready)!r}).write_text("held")
            time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, "the holder died before taking the lock"
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.05)
    return proc


def test_the_ledger_is_kept_in_order_per_use_case_and_data_root(
    tmp_path: Path, coordination_url: str
) -> None:
    env = {COORDINATION_URL_ENV: coordination_url}
    here = open_coordination(_paths(tmp_path / "a"), "demo", env)
    assert here.ledger.entries() == []
    boot = _entry(1, decision="bootstrap", decision_run_id=None, at=None)
    first, again = _entry(2), _entry(2, decision="retrain", decision_run_id="run-x")
    for entry in (boot, first, again):
        here.ledger.append(entry)

    assert here.ledger.entries() == [boot, first, again]
    assert here.ledger.entry(first.sha256) == again  # the latest, as the file's reader
    assert here.ledger.entry("f" * 64) is None
    assert "password" not in here.where and coordination_url.split("@")[0] not in here.where
    # Another data root, and another use case of the same root, have ledgers of their own.
    assert open_coordination(_paths(tmp_path / "b"), "demo", env).ledger.entries() == []
    assert open_coordination(_paths(tmp_path / "a", "other"), "other", env).ledger.entries() == []
    # A second process's view is the same (nothing is cached between calls).
    assert open_coordination(_paths(tmp_path / "a"), "demo", env).ledger.entries() == [
        boot,
        first,
        again,
    ]


def test_a_data_root_that_ran_on_files_keeps_its_ledger_and_files_refuse_after(
    tmp_path: Path, coordination_url: str
) -> None:
    paths = _paths(tmp_path)
    on_files = open_coordination(paths, "demo", {})
    before = [_entry(1), _entry(2)]
    for entry in before:
        on_files.ledger.append(entry)

    on_database = open_coordination(paths, "demo", {COORDINATION_URL_ENV: coordination_url})
    assert on_database.ledger.entries() == before  # copied once, in order
    later = _entry(3)
    on_database.ledger.append(later)
    assert on_database.ledger.entries() == [*before, later]
    assert storage.ledger_entries(paths.ledger) == before  # the file is not written any more

    # A process left on files would handle the workers' batches again: it refuses.
    with pytest.raises(CoordinationError, match=COORDINATION_URL_ENV):
        on_files.ledger.entry(later.sha256)
    with pytest.raises(CoordinationError, match="PostgreSQL"):
        with on_files.claims.claim(SHA, timeout_seconds=1):
            pytest.fail("a file lock beside the database's")


def test_a_held_lock_makes_another_process_wait_names_the_holder_and_dies_with_it(
    tmp_path: Path, coordination_url: str
) -> None:
    env = {COORDINATION_URL_ENV: coordination_url}
    coordination = open_coordination(_paths(tmp_path), "demo", env)
    proc = _holder(coordination_url, tmp_path, tmp_path / "ready")
    try:
        waited: list[str] = []
        with pytest.raises(BatchClaimedError, match=f"pid {proc.pid}"):
            with coordination.claims.claim(SHA, timeout_seconds=0.5, on_wait=waited.append):
                pytest.fail("two holders of one lock")
        assert len(waited) == 1 and f"pid {proc.pid}" in waited[0]
        # Another batch is not blocked by this one.
        with coordination.claims.claim("cd" * 32, timeout_seconds=0.1):
            pass
    finally:
        proc.kill()  # SIGKILL: no cleanup runs in the holder
        proc.wait()
    # The database ends the dead holder's session, and its lock with it.
    with coordination.claims.claim(SHA, timeout_seconds=10):
        pass


def test_a_lock_lost_with_its_connection_commits_nothing(
    tmp_path: Path, coordination_url: str
) -> None:
    import psycopg2

    env = {COORDINATION_URL_ENV: coordination_url}
    coordination = open_coordination(_paths(tmp_path), "demo", env)
    dsn = coordination_url.replace("postgresql+psycopg2://", "postgresql://")
    with coordination.claims.claim(SHA, timeout_seconds=1):
        # The database restarts or the network is cut: the session holding the
        # lock ends, and another worker could take the batch now.
        with psycopg2.connect(dsn) as admin, admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "application_name = 'mlops-coordination' AND pid <> pg_backend_pid()"
            )
        time.sleep(0.2)
        with pytest.raises(CoordinationError, match="lost the lock"):
            coordination.ledger.append(_entry(7))
    assert coordination.ledger.entries() == []


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_database_fails_with_a_message_without_the_password(
    tmp_path: Path,
) -> None:
    port = _unused_port()
    url = f"postgresql://mlops:s3cret-pw@127.0.0.1:{port}/mlops"
    coordination = open_coordination(_paths(tmp_path), "demo", {COORDINATION_URL_ENV: url})
    with pytest.raises(CoordinationError, match=f"127.0.0.1:{port}") as caught:
        coordination.ledger.entries()
    assert "s3cret-pw" not in str(caught.value)
    with pytest.raises(CoordinationError, match="postgresql://"):
        open_coordination(_paths(tmp_path / "x"), "demo", {COORDINATION_URL_ENV: "mysql://a/b"})
