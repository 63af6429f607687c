"""The ledger and the locks in a real PostgreSQL, and the fail-safes around them.

Each test talks to the database ``mlops up`` would create (``coordination_url``,
tests/integration/conftest.py). A lock held by another process, and one whose
holder was killed: tests/integration/test_batch_claim.py, for both ways.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sample_cycles import sample_ledger_entry
from usecase_variant import usecase_paths

from tasks import storage
from tasks.coordination import (
    COORDINATION_URL_ENV,
    CoordinationError,
    open_coordination,
)

# slow (left out of `make test-fast`): a PostgreSQL server, processes killed.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHA = "ab" * 32


def test_the_ledger_is_kept_in_order_per_use_case_and_data_root(
    tmp_path: Path, coordination_url: str
) -> None:
    env = {COORDINATION_URL_ENV: coordination_url}
    here = open_coordination(usecase_paths(tmp_path / "a"), "demo", env)
    assert here.ledger.entries() == []
    boot = sample_ledger_entry(1, decision="bootstrap", decision_run_id=None, at=None)
    first, again = (
        sample_ledger_entry(2),
        sample_ledger_entry(2, decision="retrain", decision_run_id="run-x"),
    )
    for entry in (boot, first, again):
        here.ledger.append(entry)

    assert here.ledger.entries() == [boot, first, again]
    assert here.ledger.entry(first.sha256) == again  # the latest, as the file's reader
    assert here.ledger.entry("f" * 64) is None
    password = coordination_url.split("@")[0].rsplit(":", 1)[1]
    assert password not in here.where and here.where.startswith("PostgreSQL mlops@127.0.0.1:")
    # Another data root, and another use case of the same root, have ledgers of their own.
    assert open_coordination(usecase_paths(tmp_path / "b"), "demo", env).ledger.entries() == []
    assert (
        open_coordination(usecase_paths(tmp_path / "a", "other"), "other", env).ledger.entries()
        == []
    )
    # A second process's view is the same (nothing is cached between calls).
    assert open_coordination(usecase_paths(tmp_path / "a"), "demo", env).ledger.entries() == [
        boot,
        first,
        again,
    ]


def test_a_data_root_that_ran_on_files_keeps_its_ledger_and_files_refuse_after(
    tmp_path: Path, coordination_url: str
) -> None:
    paths = usecase_paths(tmp_path)
    on_files = open_coordination(paths, "demo", {})
    before = [sample_ledger_entry(1), sample_ledger_entry(2)]
    for entry in before:
        on_files.ledger.append(entry)

    on_database = open_coordination(paths, "demo", {COORDINATION_URL_ENV: coordination_url})
    assert on_database.ledger.entries() == before  # copied once, in order
    later = sample_ledger_entry(3)
    on_database.ledger.append(later)
    assert on_database.ledger.entries() == [*before, later]
    assert storage.ledger_entries(paths.ledger) == before  # the file is not written any more

    # A process left on files would handle the workers' batches again: it refuses.
    with pytest.raises(CoordinationError, match=COORDINATION_URL_ENV):
        on_files.ledger.entry(later.sha256)
    with pytest.raises(CoordinationError, match="PostgreSQL"):
        with on_files.claims.claim(SHA, timeout_seconds=1):
            pytest.fail("a file lock beside the database's")


def test_a_lock_lost_with_its_connection_commits_nothing(
    tmp_path: Path, coordination_url: str
) -> None:
    import psycopg2

    env = {COORDINATION_URL_ENV: coordination_url}
    coordination = open_coordination(usecase_paths(tmp_path), "demo", env)
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
            coordination.ledger.append(sample_ledger_entry(7))
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
    coordination = open_coordination(usecase_paths(tmp_path), "demo", {COORDINATION_URL_ENV: url})
    with pytest.raises(CoordinationError, match=f"127.0.0.1:{port}") as caught:
        coordination.ledger.entries()
    assert "s3cret-pw" not in str(caught.value)
    with pytest.raises(CoordinationError, match="postgresql://"):
        open_coordination(
            usecase_paths(tmp_path / "x"), "demo", {COORDINATION_URL_ENV: "mysql://a/b"}
        )
