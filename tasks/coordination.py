"""Where the workers of one deployment agree: the batch ledger and the named locks.

Two things must hold whichever process or machine runs a flow:

- **the ledger**, one entry per committed batch (the commit marker of the
  commit protocol, ``tasks/commit_protocol.py``), so a batch is handled once;
- **the locks** ("claims"): one cycle per batch, one label gate at a time, one
  writer of the alert state, one review of a batch's queue at a time.

Two implementations, chosen by the environment (:func:`open_coordination`):

- **files in the data root** (the default, and the embedded demo's): the
  ``ledger.jsonl`` file and ``flock`` lock files. ``flock`` holds between the
  processes of one machine; over a network file system it is not relied on.
- **the stack's PostgreSQL** (``MLOPS_COORDINATION_URL``, which ``mlops up`` and
  the docker stack set): a ``mlops_ledger`` table and session advisory locks.
  Workers on different machines that share one data root and one database then
  agree. An advisory lock belongs to its database connection, so it is
  released when its holder's process dies, however it dies, as a ``flock`` is.

The data root's path (or address) and the use case's name name the use case in
the database, so workers must see the shared data root at the same path, and
two copies of a data root are two use cases. The first time a use case is seen
in the database, the entries of its ``ledger.jsonl`` are copied into the table
(a data root that ran on files keeps its history); from then on the table is
the ledger and the file is not written.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlops_core.records import LedgerEntry
from tasks import storage

#: A PostgreSQL URL (``postgresql://user:password@host:port/database``): the
#: ledger and the locks live there instead of in the data root's files.
COORDINATION_URL_ENV = "MLOPS_COORDINATION_URL"


class CoordinationError(RuntimeError):
    """The coordination database cannot be reached, or a held lock was lost."""


class Ledger(Protocol):
    """The use case's batch ledger: one entry per committed batch, oldest first."""

    def entries(self) -> list[LedgerEntry]:
        """Every entry, oldest first."""
        ...

    def entry(self, sha256: str) -> LedgerEntry | None:
        """The latest entry of a batch (by content hash), None when it is not committed."""
        ...

    def append(self, entry: LedgerEntry) -> None:
        """Commit a batch: add its entry, durably, or raise."""
        ...


class Claims(Protocol):
    """Named exclusive locks of one use case, held for the body of a ``with`` block."""

    def claim(
        self,
        key: str,
        *,
        timeout_seconds: float,
        on_wait: Callable[[str], None] | None = None,
    ) -> AbstractContextManager[None]:
        """Hold lock ``key``; wait up to ``timeout_seconds`` for another holder.

        ``on_wait`` is called once, with the holder's description, when the
        lock is taken. Raises :class:`~tasks.storage.BatchClaimedError` when
        the wait runs out.
        """
        ...


@dataclass(frozen=True)
class Coordination:
    """The ledger and the locks of one use case, and where they are kept.

    Attributes:
        ledger: The batch ledger.
        claims: The named locks.
        where: Where both are kept, for messages (no password).
    """

    ledger: Ledger
    claims: Claims
    where: str


# ------------------------------------------------------------ files (default)
def _refuse_if_moved(marker: Path) -> None:
    """Fail safe: files are not the ledger of a use case whose ledger moved to a database.

    A process without ``MLOPS_COORDINATION_URL`` (a shell that was not pointed
    at the stack) would otherwise handle again batches the workers committed,
    and hold locks nobody else sees.

    Raises:
        CoordinationError: The marker is there; the message says where the ledger is.
    """
    if marker.exists():
        try:
            where = json.loads(marker.read_text(encoding="utf-8")).get("where", "a database")
        except (OSError, ValueError, AttributeError):
            where = "a database"
        raise CoordinationError(
            f"the ledger and locks of this use case are in {where} ({marker}): set "
            f"{COORDINATION_URL_ENV} as the workers have it"
        )


class LedgerFile:
    """The use case's ``ledger.jsonl`` in the data root (``tasks.storage``)."""

    def __init__(self, path: Path, marker: Path | None = None) -> None:
        self._path = path
        self._marker = marker

    def _check(self) -> None:
        if self._marker is not None:
            _refuse_if_moved(self._marker)

    def entries(self) -> list[LedgerEntry]:
        """Every line, oldest first."""
        self._check()
        return storage.ledger_entries(self._path)

    def entry(self, sha256: str) -> LedgerEntry | None:
        """The batch's latest line, None when it is not committed."""
        self._check()
        return storage.ledger_entry(self._path, sha256)

    def append(self, entry: LedgerEntry) -> None:
        """Append the line, fsynced."""
        self._check()
        storage.ledger_append(self._path, entry)


class ClaimFiles:
    """Locks as ``flock``-ed files of the use case's claims folder (``storage.claim_batch``)."""

    def __init__(self, folder: Path, marker: Path | None = None) -> None:
        self._folder = folder
        self._marker = marker

    def claim(
        self,
        key: str,
        *,
        timeout_seconds: float,
        on_wait: Callable[[str], None] | None = None,
    ) -> AbstractContextManager[None]:
        """Hold ``<claims>/<key>.lock`` (see :func:`tasks.storage.claim_batch`)."""
        if self._marker is not None:
            _refuse_if_moved(self._marker)
        return storage.claim_batch(
            self._folder, key, timeout_seconds=timeout_seconds, on_wait=on_wait
        )


# ------------------------------------------------------------------ PostgreSQL
_SCHEMA = """
CREATE TABLE IF NOT EXISTS mlops_ledger (
    position bigserial PRIMARY KEY,
    usecase text NOT NULL,
    sha256 text NOT NULL,
    entry jsonb NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mlops_ledger_batch ON mlops_ledger (usecase, sha256);
CREATE TABLE IF NOT EXISTS mlops_ledger_imports (
    usecase text PRIMARY KEY,
    source text NOT NULL,
    entries integer NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS mlops_claims (
    usecase text NOT NULL,
    key text NOT NULL,
    holder text NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (usecase, key)
);
"""

#: The advisory lock every process takes while it creates the tables.
_SCHEMA_LOCK = 0x6D6C6F7073  # "mlops"

#: Databases whose tables this process has made sure of (by URL).
_ready: set[str] = set()
_ready_lock = threading.Lock()


def lock_number(namespace: str, key: str) -> int:
    """The 64-bit advisory lock number of a lock of a use case.

    Two names that happen to share a number (a chance of one in 2**64) only
    make one wait for the other; they never share a holder.
    """
    digest = hashlib.sha256(f"{namespace}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _dsn(url: str) -> str:
    """A libpq URL from an SQLAlchemy one (``postgresql+psycopg2://`` is accepted)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise CoordinationError(
            f"{COORDINATION_URL_ENV} must be a postgresql:// URL, not {scheme or url!r}"
        )
    return f"postgresql://{rest}"


def _display(url: str) -> str:
    """The URL without its password, for messages."""
    rest = url.partition("://")[2]
    credentials, at, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0] if at else ""
    return f"PostgreSQL {user + '@' if user else ''}{location}"


class PostgresCoordination:
    """The ledger and the locks of one use case in a PostgreSQL database.

    Holds no connection between calls (it is passed to tasks, and pickled to
    Dask workers): each ledger call opens one, and each held lock keeps its
    own for as long as it is held.
    """

    def __init__(self, url: str, namespace: str, ledger_file: Path, marker: Path) -> None:
        self._dsn = _dsn(url)
        self.where = _display(url)
        self._namespace = namespace
        self._ledger_file = ledger_file
        self._marker = marker
        self._imported = False  # the file ledger is known to be in the table
        # Locks held by this process, with their connections: an append checks
        # they are still held (a connection lost while holding one lost the lock).
        self._held: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_held"] = {}
        return state

    # -- connections
    def _connect(self) -> Any:
        import psycopg2

        try:
            conn = psycopg2.connect(
                self._dsn,
                connect_timeout=10,
                # A peer that vanished (a dead machine, a cut network) is noticed
                # within about a minute, not at the kernel's default of hours.
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
                application_name="mlops-coordination",
            )
        except psycopg2.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CoordinationError(f"cannot reach {self.where}: {first}") from exc
        conn.autocommit = True
        self._ensure_schema(conn)
        return conn

    def _ensure_schema(self, conn: Any) -> None:
        with _ready_lock:
            if self._dsn in _ready:
                return
            with conn.cursor() as cur:
                # CREATE ... IF NOT EXISTS races with itself in PostgreSQL:
                # concurrent first workers take turns.
                cur.execute("BEGIN")
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                cur.execute(_SCHEMA)
                cur.execute("COMMIT")
            _ready.add(self._dsn)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    # -- the ledger
    def _import_ledger_file(self, cur: Any) -> None:
        """Copy ``ledger.jsonl`` into the table, once per use case (the first time it is seen).

        Then the data root's marker says where the ledger is, so a process
        left on files refuses to run (``_refuse_if_moved``) instead of
        handling the workers' batches again. Checked once per instance: an
        import, once made, stays.
        """
        if self._imported:
            return
        cur.execute("BEGIN")
        try:
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s)", (lock_number(self._namespace, "ledger-import"),)
            )
            cur.execute("SELECT 1 FROM mlops_ledger_imports WHERE usecase = %s", (self._namespace,))
            if cur.fetchone() is None:
                entries = storage.ledger_entries(self._ledger_file)
                for entry in entries:
                    self._insert(cur, entry)
                cur.execute(
                    "INSERT INTO mlops_ledger_imports (usecase, source, entries) "
                    "VALUES (%s, %s, %s)",
                    (self._namespace, str(self._ledger_file), len(entries)),
                )
            if not self._marker.exists():
                storage.write_json(
                    self._marker, {"where": self.where, "namespace": self._namespace}
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._imported = True

    def _insert(self, cur: Any, entry: LedgerEntry) -> None:
        cur.execute(
            "INSERT INTO mlops_ledger (usecase, sha256, entry) VALUES (%s, %s, %s)",
            (self._namespace, entry.sha256, json.dumps(entry.model_dump(mode="json"))),
        )

    def _rows(self, where: str = "", args: tuple[Any, ...] = ()) -> list[LedgerEntry]:
        with self._connection() as conn, conn.cursor() as cur:
            self._import_ledger_file(cur)
            cur.execute(
                "SELECT position, entry FROM mlops_ledger WHERE usecase = %s"
                f"{where} ORDER BY position",
                (self._namespace, *args),
            )
            return [
                LedgerEntry.read(raw, f"{self.where} mlops_ledger position {position}")
                for position, raw in cur.fetchall()
            ]

    def entries(self) -> list[LedgerEntry]:
        """Every entry of the use case, oldest first."""
        return self._rows()

    def entry(self, sha256: str) -> LedgerEntry | None:
        """The batch's latest entry, None when it is not committed."""
        found = self._rows(" AND sha256 = %s", (sha256,))
        return found[-1] if found else None

    def append(self, entry: LedgerEntry) -> None:
        """Commit a batch: one row, in a transaction of its own.

        Raises:
            CoordinationError: A lock this process holds was lost with its
                connection (the database restarted, the network was cut):
                another worker may hold it now, so nothing is committed and
                the flow fails; its rerun finishes the batch.
        """
        for key, held in list(self._held.items()):
            try:
                with held.cursor() as cur:
                    cur.execute("SELECT 1")
            except Exception as exc:  # noqa: BLE001 - any failure means the lock is gone
                raise CoordinationError(
                    f"lost the lock {key!r} in {self.where} before committing: "
                    "the batch is left for a rerun"
                ) from exc
        with self._connection() as conn, conn.cursor() as cur:
            self._import_ledger_file(cur)
            self._insert(cur, entry)

    # -- the locks
    @contextmanager
    def claim(
        self,
        key: str,
        *,
        timeout_seconds: float,
        on_wait: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Hold the session advisory lock of ``key`` on a connection of its own.

        Raises:
            BatchClaimedError: Another holder kept it for ``timeout_seconds``.
            CoordinationError: The database cannot be reached.
        """
        number = lock_number(self._namespace, key)
        conn = self._connect()
        try:
            with conn.cursor() as cur:

                def take() -> bool:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (number,))
                    return bool(cur.fetchone()[0])

                def holder() -> str:
                    cur.execute(
                        "SELECT holder FROM mlops_claims WHERE usecase = %s AND key = %s",
                        (self._namespace, key),
                    )
                    row = cur.fetchone()
                    return str(row[0]) if row else "another process"

                storage.wait_for_lock(
                    take, holder, key, timeout_seconds=timeout_seconds, on_wait=on_wait
                )
                cur.execute(
                    "INSERT INTO mlops_claims (usecase, key, holder) VALUES (%s, %s, %s) "
                    "ON CONFLICT (usecase, key) DO UPDATE SET holder = EXCLUDED.holder, "
                    "since = now()",
                    (self._namespace, key, storage.holder_text()),
                )
            self._held[key] = conn
            try:
                yield
            finally:
                self._held.pop(key, None)
        finally:
            conn.close()  # closing the session releases its advisory locks


def open_coordination(
    paths: storage.UseCasePaths, usecase: str, env: Mapping[str, str] | None = None
) -> Coordination:
    """The use case's ledger and locks: in PostgreSQL when ``MLOPS_COORDINATION_URL`` is set.

    Nothing is connected here; the first ledger call or lock does.

    Args:
        paths: The use case's folders (the ledger file and the claims folder).
        usecase: The use case's name.
        env: Where ``MLOPS_COORDINATION_URL`` is read (the process environment by default).

    Raises:
        CoordinationError: The URL is not a PostgreSQL one.
    """
    env = os.environ if env is None else env
    url = env.get(COORDINATION_URL_ENV, "").strip()
    if not url:
        marker = paths.coordination_marker
        return Coordination(
            ledger=LedgerFile(paths.ledger, marker),
            claims=ClaimFiles(paths.claims, marker),
            where=f"files in {paths.root}",
        )
    store = PostgresCoordination(
        url, f"{paths.root}#{usecase}", paths.ledger, paths.coordination_marker
    )
    return Coordination(ledger=store, claims=store, where=store.where)
