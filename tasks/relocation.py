"""MLflow adapter: keep the embedded store's artifact locations in the data root it is in.

MLflow stores absolute artifact locations: each experiment's
``artifact_location`` (``file:///<root>/mlartifacts/<experiment>``), and, copied
from it when they are created, each run's ``artifact_uri``, each logged model's
``artifact_location`` and each model version's ``source`` and
``storage_location`` (see ``SqlAlchemyStore.create_run`` and
``create_logged_model`` and the registry's ``create_model_version``). A data
root that was copied therefore kept writing new runs into the original's
folder, and one that was moved could no longer read its champion's files.

With the embedded default (``<root>/mlflow.db`` and ``<root>/mlartifacts``)
both files travel together, so the store can be put right when the data root
is opened: :func:`relocate_artifact_locations` finds the artifact root the
database's experiments point at, and when it is another folder rewrites every
location under it to the same path under the current one, in one SQLite
transaction. Rows outside that folder are left as they are. The rewrite is
recorded as experiment tags and logged; running it again changes nothing.
:func:`forget_artifact_repositories_outside` does the same for MLflow's
in-process cache of artifact folders.

Only the embedded SQLite store is rewritten: a tracking server, or a database
shared with one, owns its locations (see ``tasks.runtime.open_runtime``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlflow.utils.mlflow_tags import MLFLOW_ARTIFACT_LOCATION

from tasks.tags import TAG_MOVED_AT, TAG_MOVED_FROM

logger = logging.getLogger(__name__)

#: Experiment tags that record a relocation: the artifact root the store pointed at

#: Every column of MLflow's SQL schema that holds an artifact location:
#: (table, column, extra condition). Read from MLflow 3's SQLAlchemy stores.
_LOCATION_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("experiments", "artifact_location", ""),
    ("runs", "artifact_uri", ""),
    ("logged_models", "artifact_location", ""),
    ("model_versions", "source", ""),
    ("model_versions", "storage_location", ""),
    # A trace's artifact location, kept as a tag (unused by the product, moved all the same).
    ("trace_tags", "value", f"AND key = '{MLFLOW_ARTIFACT_LOCATION}'"),
)

#: How long to wait for another process's write to the database (seconds).
_BUSY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Relocation:
    """One rewrite of the store's artifact locations from one folder to another.

    Attributes:
        moved_from: The artifact root URI the locations pointed at.
        moved_to: The artifact root URI they point at now.
        rows: Rows rewritten per ``table.column``.
        at: When the rewrite was committed (UTC).
    """

    moved_from: str
    moved_to: str
    rows: Mapping[str, int]
    at: datetime

    @property
    def total_rows(self) -> int:
        """Rows rewritten in all tables."""
        return sum(self.rows.values())


def artifact_root_uri(artifact_root: str | Path) -> str:
    """The ``file:`` URI of a local artifact root, as experiments are created under it."""
    return Path(artifact_root).expanduser().resolve().as_uri()


def experiment_location(artifact_root: str | Path, name: str) -> str:
    """Artifact location of experiment ``name`` under a local artifact root.

    The single definition used both to create experiments
    (``tasks.mlflow_store.ensure_experiment``) and to recognise them when the root moved.
    """
    return (Path(artifact_root).expanduser().resolve() / name).as_uri()


def relocate_artifact_locations(database: Path, artifact_root: str | Path) -> list[Relocation]:
    """Point the artifact locations stored in an MLflow SQLite database at ``artifact_root``.

    The former root is read from the experiments: an experiment created under
    ``<old>/mlartifacts`` has the location ``<old>/mlartifacts/<its name>``; when
    ``<old>/mlartifacts`` is not the current root, every location equal to it or
    below it (experiments, runs, logged models, model versions, traces) is
    rewritten to the same path below the current root. A database whose
    experiments all lie under the current root is only read, so the check costs
    one query when nothing moved; two processes opening a moved root at once
    rewrite it once (the second finds nothing left to do).

    Args:
        database: The SQLite file of the MLflow tracking and registry store.
            Nothing is done when it does not exist yet.
        artifact_root: The local artifact root the store's experiments belong under
            (``<data root>/mlartifacts``).

    Returns:
        The rewrites made, one per former root (empty when nothing had moved).
    """
    if not database.is_file():
        return []
    new_root = artifact_root_uri(artifact_root)
    folder_name = Path(artifact_root).name
    with closing(sqlite3.connect(database, timeout=_BUSY_TIMEOUT_SECONDS)) as db:
        db.isolation_level = None  # transactions are begun and ended explicitly below
        if not _former_roots(db, artifact_root, new_root, folder_name):
            return []
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have just done it.
            former = _former_roots(db, artifact_root, new_root, folder_name)
            done = [_rewrite(db, old, new_root) for old in sorted(former)]
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    for relocation in done:
        logger.warning(
            "the data root was moved or copied: %d artifact locations in %s rewritten "
            "from %s to %s",
            relocation.total_rows,
            database,
            relocation.moved_from,
            relocation.moved_to,
        )
    return done


def _former_roots(
    db: sqlite3.Connection, artifact_root: str | Path, new_root: str, folder_name: str
) -> set[str]:
    """Artifact roots other than ``new_root`` that this database's experiments were made under."""
    if not _has_column(db, "experiments", "artifact_location"):
        return set()
    former: set[str] = set()
    for name, location in db.execute("SELECT name, artifact_location FROM experiments"):
        if not name or not location or not str(location).startswith("file:"):
            continue
        # The experiment's path below the root, in the URI's own spelling (percent-encoded).
        below = experiment_location(artifact_root, name)[len(new_root) :]
        if not below.startswith("/") or not location.endswith(below):
            continue  # not named after its folder (renamed, or MLflow's Default): not ours
        old = location[: -len(below)]
        # Only a folder laid out as ours (…/mlartifacts) is taken for a former root.
        if old != new_root and old.rsplit("/", 1)[-1] == folder_name:
            former.add(old)
    return former


def _rewrite(db: sqlite3.Connection, old: str, new: str) -> Relocation:
    rows: dict[str, int] = {}
    for table, column, condition in _LOCATION_COLUMNS:
        if not _has_column(db, table, column):
            continue  # an older schema without this table: nothing of it to move
        cursor = db.execute(
            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
            f"WHERE ({column} = ? OR substr({column}, 1, ?) = ?) {condition}",
            (new, len(old) + 1, old, len(old) + 1, old + "/"),
        )
        rows[f"{table}.{column}"] = cursor.rowcount
    at = datetime.now(UTC)
    moved = [
        (experiment_id,)
        for (experiment_id,) in db.execute(
            "SELECT experiment_id FROM experiments WHERE artifact_location = ? "
            "OR substr(artifact_location, 1, ?) = ?",
            (new, len(new) + 1, new + "/"),
        )
    ]
    if _has_column(db, "experiment_tags", "value"):
        for key, value in ((TAG_MOVED_FROM, old), (TAG_MOVED_AT, at.isoformat())):
            db.executemany(
                "INSERT OR REPLACE INTO experiment_tags (key, value, experiment_id) "
                "VALUES (?, ?, ?)",
                [(key, value, experiment_id) for (experiment_id,) in moved],
            )
    return Relocation(moved_from=old, moved_to=new, rows=rows, at=at)


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


def forget_artifact_repositories_outside(artifact_root: str | Path) -> int:
    """Drop MLflow's in-process artifact repositories that lie outside ``artifact_root``.

    MLflow caches the artifact repository of each run and logged model by id
    alone, whatever store it came from, and reads and writes through it. A copied
    data root holds the same ids as its original, and a moved one the same ids
    at another place, so a process that used a run before its root was copied or
    moved (or rewritten by another process) would otherwise go on writing that
    run's artifacts into the former folder. Called whenever the embedded store
    is opened; the cache only saves one lookup per run.

    Args:
        artifact_root: The artifact root of the store being opened.

    Returns:
        How many cached repositories were dropped.
    """
    from mlflow.tracking._tracking_service import utils as tracking_utils

    cache = getattr(tracking_utils, "_artifact_repos_cache", None)
    if not cache:
        return 0
    root = artifact_root_uri(artifact_root)
    stale = [
        key
        for key, repository in list(cache.items())
        if not _is_under(str(getattr(repository, "artifact_uri", "")), root)
    ]
    for key in stale:
        cache.pop(key, None)
    return len(stale)


def _is_under(location: str, root: str) -> bool:
    return location == root or location.startswith(root + "/")
