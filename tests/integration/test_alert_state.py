"""The alert state on a real file: one writer, one reader, a rerun sends nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.alerting import AlertCondition, AlertKind, AlertState
from mlops_core.config import AlertPolicy
from tasks import alert_state, storage
from tasks.coordination import ClaimFiles

pytestmark = pytest.mark.integration


def _paths(root: Path) -> storage.UseCasePaths:
    base = root / "uc"
    folders = {
        k: base / k
        for k in (
            "landing",
            "labels",
            "quarantine",
            "processed",
            "predictions",
            "review",
            "reports",
            "archive",
        )
    }
    return storage.UseCasePaths(root=root, **folders)


def _clip(rows: int) -> AlertCondition:
    return AlertCondition(kind=AlertKind.GUARDRAIL_BREACH, cause="range:clip", count=3, rows=rows)


def _round(paths: storage.UseCasePaths, sha: str, period: int | None):
    return alert_state.decide_round(
        paths,
        ClaimFiles(paths.claims),
        AlertPolicy(),
        [_clip(900)],
        measured=tuple(AlertKind),
        period=period,
        batch_sha256=sha,
    )


def test_the_state_is_stored_once_per_batch_and_a_rerun_replays_it(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    assert alert_state.read_alert_state(paths.alert_state) == AlertState()

    first = _round(paths, "a" * 64, 5)
    assert not first.replayed and [d.action for d in first.decisions] == ["raise"]
    stored = alert_state.read_alert_state(paths.alert_state)
    assert stored == first.state
    written = paths.alert_state.read_bytes()

    # The same batch again (a rerun after a crash): its decisions, no new state.
    again = _round(paths, "a" * 64, 5)
    assert again.replayed and again.decisions == first.decisions
    assert paths.alert_state.read_bytes() == written

    # The next batch with the same cause is muted and counted.
    second = _round(paths, "b" * 64, 6)
    assert [d.action for d in second.decisions] == ["mute"]
    assert alert_state.read_alert_state(paths.alert_state).recent[-1].period == 6


def test_a_batch_without_a_period_is_decided_at_the_latest_known_one(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    _round(paths, "a" * 64, 9)
    undated = _round(paths, "b" * 64, None)
    assert {d.period for d in undated.decisions} == {9}


def test_a_state_that_cannot_be_read_starts_empty_so_causes_alert_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = _paths(tmp_path)
    _round(paths, "a" * 64, 5)
    paths.alert_state.write_text('{"causes": [{"kind": ', encoding="utf-8")
    with caplog.at_level("WARNING"):
        after = _round(paths, "b" * 64, 6)
    assert "not an alert state" in caplog.text
    assert [d.action for d in after.decisions] == ["raise"], "loud, not silent"
