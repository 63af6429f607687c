"""The alert state of a use case: its one reader and one writer, and the round that moves it.

The state (:class:`mlops_core.alerting.AlertState`) is a JSON file beside the
ledger, written atomically. :func:`decide_round` reads it, decides one cycle's
alerts (:func:`mlops_core.alerting.decide_alerts`) and writes it back, under a
lock so that two cycles of the use case (two batches at once) do not lose each
other's update. The state is written before any alert is sent: a cycle that
dies after it and runs again gets the decisions back as ``replayed`` and sends
nothing twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from mlops_core.alerting import AlertCondition, AlertRound, AlertState, decide_alerts
from mlops_core.config import AlertPolicy
from tasks import storage
from tasks.coordination import Claims

log = logging.getLogger(__name__)

#: The name of the use case's lock that guards the state file.
STATE_LOCK = "alert_state"
#: Longest wait for another cycle of the use case deciding its alerts.
LOCK_WAIT_SECONDS = 600.0


def read_alert_state(path: Path) -> AlertState:
    """The alert state in ``path``: the one reader.

    A missing file is the empty state. So is a file that is not a state (cut
    short, edited by hand), with a warning: every cause is then new and
    alerts, which is loud rather than silent.
    """
    if not path.exists():
        return AlertState()
    try:
        return AlertState.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        log.warning("%s is not an alert state (%s): starting from an empty one", path, exc)
        return AlertState()


def write_alert_state(path: Path, state: AlertState) -> None:
    """Write the alert state atomically: the one writer."""
    storage.write_json(path, state.model_dump(mode="json"))


def decide_round(
    paths: storage.UseCasePaths,
    claims: Claims,
    policy: AlertPolicy,
    conditions: Iterable[AlertCondition],
    *,
    measured: Iterable[str],
    period: int | None,
    batch_sha256: str,
) -> AlertRound:
    """Decide one cycle's alerts against the stored state and store the state after them.

    Args:
        paths: The use case's folders (the state file).
        claims: The use case's locks (``Runtime.coordination``): the state is
            read and written under lock ``STATE_LOCK``.
        policy: The use case's ``alerts:`` rules.
        conditions: The cycle's conditions.
        measured: The kinds the cycle measured.
        period: The cycle's period; None (a batch with no period) decides at
            the latest period the state knows.
        batch_sha256: The cycle's batch.

    Returns:
        The decisions and the state; ``replayed`` when the batch was decided before.
    """
    with claims.claim(STATE_LOCK, timeout_seconds=LOCK_WAIT_SECONDS):
        state = read_alert_state(paths.alert_state)
        if period is None:
            period = max((b.period for b in state.recent), default=0)
        decided = decide_alerts(
            conditions,
            measured=measured,
            policy=policy,
            state=state,
            period=period,
            batch_sha256=batch_sha256,
        )
        if not decided.replayed:
            write_alert_state(paths.alert_state, decided.state)
    return decided
