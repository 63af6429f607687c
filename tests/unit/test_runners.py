"""Task-runner settings: parsed strictly, defaults from the environment."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from distributed.core import Status

from flows.runners import (
    CLOSING_HEARTBEAT_MESSAGE,
    ClosingHeartbeatFilter,
    RunnerSetting,
    parse_runner,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("threads", RunnerSetting("threads")),
        ("threads:4", RunnerSetting("threads", workers=4)),
        ("dask", RunnerSetting("dask", workers=2)),
        ("dask:3", RunnerSetting("dask", workers=3)),
        ("dask:tcp://10.0.0.5:8786", RunnerSetting("dask", address="tcp://10.0.0.5:8786")),
    ],
)
def test_settings_parse(text: str, expected: RunnerSetting) -> None:
    assert parse_runner(text) == expected


@pytest.mark.parametrize("text", ["ray", "threads:0", "dask:x", "dask:tcp//host"])
def test_bad_settings_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="task runner"):
        parse_runner(text)


def test_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_TASK_RUNNER", raising=False)
    assert parse_runner(None) == RunnerSetting("threads")
    monkeypatch.setenv("MLOPS_TASK_RUNNER", "dask:2")
    assert parse_runner(None).kind == "dask"
    assert not parse_runner(None).shares_memory


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("distributed.worker", logging.ERROR, __file__, 1, message, None, None)


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        (Status.running, True),
        (Status.paused, True),
        (Status.closing, False),
        (Status.closing_gracefully, False),
        (Status.closed, False),
    ],
)
def test_only_a_closing_workers_heartbeat_failure_is_dropped(status: Status, kept: bool) -> None:
    worker = SimpleNamespace(status=status)
    quiet = ClosingHeartbeatFilter(worker)
    assert quiet.filter(_record(CLOSING_HEARTBEAT_MESSAGE)) is kept
    # Anything else the worker logs is kept, whatever its state.
    assert quiet.filter(_record("Compute Failed")) is True
