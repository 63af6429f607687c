"""The model registry: aliases, version status and promotion history.

Registry conventions (one registered model per use case):

- alias ``champion``: the version serving predictions; alias ``previous``: the
  version it replaced (the target of a rollback).
- version tags: ``mlops.status`` (candidate, champion, previous, archived,
  rolled_back, rejected; failed: its logging did not complete, never use it;
  abandoned: its cycle died before deciding on it), ``mlops.source_batch_sha256``,
  ``mlops.model_sha256``, ``mlops.run_id``, ``mlops.promoted_at``,
  ``mlops.promotion_reason``, ``mlops.replaced_version`` and ``mlops.history``
  (a JSON list of promotion events), so "which version was champion at time X"
  can be answered from the registry alone (see ``champion_at``).

Aliases are the truth; status tags follow them. Every alias change is written
before the tags that describe it, so a crash in between leaves the champion
either untouched or fully moved, and rerunning the same call finishes the tags.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

from tasks.commit_protocol import ChampionChangedError
from tasks.mlflow_store import EXISTS_CODES, MISSING_CODE
from tasks.tags import (
    TAG_ABANDONED_REASON,
    TAG_HISTORY,
    TAG_PROMOTED_AT,
    TAG_PROMOTION_REASON,
    TAG_REPLACED_VERSION,
    TAG_SHA256,
    TAG_SOURCE_BATCH,
    TAG_STATUS,
)

logger = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
PREVIOUS_ALIAS = "previous"

STATUS_CANDIDATE = "candidate"
STATUS_CHAMPION = "champion"
STATUS_PREVIOUS = "previous"
STATUS_ARCHIVED = "archived"
STATUS_ROLLED_BACK = "rolled_back"
STATUS_REJECTED = "rejected"
STATUS_FAILED = "failed"
STATUS_ABANDONED = "abandoned"

# Registry tag values are capped by MLflow (100,000 characters); the history of one
# version keeps its newest events within a much smaller budget.
_MAX_HISTORY_EVENTS = 50


class NoPreviousVersionError(RuntimeError):
    """A rollback was asked for but there is no ``previous`` version to go back to."""


@dataclass(frozen=True)
class VersionEvent:
    """One change in a version's role (promoted, demoted, archived, rolled_back, restored)."""

    event: str
    at: datetime
    reason: str
    counterpart: str | None = None


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version and its place in the promotion history."""

    version: str
    status: str
    aliases: tuple[str, ...]
    creation_time: int
    run_id: str
    description: str
    promotion_reason: str | None
    promoted_at: datetime | None
    model_sha256: str
    events: tuple[VersionEvent, ...] = field(default_factory=tuple)


def ensure_registered_model(client: MlflowClient, name: str) -> None:
    """Create registered model ``name`` unless it exists (safe when two workers race)."""
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in EXISTS_CODES:
            raise


def lookup_version(
    client: MlflowClient, name: str, *, alias: str | None = None, version: str | None = None
) -> ModelVersion | None:
    """A live version by alias or number; None when the model, alias or version is missing."""
    if alias is not None:
        # Aliases are read from the registered model: a missing alias is then a plain
        # absence instead of an error whose code differs between stores.
        version = aliases_of(client, name).get(alias)
        if version is None:
            return None
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException as exc:
        if exc.error_code == MISSING_CODE:
            return None
        raise
    if str(getattr(mv, "current_stage", "")).lower().startswith("deleted"):
        return None
    return mv


def aliases_of(client: MlflowClient, name: str) -> dict[str, str]:
    """Alias -> version of a registered model; empty if the model does not exist."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == MISSING_CODE:
            return {}
        raise
    return {str(alias): str(ver) for alias, ver in (model.aliases or {}).items()}


_PROMOTION_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_PROMOTION_LOCKS_GUARD = threading.Lock()


@contextmanager
def _promotion_lock(client: MlflowClient, name: str) -> Iterator[None]:
    # Serialises alias moves for one model inside this process. Across processes the
    # flows hold a Prefect concurrency slot per model; the compare-and-set below then
    # catches decisions that went stale while waiting (e.g. made before a rollback).
    key = (str(client.tracking_uri), name)
    with _PROMOTION_LOCKS_GUARD:
        lock = _PROMOTION_LOCKS.setdefault(key, threading.Lock())
    with lock:
        yield


def set_champion(
    client: MlflowClient,
    name: str,
    new_version: str,
    *,
    expected_current: str | None,
    reason: str,
) -> str | None:
    """Make ``new_version`` the champion if the champion is still ``expected_current``.

    Moves alias ``previous`` to the old champion and ``champion`` to the new version,
    then updates status tags and appends the promotion to the versions' history.
    Calling it again after a crash part-way through finishes the job: if the
    champion already is ``new_version`` only the tags are completed.

    Args:
        client: MLflow client.
        name: Registered model name.
        new_version: Version to promote.
        expected_current: The champion version the promotion decision was made
            against (None: there was no champion).
        reason: Plain-language reason, stored with the version.

    Returns:
        The version that was champion before (None if there was none).

    Raises:
        ChampionChangedError: The champion is neither ``expected_current`` nor
            ``new_version``.
        MlflowException: ``new_version`` does not exist.
    """
    new_version = str(new_version)
    expected = None if expected_current is None else str(expected_current)
    with _promotion_lock(client, name):
        target = lookup_version(client, name, version=new_version)
        if target is None:
            raise MlflowException(
                f"registered model {name!r} has no version {new_version}",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        current = _alias_version(client, name, CHAMPION_ALIAS)
        if current == new_version:
            # Already moved (a rerun after a crash, or a concurrent identical promotion).
            old = _alias_version(client, name, PREVIOUS_ALIAS)
            if old is None and expected not in (None, new_version):
                old = expected
        elif current != expected:
            raise ChampionChangedError(name, expected, current)
        else:
            old = current
            # Alias order matters for crash safety: 'previous' first, so a crash between
            # the two writes leaves the champion where it was.
            if old is not None:
                client.set_registered_model_alias(name, PREVIOUS_ALIAS, old)
            client.set_registered_model_alias(name, CHAMPION_ALIAS, new_version)

        now = _utc_now()
        appended = _append_event(client, name, new_version, "promoted", now, reason, old)
        if appended or (target.tags or {}).get(TAG_STATUS) != STATUS_CHAMPION:
            # Skipped on a rerun that finds the promotion complete, so the recorded
            # promotion time stays the first one.
            client.set_model_version_tag(name, new_version, TAG_PROMOTED_AT, now.isoformat())
            client.set_model_version_tag(name, new_version, TAG_PROMOTION_REASON, reason)
            client.set_model_version_tag(name, new_version, TAG_REPLACED_VERSION, old or "")
        if old is not None:
            _append_event(client, name, old, "demoted", now, reason, new_version)
        _reconcile_status(client, name, now, reason)
        return old


def rollback_champion(
    client: MlflowClient, name: str, *, reason: str, expected_current: str | None = None
) -> tuple[str, str]:
    """Move ``champion`` back to the ``previous`` version.

    The rolled-back version gets status ``rolled_back``; ``previous`` then points at
    the version the restored champion had replaced when it was promoted (if it still
    exists), otherwise the alias is removed.

    Args:
        client: MLflow client.
        name: Registered model name.
        reason: Plain-language reason, stored with both versions.
        expected_current: The champion the caller wants to roll back from. When given,
            a rerun after an interrupted rollback finishes it instead of rolling back
            a second time, and a champion that changed otherwise is refused.

    Returns:
        (version rolled back from, version now champion).

    Raises:
        NoPreviousVersionError: There is no ``previous`` version (or no champion).
        ChampionChangedError: ``expected_current`` is given, is not the champion and
            was not rolled back already.
    """
    with _promotion_lock(client, name):
        champion = _alias_version(client, name, CHAMPION_ALIAS)
        previous = _alias_version(client, name, PREVIOUS_ALIAS)
        expected = None if expected_current is None else str(expected_current)
        if expected is not None and champion not in (expected, None):
            earlier = lookup_version(client, name, version=expected)
            events = _parse_events((earlier.tags or {}).get(TAG_HISTORY)) if earlier else []
            if events and events[-1].event == "rolled_back" and events[-1].counterpart == champion:
                # This rollback already moved the aliases; complete the tags only.
                now = _utc_now()
                client.set_model_version_tag(name, expected, TAG_STATUS, STATUS_ROLLED_BACK)
                _append_event(client, name, champion, "restored", now, reason, expected)
                _reconcile_status(client, name, now, reason)
                return expected, champion
            raise ChampionChangedError(name, expected, champion)
        if champion is None or previous is None:
            raise NoPreviousVersionError(
                f"registered model {name!r} has no "
                f"{'champion' if champion is None else 'previous version'} to roll back"
            )
        if champion == previous:
            # A rollback crashed after moving 'champion': finish it. The version rolled
            # back from still carries the champion status tag (tags follow aliases).
            stale = [
                str(v.version)
                for v in _all_versions(client, name)
                if (v.tags or {}).get(TAG_STATUS) == STATUS_CHAMPION and str(v.version) != champion
            ]
            from_version = stale[0] if stale else champion
        else:
            from_version = champion
            # Recorded before the aliases move, so a rerun can tell this rollback happened.
            _append_event(client, name, from_version, "rolled_back", _utc_now(), reason, previous)
            client.set_registered_model_alias(name, CHAMPION_ALIAS, previous)
        to_version = previous

        restored = lookup_version(client, name, version=to_version)
        predecessor = (restored.tags or {}).get(TAG_REPLACED_VERSION) if restored else None
        if (
            predecessor
            and predecessor not in (from_version, to_version)
            and lookup_version(client, name, version=predecessor) is not None
        ):
            client.set_registered_model_alias(name, PREVIOUS_ALIAS, predecessor)
        else:
            client.delete_registered_model_alias(name, PREVIOUS_ALIAS)

        now = _utc_now()
        if from_version != to_version:
            client.set_model_version_tag(name, from_version, TAG_STATUS, STATUS_ROLLED_BACK)
            _append_event(client, name, from_version, "rolled_back", now, reason, to_version)
        _append_event(client, name, to_version, "restored", now, reason, from_version)
        client.set_model_version_tag(name, to_version, TAG_PROMOTED_AT, now.isoformat())
        client.set_model_version_tag(name, to_version, TAG_PROMOTION_REASON, reason)
        _reconcile_status(client, name, now, reason)
        return from_version, to_version


def tag_version(client: MlflowClient, name: str, version: str, tags: Mapping[str, str]) -> None:
    """Set tags on a registered model version (e.g. ``mlops.status=rejected``).

    Status tags of the champion and previous versions are owned by ``set_champion``
    and ``rollback_champion``; use this for candidates the gate rejected and for
    extra annotations.

    Args:
        client: MLflow client.
        name: Registered model name.
        version: Version number.
        tags: Tags to set.
    """
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), str(key), str(value))


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    mv = lookup_version(client, name, alias=alias)
    return None if mv is None else str(mv.version)


def _all_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    escaped = name.replace("'", "''")
    versions: list[ModelVersion] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(
            f"name = '{escaped}'", max_results=1000, page_token=token
        )
        versions.extend(page)
        token = page.token
        if not token:
            return versions


def abandon_candidates(client: MlflowClient, name: str, batch_sha256: str) -> list[str]:
    """Mark the candidates a crashed attempt at this batch left behind as ``abandoned``.

    A cycle registers its challenger as a ``candidate`` and decides on it before
    committing the batch. A process killed in between leaves the candidate
    undecided; a rerun of the same batch trains afresh, so any candidate tagged
    with this batch and holding no alias is an orphan: it gets the status
    ``abandoned`` and the reason, and is never promoted or loaded.

    Args:
        client: MLflow client.
        name: Registered model name.
        batch_sha256: Content hash of the batch being (re)processed.

    Returns:
        The versions abandoned.
    """
    held = {
        _alias_version(client, name, CHAMPION_ALIAS),
        _alias_version(client, name, PREVIOUS_ALIAS),
    }
    abandoned = []
    for mv in _all_versions(client, name):
        tags = mv.tags or {}
        version = str(mv.version)
        if (
            tags.get(TAG_STATUS) == STATUS_CANDIDATE
            and tags.get(TAG_SOURCE_BATCH) == batch_sha256
            and version not in held
        ):
            client.set_model_version_tag(
                name,
                version,
                TAG_ABANDONED_REASON,
                f"the cycle that trained it on batch {batch_sha256[:12]} stopped before "
                "deciding on it (process killed or failed); the rerun trained a new challenger",
            )
            client.set_model_version_tag(name, version, TAG_STATUS, STATUS_ABANDONED)
            abandoned.append(version)
    return abandoned


def _reconcile_status(client: MlflowClient, name: str, now: datetime, reason: str) -> None:
    """Make status tags follow the aliases; versions that lost their role are archived."""
    champion = _alias_version(client, name, CHAMPION_ALIAS)
    previous = _alias_version(client, name, PREVIOUS_ALIAS)
    for mv in _all_versions(client, name):
        version = str(mv.version)
        status = (mv.tags or {}).get(TAG_STATUS)
        if version == champion:
            wanted = STATUS_CHAMPION
        elif version == previous:
            wanted = STATUS_PREVIOUS
        elif status in (STATUS_CHAMPION, STATUS_PREVIOUS):
            wanted = STATUS_ARCHIVED
            _append_event(client, name, version, "archived", now, reason, champion)
        else:
            continue
        if status != wanted:
            client.set_model_version_tag(name, version, TAG_STATUS, wanted)


def _append_event(
    client: MlflowClient,
    name: str,
    version: str,
    event: str,
    at: datetime,
    reason: str,
    counterpart: str | None,
) -> bool:
    """Append an event to a version's history; False if it is already the last one."""
    mv = client.get_model_version(name, version)
    events = _parse_events((mv.tags or {}).get(TAG_HISTORY))
    if events and events[-1].event == event and events[-1].counterpart == counterpart:
        return False  # idempotent when a crashed call is repeated
    events.append(VersionEvent(event=event, at=at, reason=reason, counterpart=counterpart))
    payload = [
        {"event": e.event, "at": e.at.isoformat(), "reason": e.reason, "counterpart": e.counterpart}
        for e in events[-_MAX_HISTORY_EVENTS:]
    ]
    client.set_model_version_tag(name, version, TAG_HISTORY, json.dumps(payload))
    return True


def _parse_events(text: str | None) -> list[VersionEvent]:
    if not text:
        return []
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        logger.warning("ignoring unreadable %s tag", TAG_HISTORY)
        return []
    return [
        VersionEvent(
            event=str(e["event"]),
            at=datetime.fromisoformat(e["at"]),
            reason=str(e.get("reason", "")),
            counterpart=None if e.get("counterpart") is None else str(e["counterpart"]),
        )
        for e in raw
    ]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def version_history(client: MlflowClient, name: str) -> list[VersionInfo]:
    """Every version of a registered model with its role and promotion history.

    Args:
        client: MLflow client.
        name: Registered model name.

    Returns:
        Versions sorted by version number (oldest first); empty if the model does
        not exist.
    """
    aliases_by_version: dict[str, list[str]] = {}
    for alias, ver in aliases_of(client, name).items():
        aliases_by_version.setdefault(ver, []).append(alias)
    infos = []
    for mv in _all_versions(client, name):
        tags = mv.tags or {}
        promoted = tags.get(TAG_PROMOTED_AT)
        infos.append(
            VersionInfo(
                version=str(mv.version),
                status=tags.get(TAG_STATUS, ""),
                aliases=tuple(sorted(aliases_by_version.get(str(mv.version), []))),
                creation_time=int(mv.creation_timestamp or 0),
                run_id=mv.run_id or "",
                description=mv.description or "",
                promotion_reason=tags.get(TAG_PROMOTION_REASON),
                promoted_at=datetime.fromisoformat(promoted) if promoted else None,
                model_sha256=tags.get(TAG_SHA256, ""),
                events=tuple(_parse_events(tags.get(TAG_HISTORY))),
            )
        )
    return sorted(infos, key=lambda v: int(v.version))


def champion_at(history: Sequence[VersionInfo], at: datetime) -> str | None:
    """Which version was champion at a given time, from ``version_history``.

    Every change of champion (promotion or rollback) records an event on the version
    that became champion, so the champion at ``at`` is the version with the latest
    such event at or before it.

    Args:
        history: Output of ``version_history``.
        at: Timezone-aware time.

    Returns:
        The version number, or None if no version was champion yet.
    """
    starts = [
        (event.at, info.version)
        for info in history
        for event in info.events
        if event.event in ("promoted", "restored") and event.at <= at
    ]
    return max(starts)[1] if starts else None


__all__ = [
    "CHAMPION_ALIAS",
    "NoPreviousVersionError",
    "PREVIOUS_ALIAS",
    "STATUS_ABANDONED",
    "STATUS_ARCHIVED",
    "STATUS_CANDIDATE",
    "STATUS_CHAMPION",
    "STATUS_FAILED",
    "STATUS_PREVIOUS",
    "STATUS_REJECTED",
    "STATUS_ROLLED_BACK",
    "VersionEvent",
    "VersionInfo",
    "abandon_candidates",
    "aliases_of",
    "champion_at",
    "ensure_registered_model",
    "lookup_version",
    "rollback_champion",
    "set_champion",
    "tag_version",
    "version_history",
]
